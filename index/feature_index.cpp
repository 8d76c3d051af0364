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

// The file's payload:
//   the descriptor count the vocabulary was trained on (u64), the training
//     key (5 x u64), the vocabulary (Vocabulary::Serialize), zeros to a
//     multiple of 8 bytes;
//   the layout: "CMFILED1", frames F, descriptors N, words W (u64 each),
//     frame ids (F x i64, ascending), each frame's first descriptor and then
//     N (F + 1 x u64), descriptors (N x 32 bytes, frame order), keypoints
//     (N x 2 x f32), each word's first member and then N (W + 1 x u32, zeros
//     to 8 bytes), members: descriptor numbers grouped by word (N x u32, zeros
//     to 8 bytes), the members' descriptors (N x 32 bytes, word order);
//   a trailer: the vocabulary's bytes (u64), the layout's offset (u64),
//     "CMWORDS2".
// Files of an earlier celmatch end after the vocabulary (no trailer).
constexpr size_t kPrefixBytes = 6 * sizeof(uint64_t);
constexpr char kLayoutMagic[8] = {'C', 'M', 'F', 'I', 'L', 'E', 'D', '1'};
constexpr char kTrailerMagic[8] = {'C', 'M', 'W', 'O', 'R', 'D', 'S', '2'};
constexpr size_t kTrailerBytes = 24;

std::string TrainedPrefix(int64_t trained_on) {
  const uint64_t n = uint64_t(trained_on);
  const TrainingKey key = TrainingKey::For(trained_on);
  std::string out(sizeof n, '\0');
  std::memcpy(out.data(), &n, sizeof n);
  for (uint64_t field : {uint64_t(key.branching), uint64_t(key.descriptors_per_word), uint64_t(key.max_levels),
                         uint64_t(key.max_training), key.seed}) {
    out.append(reinterpret_cast<const char*>(&field), sizeof field);
  }
  return out;
}

size_t Align8(size_t n) { return (n + 7) & ~size_t(7); }

// The parts of a file's payload, pointing into it.
struct FileParts {
  int64_t trained_on = -1;
  TrainingKey key;
  Vocabulary vocabulary;
  bool has_layout = false;
  uint64_t frames = 0, descriptors = 0, words = 0;
  const int64_t* frame_ids = nullptr;
  const uint64_t* frame_first = nullptr;
  const uint8_t* codes = nullptr;
  const float* xy = nullptr;
  const uint32_t* word_first = nullptr;
  const uint32_t* members = nullptr;
  const uint8_t* word_codes = nullptr;
};

// Writes the file's payload up to the descriptors: the training prefix, the
// vocabulary, the layout's head and the frames' table. `*layout_at`: the
// layout's offset, for the trailer.
Status WriteHead(SealedFileWriter& f, int64_t trained_on, const std::string& vocabulary, uint64_t frames,
                 uint64_t descriptors, uint64_t words, const int64_t* frame_ids, const uint64_t* frame_first,
                 uint64_t* layout_at) {
  const std::string prefix = TrainedPrefix(trained_on);
  CELMATCH_RETURN_IF_ERROR(f.Append(prefix.data(), prefix.size()));
  CELMATCH_RETURN_IF_ERROR(f.Append(vocabulary.data(), vocabulary.size()));
  CELMATCH_RETURN_IF_ERROR(f.Pad(8));
  *layout_at = f.size();
  const uint64_t head[3] = {frames, descriptors, words};
  CELMATCH_RETURN_IF_ERROR(f.Append(kLayoutMagic, sizeof kLayoutMagic));
  CELMATCH_RETURN_IF_ERROR(f.Append(head, sizeof head));
  CELMATCH_RETURN_IF_ERROR(f.Append(frame_ids, frames * sizeof(int64_t)));
  return f.Append(frame_first, (frames + 1) * sizeof(uint64_t));
}

