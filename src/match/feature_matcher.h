// FeatureMatcher: the local-feature path of matching, beside PDQ.
//
//   Describe   query picture -> ORB features (only in its opaque pixels when
//              it has alpha; line art at the index's feature scale), and
//              whether it looks like line art; the mirrored picture's
//              features are made on first use (Mirrored);
//   Retrieve   descriptors vote for reference frames through visual words
//              (index/feature_index.h)
//              in the colour layer, and for line-art queries also in the
//              line layer; the most-voted frames are verified
//              (match/geometric_verifier.h), mirrored features only when the
//              picture as it is found nothing, then (when none verified)
//              the redrawn strokes of lines on paper (Redrawn) and the
//              votes of the picture described at half its size (Coarser);
//   Verify     one given frame (a PDQ candidate), so verification can
//              confirm it and say which region it shows.
//
// A verified frame's score is calibrated on its inliers (Decider::
// ScoreForInliers): 0.5 at `min_inliers` (the decision threshold, chosen on
// unrelated footage: see README "Calibration"), 0.75 at twice that,
// approaching 1 without reaching it, so more inliers always rank higher.
//
// Thread-safe: const methods may run on many threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include <opencv2/core.hpp>

#include "index/reference_index.h"
#include "match/geometric_verifier.h"
#include "signatures/local_features.h"

namespace celmatch {

struct FeatureMatchOptions {
  int query_max_features = 1500;   // a sheet or player screenshot spends many on its chrome
  int query_max_side = 1024;  // see also Matcher::kFeatureDecodeMinSide
  // Descriptors that vote in retrieval, the first ones of the query's; all
  // of them are used in verification. Voting costs in proportion to this.
  // 0 = all: keypoints come level by level when fewer than
  // query_max_features were found, so a prefix would drop the coarse
  // scales a crop matches at (measured: crop25 recall 89% -> 50% at 1000).
  int vote_max_features = 0;
  int neighbors = 8;               // reference descriptors per query descriptor (held shots repeat a frame)
  int max_descriptor_distance = 64;
  // A query descriptor's neighbours are sought among the reference
  // descriptors filed under its this many nearest visual words
  // (index/feature_index.h); more finds more of the true neighbours, at a
  // proportional cost (bench/RESULTS.md, `celmatch bench shortlist`).
  int vote_word_beam = 2;
  // The same in the line layer, whose descriptors (thin strokes, queries
  // often small or cropped) scatter over more words: on the leak benchmark's
  // 192 lineart_crop, lineart_small and blank_crop files, 8 placed 96 where
  // 2 placed 87, for 30% more time on those files; 16 placed no more
  // (bench/RESULTS.md).
  int line_vote_word_beam = 8;
  // A query with few descriptors (a small crop, a cel, a mostly blanked
  // frame) searches more words for each, up to this many words a query in
  // all: its beam is vote_word_budget / descriptors, at least the layer's
  // beam above and at most max_vote_word_beam. A full query (1,500
  // descriptors) keeps beam 2.
  int vote_word_budget = 3000;
  int max_vote_word_beam = 16;
  int verify_frames = 8;           // most-voted frames verified
  int min_votes = 6;               // frames with fewer votes are not worth verifying
  int min_inliers = 16;            // the decision threshold (score 0.5)
  // A homography with fewer inliers than min_inliers but at least these
  // still places the picture on a frame: Retrieve reports such frames
  // (`placed`) for a pixel comparison at that place (PlacedPixelCorrelation),
  // which decides alone. A half-size crop sees a quarter of a frame's 400
  // reference keypoints and often verifies with 8-15.
  int min_placing_inliers = 8;
  bool try_flip = true;
  // Retrieval also tries the mirrored picture unless the picture as it is
  // verified with at least this many inliers.
  int conclusive_inliers = 64;
  VerifierOptions verifier;
};

// A query's features. The mirrored picture's are computed on first use
// (FeatureMatcher::Mirrored): most queries never need them. One query is
// used by one thread.
struct QueryFeatures {
  LocalFeatures features;          // the picture as it is
  bool line_art = false;
  bool has_alpha = false;          // described only where opaque (a cel)
  double opaque_share = 1.0;       // opaque area / picture area
  // Inputs of the mirrored description, and its result once made.
  cv::Mat image, mask;
  LocalFeatureExtractor::WorkPicture work;  // the reduced picture both descriptions use
  mutable bool mirrored_ready = false;
  mutable LocalFeatures mirrored;  // flipped left-right (points in the mirrored picture's pixels)
  // Made only when neither description verifies, and only for pictures that
  // look like lines on paper (LooksLikeLinesOnPaper): the picture redrawn as
  // reference line layers are (CanonicalLineArt), searched in both layers;
  // points in the redrawn picture's pixels.
  mutable bool redrawn_ready = false;
  mutable LocalFeatures redrawn;
  // Made only when neither description verifies: the picture described at
  // half its working size (points in the picture's pixels), to vote. A crop
  // shown larger than reference frames are described (a half-size crop at
  // its source's resolution is at twice their scale) spends most of its
  // keypoints on pyramid levels finer than any reference keypoint's, and
  // too few of them vote for its frame; verified, they still place it.
  mutable bool coarser_ready = false;
  mutable LocalFeatures coarser;
  // Verifications made so far, by description (one of the above), frame and
  // layer: the steps verify some frames more than once (a voted frame the
  // embedding proposes again, the half-size description's votes checked
  // with the picture as it is).
  mutable std::map<std::tuple<const LocalFeatures*, int64_t, int>, Verification> verifications;
  // LooksLikeLines, made on first use.
  mutable std::optional<bool> looks_like_lines;
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

