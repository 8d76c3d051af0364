// Query sampling of a video (frames/keyframe_sampler.h) over a decoder that
// hands out hostile timestamps: the regression of the fuzz_video_sample crash
// (a frame far from zero made the next sample time absorb the interval, and
// the sampler looped on it), kept as a test.
#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "frames/keyframe_sampler.h"
#include "media/video_decoder.h"
#include "signatures/pdq_hash.h"

using namespace celmatch;

namespace {

// A decoder that returns one small frame per given time.
class ScriptedDecoder : public VideoDecoder {
 public:
  explicit ScriptedDecoder(std::vector<double> times) : times_(std::move(times)) {
    info_.width = 64;
    info_.height = 36;
    info_.frame_rate = 25;
  }
  const VideoInfo& info() const override { return info_; }
  Result<bool> Next(VideoFrame* frame) override {
    if (at_ >= times_.size()) return false;
    frame->bgr = cv::Mat(36, 64, CV_8UC3, cv::Scalar(40.0 + double(at_ % 7) * 30, 90, 160));
    frame->time_s = times_[at_];
    frame->frame_number = int64_t(at_);
    ++at_;
    return true;
  }

 private:
  std::vector<double> times_;
  size_t at_ = 0;
  VideoInfo info_;
};

}  // namespace

TEST_CASE("query sampling finishes on timestamps far from zero, and samples stay in time order") {
  PdqHasher hasher;
  // 1e16 s: a double's spacing there is 2 s, so adding a 0.5 s interval does
  // nothing; then a jump back, and times as large as a double holds.
  const std::vector<std::vector<double>> cases = {
      {0.0, 0.04, 1e16, 1e16 + 2, 1e16 + 4},
      {0.0, 1e300, 2.0, 4.0},
      {-1e16, 0.0, 0.5, 1e18},
      {std::numeric_limits<double>::max() / 4, std::numeric_limits<double>::max() / 2},
  };
  for (const auto& times : cases) {
    ScriptedDecoder decoder(times);
    Result<QuerySamplingResult> r = SampleQueryFrames(decoder, hasher, 0.5, 240, 0);
    REQUIRE(r.ok());
    CHECK(r->frames_decoded == int64_t(times.size()));
    REQUIRE(!r->samples.empty());
    CHECK(r->samples.size() <= times.size());
    for (size_t i = 1; i < r->samples.size(); ++i) CHECK(r->samples[i].time_s > r->samples[i - 1].time_s);
  }
}
