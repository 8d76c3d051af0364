// Scores `celmatch match` output (JSON Lines) against a leak dump's ground
// truth, per transform.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "leaks/leak_simulator.h"

namespace celmatch {

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
  int missing = 0;         // no line in the output
};

struct LeakScore {
  std::map<std::string, TransformScore> per_transform;
  TransformScore total;
};

// `jsonl_path`: the output of `celmatch match --out` run on the dump folder.
Result<LeakScore> ScoreLeakRun(const std::vector<LeakTruth>& truth, const std::string& jsonl_path);

// A plain-text table, one row per transform and a total.
std::string FormatLeakScore(const LeakScore& score);

}  // namespace celmatch