  // Verified frames with at least min_inliers inliers, best first. When
  // `placed` is given, it receives the frames whose homography passed its
  // checks with min_placing_inliers up to min_inliers inliers, best first,
  // found by the picture as it is or mirrored (points in the query's pixels
  // or its mirror's). When `voted` is given, it receives the frames the
  // picture as it is (and its redrawn lines, when those were searched)
  // voted for and verified, placed or not, layer by layer, most voted first
  // (candidates for a search of their pixels or their lines).
  std::vector<VerifiedFrame> Retrieve(const QueryFeatures& query, std::vector<VerifiedFrame>* placed = nullptr,
                                      std::vector<int64_t>* voted = nullptr) const;

  // Verification of one frame (the picture as it is, or mirrored when
  // `mirrored`), in the layer the query's kind calls for.
  VerifiedFrame Verify(const QueryFeatures& query, int64_t frame_id, bool mirrored) const;
  // The same, and when that is not accepted, with the redrawn lines too if
  // Retrieve described them: every description Retrieve may have verified
  // a frame with.
  VerifiedFrame VerifyAsRetrieved(const QueryFeatures& query, int64_t frame_id, bool mirrored) const;

  // Reference frames most voted for by `query`'s descriptors in the colour
  // layer, however few votes (a cel's candidates), at most `max_frames`.
  std::vector<FrameVotes> VotedFrames(const QueryFeatures& query, int max_frames) const;

  // Visual words searched for each of a query's `descriptors` in `layer`
  // (the options' beams, and their budget unless `word_budget` is given).
  int WordBeam(int descriptors, FeatureLayer layer, int word_budget = -1) const;

  // The mirrored picture's features (computed once, on first call).
  const LocalFeatures& Mirrored(const QueryFeatures& query) const;
  // The redrawn description of lines on paper (QueryFeatures::redrawn), made on first use.
  const LocalFeatures& Redrawn(const QueryFeatures& query) const;
  // The half-size description (QueryFeatures::coarser), made on first use;
  // empty when the halved picture's longer side would be under
  // kMinCoarserSide.
  const LocalFeatures& Coarser(const QueryFeatures& query) const;
  static constexpr int kMinCoarserSide = 160;
  // Line art, or lines on paper in the wider sense (LooksLikeLinesOnPaper),
  // for an opaque picture: what is redrawn, and what the line-drawing step
  // compares. Decided once per query.
  bool LooksLikeLines(const QueryFeatures& query) const;

  bool Accepts(const VerifiedFrame& v) const {
    return v.verification.geometry_ok && v.verification.inliers >= options_.min_inliers;
  }
  // Placed but not accepted: a homography with min_placing_inliers up to
  // min_inliers inliers (Retrieve's `placed`).
  bool Places(const VerifiedFrame& v) const {
    return v.verification.geometry_ok && v.verification.inliers >= options_.min_placing_inliers && !Accepts(v);
  }

  const FeatureMatchOptions& options() const { return options_; }

 private:
  // `f`'s descriptors vote (`word_budget`: WordBeam's budget for them);
  // the most-voted frames are verified with `verifying` (`f` itself, or
  // the same picture's finer description).
  std::vector<VerifiedFrame> RetrieveOne(const QueryFeatures& query, const LocalFeatures& f,
                                         const LocalFeatures& verifying, bool mirrored,
                                         bool line_art, int word_budget, std::vector<VerifiedFrame>* placed,
                                         std::vector<int64_t>* voted = nullptr) const;
  LocalFeatureExtractor QueryExtractor(bool line_art) const;
  // `f`: one of `query`'s descriptions; verified once per frame and layer.
  VerifiedFrame VerifyIn(const QueryFeatures& query, const LocalFeatures& f, int64_t frame_id, FeatureLayer layer,
                         bool mirrored) const;

  const ReferenceIndex& index_;
  FeatureMatchOptions options_;
};

}  // namespace celmatch
