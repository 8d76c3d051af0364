// Geometric verification: do a query's local features and a reference
// frame's agree on one plane-to-plane mapping (a homography)? Chance
// descriptor matches between unrelated pictures scatter; a crop, a frame on
// a sheet, in a player window, rotated or squashed, keeps dozens of them on
// one homography. The homography also says which part of the reference
// frame the query shows (`region`).
//
// Steps: nearest-neighbour descriptor matching with Lowe's ratio test, one
// match per reference keypoint, a RANSAC homography (OpenCV's USAC), then checks
// that the mapping is one a copy could have undergone: orientation kept (a
// mirrored copy is verified by flipping the query first), scale within
// bounds, moderate anisotropy (squash), a convex image of the matched area.
//
// Thread-safe (no state).
#pragma once

#include <opencv2/core.hpp>

#include "index/feature_index.h"
#include "signatures/local_features.h"

namespace celmatch {

struct VerifierOptions {
  int max_descriptor_distance = 64;  // bits of 256; unrelated ORB descriptors sit near 128
  double ratio = 0.8;                // best / second-best distance (Lowe's test)
  // RANSAC inlier threshold as a share of the reference's longer side
  // (1% = 12.8 px on a 1280 px frame, 3.2 px at the 320 px feature scale).
  double reprojection_share = 0.01;
  int min_matches = 8;               // below this no homography is fitted
  double min_scale = 0.05;           // query px per reference px, at the matched area
  double max_scale = 20;
  double max_anisotropy = 3;         // ratio of the mapping's singular values
};

struct Verification {
  int matches = 0;           // putative matches
  int inliers = 0;           // distinct keypoints consistent with the homography
  double inlier_ratio = 0;   // inliers / matches
  bool geometry_ok = false;  // a homography was found and passed the checks
  cv::Matx33d homography = cv::Matx33d::eye();  // query pixels -> reference pixels
  cv::Rect2d region;         // the reference frame's part the query shows (reference pixels)
  double region_share = 0;   // region area / reference frame area
};

// `reference_size`: the reference frame's size in the pixels of its points.
Verification VerifyHomography(const LocalFeatures& query, const FrameFeaturesView& reference,
                              cv::Size reference_size, const VerifierOptions& options = {});

}  // namespace celmatch
