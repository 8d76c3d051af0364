#include "leaks/leak_transforms.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
}

namespace celmatch {

const std::vector<std::string>& LeakImageTransforms() {
  static const std::vector<std::string> k = {
      "png", "jpeg75", "half",                        // the defaults (demo, tests)
      "jpeg40", "quarter",                            // recompression, downscaling
      "crop80", "crop50", "crop25",                   // area kept
      "pad20", "pad50", "letterbox",                  // padding, letterbox / pillarbox
      "sheet",                                        // review / retake sheet with text
      "annotate", "annotate_heavy",                   // hand annotations
      "lineart",                                      // black lines on white
      "gray", "gamma", "gamma_dark", "hue", "hue90",  // colour changes
      "flip",                                         // horizontal mirror
      "rotate5", "rotate15",                          // rotation with scale
      "squash", "squash50",                           // aspect ratio
      "blur", "blur_strong", "noise", "noise_strong",
      "blank_region", "blank_region50",               // a missing layer
      "cel_alpha", "cel_flat",                        // the character alone
      "player_screenshot",                            // a frame inside a video player
      // Stacked damage, beyond what one transform does:
      "lineart_small", "lineart_crop",                // line art as a thumbnail, or of a detail
      "regrade", "regrade_blur",                      // heavy colour grading (and softness)
      "blur_noise", "blur_heavy",                     // a soft, noisy copy; a very soft one
      "blank_crop",                                   // a missing layer in a cropped detail
  };
  return k;
}

const std::vector<std::string>& LeakGeneralisationTransforms() {
  static const std::vector<std::string> k = {
      // Another release of the same footage.
      "release_transfer", "release_sd", "release_grade", "release_boxes",  // tuned on
      "release_film", "release_interlace", "release_broadcast",            // held back
      "release_ntsc",                                                      // held back
      // Line art from other pipelines.
      "lines_canny", "lines_xdog", "lines_colour",                         // tuned on
      "lines_adaptive", "lines_sketch", "lines_paper",                     // held back
      // Half-size crops.
      "crop_half", "crop_half_quiet",                                      // tuned on
      "crop_half_upscaled",                                                // held back
  };
  return k;
}

bool LeakTransformHeldBack(const std::string& name) {
  static const std::vector<std::string> k = {"release_film",   "release_interlace", "release_broadcast",
                                             "release_ntsc",   "lines_adaptive",    "lines_sketch",
                                             "lines_paper",    "crop_half_upscaled"};
  return std::find(k.begin(), k.end(), name) != k.end();
}

namespace {

// Uniform in [0, 1) from the raw generator: std:: distributions differ
// between standard libraries, this does not.
double Uniform(std::mt19937& rng) { return rng() / 4294967296.0; }
double Uniform(std::mt19937& rng, double lo, double hi) { return lo + (hi - lo) * Uniform(rng); }
int UniformInt(std::mt19937& rng, int lo, int hi) {  // [lo, hi]
  return lo + int(rng() % uint32_t(hi - lo + 1));
}
cv::Scalar RandomColor(std::mt19937& rng) {
  return cv::Scalar(UniformInt(rng, 0, 255), UniformInt(rng, 0, 255), UniformInt(rng, 0, 255));
}
// Saturated pen colours: red, blue, green, magenta, orange.
cv::Scalar PenColor(std::mt19937& rng) {
  static const cv::Scalar pens[] = {{0, 0, 230}, {220, 60, 0}, {0, 170, 0}, {200, 0, 200}, {0, 140, 255}};
  return pens[rng() % 5];
}

cv::Mat Resized(const cv::Mat& img, double sx, double sy) {
  cv::Mat out;
  const int w = std::max(1, int(std::lround(img.cols * sx)));
  const int h = std::max(1, int(std::lround(img.rows * sy)));
  cv::resize(img, out, cv::Size(w, h), 0, 0, sx * sy < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

// Keeps `area` (0..1) of the picture, same aspect, at a random place.
cv::Mat Crop(const cv::Mat& img, double area, std::mt19937& rng) {
  const double s = std::sqrt(area);
  const int w = std::max(1, int(img.cols * s)), h = std::max(1, int(img.rows * s));
  const int x = UniformInt(rng, 0, img.cols - w), y = UniformInt(rng, 0, img.rows - h);
  return img(cv::Rect(x, y, w, h)).clone();
}

// A canvas `grow` times larger in each dimension, flat colour, the picture
// at a random place.
cv::Mat Pad(const cv::Mat& img, double grow, std::mt19937& rng) {
  const int w = int(img.cols * (1 + grow)), h = int(img.rows * (1 + grow));
  cv::Mat canvas(h, w, CV_8UC3, RandomColor(rng));
  const int x = UniformInt(rng, 0, w - img.cols), y = UniformInt(rng, 0, h - img.rows);
  img.copyTo(canvas(cv::Rect(x, y, img.cols, img.rows)));
  return canvas;
}

// Wide pictures go into a 4:3 frame with bars above and below; narrower ones
// into 16:9 with bars at the sides.
cv::Mat Letterbox(const cv::Mat& img) {
  const double aspect = double(img.cols) / img.rows;
  int w = img.cols, h = img.rows;
  if (aspect > 4.0 / 3 + 0.01) h = int(std::lround(w * 3.0 / 4));
  else w = int(std::lround(h * 16.0 / 9));
  cv::Mat canvas(h, w, CV_8UC3, cv::Scalar(0, 0, 0));
  img.copyTo(canvas(cv::Rect((w - img.cols) / 2, (h - img.rows) / 2, img.cols, img.rows)));
  return canvas;
}

void Text(cv::Mat& img, const std::string& s, cv::Point at, double scale, cv::Scalar color, int thickness = 1) {
  cv::putText(img, s, at, cv::FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv::LINE_AA);
}

// A review / retake sheet: the frame at about half the sheet's width among
// production text, an empty panel and note lines.
cv::Mat Sheet(const cv::Mat& img, std::mt19937& rng) {
  const int W = 1600, H = 1130;  // A4 landscape at ~136 dpi
  cv::Mat sheet(H, W, CV_8UC3, cv::Scalar(250, 250, 250));
  const double s = 820.0 / img.cols;
  cv::Mat small = Resized(img, s, s);
  const int fh = std::min(small.rows, 700);
  const cv::Rect at(60, 170, small.cols, fh);
  small(cv::Rect(0, 0, small.cols, fh)).copyTo(sheet(at));
  cv::rectangle(sheet, at, cv::Scalar(0, 0, 0), 2);
  char buf[128];
  std::snprintf(buf, sizeof buf, "RETAKE  SC %03d  CUT %02d  TAKE %d", UniformInt(rng, 1, 300), UniformInt(rng, 1, 60),
                UniformInt(rng, 1, 9));
  Text(sheet, buf, {60, 80}, 1.3, cv::Scalar(20, 20, 20), 2);
  std::snprintf(buf, sizeof buf, "EP %02d   frames %d-%d   dir. check", UniformInt(rng, 1, 26), UniformInt(rng, 1, 900),
                UniformInt(rng, 901, 2000));
  Text(sheet, buf, {60, 130}, 0.9, cv::Scalar(60, 60, 60), 2);
  // A second panel (the layout's next cut, still blank) and the note lines.
  cv::rectangle(sheet, cv::Rect(960, 170, 580, 330), cv::Scalar(0, 0, 0), 2);
  Text(sheet, "next cut", {990, 220}, 0.8, cv::Scalar(120, 120, 120));
  static const char* notes[] = {"fix eye line", "keep arm on model", "colour: darker shadow",
                                "smear frame too long", "BG misregistered", "add blink 2 frames"};
  for (int i = 0; i < 6; ++i) {
    const int y = 560 + i * 70;
    cv::line(sheet, {960, y}, {1540, y}, cv::Scalar(180, 180, 180), 1);
    if (i < 4) Text(sheet, notes[(i + rng()) % 6], {970, y - 15}, 0.8, cv::Scalar(30, 30, 30), 2);
  }
  std::snprintf(buf, sizeof buf, "page %d/%d", UniformInt(rng, 1, 9), 9);
  Text(sheet, buf, {60, H - 50}, 0.8, cv::Scalar(60, 60, 60));
  return sheet;
}

// Coloured strokes, circles, arrows and notes drawn over the picture.
cv::Mat Annotate(const cv::Mat& img, int items, std::mt19937& rng) {
  cv::Mat out = img.clone();
  const int w = img.cols, h = img.rows;
  const int thick = std::max(2, w / 200);
  static const char* notes[] = {"fix!", "NG", "hand off model", "too dark", "retake", "lip sync?"};
  for (int i = 0; i < items; ++i) {
    const cv::Scalar pen = PenColor(rng);
    const cv::Point p(UniformInt(rng, 0, w - 1), UniformInt(rng, 0, h - 1));
    switch (i % 4) {
      case 0: {  // a freehand stroke
        std::vector<cv::Point> pts = {p};
        for (int k = 0; k < 6; ++k)
          pts.emplace_back(pts.back().x + UniformInt(rng, -w / 12, w / 12), pts.back().y + UniformInt(rng, -h / 12, h / 12));
        cv::polylines(out, pts, false, pen, thick, cv::LINE_AA);
        break;
      }
      case 1:
        cv::ellipse(out, p, cv::Size(UniformInt(rng, w / 20, w / 8), UniformInt(rng, h / 20, h / 8)),
                    Uniform(rng, 0, 180), 0, 360, pen, thick, cv::LINE_AA);
        break;
      case 2:
        cv::arrowedLine(out, p, {p.x + UniformInt(rng, -w / 5, w / 5), p.y + UniformInt(rng, -h / 5, h / 5)}, pen,
                        thick, cv::LINE_AA, 0, 0.2);
        break;
      case 3:
        Text(out, notes[rng() % 6], p, std::max(0.6, w / 900.0), pen, thick);
        break;
    }
  }
  return out;
}

// The drawing without its colour: dark lines on white.
cv::Mat LineArt(const cv::Mat& img) {
  cv::Mat gray, edges;
  cv::cvtColor(img, gray, cv::COLOR_BGR2GRAY);
  cv::GaussianBlur(gray, gray, cv::Size(3, 3), 0);
  cv::Canny(gray, edges, 40, 120);
  cv::dilate(edges, edges, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2, 2)));
  cv::Mat lines = 255 - edges;
  cv::Mat out;
  cv::cvtColor(lines, out, cv::COLOR_GRAY2BGR);
  return out;
}

cv::Mat Gamma(const cv::Mat& img, double gamma) {
  cv::Mat lut(1, 256, CV_8U);
  for (int i = 0; i < 256; ++i) lut.at<uint8_t>(i) = cv::saturate_cast<uint8_t>(255.0 * std::pow(i / 255.0, gamma));
  cv::Mat out;
  cv::LUT(img, lut, out);
  return out;
}

cv::Mat HueShift(const cv::Mat& img, int degrees) {
  cv::Mat hsv;
  cv::cvtColor(img, hsv, cv::COLOR_BGR2HSV);
  const int shift = degrees / 2;  // OpenCV hue is 0..179
  for (int y = 0; y < hsv.rows; ++y)
    for (cv::Vec3b* p = hsv.ptr<cv::Vec3b>(y), *e = p + hsv.cols; p != e; ++p) (*p)[0] = uint8_t(((*p)[0] + shift) % 180);
  cv::Mat out;
  cv::cvtColor(hsv, out, cv::COLOR_HSV2BGR);
  return out;
}

cv::Mat Rotate(const cv::Mat& img, double degrees, double scale) {
  cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(img.cols / 2.f, img.rows / 2.f), degrees, scale);
  cv::Mat out;
  cv::warpAffine(img, out, m, img.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  return out;
}

cv::Mat Noise(const cv::Mat& img, double sigma, std::mt19937& rng) {
  // Box-Muller on the seeded generator (cv::randn would use OpenCV's global RNG).
  cv::Mat out = img.clone();
  uint8_t* p = out.data;
  const size_t n = out.total() * out.channels();
  for (size_t i = 0; i < n; ++i) {
    const double u1 = std::max(1e-12, Uniform(rng)), u2 = Uniform(rng);
    const double g = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
    p[i] = cv::saturate_cast<uint8_t>(p[i] + sigma * g);
  }
  return out;
}

cv::Mat BlankRegion(const cv::Mat& img, double area, std::mt19937& rng) {
  cv::Mat out = img.clone();
  const double aspect = Uniform(rng, 0.6, 1.6);
  int w = std::min(img.cols, int(std::sqrt(area * img.total() * aspect)));
  int h = std::min(img.rows, int(area * img.total() / std::max(1, w)));
  const int x = UniformInt(rng, 0, img.cols - w), y = UniformInt(rng, 0, img.rows - h);
  out(cv::Rect(x, y, w, h)).setTo(cv::mean(img));
  return out;
}

// A rough foreground (character) mask, 255 = foreground. Heuristic, no
// segmentation model: a pixel is foreground when its colour (Lab) is far from
// every colour sampled along the picture's border (the background reaches
// the border, the character mostly does not); the mask is cleaned and the
// connected regions touching the central half of the picture are kept. When
// that finds less than 5% or more than 70% of the picture, a centred ellipse
// of ~35% of the area stands in.
cv::Mat ForegroundMask(const cv::Mat& img) {
  const double s = 160.0 / img.cols;
  cv::Mat small = Resized(img, s, s), lab;
  cv::cvtColor(small, lab, cv::COLOR_BGR2Lab);
  lab.convertTo(lab, CV_32FC3);
  std::vector<cv::Vec3f> border;
  const int w = lab.cols, h = lab.rows;
  for (int i = 0; i < 24; ++i) {
    border.push_back(lab.at<cv::Vec3f>(0, i * (w - 1) / 23));
    border.push_back(lab.at<cv::Vec3f>(h - 1, i * (w - 1) / 23));
    border.push_back(lab.at<cv::Vec3f>(i * (h - 1) / 23, 0));
    border.push_back(lab.at<cv::Vec3f>(i * (h - 1) / 23, w - 1));
  }
  cv::Mat dist(h, w, CV_8U);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const cv::Vec3f c = lab.at<cv::Vec3f>(y, x);
      float best = 1e9f;
      for (const cv::Vec3f& b : border) best = std::min(best, float(cv::norm(c - b)));
      dist.at<uint8_t>(y, x) = cv::saturate_cast<uint8_t>(best * 2);
    }
  cv::Mat mask;
  cv::threshold(dist, mask, 0, 255, cv::THRESH_BINARY | cv::THRESH_OTSU);
  const cv::Mat k = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(5, 5));
  cv::morphologyEx(mask, mask, cv::MORPH_OPEN, k);
  cv::morphologyEx(mask, mask, cv::MORPH_CLOSE, k);
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8);
  cv::Mat keep = cv::Mat::zeros(h, w, CV_8U);
  const cv::Rect centre(w / 4, h / 4, w / 2, h / 2);
  for (int i = 1; i < n; ++i) {
    const cv::Rect r(stats.at<int>(i, cv::CC_STAT_LEFT), stats.at<int>(i, cv::CC_STAT_TOP),
                     stats.at<int>(i, cv::CC_STAT_WIDTH), stats.at<int>(i, cv::CC_STAT_HEIGHT));
    if ((r & centre).area() > 0) keep.setTo(255, labels == i);
  }
  const double frac = cv::countNonZero(keep) / double(keep.total());
  if (frac < 0.05 || frac > 0.70) {
    keep.setTo(0);
    cv::ellipse(keep, cv::Point(w / 2, h / 2), cv::Size(int(w * 0.33), int(h * 0.33)), 0, 0, 360, cv::Scalar(255), -1);
  }
  cv::Mat full;
  cv::resize(keep, full, img.size(), 0, 0, cv::INTER_NEAREST);
  return full;
}

