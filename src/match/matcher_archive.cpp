// Matching from memory: a member of an archive in the dump, or the bytes of
// a file sent to `celmatch serve`.
#include <chrono>
#include <cstring>
#include <memory>

#include "core/archive_reader.h"
#include "core/file_digest.h"
#include "match/matcher.h"
#include "media/media_probe.h"

namespace celmatch {

void Matcher::MatchArchiveMember(const InputFile& input, FileResult* result) const {
  const std::string name = ArchiveMemberDisplayName(input.path, input.archive_member);
  ArchiveLimits limits;
  // A member is a file: the per-file limits apply to its expanded bytes,
  // which are held in memory while it is decoded.
  if (options_.limits.max_file_bytes > 0) limits.max_member_bytes = options_.limits.max_file_bytes;
  if (options_.limits.max_memory_bytes > 0 && options_.limits.max_memory_bytes < limits.max_member_bytes)
    limits.max_member_bytes = options_.limits.max_memory_bytes;
  Result<std::vector<uint8_t>> bytes = ReadArchiveMember(input.path, input.archive_member, limits);
  if (!bytes.ok()) {
    result->status = FileStatus::kError;
    result->error = bytes.status().message();
    return;
  }
  MatchBuffer(name, std::make_shared<const std::vector<uint8_t>>(std::move(*bytes)), result);
}

void Matcher::MatchBuffer(const std::string& name, std::shared_ptr<const std::vector<uint8_t>> bytes,
                          FileResult* result) const {
  if (!bytes || bytes->empty()) {
    result->status = FileStatus::kError;
    result->error = name + ": empty file (0 bytes)";
    return;
  }
  result->sha256 = Sha256Hex(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  Result<MediaProbe> probe = ProbeMediaBuffer(name, bytes->data(), bytes->size());
  if (!probe.ok()) {
    result->status = FileStatus::kError;
    result->error = probe.status().message();
    return;
  }
  result->kind = probe->kind;
  if (probe->kind == MediaKind::kOther) {
    result->status = FileStatus::kSkipped;
    // Archives are opened one level deep: a nested one is named, not opened.
    const bool nested = bytes->size() >= 4 && (std::memcmp(bytes->data(), "PK\x03\x04", 4) == 0 ||
                                               ((*bytes)[0] == 0x1f && (*bytes)[1] == 0x8b));
    result->error = nested ? "an archive inside an archive (not opened)" : "not an image or video";
  } else if (probe->kind == MediaKind::kDocument) {
    MatchDocument(name, name, result, bytes);
  } else if (probe->kind == MediaKind::kImage) {
    MatchImage(name, result, bytes);
  } else {
    MatchVideo(name, result, bytes);
  }
}

FileResult Matcher::MatchBytes(const std::string& name, std::shared_ptr<const std::vector<uint8_t>> bytes) const {
  auto start = std::chrono::steady_clock::now();
  FileResult r;
  r.file = name;
  r.path = name;
  r.embedding = options_.embedding != nullptr;
  if (bytes && options_.limits.max_file_bytes > 0 && int64_t(bytes->size()) > options_.limits.max_file_bytes) {
    r.status = FileStatus::kError;
    r.error = name + ": " + std::to_string(bytes->size()) + " bytes, more than " +
              std::to_string(options_.limits.max_file_bytes) + " (max_file_bytes)";
  } else {
    MatchBuffer(name, std::move(bytes), &r);
  }
  r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace celmatch
