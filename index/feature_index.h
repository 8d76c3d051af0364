// FeatureIndex: the local-feature descriptors (signatures/local_features.h)
// of every reference frame for one layer, searchable by descriptor, and each
// frame's keypoints for geometric verification.
//
// Search goes through visual words (index/visual_words.h): a vocabulary tree
// files every reference descriptor under one word, and a query descriptor is
// compared exactly (Hamming distance) only with the descriptors filed under
// its `beam` nearest words. The tree is split until a word holds about
// kDescriptorsPerWord descriptors (deeper where descriptors crowd), so a
// query's cost stays nearly the same as the index grows, where a search over
// every descriptor (or FAISS's multi-hash tables, which this replaces) grows
// with it. Measured on the leak benchmark's index (1.9M descriptors,
// bench/RESULTS.md, `celmatch bench shortlist`): the true frame among the
// voted ones for 87.5% of files at 52 ms a file, against 90.6% at 3.2 s for
// the multi-hash vote; with the embedding's list, 95.8% against 96.9%.

// Persistence: the catalog's frame_features table is the truth. DIR/words_<layer>.bin
// is a cache of everything searched (sealed, written temp+rename by
// ReferenceIndex::Save): the vocabulary trained on the catalog's descriptors,
// then the layer's frames, descriptors and keypoints in frame order, and every
// descriptor filed under its word (its number and a copy of it in word order).
// Readers map it (Map: read-only, shared between processes, nothing of it
// copied to the heap), so a process holds a few bytes a frame of its own
// however large the index; bench_words_scale measures it. Training is
// deterministic (an evenly spread sample of the descriptors, a fixed seed), so
// a vocabulary trained again after the file was lost, damaged or outdated is
// the same one, and so is the filing. A file that does not agree with the
// catalog's frames and counts (a writer killed between the catalog's commit
// and this file) is not used: readers then Load the catalog's rows and train
// at the first search; the next writer rewrites it. Files of an earlier
// celmatch hold the vocabulary alone; Load still uses it.
//
// Thread-safety: const methods may run on many threads at once; AddFrame and
// Write need exclusive access.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "index/catalog.h"
#include "index/durable_files.h"
#include "index/visual_words.h"
#include "signatures/local_features.h"

namespace celmatch {

// One reference frame's features, borrowed from the index.
struct FrameFeaturesView {
  const cv::Point2f* points = nullptr;    // reference pixels
  const uint8_t* descriptors = nullptr;   // count x kFeatureBytes
  size_t count = 0;
};

struct FrameVotes {
  int64_t frame_id = -1;
  int votes = 0;   // query descriptors with a near neighbour in this frame
};

class FeatureIndex {
 public:
  // The vocabulary's shape: branching 10, a node split until it holds about
  // kDescriptorsPerWord reference descriptors (at most kMaxLevels levels),
  // trained on an evenly spread sample of TrainingSample(n) descriptors.
  // bench/RESULTS.md: 300 a word found the true frame for 84.4% of files at
  // half the cost, 1000 for 87.5%.
  static constexpr int kBranching = 10;
  static constexpr int kDescriptorsPerWord = 1000;
  static constexpr size_t kMaxTrainingDescriptors = 100000;
  // The training sample for `n` descriptors: all of them up to
  // kMaxTrainingDescriptors, then that many, or one in kTrainingShare when
  // more. A node needs a few sample descriptors to be split, so a fixed
  // sample caps the number of words (about 46,000 from 100,000) and the words
  // grow with the index beyond ~40M descriptors, and with them a query's
  // cost (bench/bench_words_scale.cpp); one in 100 keeps ~10 sample
  // descriptors a word at any size.
  static constexpr size_t kTrainingShare = 100;
  static size_t TrainingSample(size_t n) {
    return n < kMaxTrainingDescriptors ? n : std::max(kMaxTrainingDescriptors, n / kTrainingShare);
  }
  static constexpr int kMaxLevels = 8;

  FeatureIndex();
  ~FeatureIndex();
  FeatureIndex(const FeatureIndex&) = delete;
  FeatureIndex& operator=(const FeatureIndex&) = delete;

  // Builds the index for `records` (one layer, ascending frame ids), with
  // the vocabulary of the file at `path` when it was trained on exactly
  // these descriptors. `*file_stale` is set when the file must be
  // rewritten. The file is read only when its seal holds (durable_files.h);
  // `use_file` false: not at all (an index written before seals).
  static Result<std::unique_ptr<FeatureIndex>> Load(const std::string& path,
                                                    const std::vector<FrameFeaturesRecord>& records,
                                                    bool* file_stale, bool use_file = true);

  // The index in the file at `path`, mapped, when the file is sealed, holds
  // the filed words and agrees with `frames` (the catalog's frames with
  // features of this layer, ascending, and their keypoint counts); null when
  // it cannot be used as it is (missing, damaged, stale, of an earlier
  // celmatch): then Load the catalog's rows. The index is read-only.
  static std::unique_ptr<FeatureIndex> Map(const std::string& path, const std::vector<FrameFeatureCount>& frames);

