// The `--shard I/N` option shared by `index build|add` and `match`.
#include "cli_common.h"
#include "core/shard.h"

namespace celmatch::cli {

CLI::Validator ShardValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        Result<ShardSpec> spec = ParseShardSpec(value);
        return spec.ok() ? std::string() : spec.status().message();
      },
      "I/N");
}

}  // namespace celmatch::cli
