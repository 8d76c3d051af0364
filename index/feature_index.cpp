#include "index/feature_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "index/durable_files.h"

namespace celmatch {

namespace {

constexpr uint64_t kVocabularySeed = 1;

// The training parameters a vocabulary file records: a file trained with
// others (an earlier celmatch) is retrained as a stale one is. `max_training`
// is the sample's cap for the descriptor count trained on (For), the same
// 100,000 as before up to 10M descriptors.
struct TrainingKey {
  uint32_t branching = FeatureIndex::kBranching;
  uint32_t descriptors_per_word = FeatureIndex::kDescriptorsPerWord;
  uint32_t max_levels = FeatureIndex::kMaxLevels;
  uint32_t max_training = uint32_t(FeatureIndex::kMaxTrainingDescriptors);
  uint64_t seed = kVocabularySeed;
  static TrainingKey For(int64_t descriptors) {
    TrainingKey k;
    k.max_training = uint32_t(std::max(FeatureIndex::kMaxTrainingDescriptors,
                                       FeatureIndex::TrainingSample(size_t(std::max<int64_t>(0, descriptors)))));
    return k;
  }
  bool operator==(const TrainingKey& o) const {
    return branching == o.branching && descriptors_per_word == o.descriptors_per_word &&
           max_levels == o.max_levels && max_training == o.max_training && seed == o.seed;
  }
};

// The file's payload: the descriptor count the vocabulary was trained on
// (u64), the training key, then the vocabulary.
std::string SerializeTrained(const Vocabulary& v, int64_t trained_on) {
  const uint64_t n = uint64_t(trained_on);
  const TrainingKey key = TrainingKey::For(trained_on);
  std::string out(sizeof n, '\0');
  std::memcpy(out.data(), &n, sizeof n);
  for (uint64_t field : {uint64_t(key.branching), uint64_t(key.descriptors_per_word), uint64_t(key.max_levels),
                         uint64_t(key.max_training), key.seed}) {
    out.append(reinterpret_cast<const char*>(&field), sizeof field);
  }
  return out + v.Serialize();
}

constexpr size_t kPrefixBytes = 6 * sizeof(uint64_t);

Result<Vocabulary> ParseTrained(const std::string& bytes, const std::string& what, int64_t* trained_on,
                                TrainingKey* key) {
  uint64_t f[6];
  if (bytes.size() < kPrefixBytes) return Status::Corrupt(what + ": not a vocabulary of visual words (truncated)");
  std::memcpy(f, bytes.data(), kPrefixBytes);
  if (f[0] > (uint64_t(1) << 48)) return Status::Corrupt(what + ": not a vocabulary of visual words (descriptor count)");
  *trained_on = int64_t(f[0]);
  key->branching = uint32_t(f[1]);
  key->descriptors_per_word = uint32_t(f[2]);
  key->max_levels = uint32_t(f[3]);
  key->max_training = uint32_t(f[4]);
  key->seed = f[5];
  return Vocabulary::Parse(bytes.substr(kPrefixBytes), what);
}

}  // namespace

FeatureIndex::FeatureIndex() = default;
FeatureIndex::~FeatureIndex() = default;

Vocabulary FeatureIndex::Train(const std::vector<uint8_t>& codes) {
  const size_t n = codes.size() / kFeatureBytes;
  // An evenly spread sample: every step-th descriptor.
  const size_t cap = std::max<size_t>(1, TrainingSample(n));
  const size_t step = std::max<size_t>(1, (n + cap - 1) / cap);
  std::vector<uint8_t> sample;
  sample.reserve((n / step + 1) * kFeatureBytes);
  for (size_t i = 0; i < n; i += step) {
    sample.insert(sample.end(), codes.begin() + std::ptrdiff_t(i * kFeatureBytes),
                  codes.begin() + std::ptrdiff_t((i + 1) * kFeatureBytes));
  }
  // A node becomes a word when it holds about kDescriptorsPerWord of all
  // descriptors (the sample's share of them).
  const size_t leaf = size_t(std::ceil(double(kDescriptorsPerWord) / double(step)));
  return Vocabulary::Train(sample.data(), sample.size() / kFeatureBytes, kBranching, kMaxLevels, kVocabularySeed, leaf);
}

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
  slot.first = descriptor_count();
  slot.count = int64_t(n);
  slot.points = points_.size();
  for (size_t i = 0; i < n; ++i) points_.emplace_back(r.xy[2 * i], r.xy[2 * i + 1]);
  frame_of_descriptor_.insert(frame_of_descriptor_.end(), n, r.frame_id);
  frame_of_.push_back(r.frame_id);
  codes_.insert(codes_.end(), r.descriptors.begin(), r.descriptors.end());
  return Status::Ok();
}