// The trailer after the members' descriptors, and the commit.
Status WriteTrailer(SealedFileWriter& f, size_t vocabulary_bytes, uint64_t layout_at) {
  const uint64_t trailer[2] = {uint64_t(vocabulary_bytes), layout_at};
  CELMATCH_RETURN_IF_ERROR(f.Append(trailer, sizeof trailer));
  CELMATCH_RETURN_IF_ERROR(f.Append(kTrailerMagic, sizeof kTrailerMagic));
  return f.Commit();
}

// Counting sort of `n` descriptors by word: each word's first member (words
// + 1 entries), and `place` turned from each descriptor's word into its place
// among the members; `members` (when given) gets each place's descriptor.
std::vector<uint32_t> FileByWord(size_t words, std::vector<uint32_t>& place, std::vector<uint32_t>* members) {
  std::vector<uint32_t> first(words + 1, 0);
  for (uint32_t w : place) ++first[size_t(w) + 1];
  for (size_t k = 0; k < words; ++k) first[k + 1] += first[k];
  std::vector<uint32_t> next(first.begin(), first.end() - 1);
  if (members) members->resize(place.size());
  for (size_t i = 0; i < place.size(); ++i) {
    place[i] = next[place[i]]++;
    if (members) (*members)[place[i]] = uint32_t(i);
  }
  return first;
}

// memcmp over `n` bytes that may be none (an empty layer's arrays are null).
bool SameBytes(const void* a, const void* b, size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

template <typename T>
T ReadAt(const uint8_t* p, size_t at) {
  T v;
  std::memcpy(&v, p + at, sizeof v);
  return v;
}

// Parses and checks a payload of `n` bytes at `p` (8-byte aligned): every
// size, count and offset, so the views stay inside it. Members are checked
// where they are read (Vote).
Status ParseFile(const uint8_t* p, size_t n, const std::string& what, FileParts* out) {
  const std::string bad = what + ": not a vocabulary of visual words";
  if (n < kPrefixBytes) return Status::Corrupt(bad + " (truncated)");
  uint64_t f[6];
  std::memcpy(f, p, kPrefixBytes);
  if (f[0] > (uint64_t(1) << 48)) return Status::Corrupt(bad + " (descriptor count)");
  out->trained_on = int64_t(f[0]);
  out->key.branching = uint32_t(f[1]);
  out->key.descriptors_per_word = uint32_t(f[2]);
  out->key.max_levels = uint32_t(f[3]);
  out->key.max_training = uint32_t(f[4]);
  out->key.seed = f[5];
  size_t vocabulary_bytes = n - kPrefixBytes;
  const bool layout = n >= kPrefixBytes + kTrailerBytes &&
                      std::memcmp(p + n - sizeof kTrailerMagic, kTrailerMagic, sizeof kTrailerMagic) == 0;
  uint64_t layout_at = 0;
  if (layout) {
    vocabulary_bytes = ReadAt<uint64_t>(p, n - kTrailerBytes);
    layout_at = ReadAt<uint64_t>(p, n - kTrailerBytes + 8);
    if (vocabulary_bytes > n || layout_at != Align8(kPrefixBytes + vocabulary_bytes) ||
        layout_at + 32 > n - kTrailerBytes) {
      return Status::Corrupt(what + ": its trailer places the vocabulary or the words outside the file");
    }
  }
  Result<Vocabulary> v =
      Vocabulary::Parse(std::string(reinterpret_cast<const char*>(p) + kPrefixBytes, vocabulary_bytes), what);
  if (!v.ok()) return v.status();
  out->vocabulary = std::move(*v);
  if (!layout) return Status::Ok();

  const size_t end = n - kTrailerBytes;
  size_t at = size_t(layout_at);
  if (std::memcmp(p + at, kLayoutMagic, sizeof kLayoutMagic) != 0) return Status::Corrupt(what + ": no filed words where its trailer says");
  out->frames = ReadAt<uint64_t>(p, at + 8);
  out->descriptors = ReadAt<uint64_t>(p, at + 16);
  out->words = ReadAt<uint64_t>(p, at + 24);
  at += 32;
  const uint64_t F = out->frames, N = out->descriptors, W = out->words;
  if (F > (uint64_t(1) << 40) || N >= (uint64_t(1) << 32) || W >= (uint64_t(1) << 31) ||
      W != uint64_t(out->vocabulary.size()) || int64_t(N) != out->trained_on) {
    return Status::Corrupt(what + ": its counts (" + std::to_string(F) + " frames, " + std::to_string(N) +
                           " descriptors, " + std::to_string(W) + " words) disagree with its vocabulary");
  }
  const uint64_t need = F * 8 + (F + 1) * 8 + N * kFeatureBytes + N * 8 + Align8((W + 1) * 4) + Align8(N * 4) +
                        N * kFeatureBytes;
  if (at + need != end) {
    return Status::Corrupt(what + ": holds " + std::to_string(end - at) + " bytes of filed words, its counts need " +
                           std::to_string(need));
  }
  out->frame_ids = reinterpret_cast<const int64_t*>(p + at);
  at += F * 8;
  out->frame_first = reinterpret_cast<const uint64_t*>(p + at);
  at += (F + 1) * 8;
  out->codes = p + at;
  at += N * kFeatureBytes;
  out->xy = reinterpret_cast<const float*>(p + at);
  at += N * 8;
  out->word_first = reinterpret_cast<const uint32_t*>(p + at);
  at += Align8((W + 1) * 4);
  out->members = reinterpret_cast<const uint32_t*>(p + at);
  at += Align8(N * 4);
  out->word_codes = p + at;
  // Frames ascending, runs of descriptors and words in order and inside N.
  for (uint64_t i = 0; i < F; ++i) {
    if (out->frame_ids[i] < 0 || (i > 0 && out->frame_ids[i] <= out->frame_ids[i - 1]))
      return Status::Corrupt(what + ": its frame ids are not ascending");
  }
  if (out->frame_first[0] != 0 || out->frame_first[F] != N) return Status::Corrupt(what + ": its frames do not hold its descriptors");
  for (uint64_t i = 0; i < F; ++i) {
    if (out->frame_first[i + 1] < out->frame_first[i]) return Status::Corrupt(what + ": its frames' descriptors are out of order");
  }
  if (out->word_first[0] != 0 || out->word_first[W] != N) return Status::Corrupt(what + ": its words do not hold its descriptors");
  for (uint64_t k = 0; k < W; ++k) {
    if (out->word_first[k + 1] < out->word_first[k]) return Status::Corrupt(what + ": its words' members are out of order");
  }
  out->has_layout = true;
  return Status::Ok();
}

}  // namespace