// A video player's window: dark chrome, the frame scaled into it, a progress
// bar and a time readout, as a screenshot.
cv::Mat PlayerScreenshot(const cv::Mat& img, std::mt19937& rng) {
  const int W = 1366, H = 768;
  cv::Mat shot(H, W, CV_8UC3, cv::Scalar(28, 28, 28));
  cv::rectangle(shot, cv::Rect(0, 0, W, 40), cv::Scalar(60, 60, 60), -1);  // title bar
  Text(shot, "Media Player - episode_final_v3.mov", {16, 27}, 0.6, cv::Scalar(220, 220, 220));
  const int area_w = W - 40, area_h = H - 40 - 90;
  const double s = std::min(double(area_w) / img.cols, double(area_h) / img.rows);
  cv::Mat small = Resized(img, s, s);
  small.copyTo(shot(cv::Rect(20 + (area_w - small.cols) / 2, 45 + (area_h - small.rows) / 2, small.cols, small.rows)));
  const int bar_y = H - 70;
  const double pos = Uniform(rng, 0.05, 0.95);
  cv::rectangle(shot, cv::Rect(20, bar_y, W - 40, 6), cv::Scalar(90, 90, 90), -1);
  cv::rectangle(shot, cv::Rect(20, bar_y, int((W - 40) * pos), 6), cv::Scalar(40, 40, 230), -1);
  cv::circle(shot, {20 + int((W - 40) * pos), bar_y + 3}, 8, cv::Scalar(240, 240, 240), -1, cv::LINE_AA);
  char buf[64];
  const int t = int(pos * 1380);
  std::snprintf(buf, sizeof buf, "%d:%02d / 23:00", t / 60, t % 60);
  Text(shot, buf, {90, H - 25}, 0.6, cv::Scalar(230, 230, 230));
  // Play button and volume.
  std::vector<cv::Point> play = {{30, H - 40}, {30, H - 16}, {52, H - 28}};
  cv::fillConvexPoly(shot, play, cv::Scalar(230, 230, 230), cv::LINE_AA);
  cv::rectangle(shot, cv::Rect(W - 160, H - 32, 120, 5), cv::Scalar(200, 200, 200), -1);
  return shot;
}

