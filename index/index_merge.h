// MergeIndexes: folds part indexes (built by `celmatch index build --shard
// I/N`, or any indexes) into one, for sharded builds on a cluster.
//
// What a caller can rely on:
//   - Parts must have been built with exactly the output's parameters (all of
//     IndexParams, not only the hashing ones: thumbnails and index settings
//     must agree too); any difference is refused with kIncompatible naming
//     the part and the parameter, before anything is written.
//   - Sources are recognised by content digest, as `index add` does: a source
//     already in the output (merged before, or identical content under
//     another name) is not added again, so merging is idempotent and a
//     re-run of an interrupted merge finishes the job.
//   - Each source is added in its own catalog transaction through
//     ReferenceIndex::AddSource with its thumbnails and local features, so a merge killed at any
//     moment leaves an output that opens (the same argument as a build).
//   - Order: parts in the order given, within a part sources sorted by
//     (production, source path); the output does not depend on the order in
//     which the parts' own builds happened to finish their files.
// The output is held open for writing (its LOCK) for the whole merge; parts
// are opened read-only one at a time, so memory is one part plus the output.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "index/index_params.h"

namespace celmatch {

struct MergePartReport {
  std::string part;
  int64_t sources_added = 0;
  int64_t sources_present = 0;  // content already in the output
  int64_t frames_added = 0;
};

struct MergeReport {
  std::vector<MergePartReport> parts;
  int64_t sources_added = 0;
  int64_t sources_present = 0;
  int64_t frames_added = 0;
  int64_t frames_total = 0;     // in the output afterwards
};

// Merges `parts` into the index at `out_dir`, creating it (with the first
// part's parameters) when it holds no index. `on_part` (optional) is called
// after each part.
Result<MergeReport> MergeIndexes(const std::string& out_dir, const std::vector<std::string>& parts,
                                 const std::function<void(const MergePartReport&)>& on_part = {});

// The parameters of `a` and `b` that differ, "name A (other: B)", "" when
// none. Compares every field IndexParams serialises.
std::string IndexParamsDifference(const IndexParams& a, const IndexParams& b);

}  // namespace celmatch
