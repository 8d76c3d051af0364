// Matcher's embedding step for image queries: the learned embedding proposes
// reference frames PDQ and local-feature retrieval did not find (line art,
// recolouring, blur and noise, a missing layer move PDQ too far, and spread
// the query's local features too thin for descriptor voting to single out
// the frame), and local-feature verification (the same RANSAC test, the same
// threshold, the same inlier-calibrated score as the rest of the cascade)
// decides. The embedding's similarity alone never makes a match: on the
// committed model, unrelated frames reach similarities that true copies under
// heavy damage do not (models/README.md), so no threshold on it alone keeps
// distractors out.
#include <algorithm>
#include <map>
#include <set>

#include <opencv2/core.hpp>

#include "match/matcher.h"

namespace celmatch {

void Matcher::AddEmbeddingMatches(const cv::Mat& bgr, const QueryFeatures& query, const PdqHash& query_hash,
                                  std::vector<Match>* matches) const {
  const EmbeddingIndex* embedding = index_.embedding();
  if (!options_.embedding || !embedding || embedding->size() == 0 || options_.embedding_neighbors <= 0) return;
  if (options_.embedding->manifest().output_dim != embedding->dim()) return;  // ChooseQueryEmbeddingModel refuses this

  // The picture and its mirror image: the network is not invariant to flips
  // (PDQ gets them from its dihedral variants).
  cv::Mat mirrored;
  cv::flip(bgr, mirrored, 1);
  Result<cv::Mat> vectors = [&]() -> Result<cv::Mat> {
    Result<EmbeddingModelPool::Lease> lease = options_.embedding->Acquire();
    if (!lease.ok()) return lease.status();
    return lease->model().Embed({bgr, mirrored});
  }();
  if (!vectors.ok() || vectors->rows != 2) return;

  // Candidates: frame -> (mirrored, similarity), the better orientation kept.
  std::map<int64_t, std::pair<bool, float>> candidates;
  for (int row = 0; row < 2; ++row) {
    for (const EmbeddingNeighbor& nb : embedding->Search({vectors->ptr<float>(row)}, options_.embedding_neighbors)) {
      auto [it, inserted] = candidates.try_emplace(nb.frame_id, row == 1, nb.similarity);
      if (!inserted && nb.similarity > it->second.second) it->second = {row == 1, nb.similarity};
    }
  }
  std::set<int64_t> matched_sources;
  for (const Match& m : *matches) matched_sources.insert(m.source_id);

  std::map<int64_t, VerifiedFrame> best_of_source;  // by inliers
  std::set<int64_t> verified_frames;
  for (const auto& [frame_id, how] : candidates) {
    const int64_t source_id = index_.frame(frame_id).source_id;
    if (matched_sources.count(source_id)) continue;
    VerifiedFrame v = features_.Verify(query, frame_id, how.first);
    if (!features_.Accepts(v)) continue;
    verified_frames.insert(frame_id);
    auto [it, inserted] = best_of_source.try_emplace(source_id, v);
    if (!inserted && v.verification.inliers > it->second.verification.inliers) it->second = v;
  }

  for (const auto& entry : best_of_source) {
    const VerifiedFrame& v = entry.second;
    // Verified neighbours in time widen the span, as for the other steps.
    Match m = MatchAtFrame(v.frame_id, [&](int64_t id) { return verified_frames.count(id) > 0; });
    m.score = features_.ScoreForInliers(v.verification.inliers);
    m.evidence.pdq_distance = index_.frame(v.frame_id).pdq.Distance(query_hash);
    m.evidence.transform = v.mirrored ? "flip_x" : "original";
    m.evidence.found_by = "embedding";
    SetVerification(v, &m);
    matches->push_back(std::move(m));
  }
  RankImageMatches(matches);
}

}  // namespace celmatch
