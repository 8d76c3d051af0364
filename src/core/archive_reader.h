// Archives in a dump (zip, tar, tar.gz/.bz2/.xz), read in place with
// libarchive: members are listed and read into memory, never extracted to
// disk, so a hostile member name ("../../etc/passwd") cannot write anywhere.
// Such names are still refused, as are bombs: members or archives whose
// expanded size or compression ratio is over the limits.
//
// Thread-safe: every call opens its own libarchive reader.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/input_walker.h"
#include "core/status.h"

namespace celmatch {

struct ArchiveLimits {
  int64_t max_member_bytes = 2LL << 30;  // one member, expanded
  int64_t max_total_bytes = 64LL << 30;  // all members of one archive, expanded
  // Expanded / compressed size of one member, judged after its first MiB;
  // deflate's own maximum is about 1032, so a member above 1000 is a
  // deliberate bomb (or bzip2/xz of one).
  double max_ratio = 1000.0;
  int64_t max_members = 1'000'000;
};

struct ArchiveMember {
  std::string name;         // path inside the archive, as stored
  int64_t size = -1;        // expanded size the header declares; -1 when unknown
  std::string skip_reason;  // non-empty: not to be read (path traversal, not a regular file, ...)
};

// True when the file starts like an archive celmatch opens (zip, tar, or a
// gzip/bzip2/xz stream holding a tar).
bool LooksLikeArchive(const std::string& path);

// Every member, in archive order (regular files; folders are left out).
// Errors name the archive.
Result<std::vector<ArchiveMember>> ListArchive(const std::string& path, const ArchiveLimits& limits = {});

// The bytes of the member `name` (the first with that name). Stops reading,
// with kLimitExceeded naming the limit, as soon as the member passes
// max_member_bytes or max_ratio. Errors name "archive!/member".
Result<std::vector<uint8_t>> ReadArchiveMember(const std::string& path, const std::string& name,
                                               const ArchiveLimits& limits = {});

// Replaces each input that is an archive by its members (display path
// "archive!/member", `archive_member` set); members refused by the limits or
// for path traversal keep their entry with `skip_reason`, so every member is
// reported. An archive that cannot be listed stays one entry with `error`.
std::vector<InputFile> ExpandArchives(std::vector<InputFile> inputs, const ArchiveLimits& limits = {});

// "dump.zip!/a/b.png": how a member is named in the output.
std::string ArchiveMemberDisplayName(const std::string& archive, const std::string& member);

}  // namespace celmatch