// ---- Another release of the same footage ---------------------------------

// Keeps the picture inside margins of `lo`..`hi` of each side (each side
// drawn on its own): a different scan's or transfer's overscan.
cv::Mat Overscan(const cv::Mat& img, double lo, double hi, std::mt19937& rng) {
  const int l = int(img.cols * Uniform(rng, lo, hi));
  const int r = int(img.cols * Uniform(rng, lo, hi));
  const int t = int(img.rows * Uniform(rng, lo, hi));
  const int b = int(img.rows * Uniform(rng, lo, hi));
  return img(cv::Rect(l, t, std::max(1, img.cols - l - r), std::max(1, img.rows - t - b))).clone();
}

// A small geometric difference between two transfers: scale 1-3% (each axis
// on its own), shift 1-3%, rotation up to `max_deg`, a slight keystone;
// the output keeps the input's size, borders replicated as a telecine's
// gate would show the neighbouring picture.
cv::Mat Misregister(const cv::Mat& img, double max_deg, std::mt19937& rng) {
  const double w = img.cols, h = img.rows;
  const double sx = 1 + Uniform(rng, 0.01, 0.03) * (rng() % 2 ? 1 : -1);
  const double sy = sx + Uniform(rng, -0.01, 0.01);
  const double dx = w * Uniform(rng, 0.01, 0.03) * (rng() % 2 ? 1 : -1);
  const double dy = h * Uniform(rng, 0.01, 0.03) * (rng() % 2 ? 1 : -1);
  const double a = Uniform(rng, -max_deg, max_deg) * M_PI / 180;
  const double key = Uniform(rng, -0.01, 0.01) * w;  // top edge narrower or wider than the bottom
  std::vector<cv::Point2f> from = {{0, 0}, {float(w), 0}, {float(w), float(h)}, {0, float(h)}};
  std::vector<cv::Point2f> to;
  const cv::Point2d c(w / 2, h / 2);
  for (size_t i = 0; i < from.size(); ++i) {
    double x = (from[i].x - c.x) * sx, y = (from[i].y - c.y) * sy;
    if (i < 2) x += (i == 0 ? key : -key);
    const double xr = x * std::cos(a) - y * std::sin(a), yr = x * std::sin(a) + y * std::cos(a);
    to.emplace_back(float(c.x + xr + dx), float(c.y + yr + dy));
  }
  cv::Mat out;
  cv::warpPerspective(img, out, cv::getPerspectiveTransform(from, to), img.size(), cv::INTER_LINEAR,
                      cv::BORDER_REPLICATE);
  return out;
}

