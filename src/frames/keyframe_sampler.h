// KeyframeSampler: chooses the reference frames of a video so that ANY frame
// of it, not only its I-frames, has an indexed frame close to it.
//
// Every decoded frame is offered with its PDQ hash, in presentation order. A
// frame is kept when
//   - it is the first frame, or
//   - its PDQ distance to the last kept frame exceeds `change_distance`
//     (a scene cut, or enough motion inside a shot), or
//   - `max_interval_s` has passed since the last kept frame (so a match can
//     always be placed in time to within that interval).
// Frames in between are near-duplicates of the last kept one (within
// change_distance) and are dropped; each kept frame's span runs from its time
// to the next kept frame's time (the last one to the end of the stream), the
// stretch of footage it stands for. A dropped frame's hash is still kept, as
// a span hash of the kept frame, when it moved more than span_hash_distance
// bits from the last hash kept (the frame's own or its last span hash) and
// its quality is at least span_hash_min_quality: a leak of any frame of the
// span is then within span_hash_distance of a reference hash, not within
// change_distance, at 40 bytes a hash and no decoding or description.
//
// Not thread-safe; one sampler per video.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "media/video_decoder.h"
#include "signatures/pdq_hash.h"

namespace celmatch {

struct KeyframeSamplerOptions {
  int change_distance = 20;     // PDQ bits
  double max_interval_s = 1.0;  // seconds
  int span_hash_distance = 0;   // PDQ bits; 0 keeps no span hashes
  int span_hash_min_quality = 50;
};

struct SampledFrame {
  double time_s = 0;
  double span_end_s = 0;        // filled once the next kept frame (or the end) is known
  int64_t frame_number = 0;
  PdqResult pdq;
  std::vector<SpanHash> span_hashes;  // dropped frames of its span, in time order
  cv::Mat bgr;                  // the decoded picture (for thumbnails, features)
};

class KeyframeSampler {
 public:
  explicit KeyframeSampler(KeyframeSamplerOptions options) : options_(options) {}

  // Offers the next decoded frame. Returns true when it is kept (then it is
  // appended to frames(); its span is closed by the next kept frame).
  bool Offer(const VideoFrame& frame, const PdqResult& pdq);

  // Closes the last span at `end_time_s` (the end of the stream: last frame
  // time plus one frame duration).
  void Finish(double end_time_s);

  std::vector<SampledFrame>& frames() { return frames_; }
  int64_t frames_offered() const { return offered_; }

 private:
  KeyframeSamplerOptions options_;
  std::vector<SampledFrame> frames_;
  int64_t offered_ = 0;
};

// Decodes `decoder` to the end, hashing every frame and keeping frames with a
// KeyframeSampler. `keep_pixels` false drops the kept frames' pictures except
// a thumbnail-sized copy no larger than `keep_max_side` pixels (0 = drop all).
// `on_keep` (optional) sees each kept frame at full size when it is kept
// (for signatures that need more than the thumbnail, e.g. local features):
// its index in the returned vector and the decoded picture. `on_decoded`
// (optional) sees every decoded frame's time and the counts so far (progress).
Result<std::vector<SampledFrame>> SampleReferenceFrames(
    VideoDecoder& decoder, const PdqHasher& hasher, const KeyframeSamplerOptions& options, int keep_max_side,
    const std::function<void(size_t kept_index, const cv::Mat& bgr)>& on_keep = {},
    const std::function<void(double time_s, int64_t decoded, size_t kept)>& on_decoded = {});

// Query side: frames of a dump video taken every `interval_s` seconds (the
// first frame always), at most `max_samples` (the interval widens for long
// videos when the duration is known). Each carries its PDQ hash and its 8
// dihedral variants.
struct QuerySample {
  double time_s = 0;
  std::array<PdqResult, 8> pdq;   // indexed by Dihedral
  cv::Mat bgr;                    // kept only when keep_max_side > 0 (downscaled)
};

struct QuerySamplingResult {
  std::vector<QuerySample> samples;
  double duration_s = 0;          // last decoded frame time plus one frame
  int64_t frames_decoded = 0;
};

Result<QuerySamplingResult> SampleQueryFrames(VideoDecoder& decoder, const PdqHasher& hasher,
                                              double interval_s, int max_samples, int keep_max_side);

// Downscales `bgr` so its longer side is at most max_side (no-op if smaller).
cv::Mat LimitSize(const cv::Mat& bgr, int max_side);

}  // namespace celmatch
