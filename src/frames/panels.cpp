#include "frames/panels.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

#include <opencv2/imgproc.hpp>

namespace celmatch {

namespace {

// The page is looked at about this size (a whole fraction of it, at most
// this): panels are large, text strokes vanish.
constexpr int kPanelWorkSide = 640;
// The margin whose colour is the page's, as a share of each side.
constexpr double kMarginShare = 0.015;
constexpr double kMinPlainMargin = 0.6;  // share of the margin's pixels near its median
constexpr double kMinPlainSide = 0.5;    // ... and of each side's
constexpr double kMinPageShare = 0.15;   // share of the whole picture in the page's colour
constexpr double kMinSolidity = 0.85;     // filled outline / bounding box
constexpr double kMinPanelContrast = 6;   // gray standard deviation inside a panel
constexpr int kDrawnBorderInset = 2;      // working pixels: a drawn border's width and a margin

// The pixels of `bgr`'s four margins (`mx` wide on the left and right, `my`
// high at the top and bottom), every `step`-th along each, one list a side.
std::array<std::vector<cv::Vec3b>, 4> MarginPixels(const cv::Mat& bgr, int mx, int my, int step) {
  std::array<std::vector<cv::Vec3b>, 4> sides;
  for (int y = 0; y < bgr.rows; y += step)
    for (int x = 0; x < bgr.cols; x += step) {
      const int side = y < my ? 0 : y >= bgr.rows - my ? 1 : x < mx ? 2 : x >= bgr.cols - mx ? 3 : -1;
      if (side < 0) {
        const int right = bgr.cols - mx;
        x = right - 1 - (right - 1) % step;  // on to the right margin
        continue;
      }
      sides[side].push_back(bgr.at<cv::Vec3b>(y, x));
    }
  return sides;
}

cv::Vec3b Median(const std::vector<cv::Vec3b>& pixels) {
  cv::Vec3b median;
  std::vector<uint8_t> channel(pixels.size());
  for (int c = 0; c < 3; ++c) {
    for (size_t i = 0; i < pixels.size(); ++i) channel[i] = pixels[i][c];
    std::nth_element(channel.begin(), channel.begin() + channel.size() / 2, channel.end());
    median[c] = channel[channel.size() / 2];
  }
  return median;
}

int ColourDistance(const cv::Vec3b& a, const cv::Vec3b& b) {
  return std::max({std::abs(a[0] - b[0]), std::abs(a[1] - b[1]), std::abs(a[2] - b[2])});
}

}  // namespace

std::vector<cv::Rect> FindPanels(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.type() != CV_8UC3 || bgr.cols < 64 || bgr.rows < 64) return {};
  // The page is reduced by a whole factor, so that the reduction averages
  // whole blocks (fast); but the margin is read first, on the picture as it
  // is, every `factor` pixels: most pictures are not pages and stop there.
  const int factor = std::max(1, (std::max(bgr.cols, bgr.rows) + kPanelWorkSide - 1) / kPanelWorkSide);
  if (bgr.cols / factor < 64 || bgr.rows / factor < 64) return {};  // a strip, not a page
  const int mx = std::max(1, int(std::lround(bgr.cols * kMarginShare)));
  const int my = std::max(1, int(std::lround(bgr.rows * kMarginShare)));
  const std::array<std::vector<cv::Vec3b>, 4> sides = MarginPixels(bgr, mx, my, factor);
  std::vector<cv::Vec3b> margin;
  for (const std::vector<cv::Vec3b>& side : sides) margin.insert(margin.end(), side.begin(), side.end());
  if (margin.empty()) return {};
  const cv::Vec3b paper = Median(margin);
  size_t plain = 0;
  for (const std::vector<cv::Vec3b>& side : sides) {
    size_t plain_here = 0;
    for (const cv::Vec3b& p : side) plain_here += ColourDistance(p, paper) <= kPanelPageTolerance;
    if (plain_here < kMinPlainSide * side.size()) return {};  // a letterboxed or pillarboxed frame
    plain += plain_here;
  }
  if (plain < kMinPlainMargin * margin.size()) return {};