  // Appends one frame (ids ascending, above every frame added so far). Not
  // on a mapped index.
  Status AddFrame(const FrameFeaturesRecord& record);

  // Writes the layer's file (the vocabulary trained and the words filed
  // first when they are not for every descriptor), streamed: temp, fsync,
  // rename, fsync of the directory.
  Status Write(const std::string& dir, const std::string& path);

  // One pass over a layer's frames: calls `visit` for each frame of
  // `frames` (WriteStreamed's), in that order; stops at the first error.
  using FramePass = std::function<Status(const std::function<Status(const FrameFeaturesRecord&)>& visit)>;

  // Writes the file Write writes for the frames `pass` yields (the same
  // bytes: the same training sample, vocabulary and filing) without holding
  // their descriptors: 8 bytes a descriptor (its word, then its place in
  // word order) and `memory_bytes` of word-ordered descriptors at a time.
  // `frames` are the frames' ids (ascending) and keypoint counts; each pass
  // must yield exactly those. Passes: the training sample, the descriptors
  // (filed under their words), the keypoints, then one a `memory_bytes`
  // share of the word-ordered copy. For an index larger than memory (the
  // 1M-frame retrieval benchmark); a frame a pass yields otherwise stops the
  // write, naming it, and no file is left.
  static Status WriteStreamed(const std::string& dir, const std::string& path,
                              const std::vector<FrameFeatureCount>& frames, const FramePass& pass,
                              size_t memory_bytes = size_t(1) << 32);

  int64_t descriptor_count() const { return int64_t(arrays_.descriptors); }
  int64_t frames_with_features() const { return int64_t(arrays_.frames); }
  bool mapped() const { return map_ != nullptr; }
  FrameFeaturesView frame(int64_t frame_id) const;  // empty when the frame has none

  // For each query descriptor (rows of kFeatureBytes, CV_8U), its `k`
  // nearest reference descriptors within `max_distance` bits among those
  // filed under its `beam` nearest words vote once for each frame they
  // belong to. The `max_frames` frames with most votes, most first. Trains
  // the vocabulary at the first call when no file supplied it.
  std::vector<FrameVotes> Vote(const cv::Mat& query_descriptors, int k, int max_distance, int max_frames,
                               int beam = 1) const;

  // Number of words of the vocabulary searched; trains and files them now
  // when the first search would (to time them apart from the queries).
  int words() const;

  // The file at `path` against the records (for `index check`): sealed and
  // a vocabulary (a stale one, trained on other descriptors, is a cache's
  // normal state after a killed writer), and this index's descriptors are
  // the records'.
  Status CheckAgainst(const std::vector<FrameFeaturesRecord>& records, const std::string& path) const;

 private:
  // The layer's frames in id order and their descriptors and keypoints:
  // views of the vectors below (built here) or of the mapped file.
  struct Arrays {
    const int64_t* frame_ids = nullptr;     // ascending
    const uint64_t* frame_first = nullptr;  // frames + 1 entries: each frame's first descriptor, then the total
    size_t frames = 0;
    const uint8_t* codes = nullptr;         // descriptors x kFeatureBytes
    const float* xy = nullptr;              // descriptors x 2
    size_t descriptors = 0;
  };
  // The vocabulary and every descriptor filed under its word, in vectors of
  // its own (filed here) or in the mapped file.
  struct Words {
    Vocabulary vocabulary;
    int64_t trained_on = 0;            // descriptors the vocabulary was trained on
    bool filed = false;                // the views below are set
    const uint32_t* first = nullptr;   // word -> first entry of `members` (words + 1 entries)
    size_t words = 0;
    const uint32_t* members = nullptr; // descriptor numbers, grouped by word
    const uint8_t* codes = nullptr;    // members' descriptors, in members' order
    std::vector<uint32_t> own_first, own_members;
    std::vector<uint8_t> own_codes;
    std::shared_ptr<const MappedSealedFile> map;
  };
  // The vocabulary for the current descriptors, trained when missing or
  // trained on others; its words filed when `file` is set.
  std::shared_ptr<const Words> CurrentWords(bool file) const;
  static Vocabulary Train(const uint8_t* codes, size_t n);
  // Train's sample of `n` descriptors is every TrainingStep(n)-th one,
  // from the first; TrainOnSample trains on it.
  static size_t TrainingStep(size_t n);
  static Vocabulary TrainOnSample(const std::vector<uint8_t>& sample, size_t step);
  void Refresh();  // points arrays_ at the vectors

  // Built here (writers; readers without a usable file).
  std::vector<int64_t> frame_ids_;
  std::vector<uint64_t> frame_first_{0};
  std::vector<uint8_t> codes_;
  std::vector<float> xy_;
  std::shared_ptr<const MappedSealedFile> map_;  // set: arrays_ and words_ are in it
  Arrays arrays_;
  mutable std::mutex words_mu_;
  mutable std::shared_ptr<const Words> words_;
};

}  // namespace celmatch
