#include "leaks/leak_transforms.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

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
    } else {
      return Status::InvalidArgument("unknown leak transform '" + name + "'");
    }
  } catch (const cv::Exception& e) {
    return Status::Internal("leak transform " + name + ": " + e.what());
  }
  return out;
}

}  // namespace celmatch