  // What is not the page's colour, on the page reduced to the working size.
  cv::Mat page;
  if (factor > 1) cv::resize(bgr, page, cv::Size(bgr.cols / factor, bgr.rows / factor), 0, 0, cv::INTER_AREA);
  else page = bgr;
  cv::Mat diff, ink;
  cv::absdiff(page, cv::Scalar(paper[0], paper[1], paper[2]), diff);
  std::vector<cv::Mat> channels;
  cv::split(diff, channels);
  cv::max(channels[0], channels[1], ink);
  cv::max(ink, channels[2], ink);
  cv::threshold(ink, ink, kPanelPageTolerance, 255, cv::THRESH_BINARY);
  if (page.total() - cv::countNonZero(ink) < kMinPageShare * page.total()) return {};

  const double area = double(page.cols) * page.rows;
  cv::Mat gray;
  cv::cvtColor(page, gray, cv::COLOR_BGR2GRAY);
  std::vector<cv::Rect> panels;
  // The solid rectangles among the outlines of `mask`'s blobs, filled, that
  // overlap no panel found before; each shrunk by `inset` on every side.
  auto add_panels = [&](const cv::Mat& mask, int inset) {
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    const size_t before = panels.size();
    for (const std::vector<cv::Point>& c : contours) {
      const cv::Rect outline = cv::boundingRect(c);
      const double share = double(outline.area()) / area;
      const double aspect = double(outline.width) / outline.height;
      if (share < kMinPanelShare || share > kMaxPanelShare || aspect < 1.0 / 3 || aspect > 3) continue;
      if (cv::contourArea(c) < kMinSolidity * outline.area()) continue;
      const cv::Rect box(outline.x + inset, outline.y + inset, outline.width - 2 * inset, outline.height - 2 * inset);
      bool overlaps = false;
      for (size_t i = 0; i < before; ++i) overlaps = overlaps || (box & panels[i]).area() > 0;
      if (overlaps) continue;
      // Inside its outline (a drawn border is 1-3 pixels here).
      const int in = std::min(4, std::min(box.width, box.height) / 8);
      cv::Scalar mean, sd;
      cv::meanStdDev(gray(cv::Rect(box.x + in, box.y + in, box.width - 2 * in, box.height - 2 * in)), mean, sd);
      if (sd[0] < kMinPanelContrast) continue;
      panels.push_back(box);
    }
  };
  // Panels are solid blocks: opening removes what is a pixel or two thin at
  // this size (text, rules, drawn borders), so notes written just under a
  // panel do not join it; a picture's own page-coloured patches (a white
  // sky) are enclosed by its outline and filled.
  const cv::Mat square = cv::getStructuringElement(cv::MORPH_RECT, cv::Size(3, 3));
  cv::Mat solid;
  cv::morphologyEx(ink, solid, cv::MORPH_OPEN, square);
  cv::morphologyEx(solid, solid, cv::MORPH_CLOSE, square);
  add_panels(solid, 0);
  // Or drawings in a drawn border (line art, which opening removes): the
  // border's outline on the picture as it is, the border itself left out.
  add_panels(ink, kDrawnBorderInset);
  if (panels.size() < 2) return {};

  // Reading order: a panel starts a new row when it lies below the middle of
  // the row's first panel.
  std::sort(panels.begin(), panels.end(), [](const cv::Rect& a, const cv::Rect& b) { return a.y < b.y; });
  std::vector<cv::Rect> ordered;
  for (size_t row_start = 0; row_start < panels.size();) {
    const int row_middle = panels[row_start].y + panels[row_start].height / 2;
    size_t row_end = row_start + 1;
    while (row_end < panels.size() && panels[row_end].y < row_middle) ++row_end;
    std::sort(panels.begin() + row_start, panels.begin() + row_end,
              [](const cv::Rect& a, const cv::Rect& b) { return a.x < b.x; });
    ordered.insert(ordered.end(), panels.begin() + row_start, panels.begin() + row_end);
    row_start = row_end;
  }
  if (ordered.size() > size_t(kMaxPanels)) ordered.resize(kMaxPanels);

  // Back to `bgr`'s pixels (a whole factor: exact), inside the picture.
  const cv::Rect whole(0, 0, bgr.cols, bgr.rows);
  for (cv::Rect& r : ordered) r = cv::Rect(r.x * factor, r.y * factor, r.width * factor, r.height * factor) & whole;
  return ordered;
}

}  // namespace celmatch
