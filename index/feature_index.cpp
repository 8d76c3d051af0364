#include "index/feature_index.h"

#include "index/durable_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/index_io.h>
#include <omp.h>

namespace celmatch {

namespace {

using faiss_idx_t = faiss::IndexBinary::idx_t;
constexpr int kBits = kFeatureBytes * 8;

// Multi-index hashing: a reference descriptor is a candidate when one of 16
// disjoint 16-bit substrings equals the query's. A true ORB match 30 bits
// away shares one with probability ~0.9 (40 bits: ~0.65), plenty for voting;
// a query descriptor is compared with ~1e3 candidates instead of every
// descriptor (a flat scan of 5e5 costs ~0.5 s per 1000-descriptor query).
constexpr int kHashTables = 16;
constexpr int kHashBits = 16;

std::unique_ptr<faiss::IndexBinaryMultiHash> NewIndex() {
  auto mh = std::make_unique<faiss::IndexBinaryMultiHash>(kBits, kHashTables, kHashBits);
  mh->nflip = 0;
  return mh;
}

const std::vector<uint8_t>& Codes(const faiss::IndexBinaryMultiHash& mh) { return mh.storage->xb; }

// IndexBinaryMultiHash reads each substring as an unaligned uint64 at its
// first byte: buffers handed to it get this much zero padding.
constexpr size_t kPadding = 8;

std::vector<uint8_t> Concatenate(const std::vector<FrameFeaturesRecord>& records) {
  size_t n = 0;
  for (const FrameFeaturesRecord& r : records) n += r.descriptors.size();
  std::vector<uint8_t> all;
  all.reserve(n);
  for (const FrameFeaturesRecord& r : records) all.insert(all.end(), r.descriptors.begin(), r.descriptors.end());
  return all;
}

}  // namespace

FeatureIndex::FeatureIndex() : index_(NewIndex()) {}
FeatureIndex::~FeatureIndex() = default;

Status FeatureIndex::AddFrame(const FrameFeaturesRecord& r) {
  if (!frame_of_.empty() && r.frame_id <= frame_of_.back()) {
    return Status::Internal("local features of frame " + std::to_string(r.frame_id) + " added out of order");
  }
  const size_t n = r.xy.size() / 2;
  if (r.frame_id < 0 || r.xy.size() % 2 != 0 || r.descriptors.size() != n * kFeatureBytes) {
    return Status::InvalidArgument("malformed local features for frame " + std::to_string(r.frame_id));
  }
  if (slots_.size() <= size_t(r.frame_id)) slots_.resize(size_t(r.frame_id) + 1, FrameSlot{0, 0, 0});
  FrameSlot& slot = slots_[size_t(r.frame_id)];
  slot.first = index_->ntotal;
  slot.count = int64_t(n);
  slot.points = points_.size();
  for (size_t i = 0; i < n; ++i) points_.emplace_back(r.xy[2 * i], r.xy[2 * i + 1]);
  frame_of_descriptor_.insert(frame_of_descriptor_.end(), n, r.frame_id);
  frame_of_.push_back(r.frame_id);
  if (n > 0) {
    try {
      std::vector<uint8_t> padded(r.descriptors);
      padded.resize(padded.size() + kPadding, 0);
      index_->add(faiss_idx_t(n), padded.data());
    } catch (const std::exception& e) {
      return Status::Internal(std::string("adding local features to FAISS failed: ") + e.what());
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<FeatureIndex>> FeatureIndex::Load(const std::string& path,
                                                         const std::vector<FrameFeaturesRecord>& records,
                                                         bool* file_stale, bool use_file) {
  auto out = std::make_unique<FeatureIndex>();
  std::vector<uint8_t> all = Concatenate(records);
  const faiss_idx_t total = faiss_idx_t(all.size() / kFeatureBytes);
  all.resize(all.size() + kPadding, 0);
  // The file is used when it holds a prefix of the catalog's descriptors.
  std::unique_ptr<faiss::IndexBinary> loaded = use_file ? ReadSealedBinaryIndex(path) : nullptr;
  auto* flat = dynamic_cast<faiss::IndexBinaryMultiHash*>(loaded.get());
  bool usable = flat != nullptr && flat->d == kBits && flat->nhash == kHashTables && flat->b == kHashBits &&
                flat->nflip == 0 && flat->storage != nullptr && flat->ntotal <= total &&
                Codes(*flat).size() >= size_t(flat->ntotal) * kFeatureBytes &&
                (flat->ntotal == 0 || std::memcmp(Codes(*flat).data(), all.data(), size_t(flat->ntotal) * kFeatureBytes) == 0);
  // Frames and points come from the records in any case; the FAISS part is
  // swapped for the file's when that is usable.
  std::unique_ptr<faiss::IndexBinaryMultiHash> from_file;
  if (usable) {
    loaded.release();
    from_file.reset(flat);
  }
  for (const FrameFeaturesRecord& r : records) {
    // Points and bookkeeping only: the descriptors go in below in one add.
    const size_t n = r.xy.size() / 2;
    if (r.descriptors.size() != n * kFeatureBytes || r.xy.size() % 2 != 0) {
      return Status::Corrupt(path + ": catalog features of frame " + std::to_string(r.frame_id) + " are malformed");
    }
    if (!out->frame_of_.empty() && r.frame_id <= out->frame_of_.back()) {
      return Status::Corrupt(path + ": catalog features are not in frame order");
    }
    if (out->slots_.size() <= size_t(r.frame_id)) out->slots_.resize(size_t(r.frame_id) + 1, FrameSlot{0, 0, 0});
    FrameSlot& slot = out->slots_[size_t(r.frame_id)];
    slot.first = int64_t(out->frame_of_descriptor_.size());
    slot.count = int64_t(n);
    slot.points = out->points_.size();
    for (size_t i = 0; i < n; ++i) out->points_.emplace_back(r.xy[2 * i], r.xy[2 * i + 1]);
    out->frame_of_descriptor_.insert(out->frame_of_descriptor_.end(), n, r.frame_id);
    out->frame_of_.push_back(r.frame_id);
  }
  try {
    if (from_file) {
      const faiss_idx_t have = from_file->ntotal;
      if (have < total) from_file->add(total - have, all.data() + size_t(have) * kFeatureBytes);
      *file_stale = have != total;
      out->index_ = std::move(from_file);
    } else {
      if (total > 0) out->index_->add(total, all.data());
      *file_stale = true;
    }
  } catch (const std::exception& e) {
    return Status::Internal(path + ": building the feature index failed: " + e.what());
  }
  return out;
}

Status FeatureIndex::Write(const std::string& dir, const std::string& path) const {
  return WriteBinaryIndexAtomically(dir, path, *index_, "feature index");
}

int64_t FeatureIndex::descriptor_count() const { return int64_t(index_->ntotal); }

FrameFeaturesView FeatureIndex::frame(int64_t frame_id) const {
  FrameFeaturesView v;
  if (frame_id < 0 || size_t(frame_id) >= slots_.size()) return v;
  const FrameSlot& s = slots_[size_t(frame_id)];
  if (s.count == 0) return v;
  v.points = points_.data() + s.points;
  v.descriptors = Codes(*index_).data() + size_t(s.first) * kFeatureBytes;
  v.count = size_t(s.count);
  return v;
}

std::vector<FrameVotes> FeatureIndex::Vote(const cv::Mat& query, int k, int max_distance, int max_frames) const {
  std::vector<FrameVotes> out;
  const faiss_idx_t n = index_->ntotal;
  if (query.empty() || query.cols != kFeatureBytes || query.type() != CV_8U || n == 0 || k <= 0) return out;
  std::vector<uint8_t> q(size_t(query.rows) * kFeatureBytes + kPadding, 0);
  for (int r = 0; r < query.rows; ++r) std::memcpy(q.data() + size_t(r) * kFeatureBytes, query.ptr(r), kFeatureBytes);
  const faiss_idx_t nq = query.rows;
  const faiss_idx_t kk = std::min<faiss_idx_t>(k, n);
  std::vector<int32_t> dist(size_t(nq * kk));
  std::vector<faiss_idx_t> labels(size_t(nq * kk));
  try {
    SingleThreadedOpenMp one_thread;
    index_->search(nq, q.data(), kk, dist.data(), labels.data());
  } catch (const std::exception&) {
    return out;  // cannot happen with valid arguments
  }
  std::unordered_map<int64_t, int> votes;
  std::vector<int64_t> seen;
  for (faiss_idx_t i = 0; i < nq; ++i) {
    seen.clear();
    for (faiss_idx_t j = 0; j < kk; ++j) {
      const size_t at = size_t(i * kk + j);
      if (labels[at] < 0 || dist[at] > max_distance) continue;
      const int64_t frame = frame_of_descriptor_[size_t(labels[at])];
      if (std::find(seen.begin(), seen.end(), frame) != seen.end()) continue;
      seen.push_back(frame);
      ++votes[frame];
    }
  }
  out.reserve(votes.size());
  for (const auto& [frame, v] : votes) out.push_back(FrameVotes{frame, v});
  std::sort(out.begin(), out.end(), [](const FrameVotes& a, const FrameVotes& b) {
    return a.votes != b.votes ? a.votes > b.votes : a.frame_id < b.frame_id;
  });
  if (max_frames >= 0 && int(out.size()) > max_frames) out.resize(size_t(max_frames));
  return out;
}

Status FeatureIndex::CheckAgainst(const std::vector<FrameFeaturesRecord>& records, const std::string& path) const {
  const std::vector<uint8_t> all = Concatenate(records);
  if (size_t(index_->ntotal) * kFeatureBytes != all.size()) {
    return Status::Corrupt(path + ": feature index holds " + std::to_string(index_->ntotal) + " descriptors, catalog " +
                           std::to_string(all.size() / kFeatureBytes));
  }
  if (!all.empty() && std::memcmp(Codes(*index_).data(), all.data(), all.size()) != 0) {
    return Status::Corrupt(path + ": feature descriptors differ from the catalog's");
  }
  return Status::Ok();
}

}  // namespace celmatch