FeatureIndex::FeatureIndex() { Refresh(); }
FeatureIndex::~FeatureIndex() = default;

void FeatureIndex::Refresh() {
  arrays_.frame_ids = frame_ids_.data();
  arrays_.frame_first = frame_first_.data();
  arrays_.frames = frame_ids_.size();
  arrays_.codes = codes_.data();
  arrays_.xy = xy_.data();
  arrays_.descriptors = codes_.size() / kFeatureBytes;
}

size_t FeatureIndex::TrainingStep(size_t n) {
  const size_t cap = std::max<size_t>(1, TrainingSample(n));
  return std::max<size_t>(1, (n + cap - 1) / cap);
}

Vocabulary FeatureIndex::TrainOnSample(const std::vector<uint8_t>& sample, size_t step) {
  // A node becomes a word when it holds about kDescriptorsPerWord of all
  // descriptors (the sample's share of them).
  const size_t leaf = size_t(std::ceil(double(kDescriptorsPerWord) / double(step)));
  return Vocabulary::Train(sample.data(), sample.size() / kFeatureBytes, kBranching, kMaxLevels, kVocabularySeed, leaf);
}

Vocabulary FeatureIndex::Train(const uint8_t* codes, size_t n) {
  // An evenly spread sample: every step-th descriptor.
  const size_t step = TrainingStep(n);
  std::vector<uint8_t> sample;
  sample.reserve((n / step + 1) * kFeatureBytes);
  for (size_t i = 0; i < n; i += step) sample.insert(sample.end(), codes + i * kFeatureBytes, codes + (i + 1) * kFeatureBytes);
  return TrainOnSample(sample, step);
}