// Other colour timing: a gamma per channel, saturation, contrast and
// brightness, each drawn from `strength` (1: a grader's usual range).
cv::Mat ColourTiming(const cv::Mat& img, double strength, std::mt19937& rng) {
  cv::Mat lut(1, 256, CV_8UC3);
  double gam[3];
  for (double& g : gam) g = std::exp(Uniform(rng, -0.25, 0.25) * strength);
  const double contrast = 1 + Uniform(rng, -0.2, 0.2) * strength;
  const double bright = Uniform(rng, -18, 18) * strength;
  for (int i = 0; i < 256; ++i)
    for (int c = 0; c < 3; ++c) {
      const double v = 255.0 * std::pow(i / 255.0, gam[c]);
      lut.at<cv::Vec3b>(i)[c] = cv::saturate_cast<uint8_t>((v - 128) * contrast + 128 + bright);
    }
  cv::Mat out;
  cv::LUT(img, lut, out);
  const double sat = 1 + Uniform(rng, -0.4, 0.4) * strength;
  cv::Mat hsv;
  cv::cvtColor(out, hsv, cv::COLOR_BGR2HSV);
  std::vector<cv::Mat> ch;
  cv::split(hsv, ch);
  ch[1].convertTo(ch[1], -1, sat, 0);
  cv::merge(ch, hsv);
  cv::cvtColor(hsv, out, cv::COLOR_HSV2BGR);
  return out;
}

// Chroma at half horizontal resolution, as 4:2:2 / 4:2:0 video stores it.
cv::Mat SubsampleChroma(const cv::Mat& img) {
  cv::Mat ycc;
  cv::cvtColor(img, ycc, cv::COLOR_BGR2YCrCb);
  std::vector<cv::Mat> ch;
  cv::split(ycc, ch);
  for (int c = 1; c < 3; ++c) {
    cv::Mat small;
    cv::resize(ch[c], small, cv::Size(std::max(1, ch[c].cols / 2), std::max(1, ch[c].rows / 2)), 0, 0, cv::INTER_AREA);
    cv::resize(small, ch[c], ch[0].size(), 0, 0, cv::INTER_LINEAR);
  }
  cv::merge(ch, ycc);
  cv::Mat out;
  cv::cvtColor(ycc, out, cv::COLOR_YCrCb2BGR);
  return out;
}

// An SD copy: stored anamorphic at 720x480 or 720x576, soft, then shown
// (half the time) at its display aspect.
cv::Mat StandardDefinition(const cv::Mat& img, std::mt19937& rng) {
  const int h = rng() % 2 ? 480 : 576;
  cv::Mat sd;
  cv::resize(img, sd, cv::Size(720, h), 0, 0, cv::INTER_AREA);
  cv::GaussianBlur(sd, sd, cv::Size(), Uniform(rng, 0.5, 1.1));
  sd = SubsampleChroma(sd);
  if (rng() % 2) {
    const double aspect = rng() % 2 ? 16.0 / 9 : 4.0 / 3;
    cv::resize(sd, sd, cv::Size(int(std::lround(h * aspect)), h), 0, 0, cv::INTER_LINEAR);
  }
  return sd;
}

// Film damage: grain (noise blurred to a grain size), dust specks, a few
// vertical scratches, softness.
cv::Mat FilmDamage(const cv::Mat& img, std::mt19937& rng) {
  const double px = std::max(0.5, img.cols / 640.0);
  cv::Mat soft;
  cv::GaussianBlur(img, soft, cv::Size(), Uniform(rng, 0.6, 1.6) * px);
  cv::Mat grain(img.size(), CV_8UC1, cv::Scalar(128));
  grain = Noise(grain, 40, rng);
  cv::GaussianBlur(grain, grain, cv::Size(), 0.7 * px);
  cv::Mat noise, noise3, f, out;
  grain.convertTo(noise, CV_32F, Uniform(rng, 0.25, 0.6), -128 * 0.4);
  cv::merge(std::vector<cv::Mat>{noise, noise, noise}, noise3);
  soft.convertTo(f, CV_32FC3);
  f += noise3;
  f.convertTo(out, CV_8UC3);
  const int specks = UniformInt(rng, 20, 80);
  for (int i = 0; i < specks; ++i) {
    const cv::Point p(UniformInt(rng, 0, img.cols - 1), UniformInt(rng, 0, img.rows - 1));
    const int r = UniformInt(rng, 1, std::max(1, int(3 * px)));
    const int v = rng() % 2 ? 15 : 240;
    cv::circle(out, p, r, cv::Scalar(v, v, v), -1, cv::LINE_AA);
  }
  const int scratches = UniformInt(rng, 0, 3);
  for (int i = 0; i < scratches; ++i) {
    const int x = UniformInt(rng, 0, img.cols - 1);
    const int v = rng() % 2 ? 40 : 220;
    cv::line(out, {x, 0}, {x + UniformInt(rng, -8, 8), img.rows - 1}, cv::Scalar(v, v, v), 1, cv::LINE_AA);
  }
  return out;
}

// An interlaced SD copy: odd lines from a moment later (the picture moved
// a few pixels), either left combed or deinterlaced by line doubling.
cv::Mat Interlace(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat sd;
  cv::resize(img, sd, cv::Size(720, rng() % 2 ? 480 : 576), 0, 0, cv::INTER_AREA);
  const double mx = Uniform(rng, 1, 6) * (rng() % 2 ? 1 : -1), my = Uniform(rng, -2, 2);
  cv::Mat moved;
  const cv::Matx23d m(1, 0, mx, 0, 1, my);
  cv::warpAffine(sd, moved, m, sd.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  cv::Mat out = sd.clone();
  for (int y = 1; y < out.rows; y += 2) moved.row(y).copyTo(out.row(y));
  if (rng() % 2) {  // line doubling: even field only, stretched back
    cv::Mat field(out.rows / 2, out.cols, out.type());
    for (int y = 0; y < field.rows; ++y) out.row(2 * y).copyTo(field.row(y));
    cv::resize(field, out, sd.size(), 0, 0, cv::INTER_LINEAR);
  }
  return SubsampleChroma(out);
}

// Other bars: the picture cut to another aspect (pan and scan of 4:3, or a
// 2.39:1 extraction), then boxed into a 16:9 or 4:3 frame with bars of
// another thickness.
cv::Mat OtherBoxes(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat cut;
  const double aspect = double(img.cols) / img.rows;
  if (rng() % 2 && aspect > 1.4) {  // pan and scan to 4:3 at a random horizontal place
    const int w = std::min(img.cols, int(img.rows * 4.0 / 3));
    cut = img(cv::Rect(UniformInt(rng, 0, img.cols - w), 0, w, img.rows)).clone();
  } else {  // a wider extraction: a band of 70-90% of the height
    const int h = int(img.rows * Uniform(rng, 0.7, 0.9));
    cut = img(cv::Rect(0, UniformInt(rng, 0, img.rows - h), img.cols, h)).clone();
  }
  const double box_aspect = rng() % 2 ? 16.0 / 9 : 4.0 / 3;
  const double cut_aspect = double(cut.cols) / cut.rows;
  int W = 960, H = int(std::lround(W / box_aspect));
  const double s = cut_aspect > box_aspect ? double(W) / cut.cols : double(H) / cut.rows;
  cv::Mat small = Resized(cut, s * Uniform(rng, 0.9, 1.0), s * Uniform(rng, 0.9, 1.0));
  small = small(cv::Rect(0, 0, std::min(small.cols, W), std::min(small.rows, H))).clone();
  const int v = UniformInt(rng, 0, 24);
  cv::Mat canvas(H, W, CV_8UC3, cv::Scalar(v, v, v));
  small.copyTo(canvas(cv::Rect((W - small.cols) / 2, (H - small.rows) / 2, small.cols, small.rows)));
  return canvas;
}

// A broadcast copy: video levels (16-235), a channel logo in a corner, now
// and then a lower-third caption, SD, heavy compression (the caller's JPEG).
cv::Mat Broadcast(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat out = StandardDefinition(img, rng);
  out.convertTo(out, -1, 219.0 / 255, 16);
  const int W = out.cols, H = out.rows;
  const char* logos[] = {"KTV", "HD 4", "cartoon+", "TOON 2"};
  const cv::Point at(rng() % 2 ? W - 130 : 24, rng() % 2 ? 44 : H - 24);
  cv::Mat overlay = out.clone();
  Text(overlay, logos[rng() % 4], at, 0.9, cv::Scalar(235, 235, 235), 2);
  cv::addWeighted(overlay, 0.6, out, 0.4, 0, out);
  if (rng() % 2) {
    cv::rectangle(out, cv::Rect(0, H - 70, W, 44), cv::Scalar(120, 40, 20), -1);
    Text(out, "NEXT: the adventure continues at 7", {20, H - 40}, 0.7, cv::Scalar(250, 250, 250), 2);
  }
  return out;
}

// ---- Line art from other pipelines -----------------------------------------

cv::Mat Gray(const cv::Mat& img) {
  cv::Mat g;
  cv::cvtColor(img, g, cv::COLOR_BGR2GRAY);
  return g;
}

// Lines (255 = line) widened to `width` pixels.
cv::Mat Widen(const cv::Mat& lines, int width) {
  if (width <= 1) return lines;
  cv::Mat out;
  cv::dilate(lines, out, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(width, width)));
  return out;
}

