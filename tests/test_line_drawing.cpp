// The line drawing (match/line_drawing.h) that verifies line art of a whole
// frame against the frames the other steps propose: a drawing of the frame
// made by any of the simulator's pipelines must agree with the frame's
// catalog thumbnail, drawings of other frames and of the mirrored frame
// must not. Generated frames only.
#include <random>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "leaks/leak_transforms.h"
#include "match/line_drawing.h"
#include "test_support.h"

using namespace celmatch;
using celmatch::testing::SyntheticCartoonFrame;

namespace {

// As the index keeps a reference frame: 192 pixels wide, JPEG 80, decoded gray.
cv::Mat CatalogThumbnail(const cv::Mat& frame) {
  cv::Mat small;
  cv::resize(frame, small, cv::Size(192, 108), 0, 0, cv::INTER_AREA);
  std::vector<uint8_t> jpeg;
  REQUIRE(cv::imencode(".jpg", small, jpeg, {cv::IMWRITE_JPEG_QUALITY, 80}));
  return cv::imdecode(jpeg, cv::IMREAD_GRAYSCALE);
}

cv::Mat Drawing(const cv::Mat& frame, const std::string& transform, uint32_t seed) {
  std::mt19937 rng(seed);
  Result<LeakImage> leak = ApplyLeakTransform(frame, transform, rng);
  REQUIRE(leak.ok());
  std::vector<uint8_t> bytes;
  REQUIRE(cv::imencode(leak->ext, leak->pixels, bytes, leak->params));
  return cv::imdecode(bytes, cv::IMREAD_COLOR);
}

}  // namespace

TEST_CASE("line drawing: drawings of a frame by other pipelines agree with its thumbnail, other frames do not") {
  for (uint32_t seed : {3u, 11u, 29u}) {
    const cv::Mat frame = SyntheticCartoonFrame(seed, 0.0, 640, 360);
    const LineDrawing reference = LineDrawing::OfFrame(CatalogThumbnail(frame));
    REQUIRE_FALSE(reference.empty());
    CHECK(reference.Agreement(reference) == Approx(1.0));
    for (const char* t : {"lineart", "lines_canny", "lines_xdog", "lines_colour"}) {
      const cv::Mat drawing = Drawing(frame, t, seed);
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
  const cv::Mat drawing = Drawing(SyntheticCartoonFrame(5, 0.0, 640, 360), "lineart", 5);
  CHECK(LineDrawing::OfStrokes(drawing, cv::Size(192, 144)).Agreement(frame) == 0.0);
}
