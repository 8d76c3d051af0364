// Pages of panels. A retake sheet, a storyboard page or a contact sheet shows
// several frames side by side on a plain page, each with its own notes; as
// one picture it matches at best the largest of them. FindPanels finds the
// panels so that each is matched as a picture of its own
// (Matcher::MatchImage), and the file's answer names every panel's frame.
#ifndef CELMATCH_FRAMES_PANELS_H_
#define CELMATCH_FRAMES_PANELS_H_

#include <vector>

#include <opencv2/core.hpp>

namespace celmatch {

// The panels of `bgr` (CV_8UC3), in reading order (rows top to bottom, left
// to right within a row), in `bgr`'s pixels; none unless it is a page of at
// least two. A page: its outer margin is mostly one plain colour (60% of
// the margin's pixels within kPanelPageTolerance of its median, and half of
// each side's: panels may reach an edge, a letterbox's bars are not a page),
// and 15% of the picture or more is in that colour. A panel: a
// solid rectangle of other colours on it (its outline filled covers 85% of
// its bounding box), at least kMinPanelShare of the page and at most
// kMaxPanelShare, sides between 1:3 and 3:1, and not flat inside (an empty
// panel waiting for a drawing is not one); or a drawing in a drawn border
// of that shape (line art), the panel then inside the border. Text, rules and drawn marks are
// too thin or too small to count. A frame with a flat surround (a frame on a
// plain canvas, one picture on a sheet) has one panel, so none is returned.
std::vector<cv::Rect> FindPanels(const cv::Mat& bgr);

constexpr int kPanelPageTolerance = 20;    // max channel difference from the page colour
constexpr double kMinPanelShare = 0.02;    // of the page's area
constexpr double kMaxPanelShare = 0.6;
constexpr int kMaxPanels = 16;             // a contact sheet's larger pages; more are not searched

}  // namespace celmatch

#endif  // CELMATCH_FRAMES_PANELS_H_
