// The cascade's first stage (match/matcher.h): generators that propose
// reference frames for a query. None of them decides; verifiers and the
// Decider do.
//
//   PdqCandidates        the query's PDQ hash and its dihedral variants,
//                        searched within max_distance (index/reference_index.h)
//   EmbeddingCandidates  the frames nearest to the learned embedding of the
//                        picture and of its mirror image, as a whole frame
//                        and as a region of one (index/embedding_index.h)
//   visual words         FeatureMatcher::Retrieve / VotedFrames
//                        (match/feature_matcher.h, index/feature_index.h)
//   cel pixels           CelPixelSearch::Nearest (match/cel_pixels.h)
//   ClimbAlongTime       a proposed frame's neighbours in time, while a
//                        verifier's score of them rises
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "index/reference_index.h"
#include "match/match_options.h"
#include "signatures/pdq_hash.h"

namespace celmatch {

// A frame PDQ proposes: its best distance over the searched variants.
struct FrameCandidate {
  int64_t frame_id = -1;
  int distance = 256;
  int variant = 0;   // PdqHasher dihedral index
  double time_s = 0; // the time of the frame's nearest hash (HashNeighbor::time_s)
};

// Frames within options.max_distance of any searched variant (all 8 when
// options.dihedral, else the picture as it is) whose own PDQ quality is at
// least options.min_quality; nearest first, then by id.
std::vector<FrameCandidate> PdqCandidates(const ReferenceIndex& index, const MatchOptions& options,
                                          const std::array<PdqResult, 8>& variants);

// A frame the embedding proposes, in the better of the two orientations.
struct EmbeddingCandidate {
  bool mirrored = false;
  float similarity = 0;
  // Proposed only by one of its regions (RegionWindow): the picture may be a
  // crop of it, not the whole frame.
  bool by_region = false;
};

// The options.embedding_neighbors frames nearest to `picture`'s embedding and
// to its mirror image's (the network is not invariant to flips), by frame id;
// then as many again nearest to the picture as it is by one of their
// regions' embeddings (an index built before regions has none), unless the
// whole frame proposed them.
// Empty when the index has no embeddings or the model is not the index's.
Result<std::map<int64_t, EmbeddingCandidate>> EmbeddingCandidates(const ReferenceIndex& index,
                                                                  const MatchOptions& options,
                                                                  const cv::Mat& picture);

// From frame `start` of a video, scored `start_score`: its source's frames
// before it and after it, scored one by one with `score` while the score
// rises. A walk ends `patience` frames after its best one, after `reach`
// frames, or at the source's first or last frame. A picture of a moving shot
// often lies between the frames the other generators proposed, and a score
// that rises towards it finds it. Frames already in `*seen` are passed over
// unscored; each scored frame is added to it. Returns the best frame met and
// its score (`start` when none scored higher).
std::pair<int64_t, double> ClimbAlongTime(const ReferenceIndex& index, int64_t start, double start_score,
                                          int patience, int reach, const std::function<double(int64_t)>& score,
                                          std::set<int64_t>* seen);

}  // namespace celmatch
