#include "match/edge_layout.h"

#include <cmath>

#include <opencv2/imgproc.hpp>

namespace celmatch {

namespace {
// The picture is measured at 4x the grid's resolution: fine enough that a
// line drawing's strokes and a frame's region borders both register as
// edges, coarse enough that blur and noise are gone.
constexpr int kWorkWidth = EdgeLayout::kWidth * 4;
constexpr int kWorkHeight = EdgeLayout::kHeight * 4;
}  // namespace

namespace {

cv::Mat Gray(const cv::Mat& picture) {
  cv::Mat gray;
  if (picture.channels() == 4) cv::cvtColor(picture, gray, cv::COLOR_BGRA2GRAY);
  else if (picture.channels() == 3) cv::cvtColor(picture, gray, cv::COLOR_BGR2GRAY);
  else gray = picture;
  return gray;
}

}  // namespace

// Cells (CV_32F kHeight x kWidth, >= 0) -> square root, zero mean, unit
// norm; empty when all cells are equal.
EdgeLayout EdgeLayout::Normalised(cv::Mat cells) {
  EdgeLayout layout;
  // The square root evens out strong and weak edges: a line drawing's
  // strokes are all black on white, the frame's borders have every contrast.
  cv::sqrt(cv::max(cells, 0.0), cells);
  cells -= cv::mean(cells)[0];
  const double norm = cv::norm(cells);
  if (!(norm > 1e-6)) return layout;
  layout.cells_ = cells / norm;
  return layout;
}

EdgeLayout EdgeLayout::OfStrokes(const cv::Mat& drawing) {
  if (drawing.empty()) return EdgeLayout();
  cv::Mat work, ink;
  cv::resize(Gray(drawing), work, cv::Size(kWorkWidth, kWorkHeight), 0, 0, cv::INTER_AREA);
  work.convertTo(ink, CV_32F, -1.0, 255.0);
  cv::Mat cells;
  cv::resize(ink, cells, cv::Size(kWidth, kHeight), 0, 0, cv::INTER_AREA);
  return Normalised(cells);
}

EdgeLayout EdgeLayout::Of(const cv::Mat& picture) {
  if (picture.empty()) return EdgeLayout();
  const cv::Mat gray = Gray(picture);
  cv::Mat work;
  cv::resize(gray, work, cv::Size(kWorkWidth, kWorkHeight), 0, 0, cv::INTER_AREA);
  work.convertTo(work, CV_32F);
  cv::GaussianBlur(work, work, cv::Size(), 1.0);
  cv::Mat dx, dy, magnitude;
  cv::Sobel(work, dx, CV_32F, 1, 0);
  cv::Sobel(work, dy, CV_32F, 0, 1);
  cv::magnitude(dx, dy, magnitude);
  cv::Mat cells;
  cv::resize(magnitude, cells, cv::Size(kWidth, kHeight), 0, 0, cv::INTER_AREA);
  return Normalised(cells);
}

double EdgeLayout::Agreement(const EdgeLayout& other) const {
  if (empty() || other.empty()) return 0;
  return cells_.dot(other.cells_);
}

}  // namespace celmatch
