#include "signatures/local_features.h"

#include <algorithm>
#include <cmath>

#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/ximgproc.hpp>

namespace celmatch {

const char* FeatureLayerName(FeatureLayer layer) {
  return layer == FeatureLayer::kLine ? "line" : "color";
}

namespace {

cv::Mat ToGray(const cv::Mat& image) {
  if (image.channels() == 1) return image;
  cv::Mat gray;
  cv::cvtColor(image, gray, image.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
  return gray;
}

// Strongest keypoints first, taken round-robin over grid cells so every part
// of the picture keeps some.
std::vector<cv::KeyPoint> SpreadOverGrid(std::vector<cv::KeyPoint> kps, cv::Size size, int cells, int wanted) {
  if (int(kps.size()) <= wanted) return kps;
  std::sort(kps.begin(), kps.end(), [](const cv::KeyPoint& a, const cv::KeyPoint& b) { return a.response > b.response; });
  cells = std::max(1, cells);
  std::vector<std::vector<const cv::KeyPoint*>> bucket(size_t(cells * cells));
  for (const cv::KeyPoint& k : kps) {
    const int cx = std::clamp(int(k.pt.x * cells / std::max(1, size.width)), 0, cells - 1);
    const int cy = std::clamp(int(k.pt.y * cells / std::max(1, size.height)), 0, cells - 1);
    bucket[size_t(cy * cells + cx)].push_back(&k);
  }
  std::vector<cv::KeyPoint> out;
  out.reserve(size_t(wanted));
  for (size_t round = 0; int(out.size()) < wanted; ++round) {
    bool any = false;
    for (const auto& b : bucket) {
      if (round < b.size()) {
        out.push_back(*b[round]);
        any = true;
        if (int(out.size()) >= wanted) break;
      }
    }
    if (!any) break;
  }
  return out;
}

}  // namespace

LocalFeatures LocalFeatureExtractor::Extract(const cv::Mat& image, const cv::Mat& mask) const {
  return Extract(Prepare(image, mask), false);
}

LocalFeatureExtractor::WorkPicture LocalFeatureExtractor::Prepare(const cv::Mat& image, const cv::Mat& mask) const {
  WorkPicture w;
  w.width = image.cols;
  w.height = image.rows;
  if (image.empty() || options_.max_features <= 0) return w;
  w.gray = ToGray(image);
  const int longer = std::max(w.gray.cols, w.gray.rows);
  if (options_.work_max_side > 0 && longer > options_.work_max_side) {
    w.scale = double(options_.work_max_side) / longer;
    cv::Mat small;
    cv::resize(w.gray, small,
               cv::Size(std::max(1, int(std::lround(w.gray.cols * w.scale))),
                        std::max(1, int(std::lround(w.gray.rows * w.scale)))),
               0, 0, cv::INTER_AREA);
    w.gray = small;
  }
  if (!mask.empty()) cv::resize(mask, w.mask, w.gray.size(), 0, 0, cv::INTER_NEAREST);
  return w;
}

LocalFeatures LocalFeatureExtractor::Extract(const WorkPicture& work, bool mirrored) const {
  LocalFeatures out;
  out.width = work.width;
  out.height = work.height;
  out.descriptors = cv::Mat(0, kFeatureBytes, CV_8U);
  if (work.gray.empty() || options_.max_features <= 0) return out;
  const double f = work.scale;
  cv::Mat gray, work_mask;  // new buffers when mirrored: `work` serves both descriptions
  if (mirrored) cv::flip(work.gray, gray, 1);
  else gray = work.gray;
  cv::Mat inside;  // CV_32F: distance in work pixels from each pixel to the nearest masked-out one
  if (!work.mask.empty()) {
    if (mirrored) cv::flip(work.mask, work_mask, 1);
    cv::threshold(mirrored ? work_mask : work.mask, work_mask, 0, 255, cv::THRESH_BINARY);
    cv::distanceTransform(work_mask, inside, cv::DIST_L2, 3);
    // Detection only a few pixels inside; the patch test below decides.
    cv::erode(work_mask, work_mask, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(5, 5)));
    if (cv::countNonZero(work_mask) == 0) return out;
  }
  try {
    cv::Ptr<cv::ORB> orb = cv::ORB::create(options_.max_features * 4, 1.2f, 8, 31, 0, 2, cv::ORB::HARRIS_SCORE, 31,
                                           options_.fast_threshold);
    std::vector<cv::KeyPoint> kps;
    orb->detect(gray, kps, work_mask);
    if (!inside.empty()) {
      // A descriptor compares pixels across its patch (kp.size wide at the
      // keypoint's pyramid level): keep those whose patch lies mostly where
      // the mask is set, so a cel's outside (transparent, composited to a
      // plain colour) does not enter its descriptors.
      constexpr double coverage = 0.6;  // share of the patch radius that must be inside
      kps.erase(std::remove_if(kps.begin(), kps.end(),
                               [&](const cv::KeyPoint& k) {
                                 const int x = std::clamp(int(k.pt.x), 0, inside.cols - 1);
                                 const int y = std::clamp(int(k.pt.y), 0, inside.rows - 1);
                                 return inside.at<float>(y, x) < coverage * 0.5 * k.size;
                               }),
                kps.end());
    }
    kps = SpreadOverGrid(std::move(kps), gray.size(), options_.grid_cells, options_.max_features);
    cv::Mat desc;
    orb->compute(gray, kps, desc);
    if (desc.empty() || desc.cols != kFeatureBytes) return out;
    out.descriptors = desc;
    out.points.reserve(kps.size());
    for (const cv::KeyPoint& k : kps) out.points.emplace_back(float(k.pt.x / f), float(k.pt.y / f));
  } catch (const cv::Exception&) {
    // A picture ORB cannot describe (too small) simply has no features.
    out.points.clear();
    out.descriptors = cv::Mat(0, kFeatureBytes, CV_8U);
  }
  return out;
}

cv::Mat LineRepresentation(const cv::Mat& bgr) {
  cv::Mat gray = ToGray(bgr).clone(), edges;
  cv::GaussianBlur(gray, gray, cv::Size(3, 3), 0);
  cv::Canny(gray, edges, 40, 120);
  cv::dilate(edges, edges, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2, 2)));
  return 255 - edges;
}

