// Whole-picture comparisons of edges and lines. The edge layout
// (match/edge_layout.h) that verifies whole pictures the learned embedding
// proposes: it must survive grading, blur, noise and recompression of the
// same frame, agree with a line drawing of it, and tell other frames apart.
// The line drawing (match/line_drawing.h) that verifies line art of a whole
// frame against the frames the other steps propose: a drawing of the frame
// by any of the simulator's pipelines must agree with the frame's catalog
// thumbnail, drawings of other frames and of the mirrored frame must not.
// Generated frames only.
#include <random>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "leaks/leak_transforms.h"
#include "match/edge_layout.h"
#include "match/line_drawing.h"
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

// As the index keeps a reference frame: 192 pixels wide, JPEG 80, decoded gray.
cv::Mat CatalogThumbnail(const cv::Mat& frame) {
  cv::Mat small;
  cv::resize(frame, small, cv::Size(192, 108), 0, 0, cv::INTER_AREA);
  std::vector<uint8_t> jpeg;
  REQUIRE(cv::imencode(".jpg", small, jpeg, {cv::IMWRITE_JPEG_QUALITY, 80}));
  return cv::imdecode(jpeg, cv::IMREAD_GRAYSCALE);
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

TEST_CASE("line drawing: drawings of a frame by other pipelines agree with its thumbnail, other frames do not") {
  for (uint32_t seed : {3u, 11u, 29u}) {
    const cv::Mat frame = SyntheticCartoonFrame(seed, 0.0, 640, 360);
    const LineDrawing reference = LineDrawing::OfFrame(CatalogThumbnail(frame));
    REQUIRE_FALSE(reference.empty());
    CHECK(reference.Agreement(reference) == Approx(1.0));
    for (const char* t : {"lineart", "lines_canny", "lines_xdog", "lines_colour"}) {
      const cv::Mat drawing = Leak(frame, t, seed);
      const LineDrawing mine = LineDrawing::OfStrokes(drawing, reference.size());
      REQUIRE_FALSE(mine.empty());
      const double same = mine.Agreement(reference);
      INFO("seed " << seed << " " << t << ": " << same);
      CHECK(same >= kMinLineAgreement);
      // Other generated frames, and the frame mirrored.
      for (uint32_t other : {seed + 1000u, seed + 2000u}) {
        const double a = mine.Agreement(LineDrawing::OfFrame(CatalogThumbnail(SyntheticCartoonFrame(other, 0.0, 640, 360))));
        INFO("vs frame " << other << ": " << a);
        CHECK(a < kMinLineAgreement);
      }
      cv::Mat mirrored;
      cv::flip(frame, mirrored, 1);
      const double flipped = mine.Agreement(LineDrawing::OfFrame(CatalogThumbnail(mirrored)));
      INFO("vs the mirrored frame: " << flipped);
      CHECK(flipped < kMinLineAgreement);
    }
  }
}

TEST_CASE("line drawing: a blank page or a photo-like flat picture has nothing to compare") {
  const cv::Mat paper(360, 640, CV_8UC3, cv::Scalar(235, 240, 245));
  CHECK(LineDrawing::OfStrokes(paper, cv::Size(192, 108)).empty());
  const LineDrawing frame = LineDrawing::OfFrame(CatalogThumbnail(SyntheticCartoonFrame(5, 0.0, 640, 360)));
  CHECK(LineDrawing::OfStrokes(paper, cv::Size(192, 108)).Agreement(frame) == 0.0);
  // Grids of different sizes are not compared.
  const cv::Mat drawing = Leak(SyntheticCartoonFrame(5, 0.0, 640, 360), "lineart", 5);
  CHECK(LineDrawing::OfStrokes(drawing, cv::Size(192, 144)).Agreement(frame) == 0.0);
}
