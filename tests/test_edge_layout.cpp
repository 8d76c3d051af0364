// The edge layout (match/edge_layout.h) that verifies whole pictures the
// learned embedding proposes: it must survive grading, blur, noise and
// recompression of the same frame, agree with a line drawing of it, and tell
// other frames apart. Generated frames only.
#include <random>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "leaks/leak_transforms.h"
#include "match/edge_layout.h"
#include "signatures/local_features.h"
#include "test_support.h"

using namespace celmatch;
using celmatch::testing::SyntheticCartoonFrame;

namespace {

cv::Mat Leak(const cv::Mat& frame, const std::string& transform, uint32_t seed) {
  std::mt19937 rng(seed);
  Result<LeakImage> leak = ApplyLeakTransform(frame, transform, rng);
  REQUIRE(leak.ok());
  // Through the file format the leak would be written in.
  std::vector<uint8_t> bytes;
  REQUIRE(cv::imencode(leak->ext, leak->pixels, bytes, leak->params));
  return cv::imdecode(bytes, cv::IMREAD_COLOR);
}

}  // namespace

TEST_CASE("edge layout: the same frame regraded, blurred, noisy or small agrees, other frames do not") {
  for (uint32_t seed : {3u, 11u, 29u}) {
    const cv::Mat frame = SyntheticCartoonFrame(seed, 0.0, 640, 360);
    const EdgeLayout ref = EdgeLayout::Of(frame);
    REQUIRE_FALSE(ref.empty());
    CHECK(ref.Agreement(ref) == Approx(1.0).margin(1e-5));
    for (const char* t : {"regrade", "regrade_blur", "blur_noise", "blur_heavy", "quarter", "jpeg40", "gray"}) {
      const double a = ref.Agreement(EdgeLayout::Of(Leak(frame, t, seed)));
      INFO("seed " << seed << " " << t << ": " << a);
      CHECK(a >= 0.8);
    }
    // A line drawing has its lines where the colour regions meet.
    const double lines = ref.Agreement(EdgeLayout::Of(Leak(frame, "lineart", seed)));
    INFO("seed " << seed << " lineart: " << lines);
    CHECK(lines >= 0.6);

    // Other pictures: other frames of generated footage, and the same frame
    // mirrored (the matcher compares the mirrored query for that).
    for (uint32_t other : {seed + 1000u, seed + 2000u}) {
      const double a = ref.Agreement(EdgeLayout::Of(SyntheticCartoonFrame(other, 0.0, 640, 360)));
      INFO("seed " << seed << " vs " << other << ": " << a);
      CHECK(a < 0.6);
    }
    cv::Mat mirrored;
    cv::flip(frame, mirrored, 1);
    CHECK(ref.Agreement(EdgeLayout::Of(mirrored)) < 0.8);
  }
}

TEST_CASE("edge layout: empty and flat pictures have none and agree with nothing") {
  CHECK(EdgeLayout::Of(cv::Mat()).empty());
  const cv::Mat flat(90, 160, CV_8UC3, cv::Scalar(40, 80, 120));
  CHECK(EdgeLayout::Of(flat).empty());
  const EdgeLayout frame = EdgeLayout::Of(SyntheticCartoonFrame(5, 0.0, 320, 180));
  CHECK(frame.Agreement(EdgeLayout::Of(flat)) == 0.0);
  // Gray and BGRA pictures are read as their BGR selves.
  const cv::Mat bgr = SyntheticCartoonFrame(5, 0.0, 320, 180);
  cv::Mat gray, bgra;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  CHECK(frame.Agreement(EdgeLayout::Of(gray)) == Approx(1.0).margin(1e-5));
  CHECK(frame.Agreement(EdgeLayout::Of(bgra)) == Approx(1.0).margin(1e-5));
}

TEST_CASE("edge layout of strokes: a line drawing agrees with the frame's own line drawing, not with others") {
  for (uint32_t seed : {3u, 11u, 29u}) {
    const cv::Mat frame = SyntheticCartoonFrame(seed, 0.0, 640, 360);
    const EdgeLayout drawing = EdgeLayout::OfStrokes(LineRepresentation(frame));
    REQUIRE_FALSE(drawing.empty());
    for (const char* t : {"lineart", "lineart_small"}) {
      const cv::Mat leak = Leak(frame, t, seed);
      const double strokes = drawing.Agreement(EdgeLayout::OfStrokes(leak));
      INFO("seed " << seed << " " << t << ": strokes " << strokes);
      CHECK(strokes >= 0.8);
    }
    for (uint32_t other : {seed + 1000u, seed + 2000u}) {
      const cv::Mat leak = Leak(SyntheticCartoonFrame(other, 0.0, 640, 360), "lineart", seed);
      const double a = drawing.Agreement(EdgeLayout::OfStrokes(leak));
      INFO("seed " << seed << " vs " << other << ": " << a);
      CHECK(a < 0.6);
    }
  }
  CHECK(EdgeLayout::OfStrokes(cv::Mat()).empty());
  CHECK(EdgeLayout::OfStrokes(cv::Mat(90, 160, CV_8UC1, cv::Scalar(255))).empty());
}