// Dark `ink` lines on a flat `paper` colour.
cv::Mat Ink(const cv::Mat& lines, cv::Scalar ink, cv::Scalar paper) {
  cv::Mat out(lines.size(), CV_8UC3, paper);
  out.setTo(ink, lines);
  return out;
}

// Canny on a colour-flattened picture (mean shift), thresholds and line
// width drawn, drawn at 50-100% of the frame's size.
cv::Mat LinesCanny(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat work = Resized(img, 0.5, 0.5), flat;
  cv::pyrMeanShiftFiltering(work, flat, Uniform(rng, 6, 14), Uniform(rng, 12, 30));
  cv::resize(flat, flat, img.size(), 0, 0, cv::INTER_LINEAR);
  const double lo = Uniform(rng, 15, 60);
  cv::Mat edges;
  cv::Canny(Gray(flat), edges, lo, lo * Uniform(rng, 2, 3));
  const double s = Uniform(rng, 0.5, 1.0);
  return Resized(Ink(Widen(edges, UniformInt(rng, 1, 3)), cv::Scalar(20, 20, 20), cv::Scalar(255, 255, 255)), s, s);
}

// XDoG (Winnemöller et al. 2012): a sharpened difference of Gaussians with a
// soft threshold; gives inked contours of varying weight.
cv::Mat LinesXdog(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat g;
  Gray(img).convertTo(g, CV_32F, 1.0 / 255);
  const double px = std::max(0.5, img.cols / 640.0);
  const double sigma = Uniform(rng, 0.6, 1.4) * px, k = 1.6, p = Uniform(rng, 15, 30);
  const double eps = Uniform(rng, 0.12, 0.35), phi = Uniform(rng, 8, 20);
  cv::Mat g1, g2;
  cv::GaussianBlur(g, g1, cv::Size(), sigma);
  cv::GaussianBlur(g, g2, cv::Size(), sigma * k);
  cv::Mat d = (1 + p) * g1 - p * g2;
  cv::Mat out(d.size(), CV_8U);
  for (int y = 0; y < d.rows; ++y)
    for (int x = 0; x < d.cols; ++x) {
      const float u = d.at<float>(y, x);
      const double v = u >= eps ? 1.0 : 1.0 + std::tanh(phi * (u - eps));
      out.at<uint8_t>(y, x) = cv::saturate_cast<uint8_t>(255 * v);
    }
  cv::Mat bgr;
  cv::cvtColor(out, bgr, cv::COLOR_GRAY2BGR);
  return bgr;
}

// Adaptive threshold of the luminance: what a scanner's "line art" mode or
// a quick trace does.
cv::Mat LinesAdaptive(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat g = Gray(img), t;
  cv::medianBlur(g, g, 3);
  const int block = 2 * UniformInt(rng, 3, 10) + 1;
  cv::adaptiveThreshold(g, t, 255, cv::ADAPTIVE_THRESH_MEAN_C, cv::THRESH_BINARY, block, Uniform(rng, 4, 12));
  cv::Mat bgr;
  cv::cvtColor(t, bgr, cv::COLOR_GRAY2BGR);
  return bgr;
}

// Coloured lines: region borders drawn in one pencil colour (the colour
// trace lines of a cel: red, blue, green) or in each region's darkened own
// colour.
cv::Mat LinesColour(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat blurred, edges;
  cv::GaussianBlur(Gray(img), blurred, cv::Size(), 1.0);
  const double lo = Uniform(rng, 25, 60);
  cv::Canny(blurred, edges, lo, lo * 2.5);
  edges = Widen(edges, UniformInt(rng, 1, 3));
  if (rng() % 2) {
    static const cv::Scalar pencil[] = {{40, 40, 210}, {200, 90, 30}, {40, 150, 40}};
    return Ink(edges, pencil[rng() % 3], cv::Scalar(255, 255, 255));
  }
  cv::Mat dark = img * 0.45, out(img.size(), CV_8UC3, cv::Scalar(255, 255, 255));
  dark.copyTo(out, edges);
  return out;
}