Status FeatureIndex::AddFrame(const FrameFeaturesRecord& r) {
  if (map_) return Status::Internal("local features of frame " + std::to_string(r.frame_id) + " added to a mapped index");
  if (!frame_ids_.empty() && r.frame_id <= frame_ids_.back()) {
    return Status::Internal("local features of frame " + std::to_string(r.frame_id) + " added out of order");
  }
  const size_t n = r.xy.size() / 2;
  if (r.frame_id < 0 || r.xy.size() % 2 != 0 || r.descriptors.size() != n * kFeatureBytes) {
    return Status::InvalidArgument("malformed local features for frame " + std::to_string(r.frame_id));
  }
  frame_ids_.push_back(r.frame_id);
  codes_.insert(codes_.end(), r.descriptors.begin(), r.descriptors.end());
  xy_.insert(xy_.end(), r.xy.begin(), r.xy.end());
  frame_first_.push_back(codes_.size() / kFeatureBytes);
  Refresh();
  return Status::Ok();
}

Result<std::unique_ptr<FeatureIndex>> FeatureIndex::Load(const std::string& path,
                                                         const std::vector<FrameFeaturesRecord>& records,
                                                         bool* file_stale, bool use_file) {
  auto out = std::make_unique<FeatureIndex>();
  size_t total = 0, points = 0;
  for (const FrameFeaturesRecord& r : records) {
    total += r.descriptors.size();
    points += r.xy.size();
  }
  out->codes_.reserve(total);
  out->xy_.reserve(points);
  out->frame_ids_.reserve(records.size());
  out->frame_first_.reserve(records.size() + 1);
  for (const FrameFeaturesRecord& r : records) {
    const size_t n = r.xy.size() / 2;
    if (r.descriptors.size() != n * kFeatureBytes || r.xy.size() % 2 != 0) {
      return Status::Corrupt(path + ": catalog features of frame " + std::to_string(r.frame_id) + " are malformed");
    }
    if (!out->frame_ids_.empty() && r.frame_id <= out->frame_ids_.back()) {
      return Status::Corrupt(path + ": catalog features are not in frame order");
    }
    CELMATCH_RETURN_IF_ERROR(out->AddFrame(r));
  }
  // The file's vocabulary when it was trained on exactly these descriptors
  // (its filed words are used when the file is mapped, not here). A file
  // without them (an earlier celmatch's) is rewritten by the next writer.
  *file_stale = true;
  if (use_file) {
    Result<std::shared_ptr<const MappedSealedFile>> file = MappedSealedFile::Open(path);
    FileParts parts;
    const bool parsed = file.ok() && ParseFile((*file)->data(), (*file)->size(), path, &parts).ok();
    if (parsed && parts.trained_on == out->descriptor_count() && parts.key == TrainingKey::For(parts.trained_on)) {
      auto words = std::make_shared<Words>();
      words->vocabulary = std::move(parts.vocabulary);
      words->trained_on = parts.trained_on;
      out->words_ = std::move(words);
      // Its filed words are current when they are of these frames.
      bool current = parts.has_layout && parts.frames == out->arrays_.frames;
      for (size_t i = 0; current && i < out->arrays_.frames; ++i) {
        current = parts.frame_ids[i] == out->arrays_.frame_ids[i] &&
                  parts.frame_first[i + 1] == out->arrays_.frame_first[i + 1];
      }
      *file_stale = !current;
    }
  }
  return out;
}

