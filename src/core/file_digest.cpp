#include "core/file_digest.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

extern "C" {
#include <libavutil/hash.h>
}

namespace celmatch {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
struct HashFreer {
  void operator()(AVHashContext* c) const { av_hash_freep(&c); }
};

}  // namespace

Result<std::string> Sha256File(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    const int err = errno;
    const std::string reason = std::strerror(err);
    if (err == ENOENT) return Status::NotFound(path + ": " + reason);
    return Status::IoError(path + ": cannot open: " + reason);
  }

  AVHashContext* raw = nullptr;
  if (av_hash_alloc(&raw, "SHA256") < 0 || raw == nullptr) {
    return Status::Internal(path + ": libavutil has no SHA256 hash");
  }
  std::unique_ptr<AVHashContext, HashFreer> hash(raw);
  av_hash_init(hash.get());

  // 1 MiB blocks: large enough that the syscall count does not matter, small
  // enough that hashing many files on many threads stays cheap in memory.
  std::vector<uint8_t> block(1 << 20);
  for (;;) {
    const size_t n = std::fread(block.data(), 1, block.size(), file.get());
    if (n > 0) av_hash_update(hash.get(), block.data(), n);
    if (n < block.size()) {
      if (std::ferror(file.get())) {
        return Status::IoError(path + ": read error: " + std::strerror(errno));
      }
      break;  // EOF
    }
  }

  // av_hash_final_hex writes lowercase hex and a terminating NUL.
  char hex[2 * 32 + 1] = {};
  av_hash_final_hex(hash.get(), reinterpret_cast<uint8_t*>(hex), sizeof hex);
  return std::string(hex);
}

std::string Sha256Hex(std::string_view bytes) {
  AVHashContext* raw = nullptr;
  if (av_hash_alloc(&raw, "SHA256") < 0 || raw == nullptr) return std::string();
  std::unique_ptr<AVHashContext, HashFreer> hash(raw);
  av_hash_init(hash.get());
  av_hash_update(hash.get(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  char hex[2 * 32 + 1] = {};
  av_hash_final_hex(hash.get(), reinterpret_cast<uint8_t*>(hex), sizeof hex);
  return std::string(hex);
}

}  // namespace celmatch