// Sketchy strokes: each edge contour redrawn as a wobbly pencil line, some
// left out, some doubled, in grey of varying weight.
cv::Mat LinesSketch(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat blurred, edges;
  cv::GaussianBlur(Gray(img), blurred, cv::Size(), 1.5);
  cv::Canny(blurred, edges, 30, 90);
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(edges, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
  cv::Mat out(img.size(), CV_8UC3, cv::Scalar(250, 250, 250));
  const double px = std::max(0.5, img.cols / 640.0);
  const double wobble = Uniform(rng, 0.8, 2.0) * px;
  for (const auto& c : contours) {
    if (c.size() < 3 || rng() % 100 < 15) continue;  // a stroke left out
    const int passes = rng() % 100 < 30 ? 2 : 1;
    for (int pass = 0; pass < passes; ++pass) {
      std::vector<cv::Point> pts;
      const cv::Point off(int(std::lround(Uniform(rng, -wobble, wobble))), int(std::lround(Uniform(rng, -wobble, wobble))));
      for (const cv::Point& p : c)
        pts.emplace_back(p.x + off.x + int(std::lround(Uniform(rng, -wobble, wobble) / 2)),
                         p.y + off.y + int(std::lround(Uniform(rng, -wobble, wobble) / 2)));
      const int v = UniformInt(rng, 30, 110);
      cv::polylines(out, pts, false, cv::Scalar(v, v, v), UniformInt(rng, 1, std::max(1, int(2 * px))), cv::LINE_AA);
    }
  }
  return out;
}

// Lines on tinted paper, scanned: paper texture, uneven light, a slight
// rotation.
cv::Mat LinesPaper(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat lines = rng() % 2 ? LinesXdog(img, rng) : LinesCanny(img, rng);
  if (lines.size() != img.size()) cv::resize(lines, lines, img.size(), 0, 0, cv::INTER_LINEAR);
  const cv::Scalar tint(UniformInt(rng, 190, 235), UniformInt(rng, 215, 245), UniformInt(rng, 230, 252));
  cv::Mat paper(img.size(), CV_8UC3, tint);
  paper = Noise(paper, 6, rng);
  cv::GaussianBlur(paper, paper, cv::Size(), 1.2);
  cv::Mat out;
  cv::multiply(paper, lines, out, 1.0 / 255);
  // Light falling off towards one side.
  const double fall = Uniform(rng, 0.1, 0.3);
  const bool horizontal = rng() % 2;
  for (int y = 0; y < out.rows; ++y) {
    cv::Vec3b* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < out.cols; ++x) {
      const double t = horizontal ? double(x) / out.cols : double(y) / out.rows;
      for (int c = 0; c < 3; ++c) row[x][c] = cv::saturate_cast<uint8_t>(row[x][c] * (1 - fall * t));
    }
  }
  cv::Mat turned;
  cv::warpAffine(out, turned,
                 cv::getRotationMatrix2D(cv::Point2f(out.cols / 2.f, out.rows / 2.f), Uniform(rng, -2.5, 2.5), 1.0),
                 out.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  return turned;
}

// ---- Half-size crops ---------------------------------------------------------

// 40-60% of each side at a random place.
cv::Rect HalfCropBox(const cv::Mat& img, std::mt19937& rng) {
  const int w = std::max(1, int(img.cols * Uniform(rng, 0.4, 0.6)));
  const int h = std::max(1, int(img.rows * Uniform(rng, 0.4, 0.6)));
  const int x = UniformInt(rng, 0, img.cols - w);
  const int y = UniformInt(rng, 0, img.rows - h);
  return {x, y, w, h};
}

// The same size of crop in the quietest of 16 random places (least gradient
// energy): sky, a flat wall, an empty floor.
cv::Rect QuietCropBox(const cv::Mat& img, std::mt19937& rng) {
  cv::Mat g = Gray(img), gx, gy, mag;
  cv::Sobel(g, gx, CV_32F, 1, 0);
  cv::Sobel(g, gy, CV_32F, 0, 1);
  cv::magnitude(gx, gy, mag);
  cv::Rect best;
  double best_energy = 1e300;
  for (int i = 0; i < 16; ++i) {
    const cv::Rect box = HalfCropBox(img, rng);
    const double e = cv::mean(mag(box))[0];
    if (e < best_energy) {
      best_energy = e;
      best = box;
    }
  }
  return best;
}

// ---- A frame of an NTSC conversion -----------------------------------------

// `frames` (BGR, one size, even sides) through libavcodec's MPEG-2 encoder
// and back: `bit_rate` bits a second at 29.97 frames a second, 4:2:0, a GOP
// of 15 with 2 B-frames, the storage aspect 720x480 displayed at
// `display_aspect`. The decoded frames, in order.
Result<std::vector<cv::Mat>> Mpeg2RoundTrip(const std::vector<cv::Mat>& frames, int64_t bit_rate,
                                            double display_aspect) {
  std::vector<cv::Mat> out;
  if (frames.empty()) return out;
  const int w = frames[0].cols, h = frames[0].rows;
  const AVCodec* enc_codec = avcodec_find_encoder(AV_CODEC_ID_MPEG2VIDEO);
  const AVCodec* dec_codec = avcodec_find_decoder(AV_CODEC_ID_MPEG2VIDEO);
  if (!enc_codec || !dec_codec) return Status::Unsupported("this FFmpeg has no MPEG-2 video encoder or decoder");
  struct Owned {
    AVCodecContext* enc = nullptr;
    AVCodecContext* dec = nullptr;
    AVFrame* frame = nullptr;
    AVPacket* packet = nullptr;
    ~Owned() {
      avcodec_free_context(&enc);
      avcodec_free_context(&dec);
      av_frame_free(&frame);
      av_packet_free(&packet);
    }
  } o;
  o.enc = avcodec_alloc_context3(enc_codec);
  o.dec = avcodec_alloc_context3(dec_codec);
  o.frame = av_frame_alloc();
  o.packet = av_packet_alloc();
  if (!o.enc || !o.dec || !o.frame || !o.packet) return Status::Internal("MPEG-2 round trip: out of memory");
  o.enc->width = w;
  o.enc->height = h;
  o.enc->pix_fmt = AV_PIX_FMT_YUV420P;
  o.enc->time_base = AVRational{1001, 30000};
  o.enc->framerate = AVRational{30000, 1001};
  o.enc->bit_rate = bit_rate;
  o.enc->rc_max_rate = bit_rate * 3 / 2;
  o.enc->rc_buffer_size = int(bit_rate);
  o.enc->gop_size = 15;
  o.enc->max_b_frames = 2;
  o.enc->sample_aspect_ratio = av_d2q(display_aspect * h / w, 255);
  if (avcodec_open2(o.enc, enc_codec, nullptr) < 0 || avcodec_open2(o.dec, dec_codec, nullptr) < 0)
    return Status::Internal("MPEG-2 round trip: the codec does not open");
  auto drain_decoder = [&]() -> Status {
    for (;;) {
      const int r = avcodec_receive_frame(o.dec, o.frame);
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return Status::Ok();
      if (r < 0) return Status::Internal("MPEG-2 round trip: decoding failed");
      cv::Mat i420(h * 3 / 2, w, CV_8UC1);
      for (int y = 0; y < h; ++y) std::memcpy(i420.ptr(y), o.frame->data[0] + y * o.frame->linesize[0], size_t(w));
      uint8_t* u = i420.ptr(h);
      uint8_t* v = u + (w / 2) * (h / 2);
      for (int y = 0; y < h / 2; ++y) {
        std::memcpy(u + y * (w / 2), o.frame->data[1] + y * o.frame->linesize[1], size_t(w / 2));
        std::memcpy(v + y * (w / 2), o.frame->data[2] + y * o.frame->linesize[2], size_t(w / 2));
      }
      cv::Mat bgr;
      cv::cvtColor(i420, bgr, cv::COLOR_YUV2BGR_I420);
      out.push_back(bgr);
      av_frame_unref(o.frame);
    }
  };
  auto drain_encoder = [&]() -> Status {
    for (;;) {
      const int r = avcodec_receive_packet(o.enc, o.packet);
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return Status::Ok();
      if (r < 0) return Status::Internal("MPEG-2 round trip: encoding failed");
      const int sent = avcodec_send_packet(o.dec, o.packet);
      av_packet_unref(o.packet);
      if (sent < 0) return Status::Internal("MPEG-2 round trip: the decoder refused a packet");
      CELMATCH_RETURN_IF_ERROR(drain_decoder());
    }
  };
  int64_t pts = 0;
  for (const cv::Mat& bgr : frames) {
    cv::Mat i420;
    cv::cvtColor(bgr, i420, cv::COLOR_BGR2YUV_I420);
    o.frame->format = AV_PIX_FMT_YUV420P;
    o.frame->width = w;
    o.frame->height = h;
    if (av_frame_get_buffer(o.frame, 0) < 0) return Status::Internal("MPEG-2 round trip: out of memory");
    const uint8_t* u = i420.ptr(h);
    const uint8_t* v = u + (w / 2) * (h / 2);
    for (int y = 0; y < h; ++y) std::memcpy(o.frame->data[0] + y * o.frame->linesize[0], i420.ptr(y), size_t(w));
    for (int y = 0; y < h / 2; ++y) {
      std::memcpy(o.frame->data[1] + y * o.frame->linesize[1], u + y * (w / 2), size_t(w / 2));
      std::memcpy(o.frame->data[2] + y * o.frame->linesize[2], v + y * (w / 2), size_t(w / 2));
    }
    o.frame->pts = pts++;
    const int sent = avcodec_send_frame(o.enc, o.frame);
    av_frame_unref(o.frame);
    if (sent < 0) return Status::Internal("MPEG-2 round trip: the encoder refused a frame");
    CELMATCH_RETURN_IF_ERROR(drain_encoder());
  }
  if (avcodec_send_frame(o.enc, nullptr) < 0) return Status::Internal("MPEG-2 round trip: the encoder did not flush");
  CELMATCH_RETURN_IF_ERROR(drain_encoder());
  if (avcodec_send_packet(o.dec, nullptr) < 0) return Status::Internal("MPEG-2 round trip: the decoder did not flush");
  CELMATCH_RETURN_IF_ERROR(drain_decoder());
  if (out.size() != frames.size()) return Status::Internal("MPEG-2 round trip: frames lost");
  return out;
}

}  // namespace

