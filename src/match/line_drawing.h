// A picture's lines: where they are and which way they run, on a small grid
// the size of a reference frame's catalog thumbnail. A line drawing of a
// frame puts its strokes where the frame's colour regions meet, whatever
// drew it (region borders, Canny on a flattened picture, XDoG, a luminance
// threshold, pencil on tinted paper), so its strokes lie near the frame's
// own edges and run the same way, however wide, dark, doubled or broken
// they are. Keypoints do not survive that: each pipeline makes its own
// corners, which is why descriptor matching finds only the line art drawn
// the way the index's line layer is drawn.
//
// The agreement is an F-score: the share of the drawing's line pixels with
// a frame edge of about the same orientation within kReach pixels, and the
// share of the frame's edge pixels with a stroke near them, combined. Over
// a whole index a busy drawing finds some frame that agrees well; over the
// few frames the other steps propose (Matcher::AddLineDrawingMatches) a
// high agreement decides.
#pragma once

#include <array>

#include <opencv2/core.hpp>

namespace celmatch {

// The decision threshold (score 0.5) of a drawing's agreement with a
// proposed frame.
constexpr double kMinLineAgreement = 0.75;
// Two frames that agree with a drawing this close are a tie (the same
// picture in two sources, e.g. an intro every episode shares).
constexpr double kLineTieMargin = 0.03;

class LineDrawing {
 public:
  static constexpr int kOrientations = 6;  // bins over 180 degrees; neighbouring bins agree
  static constexpr int kReach = 2;         // pixels (at the grid's size) a line may be off

  // The strokes of a drawing (dark lines on light paper, in any colour;
  // BGR, BGRA or gray, any size) on a grid of `size`; the aspect ratio is
  // not kept, the grid spans the whole picture.
  static LineDrawing OfStrokes(const cv::Mat& drawing, cv::Size size);
  // The edges of a frame (BGR or gray), on a grid of the frame's own size:
  // its catalog thumbnail.
  static LineDrawing OfFrame(const cv::Mat& frame);

  // Fewer than kMinLinePixels line pixels: nothing to compare.
  static constexpr int kMinLinePixels = 40;
  bool empty() const { return lines_ < kMinLinePixels; }
  cv::Size size() const { return size_; }

  // 0..1 (0 when either is empty or the grids differ in size).
  double Agreement(const LineDrawing& other) const;

 private:
  // From a line mask (CV_8U, 255 on a line) and the levels (CV_8U, the
  // mask's size) whose gradients say which way each line runs.
  static LineDrawing FromLines(const cv::Mat& lines, const cv::Mat& levels);
  // Line pixels of `this` with a line of `other` nearby, running about the same way.
  int Supported(const LineDrawing& other) const;

  cv::Size size_;
  int lines_ = 0;
  std::array<cv::Mat, kOrientations> bins_;  // CV_8U, 255 on a line of that orientation
  std::array<cv::Mat, kOrientations> near_;  // 255 within kReach of a line of that or a neighbouring orientation
};

}  // namespace celmatch