namespace {

// The darkest channel of a BGR/BGRA/gray picture: a stroke in any pencil
// colour (red, blue, black) is dark in it, white or tinted paper is not.
cv::Mat DarkestChannel(const cv::Mat& image) {
  if (image.channels() == 1) return image;
  std::vector<cv::Mat> ch;
  cv::split(image, ch);
  cv::Mat m = cv::min(ch[0], ch[1]);
  return cv::min(m, ch[2]);
}

// How much darker than the paper around it each pixel is (CV_8U). The paper
// is the local maximum of the darkest channel over `radius`, smoothed: it
// follows a tint and light falling off across a scan.
cv::Mat InkOfDarkest(const cv::Mat& darkest, int radius, cv::Mat* paper_out = nullptr) {
  cv::Mat paper;
  cv::dilate(darkest, paper, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * radius + 1, 2 * radius + 1)));
  cv::blur(paper, paper, cv::Size(2 * radius + 1, 2 * radius + 1));
  cv::Mat ink;
  cv::subtract(paper, darkest, ink);
  if (paper_out) *paper_out = paper;
  return ink;
}

// A BGR copy at most 320 pixels on its longer side for the line-art tests.
// Nearest-neighbour downscale keeps thin strokes dark instead of averaging
// them into gray.
cv::Mat SmallBgr(const cv::Mat& image) {
  const double f = std::min(1.0, 320.0 / std::max(image.cols, image.rows));
  cv::Mat small;
  cv::resize(image, small, cv::Size(std::max(1, int(image.cols * f)), std::max(1, int(image.rows * f))), 0, 0,
             cv::INTER_NEAREST);
  if (small.channels() == 1) cv::cvtColor(small, small, cv::COLOR_GRAY2BGR);
  if (small.channels() == 4) cv::cvtColor(small, small, cv::COLOR_BGRA2BGR);
  return small;
}

}  // namespace

cv::Mat InkOverPaper(const cv::Mat& image, int radius) { return InkOfDarkest(DarkestChannel(image), radius); }

