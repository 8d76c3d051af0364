// Shard: the I-th of N deterministic shares of a list of work items, so that
// N processes (a Slurm array, a Kubernetes Indexed Job) can split one
// `index build` or `match` run and their outputs add up to the unsharded one.
//
// An item's shard is a pure function of its name (FNV-1a 64 of the name,
// modulo N), not of its position in a listing: a task that runs late, after
// files were added to the folder, or is re-run, still takes exactly the items
// it took before, and no item falls between two shards. The price is balance:
// shares are equal only on average (binomial spread over the item count).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace celmatch {

struct ShardSpec {
  int index = 0;  // 0..count-1 (Kubernetes' JOB_COMPLETION_INDEX is 0-based too)
  int count = 1;  // 1 = unsharded

  bool Contains(std::string_view item_name) const;
  std::string ToString() const;  // "I/N"
};

// Parses "I/N" with 0 <= I < N; kInvalidArgument naming the text otherwise.
Result<ShardSpec> ParseShardSpec(const std::string& text);

// FNV-1a 64 of the bytes: fixed by its definition, so shards agree across
// machines, compilers and releases (std::hash promises none of that).
uint64_t StableNameHash(std::string_view bytes);

}  // namespace celmatch
