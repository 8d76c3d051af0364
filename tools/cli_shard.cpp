// Validators of options shared by several commands: `--shard I/N` and
// `--jobs N`.
#include "cli_common.h"
#include "core/shard.h"

#include <cerrno>
#include <cstdlib>

namespace celmatch::cli {

CLI::Validator ShardValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        Result<ShardSpec> spec = ParseShardSpec(value);
        return spec.ok() ? std::string() : spec.status().message();
      },
      "I/N");
}

CLI::Validator JobsValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long n = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || errno == ERANGE || n < 1 || n > 4096)
          return "must be a whole number of parallel jobs from 1 to 4096, not '" + value + "'";
        return std::string();
      },
      "N");
}

}  // namespace celmatch::cli
