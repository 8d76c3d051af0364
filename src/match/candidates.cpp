#include "match/candidates.h"

#include <algorithm>
#include <unordered_map>

namespace celmatch {

std::vector<FrameCandidate> PdqCandidates(const ReferenceIndex& index, const MatchOptions& options,
                                          const std::array<PdqResult, 8>& variants) {
  std::unordered_map<int64_t, FrameCandidate> best;
  const int n_variants = options.dihedral ? 8 : 1;
  for (int v = 0; v < n_variants; ++v) {
    for (const HashNeighbor& nb :
         index.Search(variants[size_t(v)].hash, options.max_distance, options.neighbors_per_hash)) {
      if (index.frame(nb.frame_id).quality < options.min_quality) continue;
      const FrameCandidate c{nb.frame_id, nb.distance, v, nb.time_s};
      auto [it, inserted] = best.try_emplace(nb.frame_id, c);
      if (!inserted && nb.distance < it->second.distance) it->second = c;
    }
  }
  std::vector<FrameCandidate> out;
  out.reserve(best.size());
  for (auto& [id, c] : best) out.push_back(c);
  std::sort(out.begin(), out.end(), [](const FrameCandidate& a, const FrameCandidate& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.frame_id < b.frame_id;
  });
  return out;
}

Result<std::map<int64_t, EmbeddingCandidate>> EmbeddingCandidates(const ReferenceIndex& index,
                                                                  const MatchOptions& options,
                                                                  const cv::Mat& picture) {
  std::map<int64_t, EmbeddingCandidate> candidates;
  const EmbeddingIndex* embedding = index.embedding();
  if (!options.embedding || !embedding || embedding->size() == 0 || options.embedding_neighbors <= 0)
    return candidates;
  // ChooseQueryEmbeddingModel refuses a model of another dimension; a
  // matcher given one anyway proposes nothing.
  if (options.embedding->manifest().output_dim != embedding->dim()) return candidates;
  Result<EmbeddingModelPool::Lease> lease = options.embedding->Acquire();
  if (!lease.ok()) return lease.status();
  Result<cv::Mat> vectors = lease->model().EmbedWithMirror(picture);
  if (!vectors.ok()) return vectors.status();
  if (vectors->rows != 2) return candidates;
  for (int row = 0; row < 2; ++row) {
    for (const EmbeddingNeighbor& nb : embedding->Search({vectors->ptr<float>(row)}, options.embedding_neighbors)) {
      auto [it, inserted] = candidates.try_emplace(nb.frame_id, EmbeddingCandidate{row == 1, nb.similarity});
      if (!inserted && nb.similarity > it->second.similarity) it->second = EmbeddingCandidate{row == 1, nb.similarity};
    }
  }
  const EmbeddingIndex* regions = index.embedding_regions();
  if (!regions || regions->size() == 0) return candidates;
  // The picture as it is only: a region proposal is compared by its pixels
  // at their place (the located-pixel step), which a mirror image has not.
  for (const EmbeddingNeighbor& nb : regions->Search({vectors->ptr<float>(0)}, options.embedding_neighbors))
    candidates.try_emplace(nb.frame_id, EmbeddingCandidate{false, nb.similarity, true});
  return candidates;
}

std::pair<int64_t, double> ClimbAlongTime(const ReferenceIndex& index, int64_t start, double start_score,
                                          int patience, int reach, const std::function<double(int64_t)>& score,
                                          std::set<int64_t>* seen) {
  std::pair<int64_t, double> best{start, start_score};
  if (start < 0 || start >= index.frame_count()) return best;
  const int64_t source_id = index.frame(start).source_id;
  for (const int step : {-1, 1}) {
    double best_this_way = start_score;
    int since_better = 0;
    for (int64_t id = start + step, walked = 0; id >= 0 && id < index.frame_count() &&
                                                index.frame(id).source_id == source_id && walked < reach &&
                                                since_better < patience;
         id += step, ++walked) {
      if (!seen->insert(id).second) continue;
      const double s = score(id);
      if (s > best_this_way) {
        best_this_way = s;
        since_better = 0;
      } else {
        ++since_better;
      }
      if (s > best.second) best = {id, s};
    }
  }
  return best;
}

}  // namespace celmatch
