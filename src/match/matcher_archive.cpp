// Matching a member of an archive in the dump, from memory.
#include <cstring>
#include <memory>

#include "core/archive_reader.h"
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
  if (bytes->empty()) {
    result->status = FileStatus::kError;
    result->error = name + ": empty file (0 bytes)";
    return;
  }
  auto shared = std::make_shared<const std::vector<uint8_t>>(std::move(*bytes));
  Result<MediaProbe> probe = ProbeMediaBuffer(name, shared->data(), shared->size());
  if (!probe.ok()) {
    result->status = FileStatus::kError;
    result->error = probe.status().message();
    return;
  }
  result->kind = probe->kind;
  if (probe->kind == MediaKind::kOther) {
    result->status = FileStatus::kSkipped;
    // Archives are opened one level deep: a nested one is named, not opened.
    const bool nested = shared->size() >= 4 && (std::memcmp(shared->data(), "PK\x03\x04", 4) == 0 ||
                                                ((*shared)[0] == 0x1f && (*shared)[1] == 0x8b));
    result->error = nested ? "an archive inside an archive (not opened)" : "not an image or video";
  } else if (probe->kind == MediaKind::kImage) {
    MatchImage(name, result, shared);
  } else {
    MatchVideo(name, result, shared);
  }
}

}  // namespace celmatch