std::unique_ptr<FeatureIndex> FeatureIndex::Map(const std::string& path, const std::vector<FrameFeatureCount>& frames) {
  Result<std::shared_ptr<const MappedSealedFile>> file = MappedSealedFile::Open(path);
  if (!file.ok()) return nullptr;
  FileParts parts;
  if (!ParseFile((*file)->data(), (*file)->size(), path, &parts).ok() || !parts.has_layout) return nullptr;
  if (!(parts.key == TrainingKey::For(parts.trained_on)) || parts.frames != frames.size()) return nullptr;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (parts.frame_ids[i] != frames[i].frame_id ||
        parts.frame_first[i + 1] - parts.frame_first[i] != uint64_t(frames[i].count))
      return nullptr;
  }
  std::unique_ptr<FeatureIndex> out(new FeatureIndex());
  out->map_ = *file;
  out->arrays_.frame_ids = parts.frame_ids;
  out->arrays_.frame_first = parts.frame_first;
  out->arrays_.frames = size_t(parts.frames);
  out->arrays_.codes = parts.codes;
  out->arrays_.xy = parts.xy;
  out->arrays_.descriptors = size_t(parts.descriptors);
  auto words = std::make_shared<Words>();
  words->vocabulary = std::move(parts.vocabulary);
  words->trained_on = parts.trained_on;
  words->first = parts.word_first;
  words->words = size_t(parts.words);
  words->members = parts.members;
  words->codes = parts.word_codes;
  words->map = *file;
  words->filed = true;
  out->words_ = std::move(words);
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
    w->vocabulary = Train(arrays_.codes, size_t(n));
  }
  w->trained_on = n;
  if (file) {
    // Counting sort of the descriptors by word.
    const size_t words = size_t(std::max(0, w->vocabulary.size()));
    std::vector<uint32_t> place(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      place[size_t(i)] = uint32_t(w->vocabulary.Word(arrays_.codes + size_t(i) * kFeatureBytes));
    w->own_first = FileByWord(words, place, &w->own_members);
    // The members' descriptors copied in the same order: a word's scan reads
    // one run of memory instead of descriptors scattered over all of them.
    w->own_codes.resize(size_t(n) * kFeatureBytes);
    for (size_t j = 0; j < size_t(n); ++j)
      std::memcpy(w->own_codes.data() + j * kFeatureBytes, arrays_.codes + size_t(w->own_members[j]) * kFeatureBytes,
                  kFeatureBytes);
    w->first = w->own_first.data();
    w->words = words;
    w->members = w->own_members.data();
    w->codes = w->own_codes.data();
    w->filed = true;
  }
  words_ = w;
  return w;
}

Status FeatureIndex::Write(const std::string& dir, const std::string& path) {
  if (descriptor_count() >= (int64_t(1) << 32)) {
    return Status::InvalidArgument(path + ": a layer holds at most 4,294,967,295 descriptors");
  }
  std::shared_ptr<const Words> w = CurrentWords(/*file=*/true);
  Result<std::unique_ptr<SealedFileWriter>> out = SealedFileWriter::Create(dir, path);
  if (!out.ok()) return out.status();
  SealedFileWriter& f = **out;
  const std::string vocabulary = w->vocabulary.Serialize();
  const Arrays& a = arrays_;
  uint64_t layout_at = 0;
  CELMATCH_RETURN_IF_ERROR(WriteHead(f, w->trained_on, vocabulary, a.frames, a.descriptors, w->words, a.frame_ids,
                                     a.frame_first, &layout_at));
  CELMATCH_RETURN_IF_ERROR(f.Append(a.codes, a.descriptors * kFeatureBytes));
  CELMATCH_RETURN_IF_ERROR(f.Append(a.xy, a.descriptors * 2 * sizeof(float)));
  CELMATCH_RETURN_IF_ERROR(f.Append(w->first, (w->words + 1) * sizeof(uint32_t)));
  CELMATCH_RETURN_IF_ERROR(f.Pad(8));
  CELMATCH_RETURN_IF_ERROR(f.Append(w->members, a.descriptors * sizeof(uint32_t)));
  CELMATCH_RETURN_IF_ERROR(f.Pad(8));
  CELMATCH_RETURN_IF_ERROR(f.Append(w->codes, a.descriptors * kFeatureBytes));
  return WriteTrailer(f, vocabulary.size(), layout_at);
}

