// FeatureMatcher: the local-feature path of matching, beside PDQ.
//
//   Describe   query picture -> ORB features (only in its opaque pixels when
//              it has alpha), plus the mirrored picture's, and whether it
//              looks like line art;
//   Retrieve   descriptors vote for reference frames (index/feature_index.h)
//              in the colour layer, and for line-art queries also in the
//              line layer; the most-voted frames are verified
//              (match/geometric_verifier.h), mirrored features only when the
//              picture as it is found nothing;
//   Verify     one given frame (a PDQ candidate), so verification can
//              confirm it and say which region it shows.
//
// A verified frame's score is calibrated on its inliers: 0.5 at
// `min_inliers` (the decision threshold, chosen on unrelated footage: see
// README "Calibration"), 1.0 from 3x that.
//
// Thread-safe: const methods may run on many threads at once.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "index/reference_index.h"
#include "match/geometric_verifier.h"
#include "signatures/local_features.h"

namespace celmatch {

struct FeatureMatchOptions {
  int query_max_features = 1500;   // a sheet or player screenshot spends many on its chrome
  int query_max_side = 1024;
  int neighbors = 8;               // reference descriptors per query descriptor (held shots repeat a frame)
  int max_descriptor_distance = 64;
  int verify_frames = 8;           // most-voted frames verified
  int min_votes = 6;               // frames with fewer votes are not worth verifying
  int min_inliers = 16;            // the decision threshold (score 0.5)
  bool try_flip = true;
  VerifierOptions verifier;
};

struct QueryFeatures {
  LocalFeatures features;          // the picture as it is
  LocalFeatures mirrored;          // flipped left-right (points in the mirrored picture's pixels)
  bool line_art = false;
};

struct VerifiedFrame {
  int64_t frame_id = -1;
  int votes = 0;
  FeatureLayer layer = FeatureLayer::kColor;
  bool mirrored = false;
  Verification verification;
};

class FeatureMatcher {
 public:
  FeatureMatcher(const ReferenceIndex& index, FeatureMatchOptions options);

  // `alpha`: CV_8UC1 of the picture's size (255 opaque) or empty.
  QueryFeatures Describe(const cv::Mat& bgr, const cv::Mat& alpha) const;

  // Verified frames with at least min_inliers inliers, best first.
  std::vector<VerifiedFrame> Retrieve(const QueryFeatures& query) const;

  // Verification of one frame (the picture as it is, or mirrored when
  // `mirrored`), in the layer the query's kind calls for.
  VerifiedFrame Verify(const QueryFeatures& query, int64_t frame_id, bool mirrored) const;

  // 0..1, 0.5 at min_inliers.
  double ScoreForInliers(int inliers) const;
  bool Accepts(const VerifiedFrame& v) const {
    return v.verification.geometry_ok && v.verification.inliers >= options_.min_inliers;
  }

  const FeatureMatchOptions& options() const { return options_; }

 private:
  std::vector<VerifiedFrame> RetrieveOne(const LocalFeatures& f, bool mirrored, bool line_art) const;
  VerifiedFrame VerifyIn(const LocalFeatures& f, int64_t frame_id, FeatureLayer layer, bool mirrored) const;

  const ReferenceIndex& index_;
  FeatureMatchOptions options_;
};

}  // namespace celmatch