bool LooksLikeLineArt(const cv::Mat& bgr) {
  if (bgr.empty()) return false;
  const cv::Mat small = SmallBgr(bgr);
  cv::Mat hsv;
  cv::cvtColor(small, hsv, cv::COLOR_BGR2HSV);
  const double n = double(small.total());
  size_t white = 0, dark = 0, coloured = 0;
  for (int y = 0; y < hsv.rows; ++y) {
    const cv::Vec3b* p = hsv.ptr<cv::Vec3b>(y);
    for (int x = 0; x < hsv.cols; ++x) {
      const int s = p[x][1], v = p[x][2];
      if (v >= 200 && s < 40) ++white;
      if (v < 128) ++dark;
      if (s >= 60 && v >= 60) ++coloured;
    }
  }
  return white / n >= 0.6 && dark / n >= 0.003 && dark / n <= 0.35 && coloured / n <= 0.05;
}

bool LooksLikeLinesOnPaper(const cv::Mat& bgr) {
  if (bgr.empty()) return false;
  const cv::Mat small = SmallBgr(bgr);
  // Paper: light (white or tinted), not much darker than its surroundings.
  // Strokes: much darker than the paper in their darkest channel, whatever
  // their colour. A coloured frame has large areas that are neither light
  // paper nor strokes: fills of saturated or mid-tone colour.
  // Or two tones: a difference of Gaussians or a threshold inks whole dark
  // or textured areas (a night sky's speckle, a black fill), so strokes and
  // black may cover most of the picture; what is not paper is still black
  // or a stroke, never colour or mid-tone.
  cv::Mat paper;
  const cv::Mat ink = InkOfDarkest(DarkestChannel(small), 6, &paper);
  cv::Mat hsv;
  cv::cvtColor(small, hsv, cv::COLOR_BGR2HSV);
  const double n = double(small.total());
  size_t white = 0, dark = 0, coloured = 0, black = 0;
  for (int y = 0; y < hsv.rows; ++y) {
    const cv::Vec3b* p = hsv.ptr<cv::Vec3b>(y);
    const uint8_t* k = ink.ptr<uint8_t>(y);
    const uint8_t* pp = paper.ptr<uint8_t>(y);
    for (int x = 0; x < hsv.cols; ++x) {
      const int s = p[x][1], v = p[x][2];
      const bool stroke = k[x] >= 60;
      if (!stroke && pp[x] >= 150 && v >= 170 && s < 90) ++white;
      if (stroke) ++dark;
      if (!stroke && s >= 60 && v >= 60) ++coloured;
      if (!stroke && v < 70) ++black;
    }
  }
  if (dark / n < 0.003) return false;  // blank paper
  const bool on_paper = white / n >= 0.55 && dark / n <= 0.45 && coloured / n <= 0.05;
  const bool two_tone =
      white / n >= 0.2 && dark / n <= 0.8 && (white + dark + black) / n >= 0.97 && coloured / n <= 0.02;
  return on_paper || two_tone;
}

cv::Mat CanonicalLineArt(const cv::Mat& image, int max_side) {
  cv::Mat work = image;
  const int side = std::max(image.cols, image.rows);
  if (max_side > 0 && side > max_side) {
    const double f = double(max_side) / side;
    cv::resize(image, work, cv::Size(std::max(1, int(std::lround(image.cols * f))), std::max(1, int(std::lround(image.rows * f)))),
               0, 0, cv::INTER_AREA);
  }
  const int longer = std::max(work.cols, work.rows);
  const cv::Mat ink = InkOfDarkest(DarkestChannel(work), std::max(4, longer / 60));
  cv::Mat strokes;
  cv::threshold(ink, strokes, 45, 255, cv::THRESH_BINARY);
  // Filled areas (a threshold pipeline inks whole dark regions) keep their
  // outline, which is where the colour regions' borders are; strokes
  // up to about 9 pixels wide keep their centre line.
  cv::Mat dist, thick;
  cv::distanceTransform(strokes, dist, cv::DIST_L2, 3);
  cv::threshold(dist, thick, 4.5, 255, cv::THRESH_BINARY);
  thick.convertTo(thick, CV_8U);
  cv::Mat blobs;
  cv::dilate(thick, blobs, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(7, 7)));
  blobs &= strokes;
  cv::Mat thin = strokes & ~blobs, centre, outline;
  cv::ximgproc::thinning(thin, centre, cv::ximgproc::THINNING_ZHANGSUEN);
  cv::morphologyEx(blobs, outline, cv::MORPH_GRADIENT, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(3, 3)));
  cv::Mat lines = centre | outline;
  // Redrawn at one width, as the reference line layer's edges are.
  cv::dilate(lines, lines, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2, 2)));
  return 255 - lines;
}

}  // namespace celmatch