Result<std::unique_ptr<FeatureIndex>> FeatureIndex::Load(const std::string& path,
                                                         const std::vector<FrameFeaturesRecord>& records,
                                                         bool* file_stale, bool use_file) {
  auto out = std::make_unique<FeatureIndex>();
  size_t total = 0;
  for (const FrameFeaturesRecord& r : records) total += r.descriptors.size();
  out->codes_.reserve(total);
  for (const FrameFeaturesRecord& r : records) {
    const size_t n = r.xy.size() / 2;
    if (r.descriptors.size() != n * kFeatureBytes || r.xy.size() % 2 != 0) {
      return Status::Corrupt(path + ": catalog features of frame " + std::to_string(r.frame_id) + " are malformed");
    }
    if (!out->frame_of_.empty() && r.frame_id <= out->frame_of_.back()) {
      return Status::Corrupt(path + ": catalog features are not in frame order");
    }
    CELMATCH_RETURN_IF_ERROR(out->AddFrame(r));
  }
  // The file's vocabulary when it was trained on exactly these descriptors.
  *file_stale = true;
  if (use_file) {
    Result<std::string> bytes = ReadSealedFile(path);
    int64_t trained_on = -1;
    TrainingKey key;
    Result<Vocabulary> v =
        bytes.ok() ? ParseTrained(*bytes, path, &trained_on, &key) : Result<Vocabulary>(bytes.status());
    if (v.ok() && trained_on == out->descriptor_count() && key == TrainingKey::For(trained_on)) {
      auto words = std::make_shared<Words>();
      words->vocabulary = std::move(*v);
      words->trained_on = trained_on;
      out->words_ = std::move(words);
      *file_stale = false;
    }
  }
  return out;
}

std::shared_ptr<const FeatureIndex::Words> FeatureIndex::CurrentWords(bool file) const {
  std::lock_guard<std::mutex> lock(words_mu_);
  const int64_t n = descriptor_count();
  if (words_ && words_->trained_on == n && (words_->filed || !file)) return words_;
  auto w = std::make_shared<Words>();
  if (words_ && words_->trained_on == n) {
    w->vocabulary = words_->vocabulary;
  } else {
    w->vocabulary = Train(codes_);
  }
  w->trained_on = n;
  if (file) {
    // Counting sort of the descriptors by word.
    const size_t words = size_t(std::max(0, w->vocabulary.size()));
    std::vector<int> word_of(static_cast<size_t>(n));
    w->first.assign(words + 1, 0);
    for (int64_t i = 0; i < n; ++i) {
      word_of[size_t(i)] = w->vocabulary.Word(codes_.data() + size_t(i) * kFeatureBytes);
      ++w->first[size_t(word_of[size_t(i)]) + 1];
    }
    for (size_t k = 0; k < words; ++k) w->first[k + 1] += w->first[k];
    w->members.resize(size_t(n));
    std::vector<uint32_t> next(w->first.begin(), w->first.begin() + std::ptrdiff_t(words));
    for (int64_t i = 0; i < n; ++i) w->members[next[size_t(word_of[size_t(i)])]++] = uint32_t(i);
    // The members' descriptors copied in the same order: a word's scan reads
    // one run of memory instead of descriptors scattered over all of them.
    w->codes.resize(size_t(n) * kFeatureBytes);
    for (size_t j = 0; j < size_t(n); ++j)
      std::memcpy(w->codes.data() + j * kFeatureBytes, codes_.data() + size_t(w->members[j]) * kFeatureBytes,
                  kFeatureBytes);
    w->filed = true;
  }
  words_ = w;
  return w;
}

Status FeatureIndex::Write(const std::string& dir, const std::string& path) {
  std::shared_ptr<const Words> w = CurrentWords(/*file=*/false);
  return WriteSealedFileAtomically(dir, path, SerializeTrained(w->vocabulary, w->trained_on));
}

int FeatureIndex::words() const { return CurrentWords(true)->vocabulary.size(); }

