// Matcher's local-feature step for image queries: verify what PDQ proposed,
// find by local features what PDQ did not, and merge both into one list of
// matches (one per source) under one score.
#include <algorithm>
#include <map>

#include "match/matcher.h"

namespace celmatch {

namespace {

void SetVerification(const VerifiedFrame& v, Match* m) {
  m->evidence.inliers = v.verification.inliers;
  m->evidence.inlier_ratio = v.verification.inlier_ratio;
  m->evidence.feature_layer = FeatureLayerName(v.layer);
  m->has_region = v.verification.geometry_ok;
  m->region[0] = v.verification.region.x;
  m->region[1] = v.verification.region.y;
  m->region[2] = v.verification.region.width;
  m->region[3] = v.verification.region.height;
}

}  // namespace

bool Matcher::ShowsWholeFrame(const Match& m) const {
  if (!m.has_region) return true;
  const SourceRecord& src = index_.source(m.source_id);
  const double area = double(src.width) * src.height;
  return area <= 0 || m.region[2] * m.region[3] >= 0.9 * area;
}

void Matcher::AddLocalFeatureMatches(const cv::Mat& bgr, const cv::Mat& alpha, const PdqHash& query_hash,
                                     std::vector<Match>* matches) const {
  const QueryFeatures q = features_.Describe(bgr, alpha);
  // Verify PDQ's proposals: a verified one gains the region and, when the
  // geometry is stronger evidence than the hash distance, the score.
  bool confirmed = false;
  for (Match& m : *matches) {
    const bool mirrored = m.evidence.transform.rfind("flip", 0) == 0;  // the dihedral variants with a mirror
    const VerifiedFrame v = features_.Verify(q, m.evidence.frame_id, mirrored);
    if (!features_.Accepts(v)) continue;
    SetVerification(v, &m);
    m.score = std::max(m.score, features_.ScoreForInliers(v.verification.inliers));
    confirmed = true;
  }
  if (confirmed) return;

  // Nothing confirmed: retrieve by local features. Frames come best first,
  // so the first verified frame of a source is its answer; the others of
  // that source widen its span when they are its neighbours in time.
  const std::vector<VerifiedFrame> found = features_.Retrieve(q);
  if (found.empty()) return;
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
    const FrameRecord& fr = index_.frame(v->frame_id);
    const SourceRecord& src = index_.source(source_id);
    const double score = features_.ScoreForInliers(v->verification.inliers);
    auto existing = std::find_if(matches->begin(), matches->end(), [&](const Match& m) { return m.source_id == source_id; });
    if (existing != matches->end() && existing->score >= score) continue;
    Match m;
    m.production = index_.production(src.production_id).name;
    m.source = src.path;
    m.source_id = source_id;
    m.is_still = src.is_still;
    m.time_s = fr.time_s;
    m.span_start_s = fr.time_s;
    m.span_end_s = fr.span_end_s;
    const std::vector<int64_t>& order = index_.frames_of_source(source_id);
    auto pos = std::find(order.begin(), order.end(), v->frame_id);
    if (pos != order.end()) {
      for (auto it = pos; it != order.begin();) {
        --it;
        if (!verified_frames.count(*it)) break;
        m.span_start_s = index_.frame(*it).time_s;
      }
      for (auto it = pos + 1; it != order.end() && verified_frames.count(*it); ++it) m.span_end_s = index_.frame(*it).span_end_s;
    }
    m.score = score;
    m.evidence.frame_id = v->frame_id;
    m.evidence.pdq_distance = fr.pdq.Distance(query_hash);
    m.evidence.reference_quality = fr.quality;
    m.evidence.query_quality = existing != matches->end() ? existing->evidence.query_quality : 0;
    m.evidence.transform = v->mirrored ? "flip_x" : "original";
    SetVerification(*v, &m);
    if (existing != matches->end()) *existing = std::move(m);
    else matches->push_back(std::move(m));
  }
  std::stable_sort(matches->begin(), matches->end(), [](const Match& a, const Match& b) { return a.score > b.score; });
}

}  // namespace celmatch
