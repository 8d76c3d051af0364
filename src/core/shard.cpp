#include "core/shard.h"

#include <charconv>

namespace celmatch {

uint64_t StableNameHash(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis and prime
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool ShardSpec::Contains(std::string_view item_name) const {
  if (count <= 1) return true;
  return StableNameHash(item_name) % uint64_t(count) == uint64_t(index);
}

std::string ShardSpec::ToString() const { return std::to_string(index) + "/" + std::to_string(count); }

Result<ShardSpec> ParseShardSpec(const std::string& text) {
  const std::string usage = "shard '" + text + "' is not I/N with 0 <= I < N (e.g. 0/4 ... 3/4)";
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return Status::InvalidArgument(usage);
  auto parse = [](std::string_view s, int* out) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size();
  };
  ShardSpec spec;
  const std::string_view all(text);
  if (!parse(all.substr(0, slash), &spec.index) || !parse(all.substr(slash + 1), &spec.count) ||
      spec.count < 1 || spec.index < 0 || spec.index >= spec.count) {
    return Status::InvalidArgument(usage);
  }
  return spec;
}

}  // namespace celmatch
