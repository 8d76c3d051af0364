#include "match/geometric_verifier.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>
#include <vector>

#include <opencv2/calib3d.hpp>
#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>

#include "index/hamming.h"
#include "index/visual_words.h"

namespace celmatch {

namespace {

// Share of a homography's inliers a similarity must keep within the same
// threshold for the region to be mapped by it (VerifyHomography).
constexpr double kSimilarityInliers = 0.7;

bool Project(const cv::Matx33d& h, const cv::Point2d& p, cv::Point2d* out) {
  const double w = h(2, 0) * p.x + h(2, 1) * p.y + h(2, 2);
  if (w <= 1e-9) return false;
  *out = cv::Point2d((h(0, 0) * p.x + h(0, 1) * p.y + h(0, 2)) / w, (h(1, 0) * p.x + h(1, 1) * p.y + h(1, 2)) / w);
  return true;
}

// Projects a rectangle; false when a corner goes through the horizon or the
// image is not a convex, consistently oriented quad.
bool ProjectRect(const cv::Matx33d& h, const cv::Rect2d& r, std::vector<cv::Point2f>* quad) {
  const cv::Point2d corners[4] = {{r.x, r.y}, {r.x + r.width, r.y}, {r.x + r.width, r.y + r.height}, {r.x, r.y + r.height}};
  quad->clear();
  for (const cv::Point2d& c : corners) {
    cv::Point2d p;
    if (!Project(h, c, &p)) return false;
    quad->emplace_back(float(p.x), float(p.y));
  }
  double sign = 0;
  for (int i = 0; i < 4; ++i) {
    const cv::Point2f a = (*quad)[size_t(i)], b = (*quad)[size_t((i + 1) % 4)], c = (*quad)[size_t((i + 2) % 4)];
    const double cross = double(b.x - a.x) * (c.y - b.y) - double(b.y - a.y) * (c.x - b.x);
    if (std::fabs(cross) < 1e-9) return false;
    if (sign == 0) sign = cross;
    else if ((cross > 0) != (sign > 0)) return false;
  }
  return sign > 0;  // image y points down: a kept orientation turns clockwise, positive here
}

}  // namespace

Verification VerifyHomography(const LocalFeatures& query, const FrameFeaturesView& reference, cv::Size reference_size,
                              const VerifierOptions& options) {
  Verification v;
  if (query.size() < 4 || reference.count < 4 || reference_size.area() <= 0) return v;
  if (query.descriptors.cols != kFeatureBytes || query.descriptors.type() != CV_8U) return v;
  // Each query descriptor's two nearest reference descriptors (a brute-force
  // scan over the reference's descriptors, which lie back to back, by the
  // kernel of index/hamming.h: OpenCV's BFMatcher computed the same pairs
  // through a library call per pair, most of a verification's time), the ratio test,
  // then the best match per reference keypoint. Ties keep the lower
  // reference index, as BFMatcher did.
  std::unordered_map<int, cv::DMatch> by_ref;
  for (int q = 0; q < query.descriptors.rows; ++q) {
    const NearestTwo n = HammingNearestTwo32(query.descriptors.ptr(q), reference.descriptors, reference.count);
    const int best = n.best, second = n.second, best_ref = n.index;
    if (best_ref < 0 || best > options.max_descriptor_distance) continue;
    if (reference.count > 1 && best > options.ratio * second) continue;
    const cv::DMatch m(q, best_ref, float(best));
    auto [it, inserted] = by_ref.try_emplace(best_ref, m);
    if (!inserted && m.distance < it->second.distance) it->second = m;
  }
  std::vector<cv::Point2f> src, dst;
  for (const auto& [ref, m] : by_ref) {
    src.push_back(query.points[size_t(m.queryIdx)]);
    dst.push_back(reference.points[size_t(ref)]);
  }
  v.matches = int(src.size());
  if (v.matches < std::max(4, options.min_matches)) return v;

  const double threshold =
      std::max(2.0, options.reprojection_share * std::max(reference_size.width, reference_size.height));
  cv::Mat mask, h;
  try {
    // OpenCV's USAC (SPRT drops a bad hypothesis after a few matches, local
    // optimisation refines a good one) rather than plain RANSAC, which solved
    // an eigenproblem at each of its 2,000 iterations on a frame that cannot
    // verify: bench/RESULTS.md, the unheld 1080p frames 228 -> 108 ms a file.
    h = cv::findHomography(src, dst, cv::USAC_DEFAULT, threshold, mask, 2000, 0.995);
  } catch (const cv::Exception&) {
    return v;
  }
  if (h.empty() || mask.empty()) return v;
  cv::Matx33d H;
  h.convertTo(cv::Mat(3, 3, CV_64F, H.val), CV_64F);
  v.homography = H;

  // Inliers, counted once per query and reference position (ORB can place
  // keypoints of several pyramid levels on one spot).
  std::set<std::pair<int, int>> q_spots, r_spots;
  std::vector<cv::Point2f> q_in, r_in;  // the inlier pairs themselves
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  for (int i = 0; i < mask.rows; ++i) {
    if (!mask.at<uint8_t>(i)) continue;
    q_in.push_back(src[size_t(i)]);
    r_in.push_back(dst[size_t(i)]);
    q_spots.emplace(int(src[size_t(i)].x / 2), int(src[size_t(i)].y / 2));
    r_spots.emplace(int(dst[size_t(i)].x / 2), int(dst[size_t(i)].y / 2));
    x0 = std::min(x0, double(src[size_t(i)].x));
    y0 = std::min(y0, double(src[size_t(i)].y));
    x1 = std::max(x1, double(src[size_t(i)].x));
    y1 = std::max(y1, double(src[size_t(i)].y));
  }
  const cv::Rect2d q_box(x0, y0, x1 - x0, y1 - y0);  // the matched area of the query
  v.inliers = int(std::min(q_spots.size(), r_spots.size()));
  v.inlier_ratio = double(v.inliers) / std::max(1, v.matches);
  if (v.inliers < 4 || q_box.width < 1 || q_box.height < 1) return v;

  // The mapping near the matched area: its Jacobian at the inliers' centre.
  const cv::Point2d c(q_box.x + q_box.width / 2, q_box.y + q_box.height / 2);
  const double w = H(2, 0) * c.x + H(2, 1) * c.y + H(2, 2);
  if (w <= 1e-9) return v;
  cv::Point2d pc;
  if (!Project(H, c, &pc)) return v;
  const cv::Matx22d J((H(0, 0) - pc.x * H(2, 0)) / w, (H(0, 1) - pc.x * H(2, 1)) / w,
                      (H(1, 0) - pc.y * H(2, 0)) / w, (H(1, 1) - pc.y * H(2, 1)) / w);
  const double det = J(0, 0) * J(1, 1) - J(0, 1) * J(1, 0);
  if (det <= 0) return v;  // mirrored: not a copy of the reference as it is
  cv::Mat sv;
  cv::SVD::compute(cv::Mat(J), sv, cv::SVD::NO_UV);
  const double s1 = sv.at<double>(0), s2 = sv.at<double>(1);
  const double scale = std::sqrt(det);  // reference px per query px
  if (s2 <= 0 || s1 / s2 > options.max_anisotropy) return v;
  if (1.0 / scale < options.min_scale || 1.0 / scale > options.max_scale) return v;
  std::vector<cv::Point2f> quad;
  if (!ProjectRect(H, q_box, &quad)) return v;

  const cv::Rect2d frame(0, 0, reference_size.width, reference_size.height);
  // The region the whole query shows. The homography is only pinned down
  // near its inliers: its perspective terms, fitted to a cluster of
  // keypoints, swing the far corners of a crop outwards (a half-frame Sintel
  // crop came out 14% too wide under USAC). When the inliers are a copy at
  // one scale (crops, sheets, re-encodes: a similarity, fitted by least
  // median of squares, keeps kSimilarityInliers of them within the
  // threshold) it maps the corners; a stretched copy (a display-aspect
  // change) is mapped by the homography's affine part at the inliers'
  // centre. On 48 placed crops of the four productions (bench/RESULTS.md)
  // the similarity roughly halves the width error (90th percentile 2.0% ->
  // 1.1%); a full affine fit wanders with clustered inliers.
  cv::Matx23d similarity;
  bool one_scale = false;
  if (cv::Mat m = cv::estimateAffinePartial2D(q_in, r_in, cv::noArray(), cv::LMEDS); !m.empty()) {
    similarity = cv::Matx23d(m);
    size_t kept = 0;
    for (size_t i = 0; i < q_in.size(); ++i) {
      const cv::Vec3d p(q_in[i].x, q_in[i].y, 1);
      const cv::Vec2d mapped = similarity * p;
      if (std::hypot(mapped[0] - r_in[i].x, mapped[1] - r_in[i].y) <= threshold) ++kept;
    }
    one_scale = kept >= kSimilarityInliers * double(q_in.size());
  }
  std::vector<cv::Point2f> whole;
  for (const cv::Point2d corner : {cv::Point2d(0, 0), cv::Point2d(query.width, 0), cv::Point2d(0, query.height),
                                   cv::Point2d(query.width, query.height)}) {
    cv::Vec2d at;
    if (one_scale) {
      at = similarity * cv::Vec3d(corner.x, corner.y, 1);
    } else {
      const cv::Vec2d d = J * cv::Vec2d(corner.x - c.x, corner.y - c.y);
      at = cv::Vec2d(pc.x + d[0], pc.y + d[1]);
    }
    whole.emplace_back(float(at[0]), float(at[1]));
  }
  v.region = cv::Rect2d(cv::boundingRect(whole)) & frame;
  v.region_share = v.region.area() / frame.area();
  v.geometry_ok = v.region.area() > 0;
  return v;
}

}  // namespace celmatch
