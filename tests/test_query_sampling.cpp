// Sampling of videos (frames/keyframe_sampler.h): query sampling over a
// decoder that hands out hostile timestamps (the regression of the
// fuzz_video_sample crash: a frame far from zero made the next sample time
// absorb the interval, and the sampler looped on it), and the span hashes
// the reference sampler keeps of the frames it drops.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "frames/keyframe_sampler.h"
#include "media/video_decoder.h"
#include "signatures/pdq_hash.h"
#include "hash_support.h"

using namespace celmatch;
using celmatch::testing::FlipBits;
using celmatch::testing::RandomHash;

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

TEST_CASE("reference sampling keeps the hash of a dropped frame that moved, as a span hash of the kept one") {
  std::mt19937 rng(5);
  const PdqHash h0 = RandomHash(rng);
  const PdqHash h2 = FlipBits(h0, 12, rng);
  const PdqHash h3 = FlipBits(h2, 3, rng);
  // Offered in this order, 0.04 s apart: (hash, quality).
  const std::vector<std::pair<PdqHash, int>> offered = {
      {h0, 90},                        // kept: the first frame
      {FlipBits(h0, 5, rng), 90},      // dropped, within 8 bits of h0: nothing kept
      {h2, 90},                        // dropped, 12 bits from h0: a span hash
      {h3, 90},                        // dropped, within 8 bits of that span hash: nothing
      {FlipBits(h0, 16, rng), 30},     // dropped and moved, but too flat to keep
      {FlipBits(h0, 25, rng), 90},     // over change_distance from h0: kept
  };
  auto sample = [&](int span_hash_distance) {
    KeyframeSamplerOptions options;
    options.change_distance = 20;
    options.max_interval_s = 10;
    options.span_hash_distance = span_hash_distance;
    KeyframeSampler sampler(options);
    for (size_t i = 0; i < offered.size(); ++i) {
      VideoFrame frame;
      frame.time_s = 0.04 * double(i);
      frame.frame_number = int64_t(i);
      sampler.Offer(frame, PdqResult{offered[i].first, offered[i].second});
    }
    sampler.Finish(0.24);
    return sampler.frames();
  };
  const std::vector<SampledFrame> frames = sample(8);
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].frame_number == 0);
  CHECK(frames[1].frame_number == 5);
  REQUIRE(frames[0].span_hashes.size() == 1);
  CHECK(frames[0].span_hashes[0].hash == h2);
  CHECK(frames[0].span_hashes[0].time_s == Approx(0.08));
  CHECK(frames[1].span_hashes.empty());
  // Span hashes off: the same frames kept, no span hashes.
  const std::vector<SampledFrame> none = sample(0);
  REQUIRE(none.size() == 2);
  CHECK(none[0].span_hashes.empty());
}