Result<LeakImage> NtscReleaseFrame(const std::vector<cv::Mat>& film, std::mt19937& rng, int* shown) {
  if (film.size() < kNtscFilmFrames) return Status::InvalidArgument("an NTSC frame needs 4 consecutive film frames");
  // The transfer's own framing (1-4% of each side, the same for every
  // frame), stored anamorphic at 720x480 whatever the film's aspect.
  const cv::Size size = film[0].size();
  const int l = int(size.width * Uniform(rng, 0.01, 0.04)), r = int(size.width * Uniform(rng, 0.01, 0.04));
  const int t = int(size.height * Uniform(rng, 0.01, 0.04)), b = int(size.height * Uniform(rng, 0.01, 0.04));
  const cv::Rect framed(l, t, std::max(1, size.width - l - r), std::max(1, size.height - t - b));
  std::vector<cv::Mat> sd(kNtscFilmFrames);
  for (size_t i = 0; i < sd.size(); ++i) cv::resize(film[i](framed), sd[i], cv::Size(720, 480), 0, 0, cv::INTER_AREA);
  // 3:2 pulldown: four film frames A B C D become five video frames whose
  // (top, bottom) fields are (A, A) (B, B) (B, C) (C, D) (D, D).
  static const int kTop[5] = {0, 1, 1, 2, 3}, kBottom[5] = {0, 1, 2, 3, 3};
  std::vector<cv::Mat> video(5);
  for (int k = 0; k < 5; ++k) {
    video[k] = sd[size_t(kTop[k])].clone();
    for (int y = 1; y < 480; y += 2) sd[size_t(kBottom[k])].row(y).copyTo(video[k].row(y));
  }
  const double display_aspect = rng() % 2 ? 16.0 / 9 : 4.0 / 3;
  const int64_t bit_rate = int64_t(Uniform(rng, 2.5e6, 6e6));
  Result<std::vector<cv::Mat>> decoded = Mpeg2RoundTrip(video, bit_rate, display_aspect);
  if (!decoded.ok()) return decoded.status();
  const int k = UniformInt(rng, 0, 4);
  *shown = kTop[k];
  cv::Mat picture = (*decoded)[size_t(k)];
  // How the copy was deinterlaced: not at all (a mixed frame shows combs),
  // by blending the fields (a mixed frame shows both pictures), or by
  // doubling the top field's lines.
  switch (UniformInt(rng, 0, 2)) {
    case 0:
      break;
    case 1:
      cv::filter2D(picture, picture, -1, cv::Mat(cv::Matx31f(0.25f, 0.5f, 0.25f)), cv::Point(-1, -1), 0,
                   cv::BORDER_REPLICATE);
      break;
    default: {
      cv::Mat field(picture.rows / 2, picture.cols, picture.type());
      for (int y = 0; y < field.rows; ++y) picture.row(2 * y).copyTo(field.row(y));
      cv::resize(field, picture, cv::Size(picture.cols, picture.rows), 0, 0, cv::INTER_LINEAR);
    }
  }
  // Shown at its display aspect, or saved at its storage size.
  if (rng() % 2) cv::resize(picture, picture, cv::Size(int(std::lround(480 * display_aspect)), 480), 0, 0, cv::INTER_LINEAR);
  LeakImage out;
  out.pixels = picture;
  out.ext = ".jpg";
  out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 75, 92)};
  return out;
}

namespace {

}  // namespace