Status FeatureIndex::WriteStreamed(const std::string& dir, const std::string& path,
                                   const std::vector<FrameFeatureCount>& frames, const FramePass& pass,
                                   size_t memory_bytes) {
  // The frames' table, and their count checked against it on every pass.
  std::vector<int64_t> frame_ids;
  std::vector<uint64_t> frame_first{0};
  frame_ids.reserve(frames.size());
  frame_first.reserve(frames.size() + 1);
  for (const FrameFeatureCount& f : frames) {
    if (f.frame_id < 0 || f.count < 0 || (!frame_ids.empty() && f.frame_id <= frame_ids.back()))
      return Status::InvalidArgument(path + ": frames to write are not in ascending id order");
    frame_ids.push_back(f.frame_id);
    frame_first.push_back(frame_first.back() + uint64_t(f.count));
  }
  const uint64_t n = frame_first.back();
  if (n >= (uint64_t(1) << 32)) return Status::InvalidArgument(path + ": a layer holds at most 4,294,967,295 descriptors");
  // A pass that visits each frame with its descriptors' first number.
  auto each = [&](const std::function<void(const FrameFeaturesRecord&, uint64_t first)>& use) -> Status {
    size_t i = 0;
    CELMATCH_RETURN_IF_ERROR(pass([&](const FrameFeaturesRecord& r) -> Status {
      if (i >= frames.size() || r.frame_id != frame_ids[i] ||
          r.descriptors.size() != (frame_first[i + 1] - frame_first[i]) * kFeatureBytes ||
          r.xy.size() != (frame_first[i + 1] - frame_first[i]) * 2) {
        return Status::InvalidArgument(path + ": frame " + std::to_string(r.frame_id) +
                                       " is not the frame or the keypoint count the write was told");
      }
      use(r, frame_first[i]);
      ++i;
      return Status::Ok();
    }));
    if (i != frames.size()) return Status::InvalidArgument(path + ": a pass ended before its last frame");
    return Status::Ok();
  };

  // The vocabulary, trained on Train's sample.
  const size_t step = TrainingStep(size_t(n));
  std::vector<uint8_t> sample;
  CELMATCH_RETURN_IF_ERROR(each([&](const FrameFeaturesRecord& r, uint64_t first) {
    for (uint64_t j = (first + step - 1) / step * step; j < first + r.descriptors.size() / kFeatureBytes; j += step) {
      const uint8_t* d = r.descriptors.data() + (j - first) * kFeatureBytes;
      sample.insert(sample.end(), d, d + kFeatureBytes);
    }
  }));
  const Vocabulary vocabulary = TrainOnSample(sample, step);
  sample = {};
  const size_t words = size_t(std::max(0, vocabulary.size()));

  Result<std::unique_ptr<SealedFileWriter>> out = SealedFileWriter::Create(dir, path);
  if (!out.ok()) return out.status();
  SealedFileWriter& f = **out;
  const std::string serialized = vocabulary.Serialize();
  uint64_t layout_at = 0;
  CELMATCH_RETURN_IF_ERROR(WriteHead(f, int64_t(n), serialized, frame_ids.size(), n, words, frame_ids.data(),
                                     frame_first.data(), &layout_at));

  // The descriptors in frame order, each filed under its word as it passes.
  std::vector<uint32_t> place(static_cast<size_t>(n));  // a descriptor's word, then its place in word order
  Status written = Status::Ok();
  CELMATCH_RETURN_IF_ERROR(each([&](const FrameFeaturesRecord& r, uint64_t first) {
    for (size_t j = 0; j < r.descriptors.size() / kFeatureBytes; ++j)
      place[size_t(first + j)] = uint32_t(vocabulary.Word(r.descriptors.data() + j * kFeatureBytes));
    if (written.ok()) written = f.Append(r.descriptors.data(), r.descriptors.size());
  }));
  CELMATCH_RETURN_IF_ERROR(written);
  CELMATCH_RETURN_IF_ERROR(each([&](const FrameFeaturesRecord& r, uint64_t) {
    if (written.ok()) written = f.Append(r.xy.data(), r.xy.size() * sizeof(float));
  }));
  CELMATCH_RETURN_IF_ERROR(written);

  // Counting sort by word: each word's first member, then every
  // descriptor's place among the members.
  {
    std::vector<uint32_t> members;
    const std::vector<uint32_t> word_first = FileByWord(words, place, &members);
    CELMATCH_RETURN_IF_ERROR(f.Append(word_first.data(), word_first.size() * sizeof(uint32_t)));
    CELMATCH_RETURN_IF_ERROR(f.Pad(8));
    CELMATCH_RETURN_IF_ERROR(f.Append(members.data(), members.size() * sizeof(uint32_t)));
  }
  CELMATCH_RETURN_IF_ERROR(f.Pad(8));
  // The members' descriptors in word order, a share of memory_bytes a pass.
  const uint64_t share = std::max<uint64_t>(1, memory_bytes / kFeatureBytes);
  std::vector<uint8_t> run;
  for (uint64_t begin = 0; begin < n; begin += share) {
    const uint64_t end = std::min(n, begin + share);
    run.assign(size_t(end - begin) * kFeatureBytes, 0);
    CELMATCH_RETURN_IF_ERROR(each([&](const FrameFeaturesRecord& r, uint64_t first) {
      for (size_t j = 0; j < r.descriptors.size() / kFeatureBytes; ++j) {
        const uint64_t at = place[size_t(first + j)];
        if (at >= begin && at < end)
          std::memcpy(run.data() + (at - begin) * kFeatureBytes, r.descriptors.data() + j * kFeatureBytes, kFeatureBytes);
      }
    }));
    CELMATCH_RETURN_IF_ERROR(f.Append(run.data(), run.size()));
  }
  return WriteTrailer(f, serialized.size(), layout_at);
}

