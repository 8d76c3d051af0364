#include "core/archive_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstdio>
#include <cstring>
#include <memory>

namespace celmatch {
namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

Result<ArchivePtr> OpenReader(const std::string& path) {
  ArchivePtr a(archive_read_new());
  if (!a) return Status::Internal(path + ": cannot create an archive reader");
  archive_read_support_format_zip(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_bzip2(a.get());
  archive_read_support_filter_xz(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 64 * 1024) != ARCHIVE_OK) {
    return Status::Corrupt(path + ": cannot open as an archive: " + archive_error_string(a.get()));
  }
  return a;
}

// Names that would land outside the extraction folder if someone did
// extract: absolute paths and ".." components.
bool EscapesArchive(const std::string& name) {
  if (name.empty() || name[0] == '/' || name[0] == '\\') return true;
  size_t begin = 0;
  while (begin <= name.size()) {
    size_t end = name.find_first_of("/\\", begin);
    if (end == std::string::npos) end = name.size();
    if (name.compare(begin, end - begin, "..") == 0 && end - begin == 2) return true;
    begin = end + 1;
  }
  return false;
}

std::string ShortBytes(int64_t n) {
  char buf[32];
  if (n >= (1LL << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", double(n) / (1LL << 30));
  else if (n >= (1LL << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", double(n) / (1LL << 20));
  else std::snprintf(buf, sizeof buf, "%lld bytes", (long long)n);
  return buf;
}

}  // namespace

std::string ArchiveMemberDisplayName(const std::string& archive, const std::string& member) {
  return archive + "!/" + member;
}

bool LooksLikeArchive(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char h[512] = {};
  const size_t n = std::fread(h, 1, sizeof h, f);
  std::fclose(f);
  if (n >= 4 && std::memcmp(h, "PK\x03\x04", 4) == 0) return true;
  if (n >= 4 && std::memcmp(h, "PK\x05\x06", 4) == 0) return true;  // empty zip
  if (n >= 3 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 8) return true;
  if (n >= 3 && std::memcmp(h, "BZh", 3) == 0) return true;
  if (n >= 6 && std::memcmp(h, "\xfd" "7zXZ\0", 6) == 0) return true;
  if (n >= 262 && std::memcmp(h + 257, "ustar", 5) == 0) return true;
  return false;
}

Result<std::vector<ArchiveMember>> ListArchive(const std::string& path, const ArchiveLimits& limits) {
  Result<ArchivePtr> a = OpenReader(path);
  if (!a.ok()) return a.status();
  std::vector<ArchiveMember> out;
  int64_t total = 0;
  archive_entry* e = nullptr;
  for (;;) {
    const int r = archive_read_next_header(a->get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (out.empty()) return Status::Corrupt(path + ": not a readable archive: " + archive_error_string(a->get()));
      // A damaged archive: the members listed so far are still reported.
      break;
    }
    const char* raw_name = archive_entry_pathname(e);
    ArchiveMember m;
    m.name = raw_name ? raw_name : "";
    if (archive_entry_filetype(e) == AE_IFDIR) continue;
    if (int64_t(out.size()) >= limits.max_members) {
      return Status::LimitExceeded(path + ": more than " + std::to_string(limits.max_members) +
                                   " members (max_members)");
    }
    m.size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
    if (EscapesArchive(m.name)) {
      m.skip_reason = "member path escapes the archive (path traversal refused)";
    } else if (archive_entry_filetype(e) != AE_IFREG) {
      m.skip_reason = "not a regular file in the archive (link or device)";
    } else if (m.size > limits.max_member_bytes) {
      m.skip_reason = "member of " + ShortBytes(m.size) + " exceeds the limit of " +
                      ShortBytes(limits.max_member_bytes) + " (max_member_bytes)";
    } else if (m.size > 0 && total + m.size > limits.max_total_bytes) {
      m.skip_reason = "archive expands to more than " + ShortBytes(limits.max_total_bytes) + " (max_total_bytes)";
    }
    if (m.skip_reason.empty() && m.size > 0) total += m.size;
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<uint8_t>> ReadArchiveMember(const std::string& path, const std::string& name,
                                               const ArchiveLimits& limits) {
  const std::string display = ArchiveMemberDisplayName(path, name);
  if (EscapesArchive(name)) return Status::InvalidArgument(display + ": member path escapes the archive");
  Result<ArchivePtr> a = OpenReader(path);
  if (!a.ok()) return a.status();
  archive_entry* e = nullptr;
  for (;;) {
    const int r = archive_read_next_header(a->get(), &e);
    if (r == ARCHIVE_EOF) return Status::NotFound(display + ": no such member");
    if (r < ARCHIVE_WARN) return Status::Corrupt(display + ": " + archive_error_string(a->get()));
    const char* n = archive_entry_pathname(e);
    if (!n || name != n || archive_entry_filetype(e) != AE_IFREG) continue;
    std::vector<uint8_t> bytes;
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
      bytes.reserve(size_t(std::min<int64_t>(archive_entry_size(e), limits.max_member_bytes)));
    }
    std::vector<uint8_t> buf(256 * 1024);
    const int64_t before = archive_filter_bytes(a->get(), -1);  // compressed bytes read so far
    for (;;) {
      const la_ssize_t got = archive_read_data(a->get(), buf.data(), buf.size());
      if (got < 0) return Status::Corrupt(display + ": " + archive_error_string(a->get()));
      if (got == 0) break;
      bytes.insert(bytes.end(), buf.begin(), buf.begin() + got);
      if (int64_t(bytes.size()) > limits.max_member_bytes) {
        return Status::LimitExceeded(display + ": expands to more than " + ShortBytes(limits.max_member_bytes) +
                                     " (max_member_bytes)");
      }
      // The ratio is judged once enough has come out that a small,
      // well-compressed picture does not trip it.
      const int64_t compressed = std::max<int64_t>(1, archive_filter_bytes(a->get(), -1) - before);
      if (bytes.size() > (1u << 20) && double(bytes.size()) / double(compressed) > limits.max_ratio) {
        return Status::LimitExceeded(display + ": compression ratio over " + std::to_string(int(limits.max_ratio)) +
                                     ":1 (max_ratio; a decompression bomb?)");
      }
    }
    return bytes;
  }
}

std::vector<InputFile> ExpandArchives(std::vector<InputFile> inputs, const ArchiveLimits& limits) {
  std::vector<InputFile> out;
  out.reserve(inputs.size());
  for (InputFile& in : inputs) {
    if (!in.error.empty() || !in.skip_reason.empty() || !in.archive_member.empty() || !LooksLikeArchive(in.path)) {
      out.push_back(std::move(in));
      continue;
    }
    Result<std::vector<ArchiveMember>> members = ListArchive(in.path, limits);
    if (!members.ok()) {
      // A gzip stream that is not a tar, a damaged zip: left to the matcher,
      // which reports what the file is.
      out.push_back(std::move(in));
      continue;
    }
    for (const ArchiveMember& m : *members) {
      InputFile f;
      f.path = in.path;
      f.root = in.root;
      f.display_path = ArchiveMemberDisplayName(in.display_path, m.name);
      f.relative = ArchiveMemberDisplayName(in.relative, m.name);
      f.archive_member = m.name;
      f.skip_reason = m.skip_reason;
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace celmatch
