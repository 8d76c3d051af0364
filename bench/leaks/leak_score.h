// Scores matching results against a leak dump's ground truth: per transform
// (recall at the operating threshold, precision, false matches on
// distractors, time error) and over all queries (µAP and recall at 99.9%
// precision, as the Image Similarity Challenge and Thorn's perception
// benchmark report them).
//
// The results are QueryOutcomes, whoever produced them: `celmatch match`
// output (ReadMatchOutcomes parses its JSON Lines) or a baseline
// (leak_baselines.h), so every method is scored by the same code.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "leaks/leak_simulator.h"

namespace celmatch {

// One reported (query, reference source) pair.
struct ReportedMatch {
  std::string production;
  std::string source;
  bool has_time = false;        // false for a still reference
  double time_s = 0;
  bool has_span = false;
  double span_start_s = 0, span_end_s = 0;
  double score = 0;             // higher is more confident; only the order matters
};

// What a method said about one query file.
struct QueryOutcome {
  std::string status;                  // "match", "no_match", "error", "skipped"
  std::vector<ReportedMatch> matches;  // best first
  // > 1: the first tied_sources matches (or more than listed) are as good as
  // one another: the picture appears in several sources (a shared intro).
  int tied_sources = 1;
  double elapsed_s = -1;               // time spent on the file (one core), -1 unknown
};

// Keyed by the file's path relative to the dump folder (LeakTruth::file).
using QueryOutcomes = std::unordered_map<std::string, QueryOutcome>;

// Parses `celmatch match` JSON Lines (every record's matches[], score,
// ambiguous / tied_sources, elapsed).
Result<QueryOutcomes> ReadMatchOutcomes(const std::string& jsonl_path);

// Re-keys outcomes read from `celmatch match`, which names each file by the
// path it was given ("OUT/dump/x/y.png"), by the truth's path inside the dump
// ("x/y.png"): the longest suffix at a "/" that the truth holds.
QueryOutcomes KeyByDumpPath(const std::vector<LeakTruth>& truth, QueryOutcomes outcomes);

struct TransformScore {
  int queries = 0;         // files of this transform (distractors included)
  int positives = 0;       // files that come from indexed footage
  int correct = 0;         // top match: right production and source
  int wrong = 0;           // top match: a wrong source (positives), not flagged ambiguous
  int ambiguous = 0;       // flagged ambiguous, right production, true source among the tied
                           // or beyond the reported list (a shared intro): counted as correct
  int distractor_matches = 0;  // distractor files reported as a match
  int time_checked = 0;    // correct matches with a true time
  int time_within_1s = 0;
  int time_in_span = 0;
  double time_error_sum_s = 0;
  double time_error_max_s = 0;
  int errors = 0;          // status error
  int missing = 0;         // no result for the file
  // Every reported pair, not only the first of each file.
  int pairs_reported = 0;
  int pairs_correct = 0;   // the true source
  int pairs_ignored = 0;   // another source of the true production inside a reported tie
  double elapsed_sum_s = 0;  // over files with a known time
  int elapsed_files = 0;

  TransformScore& operator+=(const TransformScore& o);

  double recall() const { return positives ? double(correct) / positives : 0.0; }
  // Of the files given a top match, the share whose top match is right
  // (distractor matches count as wrong).
  double precision() const {
    const int reported = correct + wrong + distractor_matches;
    return reported ? double(correct) / reported : 1.0;
  }
  double pair_precision() const {
    const int counted = pairs_reported - pairs_ignored;
    return counted ? double(pairs_correct) / counted : 1.0;
  }
  double mean_time_error_s() const { return time_checked ? time_error_sum_s / time_checked : 0.0; }
};

// One (query, source) pair in the global ranking.
struct ScoredPair {
  double score = 0;
  bool positive = false;
};

struct RankingScore {
  int positives = 0;           // non-distractor queries: the denominator of recall and µAP
  int ranked_pairs = 0;        // reported pairs that were ranked (ignored ones excluded)
  int ranked_positives = 0;
  double micro_ap = 0;         // average precision over the global ranking
  bool p999_reached = false;   // some threshold gives >= 99.9% precision
  double recall_at_p999 = 0;   // highest recall at a threshold with precision >= 99.9%
  double threshold_at_p999 = 0;  // the lowest score still reported at that point
};

// µAP as in ISC2021: pairs sorted by score, AP = sum over score thresholds
// of precision x recall gained, recall over `positives` (so a positive never
// reported counts as never retrieved). Equal scores are one threshold.
RankingScore RankPairs(std::vector<ScoredPair> pairs, int positives);

struct LeakScore {
  std::map<std::string, TransformScore> per_transform;
  TransformScore total;
  RankingScore ranking;
};

// Per-transform figures use the matches with score >= `min_score` (the
// method's operating threshold, when its outcomes are not already cut
// there); the ranking uses every reported pair.
// Pair labels: the true (production, source) is positive; another source of
// the true production, inside a tie the method reported, is ignored (shared
// intros: the method said it cannot tell); every other pair, and every pair
// of a distractor, is negative.
LeakScore ScoreLeakOutcomes(const std::vector<LeakTruth>& truth, const QueryOutcomes& outcomes,
                            double min_score = -1e300);

// `jsonl_path`: the output of `celmatch match --out` run on the dump folder.
Result<LeakScore> ScoreLeakRun(const std::vector<LeakTruth>& truth, const std::string& jsonl_path);

// A plain-text table, one row per transform and a total, with µAP below.
std::string FormatLeakScore(const LeakScore& score);

// Methods side by side, Markdown: per transform recall, precision,
// distractor matches and mean time error of each method; then one row per
// method with µAP, recall at 99.9% precision and throughput.
struct MethodScore {
  std::string name;            // "celmatch", "vPDQ", "pHash"
  std::string operating_point; // e.g. "PDQ <= 31 bits"
  LeakScore score;
};
std::string FormatSideBySide(const std::vector<MethodScore>& methods);

nlohmann::json LeakScoreToJson(const LeakScore& score);

}  // namespace celmatch
