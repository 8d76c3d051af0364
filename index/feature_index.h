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

// Persistence: the catalog's frame_features table is the truth and is where
// Load reads descriptors and keypoints from. DIR/words_<layer>.bin caches the
// vocabulary trained on them (sealed, written temp+rename by
// ReferenceIndex::Save). Training is deterministic (an evenly spread sample
// of the descriptors, a fixed seed), so a vocabulary trained again after the
// file was lost, damaged or outdated is the same one: Load uses the file
// when its seal holds and it was trained on exactly the catalog's
// descriptors, and otherwise trains at the first search (readers, in memory)
// or at the next Write (writers).
//
// Thread-safety: const methods may run on many threads at once; AddFrame and
// Write need exclusive access.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "index/catalog.h"
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

  // Appends one frame (ids ascending, above every frame added so far).
  Status AddFrame(const FrameFeaturesRecord& record);

  // Writes the vocabulary file (trained first when it is not trained on
  // every descriptor): temp, fsync, rename, fsync of the directory.
  Status Write(const std::string& dir, const std::string& path);

  int64_t descriptor_count() const { return int64_t(codes_.size() / kFeatureBytes); }
  int64_t frames_with_features() const { return int64_t(frame_of_.size()); }
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
  struct FrameSlot {
    int64_t first = 0;   // first descriptor
    int64_t count = 0;
    size_t points = 0;   // offset in points_
  };
  // The vocabulary and every descriptor filed under its word.
  struct Words {
    Vocabulary vocabulary;
    int64_t trained_on = 0;            // descriptors the vocabulary was trained on
    std::vector<uint32_t> first;       // word -> first entry in `members` (size words + 1)
    std::vector<uint32_t> members;     // descriptor numbers, grouped by word
    std::vector<uint8_t> codes;        // members' descriptors, in members' order
    bool filed = false;                // first/members built
  };
  // The vocabulary for the current descriptors, trained when missing or
  // trained on others; its words filed when `file` is set.
  std::shared_ptr<const Words> CurrentWords(bool file) const;
  static Vocabulary Train(const std::vector<uint8_t>& codes);

  std::vector<uint8_t> codes_;          // descriptors in frame order
  std::vector<int64_t> frame_of_descriptor_;
  std::vector<cv::Point2f> points_;
  std::vector<FrameSlot> slots_;        // indexed by frame id (dense up to the highest)
  std::vector<int64_t> frame_of_;       // frames with features, ascending
  mutable std::mutex words_mu_;
  mutable std::shared_ptr<const Words> words_;
};

}  // namespace celmatch
