// The cascade's last stage (match/matcher.h): from the evidence the
// verifiers attached to proposed frames, one decision.
//
//   Score          one number in 0..1 for any evidence: PDQ distance,
//                  verified inliers, cel pixel correlation and edge layout
//                  each give 0.5 at their own decision threshold and combine
//                  as independent evidence; >= 0.5 is a match.
//   image queries  matches (one per source) ranked, ties counted (a shared
//                  intro is one of N sources, not a certain one), sources
//                  clearly weaker than the tie discounted below 0.5; the
//                  early PDQ decision (local features would only confirm).
//   video queries  every sample's (reference frame) votes aligned into the
//                  offsets most samples agree on, per source: a match and
//                  its segments, ranked, tied and discounted the same way.
//
// The Decider reads the index only for frames' and sources' records (times,
// spans, sizes). Thread-safe: every method is const.
#pragma once

#include <map>
#include <set>
#include <vector>

#include "index/reference_index.h"
#include "match/match_options.h"
#include "match/match_result.h"

namespace celmatch {

// One (video sample, reference frame) agreement proposal.
struct SampleVote {
  int sample = 0;         // index of the sample in the clip
  int64_t frame_id = -1;
  int distance = 256;     // PDQ distance of the sample to the frame
  int variant = 0;        // PdqHasher dihedral index the sample matched through
  int inliers = 0;        // local features verified this pair (0: PDQ only)
};

// What a video query's votes say.
struct VideoDecision {
  std::vector<Match> matches;     // best first, at most max_matches
  std::vector<Segment> segments;  // of the reported sources, score >= 0.5, in query time order
  int tied_sources = 0;
};

// The dihedral variant's name in records ("original", "rotate90", ... "flip_minus1").
const char* VariantName(int variant);

class Decider {
 public:
  Decider(const ReferenceIndex& index, MatchOptions options);

  // 1 at distance 0, 0.5 at max_distance, falling linearly to 0 at twice it.
  double ScoreForDistance(int distance) const;
  // 0.5 at features.min_inliers, 0.75 at twice that, strictly increasing, below 1.
  double ScoreForInliers(int inliers) const;
  // A similarity (correlation, layout agreement) as a score: 0 below its
  // decision threshold, 0.5 at it, approaching 1 at a perfect 1.
  static double ScoreAboveThreshold(double value, double threshold);
  // The one score of a match: 1 - (1 - s_pdq)(1 - s_inliers)(1 - s_pixels),
  // each term 0 below its threshold. An edge layout alone scores through
  // ScoreAboveThreshold(layout, embedding_min_layout).
  double Score(const MatchEvidence& evidence) const;

  // The early PDQ decision on an image's PDQ matches (best first): true when
  // the best is well inside the threshold, both hashes of good quality and
  // no other source within 2 x tie_margin bits.
  bool PdqDecides(const std::vector<Match>& matches) const;
  // The best of `matches` stands on PDQ or on conclusive_inliers inliers.
  bool Conclusive(const std::vector<Match>& matches) const;

  // Best first: score, then inliers, then PDQ distance.
  static void Rank(std::vector<Match>* matches);
  // How many of `matches` (best first) are as good as the first, by the
  // evidence that placed it (TiedWith).
  int CountTied(const std::vector<Match>& matches, bool video) const;
  // `m` is as good as `best`: by the evidence that placed `best` (PDQ
  // within tie_margin bits, inliers within 20%, pixels, lines or layout
  // within their margins; a video's samples and PDQ), or, for an image,
  // placed by its own evidence (score 0.5) on a frame showing the same
  // picture as best's (SamePicture).
  bool TiedWith(const Match& best, const Match& m, bool video) const;
  // The two matches' reference frames show the same picture: their PDQ
  // hashes within tie_margin bits.
  bool SamePicture(const Match& a, const Match& b) const;
  // Matches after the `tied` first ones are scored below 0.5 (scaled by
  // their score relative to the best): weaker sources are candidates only.
  static void DiscountUntied(int tied, std::vector<Match>* matches);
  // An image's decision: ties counted, the rest discounted, at most max_matches kept.
  int DecideImage(std::vector<Match>* matches) const;

  // A video's decision from its votes (grouped by source), the sample
  // times, how many samples had a usable hash, the best sample's PDQ
  // quality and the clip's duration.
  VideoDecision DecideVideo(const std::map<int64_t, std::vector<SampleVote>>& votes_by_source,
                            const std::vector<double>& sample_times, int usable, int best_query_quality,
                            double duration_s) const;
  // True when some source's votes already reach the support a video match
  // needs (min_video_support, or all usable samples when fewer).
  bool AnySourceAgrees(const std::map<int64_t, std::vector<SampleVote>>& votes_by_source,
                       const std::vector<double>& sample_times, int usable) const;

 private:
  struct Vote;  // a SampleVote with its score and the offsets it allows
  std::vector<Vote> Votes(const std::vector<SampleVote>& votes, const std::vector<double>& sample_times) const;

  const ReferenceIndex& index_;
  MatchOptions options_;
};

}  // namespace celmatch
