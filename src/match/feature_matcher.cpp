#include "match/feature_matcher.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

namespace celmatch {

namespace {

bool Better(const VerifiedFrame& a, const VerifiedFrame& b) {
  if (a.verification.geometry_ok != b.verification.geometry_ok) return a.verification.geometry_ok;
  if (a.verification.inliers != b.verification.inliers) return a.verification.inliers > b.verification.inliers;
  return a.frame_id < b.frame_id;
}

}  // namespace

FeatureMatcher::FeatureMatcher(const ReferenceIndex& index, FeatureMatchOptions options)
    : index_(index), options_(options) {}

QueryFeatures FeatureMatcher::Describe(const cv::Mat& bgr, const cv::Mat& alpha) const {
  QueryFeatures q;
  LocalFeatureOptions o;
  o.max_features = options_.query_max_features;
  o.work_max_side = options_.query_max_side;
  const LocalFeatureExtractor extractor(o);
  cv::Mat mask;
  if (!alpha.empty() && alpha.size() == bgr.size()) {
    cv::threshold(alpha, mask, 127, 255, cv::THRESH_BINARY);
    if (cv::countNonZero(mask) == int(mask.total())) mask.release();  // opaque everywhere
  }
  q.line_art = mask.empty() && LooksLikeLineArt(bgr);
  q.features = extractor.Extract(bgr, mask);
  if (options_.try_flip) {
    cv::Mat flipped, flipped_mask;
    cv::flip(bgr, flipped, 1);
    if (!mask.empty()) cv::flip(mask, flipped_mask, 1);
    q.mirrored = extractor.Extract(flipped, flipped_mask);
  }
  return q;
}

double FeatureMatcher::ScoreForInliers(int inliers) const {
  const double t = std::max(1, options_.min_inliers);
  if (inliers < t) return 0.5 * inliers / t;
  return std::min(1.0, 0.5 + 0.5 * (inliers - t) / (2 * t));
}

VerifiedFrame FeatureMatcher::VerifyIn(const LocalFeatures& f, int64_t frame_id, FeatureLayer layer,
                                       bool mirrored) const {
  VerifiedFrame out;
  out.frame_id = frame_id;
  out.layer = layer;
  out.mirrored = mirrored;
  const FrameRecord& fr = index_.frame(frame_id);
  const SourceRecord& src = index_.source(fr.source_id);
  out.verification = VerifyHomography(f, index_.features(layer).frame(frame_id), cv::Size(src.width, src.height),
                                      options_.verifier);
  return out;
}

VerifiedFrame FeatureMatcher::Verify(const QueryFeatures& q, int64_t frame_id, bool mirrored) const {
  const LocalFeatures& f = mirrored ? q.mirrored : q.features;
  VerifiedFrame best = VerifyIn(f, frame_id, FeatureLayer::kColor, mirrored);
  if (q.line_art) {
    VerifiedFrame line = VerifyIn(f, frame_id, FeatureLayer::kLine, mirrored);
    if (Better(line, best)) best = line;
  }
  return best;
}

std::vector<VerifiedFrame> FeatureMatcher::RetrieveOne(const LocalFeatures& f, bool mirrored, bool line_art) const {
  std::vector<VerifiedFrame> out;
  if (f.size() < 4) return out;
  std::vector<FeatureLayer> layers = {FeatureLayer::kColor};
  if (line_art) layers.push_back(FeatureLayer::kLine);
  for (FeatureLayer layer : layers) {
    const std::vector<FrameVotes> votes = index_.features(layer).Vote(
        f.descriptors, options_.neighbors, options_.max_descriptor_distance, options_.verify_frames);
    for (const FrameVotes& fv : votes) {
      if (fv.votes < options_.min_votes) break;
      VerifiedFrame v = VerifyIn(f, fv.frame_id, layer, mirrored);
      v.votes = fv.votes;
      if (Accepts(v)) out.push_back(v);
    }
  }
  return out;
}

std::vector<VerifiedFrame> FeatureMatcher::Retrieve(const QueryFeatures& q) const {
  std::vector<VerifiedFrame> out = RetrieveOne(q.features, false, q.line_art);
  if (out.empty() && options_.try_flip) out = RetrieveOne(q.mirrored, true, q.line_art);
  std::sort(out.begin(), out.end(), Better);
  return out;
}

}  // namespace celmatch
