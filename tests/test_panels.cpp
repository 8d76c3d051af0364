// Pages of panels (frames/panels.h): the panels of a retake sheet or a
// storyboard page are found in reading order; one picture on a sheet, a
// frame on a plain canvas, an empty panel and a frame itself are not pages.
#include <random>

#include <catch2/catch.hpp>

#include <opencv2/imgproc.hpp>

#include "frames/panels.h"

using namespace celmatch;

namespace {

// A busy picture: coloured shapes over a gradient, as a frame would be.
cv::Mat Picture(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> c(0, 255);
  cv::Mat p(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y) p.row(y).setTo(cv::Scalar(60 + 120 * y / h, 90, 200 - 100 * y / h));
  for (int i = 0; i < 30; ++i) {
    const cv::Point at(c(rng) * w / 256, c(rng) * h / 256);
    cv::circle(p, at, 8 + c(rng) * std::min(w, h) / 1200, cv::Scalar(c(rng), c(rng), c(rng)), cv::FILLED);
  }
  return p;
}

// A page of `paper` colour with a title, and notes under each panel.
cv::Mat Page(int w, int h, cv::Scalar paper) {
  cv::Mat page(h, w, CV_8UC3, paper);
  cv::putText(page, "RETAKE  EP 04  SC 112", {40, 70}, cv::FONT_HERSHEY_SIMPLEX, 1.6, cv::Scalar(30, 30, 30), 3);
  return page;
}

void Place(cv::Mat& page, const cv::Mat& picture, const cv::Rect& at, bool border) {
  cv::Mat fitted;
  cv::resize(picture, fitted, at.size(), 0, 0, cv::INTER_AREA);
  fitted.copyTo(page(at));
  if (border) cv::rectangle(page, at, cv::Scalar(0, 0, 0), 3);
  cv::putText(page, "fix the hand, lip sync", {at.x, at.y + at.height + 40}, cv::FONT_HERSHEY_SIMPLEX, 1.0,
              cv::Scalar(0, 0, 200), 2);
}

void CheckNear(const cv::Rect& found, const cv::Rect& placed) {
  INFO("found " << found << ", placed " << placed);
  CHECK(std::abs(found.x - placed.x) <= 8);
  CHECK(std::abs(found.y - placed.y) <= 8);
  CHECK(std::abs(found.width - placed.width) <= 16);
  CHECK(std::abs(found.height - placed.height) <= 16);
}

}  // namespace

TEST_CASE("panels: a sheet of four framed panels, in reading order") {
  cv::Mat page = Page(2339, 1654, cv::Scalar(250, 250, 248));
  // Placed out of reading order; the bottom row a little higher on the right.
  const std::vector<cv::Rect> placed = {{60, 150, 1080, 608}, {1200, 150, 1080, 608},
                                        {60, 900, 1080, 608}, {1200, 890, 1080, 608}};
  for (int i : {3, 1, 0, 2}) Place(page, Picture(1280, 720, 10 + i), placed[i], true);
  const std::vector<cv::Rect> found = FindPanels(page);
  REQUIRE(found.size() == 4);
  for (size_t i = 0; i < 4; ++i) CheckNear(found[i], placed[i]);
}

TEST_CASE("panels: unframed panels reaching the edge, and a contact sheet on black") {
  // Panels without a border, the first one touching the page's left edge.
  cv::Mat page = Page(1654, 2339, cv::Scalar(255, 255, 255));
  const std::vector<cv::Rect> placed = {{0, 200, 780, 439}, {840, 200, 780, 439}, {0, 800, 780, 439}};
  for (size_t i = 0; i < placed.size(); ++i) Place(page, Picture(854, 480, 30 + unsigned(i)), placed[i], false);
  std::vector<cv::Rect> found = FindPanels(page);
  REQUIRE(found.size() == 3);
  for (size_t i = 0; i < 3; ++i) CheckNear(found[i], placed[i]);

  cv::Mat contact(900, 1600, CV_8UC3, cv::Scalar(12, 12, 12));
  std::vector<cv::Rect> cells;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) cells.emplace_back(40 + c * 390, 40 + r * 280, 360, 203);
  for (size_t i = 0; i < cells.size(); ++i) {
    cv::Mat p;
    cv::resize(Picture(1280, 720, 50 + unsigned(i)), p, cells[i].size(), 0, 0, cv::INTER_AREA);
    p.copyTo(contact(cells[i]));
  }
  found = FindPanels(contact);
  REQUIRE(found.size() == cells.size());
  for (size_t i = 0; i < cells.size(); ++i) CheckNear(found[i], cells[i]);
}

