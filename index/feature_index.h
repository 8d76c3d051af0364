// FeatureIndex: the local-feature descriptors (signatures/local_features.h)
// of every reference frame for one layer, searchable by descriptor, and each
// frame's keypoints for geometric verification.
//
// A FAISS IndexBinaryMultiHash holds the descriptors in frame order, with a
// parallel array descriptor -> frame id; its storage is the one in-memory
// copy of the descriptors (FrameFeaturesView points into it). The catalog's
// frame_features table is the truth; the FAISS file (DIR/features_<layer>.
// faissbin) is a cache of it, written temp+rename by ReferenceIndex::Save:
// Load uses the file when it holds a prefix of the catalog's descriptors
// (adding the rest, as after a crash between commit and save) and rebuilds
// it from the catalog otherwise.
//
// Thread-safety: const methods may run on many threads at once; AddFrame
// needs exclusive access.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "index/catalog.h"
#include "signatures/local_features.h"

namespace faiss {
struct IndexBinaryMultiHash;
}

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
  FeatureIndex();
  ~FeatureIndex();
  FeatureIndex(const FeatureIndex&) = delete;
  FeatureIndex& operator=(const FeatureIndex&) = delete;

  // Builds the index for `records` (one layer, ascending frame ids) from the
  // FAISS file at `path` when it agrees with them, else from the records.
  // `*file_stale` is set when the file must be rewritten. The file is read
  // only when its seal holds (durable_files.h); `use_file` false: not at all
  // (an index written before seals).
  static Result<std::unique_ptr<FeatureIndex>> Load(const std::string& path,
                                                    const std::vector<FrameFeaturesRecord>& records,
                                                    bool* file_stale, bool use_file = true);

  // Appends one frame (ids ascending, above every frame added so far).
  Status AddFrame(const FrameFeaturesRecord& record);

  // Writes the FAISS file: temp, fsync, rename, fsync of the directory.
  Status Write(const std::string& dir, const std::string& path) const;

  int64_t descriptor_count() const;
  int64_t frames_with_features() const { return int64_t(frame_of_.size()); }
  FrameFeaturesView frame(int64_t frame_id) const;  // empty when the frame has none

  // For each query descriptor (rows of kFeatureBytes, CV_8U), its `k`
  // nearest reference descriptors within `max_distance` bits vote once for
  // each frame they belong to. The `max_frames` frames with most votes,
  // most first. Runs FAISS on the calling thread only.
  std::vector<FrameVotes> Vote(const cv::Mat& query_descriptors, int k, int max_distance, int max_frames) const;

  // Same agreement check as Load, against the records (for `index check`).
  Status CheckAgainst(const std::vector<FrameFeaturesRecord>& records, const std::string& path) const;

 private:
  struct FrameSlot {
    int64_t first = 0;   // first descriptor
    int64_t count = 0;
    size_t points = 0;   // offset in points_
  };
  std::unique_ptr<faiss::IndexBinaryMultiHash> index_;
  std::vector<int64_t> frame_of_descriptor_;
  std::vector<cv::Point2f> points_;
  std::vector<FrameSlot> slots_;        // indexed by frame id (dense up to the highest)
  std::vector<int64_t> frame_of_;       // frames with features, ascending
};

}  // namespace celmatch
