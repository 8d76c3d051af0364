// The run record: the first line a `celmatch match` run writes to its JSON
// Lines, before any file's record, so that a results file says what made it
// (celmatch's version, the index, the embedding model, the thresholds).
// A resumed run appends its own run record before its files' records, so a
// file holds one per run. It is the one line without "file":
//
//   {"celmatch_run": {"schema": 2, "celmatch": "0.1.0", "started": "...",
//                     "index": {...}, "embedding": {...}, "options": {...}, ...}}
//
// docs/results.schema.json describes every field. Readers of the records
// (resume, `celmatch report`, the benchmark's scoring) skip run records, and
// `celmatch report` shows the last one's settings.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "index/reference_index.h"
#include "match/matcher.h"

namespace celmatch {

// The JSON Lines schema version the run record names: 2 since the run
// record (schema 1: file records only).
inline constexpr int kResultsSchemaVersion = 2;

struct RunDescription {
  std::string version;                 // celmatch's
  std::string started;                 // UTC, ISO 8601
  std::string index_dir;
  std::vector<std::string> inputs;     // the PATH arguments (and --files-from's)
  bool resumed = false;                // appended by --resume
  std::string shard;                   // "I/N"; empty: the whole input
};

// The run record of a match with `options` over `index`.
nlohmann::json RunRecordToJson(const RunDescription& run, const ReferenceIndex& index, const MatchOptions& options);

// True for a run record (an object whose one key is "celmatch_run").
bool IsRunRecord(const nlohmann::json& j);

// The run's settings as (name, value) for the report's header, from a run
// record: the score threshold, PDQ's distance and quality thresholds, the
// tie margin, local features, the embedding model and whether it ran.
std::vector<std::pair<std::string, std::string>> RunSettings(const nlohmann::json& run_record);

}  // namespace celmatch