FrameFeaturesView FeatureIndex::frame(int64_t frame_id) const {
  FrameFeaturesView v;
  if (frame_id < 0 || size_t(frame_id) >= slots_.size()) return v;
  const FrameSlot& s = slots_[size_t(frame_id)];
  if (s.count == 0) return v;
  v.points = points_.data() + s.points;
  v.descriptors = codes_.data() + size_t(s.first) * kFeatureBytes;
  v.count = size_t(s.count);
  return v;
}

std::vector<FrameVotes> FeatureIndex::Vote(const cv::Mat& query, int k, int max_distance, int max_frames,
                                           int beam) const {
  std::vector<FrameVotes> out;
  if (query.empty() || query.cols != kFeatureBytes || query.type() != CV_8U || descriptor_count() == 0 || k <= 0)
    return out;
  const std::shared_ptr<const Words> w = CurrentWords(/*file=*/true);
  std::vector<int> words;
  // A query descriptor's k nearest (distance, descriptor) so far, nearest
  // first: kept by insertion, since most scanned descriptors are farther
  // than the k-th and cost one comparison.
  using Neighbour = std::pair<int, uint32_t>;
  std::vector<Neighbour> near(size_t(k) + 1);
  std::vector<int64_t> seen, voted;
  std::vector<uint16_t> distances;
  voted.reserve(size_t(query.rows) * size_t(k));
  for (int r = 0; r < query.rows; ++r) {
    const uint8_t* q = query.ptr(r);
    words.clear();
    w->vocabulary.Words(q, beam, &words);
    size_t found = 0;
    for (int word : words) {
      if (word < 0 || size_t(word) + 1 >= w->first.size()) continue;
      const uint32_t begin = w->first[size_t(word)], end = w->first[size_t(word) + 1];
      distances.resize(end - begin);
      HammingDistances32(q, w->codes.data() + size_t(begin) * kFeatureBytes, end - begin, distances.data());
      for (uint32_t i = begin; i < end; ++i) {
        const int dist = distances[i - begin];
        if (dist > max_distance) continue;
        const Neighbour n(dist, w->members[i]);
        if (found == size_t(k) && !(n < near[found - 1])) continue;
        size_t at = found < size_t(k) ? found++ : found - 1;
        for (; at > 0 && n < near[at - 1]; --at) near[at] = near[at - 1];
        near[at] = n;
      }
    }
    seen.clear();
    for (size_t j = 0; j < found; ++j) {
      const int64_t frame = frame_of_descriptor_[near[j].second];
      if (std::find(seen.begin(), seen.end(), frame) != seen.end()) continue;
      seen.push_back(frame);
      voted.push_back(frame);
    }
  }
  std::sort(voted.begin(), voted.end());
  for (size_t i = 0; i < voted.size();) {
    size_t j = i;
    while (j < voted.size() && voted[j] == voted[i]) ++j;
    out.push_back(FrameVotes{voted[i], int(j - i)});
    i = j;
  }
  std::sort(out.begin(), out.end(), [](const FrameVotes& a, const FrameVotes& b) {
    return a.votes != b.votes ? a.votes > b.votes : a.frame_id < b.frame_id;
  });
  if (max_frames >= 0 && int(out.size()) > max_frames) out.resize(size_t(max_frames));
  return out;
}

Status FeatureIndex::CheckAgainst(const std::vector<FrameFeaturesRecord>& records, const std::string& path) const {
  size_t total = 0;
  for (const FrameFeaturesRecord& r : records) total += r.descriptors.size();
  if (total != codes_.size()) {
    return Status::Corrupt(path + ": feature index holds " + std::to_string(descriptor_count()) +
                           " descriptors, catalog " + std::to_string(total / kFeatureBytes));
  }
  size_t at = 0;
  for (const FrameFeaturesRecord& r : records) {
    if (!r.descriptors.empty() && std::memcmp(codes_.data() + at, r.descriptors.data(), r.descriptors.size()) != 0)
      return Status::Corrupt(path + ": feature descriptors differ from the catalog's");
    at += r.descriptors.size();
  }
  Result<std::string> bytes = ReadSealedFile(path);
  if (!bytes.ok()) return bytes.status();
  // Trained on other descriptors (a writer killed between the catalog's
  // commit and this file, or one that added frames since) or with other
  // parameters (an earlier celmatch): a stale cache, retrained in memory by
  // readers and rewritten by the next writer, not damage.
  int64_t trained_on = -1;
  TrainingKey key;
  Result<Vocabulary> v = ParseTrained(*bytes, path, &trained_on, &key);
  if (!v.ok()) return v.status();
  return Status::Ok();
}

}  // namespace celmatch