TEST_CASE("panels: line drawings in drawn borders, each inside its border") {
  cv::Mat page = Page(2339, 1654, cv::Scalar(250, 250, 250));
  const std::vector<cv::Rect> placed = {{60, 160, 1080, 608}, {1200, 160, 1080, 608}, {60, 900, 1080, 608}};
  for (size_t i = 0; i < placed.size(); ++i) {
    // Dark lines on white where the picture's colours change, in a 3-pixel border.
    cv::Mat gray, edges;
    cv::cvtColor(Picture(1280, 720, 70 + unsigned(i)), gray, cv::COLOR_BGR2GRAY);
    cv::Canny(gray, edges, 40, 120);
    cv::resize(edges, edges, placed[i].size(), 0, 0, cv::INTER_NEAREST);
    cv::Mat drawing(placed[i].size(), CV_8UC3, cv::Scalar(255, 255, 255));
    drawing.setTo(cv::Scalar(20, 20, 20), edges);
    Place(page, drawing, placed[i], true);
  }
  const std::vector<cv::Rect> found = FindPanels(page);
  REQUIRE(found.size() == placed.size());
  for (size_t i = 0; i < placed.size(); ++i) {
    CheckNear(found[i], placed[i]);
    // The border is left out: the panel lies inside it.
    CHECK(found[i].x > placed[i].x);
    CHECK(found[i].y > placed[i].y);
    CHECK(found[i].br().x < placed[i].br().x);
    CHECK(found[i].br().y < placed[i].br().y);
  }
}

TEST_CASE("panels: one picture on a sheet, an empty panel, a frame on a canvas, a frame and a strip are not pages") {
  // One picture beside an empty panel waiting for its drawing.
  cv::Mat sheet = Page(1600, 1130, cv::Scalar(250, 250, 250));
  Place(sheet, Picture(1280, 720, 3), {60, 170, 820, 461}, true);
  cv::rectangle(sheet, cv::Rect(960, 170, 580, 330), cv::Scalar(0, 0, 0), 2);
  CHECK(FindPanels(sheet).empty());

  // A frame on a plain canvas (a padded leak).
  cv::Mat canvas(1080, 1920, CV_8UC3, cv::Scalar(40, 160, 90));
  Picture(1280, 720, 4).copyTo(canvas(cv::Rect(300, 200, 1280, 720)));
  CHECK(FindPanels(canvas).empty());

  // A frame itself, and one with flat-coloured blocks on a flat sky.
  CHECK(FindPanels(Picture(1920, 1080, 5)).empty());
  cv::Mat sky(720, 1280, CV_8UC3, cv::Scalar(235, 200, 140));
  cv::rectangle(sky, cv::Rect(100, 400, 300, 320), cv::Scalar(40, 80, 120), cv::FILLED);
  cv::rectangle(sky, cv::Rect(700, 350, 400, 370), cv::Scalar(60, 60, 60), cv::FILLED);
  CHECK(FindPanels(sky).empty());

  // A strip far longer than wide, and tiny pictures: not pages, and no error.
  CHECK(FindPanels(cv::Mat(50000, 64, CV_8UC3, cv::Scalar(250, 250, 250))).empty());
  CHECK(FindPanels(cv::Mat(64, 50000, CV_8UC3, cv::Scalar(250, 250, 250))).empty());
  CHECK(FindPanels(cv::Mat(1, 1, CV_8UC3, cv::Scalar(0, 0, 0))).empty());
  CHECK(FindPanels(cv::Mat()).empty());
}