int FeatureIndex::words() const { return CurrentWords(true)->vocabulary.size(); }

FrameFeaturesView FeatureIndex::frame(int64_t frame_id) const {
  FrameFeaturesView v;
  const Arrays& a = arrays_;
  const int64_t* end = a.frame_ids + a.frames;
  const int64_t* it = std::lower_bound(a.frame_ids, end, frame_id);
  if (it == end || *it != frame_id) return v;
  const size_t i = size_t(it - a.frame_ids);
  const uint64_t first = a.frame_first[i], count = a.frame_first[i + 1] - first;
  if (count == 0) return v;
  v.points = reinterpret_cast<const cv::Point2f*>(a.xy + 2 * first);
  v.descriptors = a.codes + first * kFeatureBytes;
  v.count = size_t(count);
  return v;
}

std::vector<FrameVotes> FeatureIndex::Vote(const cv::Mat& query, int k, int max_distance, int max_frames,
                                           int beam) const {
  std::vector<FrameVotes> out;
  if (query.empty() || query.cols != kFeatureBytes || query.type() != CV_8U || descriptor_count() == 0 || k <= 0)
    return out;
  const std::shared_ptr<const Words> w = CurrentWords(/*file=*/true);
  const Arrays& a = arrays_;
  const uint64_t n = a.descriptors;
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
      if (word < 0 || size_t(word) >= w->words) continue;
      const uint32_t begin = w->first[size_t(word)], end = w->first[size_t(word) + 1];
      const uint32_t count = end - begin;
      distances.resize(count);
      HammingDistances32(q, w->codes + size_t(begin) * kFeatureBytes, count, distances.data());
      // Most members are farther than the k-th nearest so far: a block of 16
      // is tested at once against that distance (a mask the compiler
      // vectorises), and only its nearer members one by one.
      int limit = found == size_t(k) ? std::min(max_distance, near[found - 1].first) : max_distance;
      for (uint32_t block = 0; block < count; block += 16) {
        const uint32_t block_end = std::min(count, block + 16);
        uint32_t nearer = 0;
        for (uint32_t i = block; i < block_end; ++i) nearer |= uint32_t(distances[i] <= limit) << (i - block);
        for (; nearer != 0; nearer &= nearer - 1) {
          const uint32_t i = block + uint32_t(__builtin_ctz(nearer));
          const Neighbour nb(distances[i], w->members[begin + i]);
          if (nb.first > limit || (found == size_t(k) && !(nb < near[found - 1]))) continue;
          size_t at = found < size_t(k) ? found++ : found - 1;
          for (; at > 0 && nb < near[at - 1]; --at) near[at] = near[at - 1];
          near[at] = nb;
          if (found == size_t(k)) limit = std::min(max_distance, near[found - 1].first);
        }
      }
    }
    seen.clear();
    for (size_t j = 0; j < found; ++j) {
      const uint64_t member = near[j].second;
      if (member >= n) continue;  // a damaged mapped file: never read outside it
      // The frame whose run of descriptors holds `member`.
      const size_t i = size_t(std::upper_bound(a.frame_first, a.frame_first + a.frames + 1, member) - a.frame_first) - 1;
      const int64_t frame = a.frame_ids[i];
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
  const Arrays& a = arrays_;
  if (total != a.descriptors * kFeatureBytes || records.size() != a.frames) {
    return Status::Corrupt(path + ": feature index holds " + std::to_string(descriptor_count()) + " descriptors of " +
                           std::to_string(a.frames) + " frames, catalog " + std::to_string(total / kFeatureBytes) +
                           " of " + std::to_string(records.size()));
  }
  size_t at = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const FrameFeaturesRecord& r = records[i];
    if (a.frame_ids[i] != r.frame_id || a.frame_first[i] * kFeatureBytes != at ||
        (!r.descriptors.empty() && std::memcmp(a.codes + at, r.descriptors.data(), r.descriptors.size()) != 0) ||
        (!r.xy.empty() && std::memcmp(a.xy + at / kFeatureBytes * 2, r.xy.data(), r.xy.size() * sizeof(float)) != 0))
      return Status::Corrupt(path + ": feature descriptors differ from the catalog's");
    at += r.descriptors.size();
  }
  Result<std::shared_ptr<const MappedSealedFile>> file = MappedSealedFile::Open(path);
  if (!file.ok()) return file.status();
  FileParts parts;
  CELMATCH_RETURN_IF_ERROR(ParseFile((*file)->data(), (*file)->size(), path, &parts));
  // Trained on other descriptors (a writer killed between the catalog's
  // commit and this file, or one that added frames since) or with other
  // parameters (an earlier celmatch): a stale cache, retrained in memory by
  // readers and rewritten by the next writer, not damage.
  if (!parts.has_layout || parts.trained_on != descriptor_count() || parts.frames != a.frames) return Status::Ok();
  // A current file: its frames, descriptors and keypoints are the catalog's,
  // and its filed words are the descriptors' own.
  const uint64_t n = parts.descriptors;
  if (!SameBytes(parts.frame_ids, a.frame_ids, a.frames * sizeof(int64_t)) ||
      !SameBytes(parts.frame_first, a.frame_first, (a.frames + 1) * sizeof(uint64_t)) ||
      !SameBytes(parts.codes, a.codes, n * kFeatureBytes) || !SameBytes(parts.xy, a.xy, n * 2 * sizeof(float))) {
    return Status::Corrupt(path + ": its frames, descriptors or keypoints differ from the catalog's");
  }
  for (uint64_t j = 0; j < n; ++j) {
    if (parts.members[j] >= n ||
        std::memcmp(parts.word_codes + j * kFeatureBytes, parts.codes + uint64_t(parts.members[j]) * kFeatureBytes,
                    kFeatureBytes) != 0)
      return Status::Corrupt(path + ": its words file descriptors it does not hold");
  }
  return Status::Ok();
}

}  // namespace celmatch
