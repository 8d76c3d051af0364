// Matcher's embedding step for image queries: the learned embedding proposes
// reference frames PDQ and local-feature retrieval did not find (line art,
// recolouring, blur and noise, a missing layer move PDQ too far, and spread
// the query's local features too thin for descriptor voting to single out
// the frame), and verification decides: local features (the same RANSAC
// test, the same threshold, the same inlier-calibrated score as the rest of
// the cascade), the pixels at the place a weaker homography puts a crop on
// the frame (Matcher::PlacedPixels, the local-feature step's rule), or, for a picture that covers the frame's whole field, the
// agreement of their edge layouts (match/edge_layout.h), which survives
// grading, blur, noise and redrawing as lines where keypoints do not. The
// embedding's similarity alone never makes a match: unrelated frames reach
// similarities that true copies under heavy damage do not (models/README.md),
// so no threshold on it alone keeps distractors out. The edge layout alone
// would not either over a whole index; over the few proposed frames it does.
#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <opencv2/imgcodecs.hpp>

#include <opencv2/core.hpp>

#include "match/edge_layout.h"
#include "match/matcher.h"
#include "match/thumbnails.h"
#include "signatures/local_features.h"

namespace celmatch {

void Matcher::AddEmbeddingMatches(const cv::Mat& bgr, const cv::Mat& small, const QueryFeatures& query,
                                  const PdqHash& query_hash, std::vector<Match>* matches,
                                  std::vector<int64_t>* candidates,
                                  std::vector<int64_t>* region_candidates) const {
  // Proposed from the reduced picture when there is one: the network's
  // 128-pixel input costs a fraction of reducing the whole picture.
  // A model that fails on this picture proposes nothing (the other steps' answer stands).
  Result<std::map<int64_t, EmbeddingCandidate>> proposed =
      EmbeddingCandidates(index_, options_, small.empty() ? bgr : small);
  if (!proposed.ok() || proposed->empty()) return;
  std::vector<std::pair<float, int64_t>> by_region;
  for (const auto& [frame_id, how] : *proposed) {
    if (how.mirrored) continue;
    if (how.by_region) by_region.emplace_back(how.similarity, frame_id);
    else candidates->push_back(frame_id);
  }
  std::sort(by_region.begin(), by_region.end(), std::greater<>());
  for (const auto& [similarity, frame_id] : by_region) region_candidates->push_back(frame_id);
  std::set<int64_t> matched_sources;
  for (const Match& m : *matches) matched_sources.insert(m.source_id);

  // Edge layouts of the picture and its mirror, made when first needed.
  const double aspect = double(bgr.cols) / bgr.rows;
  EdgeLayout layouts[2];
  auto layout_agreement = [&](int64_t frame_id, bool mirrored) -> double {
    if (options_.embedding_min_layout > 1) return 0;
    const SourceRecord& src = index_.source(index_.frame(frame_id).source_id);
    if (src.height <= 0 || !CelPixelSearch::SameField(aspect, double(src.width) / src.height)) return 0;
    // A line drawing is compared stroke for stroke with the frame's own line
    // drawing; any other picture by its gradients.
    EdgeLayout& mine = layouts[mirrored ? 1 : 0];
    if (mine.empty()) {
      cv::Mat picture;  // a new buffer for the mirror: the query's pixels stay as they are
      if (mirrored) cv::flip(bgr, picture, 1);
      else picture = bgr;
      mine = query.line_art ? EdgeLayout::OfStrokes(picture) : EdgeLayout::Of(picture);
    }
    Result<cv::Mat> thumb =
        DecodedThumbnail(index_, frame_id, query.line_art ? cv::IMREAD_COLOR : cv::IMREAD_GRAYSCALE);
    if (!thumb.ok() || thumb->empty()) return 0;
    return mine.Agreement(query.line_art ? EdgeLayout::OfStrokes(LineRepresentation(*thumb)) : EdgeLayout::Of(*thumb));
  };

  // Per source, the best accepted frame: verified by local features (most
  // inliers), then placed by a weaker homography and agreeing by its pixels
  // there (best correlation), then accepted by layout (best agreement).
  struct Accepted {
    VerifiedFrame verified;
    bool by_features = false;
    double pixels = 0;  // the placed-pixel correlation, when that accepted it
    double layout = 0;
    bool operator>(const Accepted& o) const {
      if (by_features != o.by_features) return by_features;
      if (by_features) return verified.verification.inliers > o.verified.verification.inliers;
      if ((pixels > 0) != (o.pixels > 0)) return pixels > 0;
      return pixels > 0 ? pixels > o.pixels : layout > o.layout;
    }
  };
  std::map<int64_t, Accepted> best_of_source;
  std::set<int64_t> accepted_frames;
  auto accept = [&](const Accepted& a) {
    accepted_frames.insert(a.verified.frame_id);
    auto [it, inserted] = best_of_source.try_emplace(index_.frame(a.verified.frame_id).source_id, a);
    if (!inserted && a > it->second) it->second = a;
  };
  cv::Mat mirror;
  int placed_compared = 0;
  for (const auto& [frame_id, how] : *proposed) {
    if (how.by_region || matched_sources.count(index_.frame(frame_id).source_id)) continue;
    Accepted a;
    a.verified = features_.Verify(query, frame_id, how.mirrored);
    a.by_features = features_.Accepts(a.verified);
    if (!a.by_features) {
      a.layout = layout_agreement(frame_id, how.mirrored);
      if (a.layout < options_.embedding_min_layout) {
        // A picture a weaker homography places on the frame (a crop): its
        // pixels at that place decide, by the local-feature step's rule.
        a.layout = 0;
        if (!features_.Places(a.verified) || placed_compared >= kPlacedFramesCompared) continue;
        ++placed_compared;
        const std::optional<double> c = PlacedPixels(bgr, &mirror, a.verified);
        if (!c) continue;
        a.pixels = *c;
      }
    }
    accept(a);
  }

  // A frame accepted by its layout may show a picture other sources show too
  // (an intro all episodes share): those are compared as well.
  std::map<int64_t, bool> duplicates;  // frame -> mirrored; each compared once
  for (const auto& [source_id, a] : best_of_source) {
    if (a.by_features || a.pixels > 0) continue;
    for (int64_t frame_id : SharedPictureFrames(a.verified.frame_id)) {
      const int64_t other = index_.frame(frame_id).source_id;
      if (!best_of_source.count(other) && !matched_sources.count(other))
        duplicates.try_emplace(frame_id, a.verified.mirrored);
    }
  }
  for (const auto& [frame_id, mirrored] : duplicates) {
    Accepted a;
    a.verified.frame_id = frame_id;
    a.verified.mirrored = mirrored;
    a.layout = layout_agreement(frame_id, mirrored);
    if (a.layout >= options_.embedding_min_layout) accept(a);
  }

  for (const auto& entry : best_of_source) {
    const VerifiedFrame& v = entry.second.verified;
    // Accepted neighbours in time widen the span, as for the other steps.
    Match m = MatchAtFrame(v.frame_id, [&](int64_t id) { return accepted_frames.count(id) > 0; });
    m.evidence.pdq_distance = index_.frame(v.frame_id).pdq.Distance(query_hash);
    m.evidence.transform = v.mirrored ? "flip_x" : "original";
    if (entry.second.by_features) {
      m.score = decider_.ScoreForInliers(v.verification.inliers);
      SetVerification(v, &m);
    } else if (entry.second.pixels > 0) {
      SetVerification(v, &m);
      m.evidence.pixel_correlation = entry.second.pixels;
      m.score = decider_.Score(m.evidence);
    } else {
      m.score = Decider::ScoreAboveThreshold(entry.second.layout, options_.embedding_min_layout);
      m.evidence.edge_layout = entry.second.layout;
    }
    m.evidence.found_by = "embedding";
    matches->push_back(std::move(m));
  }
  Decider::Rank(matches);
}

}  // namespace celmatch
