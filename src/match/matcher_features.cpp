// Matcher's local-feature step for image queries: verify what PDQ proposed,
// find by local features what PDQ did not, and merge both into one list of
// matches (one per source) under one score.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "match/line_drawing.h"
#include "match/matcher.h"
#include "match/thumbnails.h"

namespace celmatch {

namespace {

constexpr int kCelVotedFrames = 32;            // candidates from feature votes
constexpr double kCelNeighbourhood_s = 2.0;    // frames around each candidate
constexpr int kMaxCelFrames = 240;             // thumbnails compared at most
constexpr int kCelSearchedFrames = 8;          // candidates from the whole-index search
constexpr double kCelSearchNeighbourhood_s = 1.0;

}  // namespace

void Matcher::SetVerification(const VerifiedFrame& v, Match* m) {
  m->evidence.inliers = v.verification.inliers;
  m->evidence.inlier_ratio = v.verification.inlier_ratio;
  m->evidence.feature_layer = FeatureLayerName(v.layer);
  m->has_region = v.verification.geometry_ok;
  m->region[0] = v.verification.region.x;
  m->region[1] = v.verification.region.y;
  m->region[2] = v.verification.region.width;
  m->region[3] = v.verification.region.height;
}

std::optional<double> Matcher::PlacedPixels(const cv::Mat& bgr, cv::Mat* mirror, const VerifiedFrame& v) const {
  if (v.layer != FeatureLayer::kColor || !features_.Places(v)) return std::nullopt;  // line art has no colour pixels
  const SourceRecord& src = index_.source(index_.frame(v.frame_id).source_id);
  Result<cv::Mat> thumb = DecodedThumbnail(index_, v.frame_id, cv::IMREAD_COLOR);
  if (!thumb.ok() || thumb->empty()) return std::nullopt;
  if (v.mirrored && mirror->empty()) cv::flip(bgr, *mirror, 1);
  const std::optional<double> c = PlacedPixelCorrelation(v.mirrored ? *mirror : bgr, v.verification.homography,
                                                         cv::Size(src.width, src.height), *thumb);
  if (!c || *c < kMinCelCorrelation) return std::nullopt;
  return c;
}

bool Matcher::ShowsWholeFrame(const Match& m) const {
  if (m.evidence.pixel_correlation > 0) return false;  // a cel: part of the frame, already timed by its pixels
  if (!m.has_region) return true;
  const SourceRecord& src = index_.source(m.source_id);
  const double area = double(src.width) * src.height;
  return area <= 0 || m.region[2] * m.region[3] >= 0.9 * area;
}

void Matcher::AddLocalFeatureMatches(const cv::Mat& bgr, const cv::Mat& alpha, const QueryFeatures& q,
                                     const PdqHash& query_hash, std::vector<Match>* matches,
                                     std::vector<int64_t>* candidates) const {
  // Verify PDQ's proposals, nearest first, at most verify_frames of them: a
  // verified one gains the region and the inliers' evidence in its score.
  bool confirmed = false;
  int verified = 0;
  for (Match& m : *matches) {
    if (verified++ >= options_.features.verify_frames) break;
    const bool mirrored = m.evidence.transform.rfind("flip", 0) == 0;  // the dihedral variants with a mirror
    const VerifiedFrame v = features_.Verify(q, m.evidence.frame_id, mirrored);
    if (!features_.Accepts(v)) continue;
    SetVerification(v, &m);
    m.score = decider_.Score(m.evidence);
    confirmed = true;
  }
  if (confirmed) {
    Decider::Rank(matches);
    return;
  }

  // Nothing confirmed: retrieve by local features. Frames come best first,
  // so the first verified frame of a source is its answer; the others of
  // that source widen its span when they are its neighbours in time.
  std::vector<VerifiedFrame> placed;
  std::vector<VerifiedFrame> found = features_.Retrieve(q, &placed, candidates);
  // Nothing verified with enough inliers: the frames a weaker homography
  // places the picture on are compared by their pixels at that place (a
  // crop of a frame sees few of its keypoints); the pixels decide.
  std::map<int64_t, double> placed_correlation;  // frame -> correlation, over the threshold
  if (found.empty()) {
    cv::Mat mirror;
    int compared = 0;
    for (const VerifiedFrame& v : placed) {
      if (v.layer != FeatureLayer::kColor) continue;
      if (compared++ >= kPlacedFramesCompared) break;
      const std::optional<double> c = PlacedPixels(bgr, &mirror, v);
      if (!c) continue;
      placed_correlation[v.frame_id] = *c;
      found.push_back(v);
    }
  }
  if (found.empty()) return;
  // A verified frame may show a picture other sources show too (an intro
  // all episodes share): those frames are verified as well, so that a tie
  // names the production rather than whichever episode the vote ranked
  // first. The best few verified frames only: a picture is rarely shared.
  {
    std::set<int64_t> sources, tried;
    for (const VerifiedFrame& v : found) sources.insert(index_.frame(v.frame_id).source_id);
    std::vector<VerifiedFrame> shared;
    for (size_t i = 0; i < found.size() && i < size_t(kSharedPictureFramesVerified); ++i) {
      const VerifiedFrame& v = found[i];
      if (!features_.Accepts(v)) continue;  // placed by its pixels: compared there only
      for (int64_t id : SharedPictureFrames(v.frame_id)) {
        if (sources.count(index_.frame(id).source_id) || !tried.insert(id).second) continue;
        const VerifiedFrame w = features_.VerifyAsRetrieved(q, id, v.mirrored);
        if (!features_.Accepts(w)) continue;
        sources.insert(index_.frame(id).source_id);
        shared.push_back(w);
      }
    }
    found.insert(found.end(), shared.begin(), shared.end());
  }
  std::map<int64_t, const VerifiedFrame*> best_of_source;
  std::map<int64_t, int> verified_frames;  // frame -> inliers
  for (const VerifiedFrame& v : found) {
    verified_frames[v.frame_id] = v.verification.inliers;
    best_of_source.try_emplace(index_.frame(v.frame_id).source_id, &v);
  }
  for (const auto& entry : best_of_source) {
    // Plain names, not a structured binding: clang 14 cannot capture those in
    // the lambda below (the fuzz and sanitizer builds use clang).
    const int64_t source_id = entry.first;
    const VerifiedFrame* v = entry.second;
    Match m = MatchAtFrame(v->frame_id, [&](int64_t id) { return verified_frames.count(id) > 0; });
    m.evidence.pdq_distance = index_.frame(v->frame_id).pdq.Distance(query_hash);
    m.evidence.transform = v->mirrored ? "flip_x" : "original";
    SetVerification(*v, &m);
    if (auto c = placed_correlation.find(v->frame_id); c != placed_correlation.end())
      m.evidence.pixel_correlation = c->second;
    m.score = decider_.Score(m.evidence);
    auto existing = std::find_if(matches->begin(), matches->end(), [&](const Match& e) { return e.source_id == source_id; });
    if (existing != matches->end() && existing->score >= m.score) continue;
    m.evidence.query_quality = existing != matches->end() ? existing->evidence.query_quality : 0;
    if (existing != matches->end()) *existing = std::move(m);
    else matches->push_back(std::move(m));
  }
  Decider::Rank(matches);
}

void Matcher::AddLocatedPixelMatches(const cv::Mat& bgr, const cv::Mat& visible,
                                     const std::vector<int64_t>& region_candidates,
                                     const std::vector<int64_t>& step_candidates, const PdqHash& query_hash,
                                     std::vector<Match>* matches) const {
  std::vector<int64_t> candidates = region_candidates;
  candidates.insert(candidates.end(), step_candidates.begin(), step_candidates.end());
  if (candidates.empty() || bgr.empty()) return;
  // Reduced once: every place is searched at the thumbnails' scale.
  cv::Mat small = bgr, gray;
  const int side = std::max(bgr.cols, bgr.rows);
  if (side > kLocatedMaxSide) {
    const double f = double(kLocatedMaxSide) / side;
    cv::resize(bgr, small, cv::Size(), f, f, cv::INTER_AREA);
  }
  cv::Mat small_gray;
  cv::cvtColor(small, small_gray, cv::COLOR_BGR2GRAY);
  cv::resize(small_gray, gray, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
  // A blanked part (a missing layer) is left out of the search and of the
  // comparison: its flat colour would correlate with nothing.
  cv::Mat small_visible, visible_half;
  if (!visible.empty()) {
    small_visible = ReducedMask(visible, small.size());
    visible_half = ReducedMask(small_visible, gray.size());
  }
  // Each frame is searched at the same widths: the picture is reduced to each once.
  const ScaledGray coarse(gray, visible_half), sharp(small_gray, small_visible);
  const cv::Matx33d small_to_gray(0.5, 0, 0, 0, 0.5, 0, 0, 0, 1);
  struct Located {
    int64_t frame_id = -1;
    double correlation = 0;
    cv::Rect2d region;
  };
  std::map<int64_t, Located> best_of_source;
  std::set<int64_t> seen, agreeing;
  // Frame `id` compared: its place searched over the whole thumbnail, or
  // refined from `near` (a neighbouring frame's place, small picture ->
  // reference pixels), then its pixels there; an agreeing frame is kept.
  struct Placed {
    bool placed = false;                  // a place reached kMinCelCorrelation
    std::optional<double> correlation;    // its pixels there; none: too flat to compare
    cv::Matx33d h;                        // small picture -> reference pixels
  };
  auto compare = [&](int64_t id, const cv::Matx33d* near) -> Placed {
    Placed p;
    const SourceRecord& src = index_.source(index_.frame(id).source_id);
    Result<cv::Mat> thumb = DecodedThumbnail(index_, id, cv::IMREAD_COLOR);
    if (!thumb.ok() || thumb->empty()) return p;
    const cv::Size reference_size(src.width, src.height);
    cv::Mat thumb_gray;
    cv::cvtColor(*thumb, thumb_gray, cv::COLOR_BGR2GRAY);
    double ncc = -1;
    if (near) {
      p.h = RefinePlace(sharp, reference_size, thumb_gray, *near, &ncc);
    } else {
      // Searched at half the thumbnail's size (a quarter of the cost), then
      // refined and compared at its full size.
      cv::Mat half_gray;
      cv::resize(thumb_gray, half_gray, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
      const std::optional<cv::Matx33d> place = LocatePicture(coarse, reference_size, half_gray, &ncc);
      if (!place || ncc < kMinCoarseLocatedCorrelation) return p;
      p.h = RefinePlace(sharp, reference_size, thumb_gray, *place * small_to_gray, &ncc);
    }
    if (ncc < kMinCelCorrelation) return p;
    p.placed = true;
    p.correlation = PlacedPixelCorrelation(small, p.h, reference_size, *thumb, small_visible);
    if (!p.correlation || *p.correlation < kMinLocatedCorrelation) return p;
    agreeing.insert(id);
    const cv::Matx33d& h = p.h;
    Located l{id, *p.correlation, cv::Rect2d(h(0, 2), h(1, 2), h(0, 0) * small.cols, h(1, 1) * small.rows)};
    auto [it, inserted] = best_of_source.try_emplace(src.id, l);
    if (!inserted && l.correlation > it->second.correlation) it->second = l;
    return p;
  };
  // Placed frames whose pixels did not agree: the picture may come from a
  // frame next to them in time (a moving shot), reached below.
  struct NearMiss {
    double correlation;
    int64_t frame_id;
    cv::Matx33d place;
  };
  std::vector<NearMiss> near_misses;
  int compared = 0;
  for (int64_t id : candidates) {
    if (!seen.insert(id).second) continue;
    if (compared++ >= (visible.empty() ? kLocatedFramesCompared : kLocatedVisibleFramesCompared)) break;
    const Placed p = compare(id, nullptr);
    if (!p.placed) continue;
    // Too flat, or too little of it landing on the frame, to compare: with
    // nothing agreeing yet, nothing identifies it; a frame that already
    // agreed stands.
    if (!p.correlation) {
      if (best_of_source.empty()) return;
      break;
    }
    if (*p.correlation < kMinLocatedCorrelation) near_misses.push_back({*p.correlation, id, p.h});
  }
  // Each way in time from the best near misses, the place refined from the
  // near miss's, while the pixels agree better (ClimbAlongTime).
  std::sort(near_misses.begin(), near_misses.end(),
            [](const NearMiss& a, const NearMiss& b) { return a.correlation > b.correlation; });
  if (near_misses.size() > size_t(kLocatedClimbs)) near_misses.resize(kLocatedClimbs);
  for (const NearMiss& miss : near_misses) {
    ClimbAlongTime(index_, miss.frame_id, miss.correlation, kLocatedClimbPatience, kLocatedClimbReach,
                   [&](int64_t id) {
                     const Placed p = compare(id, &miss.place);
                     return p.placed && p.correlation ? *p.correlation : -1.0;
                   },
                   &seen);
  }
  for (const auto& entry : best_of_source) {
    const Located& l = entry.second;
    // A quiet region often stays the same over a shot: the frames that
    // agree as well widen the span, as in the other steps.
    Match m = MatchAtFrame(l.frame_id, [&](int64_t id) { return agreeing.count(id) > 0; });
    m.evidence.pdq_distance = index_.frame(l.frame_id).pdq.Distance(query_hash);
    m.evidence.transform = "original";
    m.evidence.pixel_correlation = l.correlation;
    m.has_region = true;
    m.region[0] = l.region.x;
    m.region[1] = l.region.y;
    m.region[2] = l.region.width;
    m.region[3] = l.region.height;
    m.score = decider_.Score(m.evidence);
    matches->push_back(std::move(m));
  }
  Decider::Rank(matches);
}

void Matcher::AddLineDrawingMatches(const cv::Mat& bgr, const std::vector<int64_t>& candidates,
                                    const PdqHash& query_hash, std::vector<Match>* matches) const {
  if (candidates.empty() || bgr.empty()) return;
  const double aspect = double(bgr.cols) / bgr.rows;
  std::map<std::pair<int, int>, LineDrawing> drawn;  // the picture's lines at each thumbnail size met
  // source -> (frame, agreement): the accepted frames, and every compared one
  std::map<int64_t, std::pair<int64_t, double>> best_of_source, compared_of_source;
  std::set<int64_t> seen, agreeing;
  // The agreement of the picture's lines with a frame's edges; -1 when the
  // picture has no lines to compare with any frame.
  auto agreement_with = [&](int64_t id) -> double {
    Result<cv::Mat> thumb = DecodedThumbnail(index_, id, cv::IMREAD_GRAYSCALE);
    if (!thumb.ok() || thumb->empty()) return 0;
    auto [mine, fresh] = drawn.try_emplace({thumb->cols, thumb->rows});
    if (fresh) mine->second = LineDrawing::OfStrokes(bgr, thumb->size());
    if (mine->second.empty()) return -1;
    return mine->second.Agreement(LineDrawing::OfFrame(*thumb));
  };
  auto keep_best = [&](std::map<int64_t, std::pair<int64_t, double>>* of_source, int64_t id, double agreement) {
    auto [it, inserted] = of_source->try_emplace(index_.frame(id).source_id, id, agreement);
    if (!inserted && agreement > it->second.second) it->second = {id, agreement};
  };
  // Compares frame `id`, keeping it as its source's best when it is;
  // returns the agreement (-1: the picture has no lines to compare).
  auto compare = [&](int64_t id) {
    const double agreement = agreement_with(id);
    if (agreement < 0) return agreement;
    keep_best(&compared_of_source, id, agreement);
    if (agreement >= kMinLineAgreement) {
      agreeing.insert(id);
      keep_best(&best_of_source, id, agreement);
    }
    return agreement;
  };
  int compared = 0;
  for (int64_t id : candidates) {
    if (!seen.insert(id).second) continue;
    const SourceRecord& src = index_.source(index_.frame(id).source_id);
    if (src.height <= 0 || !CelPixelSearch::SameField(aspect, double(src.width) / src.height)) continue;
    if (compared++ >= kLineFramesCompared) break;
    if (compare(id) < 0) return;
  }
  // A drawing of a moving shot often lies between the frames the other
  // steps proposed: the best-compared frame of each of the leading sources
  // and its neighbours in time.
  std::vector<std::pair<double, int64_t>> leaders;  // (agreement, frame)
  for (const auto& entry : compared_of_source) leaders.emplace_back(entry.second.second, entry.second.first);
  std::sort(leaders.rbegin(), leaders.rend());
  if (leaders.size() > size_t(kLineClimbSources)) leaders.resize(kLineClimbSources);
  for (const auto& [agreement, start] : leaders)
    ClimbAlongTime(index_, start, agreement, kLineClimbPatience, kLineClimbReach, compare, &seen);
  if (best_of_source.empty()) return;
  // An accepted frame may show a picture other sources show too (an intro
  // all episodes share): those are compared as well.
  std::set<int64_t> shared;
  for (const auto& entry : best_of_source)
    for (int64_t id : SharedPictureFrames(entry.second.first))
      if (!seen.count(id) && !best_of_source.count(index_.frame(id).source_id)) shared.insert(id);
  for (int64_t id : shared) compare(id);
  // Lines are weaker evidence than keypoints: when a frame showing another
  // picture agrees about as well as the best one, the drawing does not tell
  // them apart, and nothing is decided.
  const auto top = std::max_element(best_of_source.begin(), best_of_source.end(), [](const auto& a, const auto& b) {
    return a.second.second < b.second.second;
  });
  const FrameRecord& top_frame = index_.frame(top->second.first);
  for (const auto& [source_id, frame_agreement] : compared_of_source) {
    if (source_id == top->first || frame_agreement.second < top->second.second - kLineTieMargin) continue;
    if (index_.frame(frame_agreement.first).pdq.Distance(top_frame.pdq) > options_.max_distance) return;
  }
  for (const auto& entry : best_of_source) {
    const auto [frame_id, agreement] = entry.second;
    Match m = MatchAtFrame(frame_id, [&](int64_t id) { return agreeing.count(id) > 0; });
    m.evidence.pdq_distance = index_.frame(frame_id).pdq.Distance(query_hash);
    m.evidence.transform = "original";
    m.evidence.line_agreement = agreement;
    m.score = decider_.Score(m.evidence);
    matches->push_back(std::move(m));
  }
  Decider::Rank(matches);
}

void Matcher::AddCelPixelMatches(const cv::Mat& bgr, const cv::Mat& visible, const QueryFeatures& query,
                                 const PdqHash& query_hash, std::vector<Match>* matches) const {
  if (visible.empty() || visible.size() != bgr.size() ||
      cv::countNonZero(visible) < kMinCelOpaqueShare * double(visible.total()))
    return;
  // Anchors: the frames whose tiny thumbnails agree best over the whole
  // index, or (index too large for that) the most voted by local features.
  std::vector<int64_t> anchors;
  double neighbourhood_s = kCelNeighbourhood_s;
  if (const CelPixelSearch* search = cel_search_->Get(index_, options_.cel_search_max_frames)) {
    anchors = search->Nearest(bgr, visible, kCelSearchedFrames);
    neighbourhood_s = kCelSearchNeighbourhood_s;
  } else {
    for (const FrameVotes& fv : features_.VotedFrames(query, kCelVotedFrames)) anchors.push_back(fv.frame_id);
  }
  // Compared at the thumbnails' resolution: the anchors and their neighbours in time.
  std::vector<int64_t> frames;
  std::set<int64_t> seen;
  for (int64_t anchor_id : anchors) {
    const FrameRecord& anchor = index_.frame(anchor_id);
    for (int64_t id : index_.frames_of_source(anchor.source_id)) {
      if (std::fabs(index_.frame(id).time_s - anchor.time_s) > neighbourhood_s) continue;
      if (seen.insert(id).second) frames.push_back(id);
    }
  }
  if (int(frames.size()) > kMaxCelFrames) frames.resize(size_t(kMaxCelFrames));
  CelPixelComparison cel(bgr, visible);
  std::map<int64_t, double> agreeing;            // frame -> correlation, over the threshold
  std::map<int64_t, int64_t> best_of_source;     // source -> frame
  for (int64_t id : frames) {
    const SourceRecord& src = index_.source(index_.frame(id).source_id);
    // Same field: the cel's aspect must be the frame's.
    if (src.width <= 0 || src.height <= 0 ||
        !CelPixelSearch::SameField(double(bgr.cols) / bgr.rows, double(src.width) / src.height))
      continue;
    Result<cv::Mat> decoded = DecodedThumbnail(index_, id, cv::IMREAD_COLOR);
    if (!decoded.ok() || decoded->empty()) continue;
    const std::optional<double> correlation = cel.Correlation(*decoded);
    if (!correlation) return;  // too flat or too little visible to compare with any frame
    const double c = *correlation;
    if (c < kMinCelCorrelation) continue;
    agreeing[id] = c;
    auto [it, inserted] = best_of_source.try_emplace(src.id, id);
    if (!inserted && c > agreeing[it->second]) it->second = id;
  }
  for (const auto& entry : best_of_source) {
    const int64_t best_id = entry.second;
    // Frames of the same source that agree as well widen the span.
    Match m = MatchAtFrame(best_id, [&](int64_t id) { return agreeing.count(id) > 0; });
    m.evidence.pdq_distance = index_.frame(best_id).pdq.Distance(query_hash);
    m.evidence.pixel_correlation = agreeing[best_id];
    m.evidence.found_by = "pixels";
    m.score = decider_.Score(m.evidence);
    // A source local features found too: the pixels add their evidence.
    auto existing = std::find_if(matches->begin(), matches->end(),
                                 [&](const Match& e) { return e.source_id == m.source_id; });
    if (existing == matches->end()) {
      matches->push_back(std::move(m));
    } else if (existing->evidence.pixel_correlation < m.evidence.pixel_correlation) {
      existing->evidence.pixel_correlation = m.evidence.pixel_correlation;
      existing->score = decider_.Score(existing->evidence);
    }
  }
  Decider::Rank(matches);
}

}  // namespace celmatch
