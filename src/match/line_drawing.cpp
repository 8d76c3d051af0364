#include "match/line_drawing.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "signatures/local_features.h"

namespace celmatch {

namespace {

constexpr int kMaxDrawingSide = 960;  // a drawing's ink is measured at most this large
constexpr int kInk = 50;              // darker than the paper by this much: a stroke
constexpr int kCovered = 40;          // a grid pixel this much covered by strokes is a line pixel
constexpr double kFrameCannyLow = 40, kFrameCannyHigh = 120;

cv::Mat Gray(const cv::Mat& picture) {
  if (picture.channels() == 1) return picture;
  cv::Mat gray;
  cv::cvtColor(picture, gray, picture.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
  return gray;
}

}  // namespace

LineDrawing LineDrawing::FromLines(const cv::Mat& lines, const cv::Mat& levels) {
  // The orientation of each place from the smoothed structure tensor of the
  // smoothed levels: on the middle of a stroke the gradient itself vanishes
  // (both sides cancel), the tensor still says which way the stroke runs.
  cv::Mat smooth, dx, dy;
  levels.convertTo(smooth, CV_32F);
  cv::GaussianBlur(smooth, smooth, cv::Size(5, 5), 1.0);
  cv::Sobel(smooth, dx, CV_32F, 1, 0);
  cv::Sobel(smooth, dy, CV_32F, 0, 1);
  cv::Mat jxx = dx.mul(dx), jyy = dy.mul(dy), jxy = dx.mul(dy);
  for (cv::Mat* j : {&jxx, &jyy, &jxy}) cv::GaussianBlur(*j, *j, cv::Size(5, 5), 1.0);
  LineDrawing d;
  d.size_ = lines.size();
  for (cv::Mat& b : d.bins_) b = cv::Mat::zeros(lines.size(), CV_8U);
  for (int y = 0; y < lines.rows; ++y) {
    const uint8_t* l = lines.ptr<uint8_t>(y);
    const float *xx = jxx.ptr<float>(y), *yy = jyy.ptr<float>(y), *xy = jxy.ptr<float>(y);
    for (int x = 0; x < lines.cols; ++x) {
      if (!l[x]) continue;
      double angle = 0.5 * std::atan2(2.0 * xy[x], double(xx[x]) - yy[x]);  // -pi/2 .. pi/2
      if (angle < 0) angle += CV_PI;
      const int bin = std::min(kOrientations - 1, int(angle / CV_PI * kOrientations));
      d.bins_[size_t(bin)].ptr<uint8_t>(y)[x] = 255;
      ++d.lines_;
    }
  }
  const cv::Mat disc = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * kReach + 1, 2 * kReach + 1));
  for (int b = 0; b < kOrientations; ++b) {
    cv::Mat around = d.bins_[size_t(b)] | d.bins_[size_t((b + 1) % kOrientations)] |
                     d.bins_[size_t((b + kOrientations - 1) % kOrientations)];
    cv::dilate(around, d.near_[size_t(b)], disc);
  }
  return d;
}

LineDrawing LineDrawing::OfStrokes(const cv::Mat& drawing, cv::Size size) {
  if (drawing.empty() || size.width < 8 || size.height < 8) return {};
  cv::Mat work = drawing;
  const int side = std::max(drawing.cols, drawing.rows);
  if (side > kMaxDrawingSide) {
    const double f = double(kMaxDrawingSide) / side;
    cv::resize(drawing, work, cv::Size(), f, f, cv::INTER_AREA);
  }
  const cv::Mat ink = InkOverPaper(work, std::max(3, std::max(work.cols, work.rows) / 100));
  cv::Mat strokes, covered;
  cv::threshold(ink, strokes, kInk, 255, cv::THRESH_BINARY);
  cv::resize(strokes, covered, size, 0, 0, cv::INTER_AREA);
  return FromLines(covered > kCovered, covered);
}

LineDrawing LineDrawing::OfFrame(const cv::Mat& frame) {
  if (frame.cols < 8 || frame.rows < 8) return {};
  cv::Mat gray = Gray(frame), blurred, edges;
  cv::GaussianBlur(gray, blurred, cv::Size(3, 3), 0);
  cv::Canny(blurred, edges, kFrameCannyLow, kFrameCannyHigh);
  return FromLines(edges, gray);
}

int LineDrawing::Supported(const LineDrawing& other) const {
  int n = 0;
  cv::Mat both;
  for (size_t b = 0; b < bins_.size(); ++b) {
    cv::bitwise_and(bins_[b], other.near_[b], both);
    n += cv::countNonZero(both);
  }
  return n;
}

double LineDrawing::Agreement(const LineDrawing& other) const {
  if (empty() || other.empty() || size_ != other.size_) return 0;
  const double precision = double(Supported(other)) / lines_;
  const double recall = double(other.Supported(*this)) / other.lines_;
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
}

}  // namespace celmatch
