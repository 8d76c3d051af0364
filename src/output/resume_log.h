// Resuming a killed `celmatch match --resume --out FILE.jsonl`: which files
// FILE already reports, so that a second run appends only the others.
//
// JsonlWriter writes each line whole, but a kill (or a full disk) can still
// leave a last line without its newline; PrepareResume cuts it away so that
// every line in FILE stays a complete record and appended lines start on a
// line of their own. The file in flight when the run died is matched again.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace celmatch {

struct ReportedFiles {
  std::unordered_set<std::string> keys;  // ReportedFileKey of each record's "file"
  int64_t records = 0;                   // complete records read
  int64_t truncated_bytes = 0;           // partial last line removed
  int64_t unreadable_lines = 0;          // complete lines that are not a record (left in place)
};

// Reads FILE and truncates a partial last line. A missing FILE is an empty
// result (a first run with --resume). Errors name FILE. `on_record`, when
// set, sees every complete record (to rebuild the CSV and the report from
// the whole run, not only its last part).
Result<ReportedFiles> PrepareResume(const std::string& path,
                                    const std::function<void(const nlohmann::json&)>& on_record = {});

// The key under which a file is recognised: its display path as the output
// writes it (invalid UTF-8 replaced), so a name that is not UTF-8 is
// recognised again after its round trip through JSON.
std::string ReportedFileKey(const std::string& display_path);

}  // namespace celmatch
