// Reading back what JsonlWriter wrote: a `celmatch match` record as the
// FileResult it was made from (without what JSONL does not carry: the
// query's path as opened, its thumbnail, source ids). Used to rebuild the CSV
// and the report of a resumed run from the whole JSONL.
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "match/match_result.h"

namespace celmatch {

// kCorrupt when `j` is not a record (no "file" string, or a field of the
// wrong type).
Result<FileResult> FileResultFromJson(const nlohmann::json& j);

}  // namespace celmatch