Result<LeakImage> ApplyLeakTransform(const cv::Mat& bgr, const std::string& name, std::mt19937& rng) {
  LeakImage out;
  out.ext = ".jpg";
  out.params = {cv::IMWRITE_JPEG_QUALITY, 90};
  // Blur and noise strengths are for a 640-pixel-wide frame, scaled with it.
  const double px = std::max(0.5, bgr.cols / 640.0);
  try {
    if (name == "png") {
      out.pixels = bgr;
      out.ext = ".png";
      out.params.clear();
    } else if (name == "jpeg75" || name == "jpeg40") {
      out.pixels = bgr;
      out.params = {cv::IMWRITE_JPEG_QUALITY, name == "jpeg75" ? 75 : 40};
    } else if (name == "half") {
      out.pixels = Resized(bgr, 0.5, 0.5);
    } else if (name == "quarter") {
      out.pixels = Resized(bgr, 0.25, 0.25);
      out.params = {cv::IMWRITE_JPEG_QUALITY, 85};
    } else if (name == "crop80" || name == "crop50" || name == "crop25") {
      out.pixels = Crop(bgr, std::stoi(name.substr(4)) / 100.0, rng);
    } else if (name == "pad20" || name == "pad50") {
      out.pixels = Pad(bgr, std::stoi(name.substr(3)) / 100.0, rng);
    } else if (name == "letterbox") {
      out.pixels = Letterbox(bgr);
    } else if (name == "sheet") {
      out.pixels = Sheet(bgr, rng);
    } else if (name == "annotate" || name == "annotate_heavy") {
      out.pixels = Annotate(bgr, name == "annotate" ? 4 : 12, rng);
    } else if (name == "lineart") {
      out.pixels = LineArt(bgr);
      out.ext = ".png";
      out.params.clear();
    } else if (name == "gray") {
      cv::Mat g;
      cv::cvtColor(bgr, g, cv::COLOR_BGR2GRAY);
      cv::cvtColor(g, out.pixels, cv::COLOR_GRAY2BGR);
    } else if (name == "gamma" || name == "gamma_dark") {
      out.pixels = Gamma(bgr, name == "gamma" ? 0.5 : 2.0);
    } else if (name == "hue" || name == "hue90") {
      out.pixels = HueShift(bgr, name == "hue" ? 30 : 90);
    } else if (name == "flip") {
      cv::flip(bgr, out.pixels, 1);
    } else if (name == "rotate5" || name == "rotate15") {
      const double deg = (name == "rotate5" ? 5.0 : 15.0) * (rng() % 2 ? 1 : -1);
      out.pixels = Rotate(bgr, deg, name == "rotate5" ? 1.1 : 1.0);
    } else if (name == "squash" || name == "squash50") {
      out.pixels = Resized(bgr, name == "squash" ? 0.75 : 0.5, 1.0);
    } else if (name == "blur" || name == "blur_strong") {
      const double sigma = (name == "blur" ? 2.0 : 5.0) * px;
      cv::GaussianBlur(bgr, out.pixels, cv::Size(), sigma);
    } else if (name == "noise" || name == "noise_strong") {
      out.pixels = Noise(bgr, name == "noise" ? 8.0 : 20.0, rng);
    } else if (name == "blank_region" || name == "blank_region50") {
      out.pixels = BlankRegion(bgr, name == "blank_region" ? 0.25 : 0.5, rng);
    } else if (name == "cel_alpha" || name == "cel_flat") {
      const cv::Mat mask = ForegroundMask(bgr);
      if (name == "cel_alpha") {
        cv::Mat bgra;
        cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
        bgra.setTo(cv::Scalar(0, 0, 0, 0), ~mask);
        out.pixels = bgra;
        out.ext = ".png";
        out.params.clear();
      } else {
        cv::Mat flat(bgr.size(), CV_8UC3, RandomColor(rng));
        bgr.copyTo(flat, mask);
        out.pixels = flat;
      }
    } else if (name == "lineart_small") {
      out.pixels = Resized(LineArt(bgr), 0.3, 0.3);
      out.params = {cv::IMWRITE_JPEG_QUALITY, 70};
    } else if (name == "lineart_crop") {
      out.pixels = LineArt(Crop(bgr, 0.5, rng));
      out.ext = ".png";
      out.params.clear();
    } else if (name == "regrade" || name == "regrade_blur") {
      // Hue turned 60 degrees, darker mid-tones, contrast halved towards grey.
      cv::Mat graded = Gamma(HueShift(bgr, 60), 1.6);
      graded.convertTo(graded, -1, 0.5, 64);
      if (name == "regrade_blur") cv::GaussianBlur(graded, graded, cv::Size(), 3.0 * px);
      out.pixels = graded;
    } else if (name == "blur_noise") {
      cv::Mat soft;
      cv::GaussianBlur(bgr, soft, cv::Size(), 4.0 * px);
      out.pixels = Noise(soft, 25.0, rng);
      out.params = {cv::IMWRITE_JPEG_QUALITY, 50};
    } else if (name == "blur_heavy") {
      cv::GaussianBlur(bgr, out.pixels, cv::Size(), 8.0 * px);
    } else if (name == "blank_crop") {
      out.pixels = Crop(BlankRegion(bgr, 0.4, rng), 0.5, rng);
    } else if (name == "player_screenshot") {
      out.pixels = PlayerScreenshot(bgr, rng);
      out.params = {cv::IMWRITE_JPEG_QUALITY, 85};
    } else if (name == "release_transfer") {
      out.pixels = Misregister(Overscan(bgr, 0.02, 0.08, rng), 1.0, rng);
      cv::resize(out.pixels, out.pixels, bgr.size(), 0, 0, cv::INTER_LINEAR);
      out.pixels = ColourTiming(out.pixels, 0.3, rng);
      out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 80, 92)};
    } else if (name == "release_sd") {
      out.pixels = StandardDefinition(Overscan(bgr, 0.01, 0.05, rng), rng);
      out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 45, 70)};
    } else if (name == "release_grade") {
      out.pixels = ColourTiming(bgr, 1.0, rng);
      out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 75, 92)};
    } else if (name == "release_boxes") {
      out.pixels = OtherBoxes(bgr, rng);
      out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 70, 90)};
    } else if (name == "release_film") {
      out.pixels = FilmDamage(ColourTiming(Overscan(bgr, 0.01, 0.04, rng), 0.5, rng), rng);
      out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 70, 90)};
    } else if (name == "release_interlace") {
      out.pixels = Interlace(Overscan(bgr, 0.01, 0.04, rng), rng);
      out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 50, 75)};
    } else if (name == "release_broadcast") {
      out.pixels = Broadcast(Overscan(bgr, 0.02, 0.06, rng), rng);
      out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 25, 45)};
    } else if (name == "lines_canny" || name == "lines_xdog" || name == "lines_colour" || name == "lines_adaptive" ||
               name == "lines_sketch" || name == "lines_paper") {
      out.pixels = name == "lines_canny"      ? LinesCanny(bgr, rng)
                   : name == "lines_xdog"     ? LinesXdog(bgr, rng)
                   : name == "lines_colour"   ? LinesColour(bgr, rng)
                   : name == "lines_adaptive" ? LinesAdaptive(bgr, rng)
                   : name == "lines_sketch"   ? LinesSketch(bgr, rng)
                                              : LinesPaper(bgr, rng);
      if (name == "lines_paper") {
        out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 70, 90)};
      } else {
        out.ext = ".png";
        out.params.clear();
      }
    } else if (name == "crop_half" || name == "crop_half_quiet" || name == "crop_half_upscaled") {
      const cv::Rect box = name == "crop_half_quiet" ? QuietCropBox(bgr, rng) : HalfCropBox(bgr, rng);
      out.pixels = bgr(box).clone();
      if (name == "crop_half_upscaled") cv::resize(out.pixels, out.pixels, bgr.size(), 0, 0, cv::INTER_CUBIC);
      out.params = {cv::IMWRITE_JPEG_QUALITY, UniformInt(rng, 75, 92)};
    } else if (name == "release_ntsc") {
      return Status::InvalidArgument("leak transform release_ntsc needs the frames after this one (NtscReleaseFrame)");
    } else {
      return Status::InvalidArgument("unknown leak transform '" + name + "'");
    }
  } catch (const cv::Exception& e) {
    return Status::Internal("leak transform " + name + ": " + e.what());
  }
  return out;
}

}  // namespace celmatch
