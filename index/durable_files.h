// Crash-safe file replacement and FAISS threading for the index directory.
// Internal to index/: the one way an index file is written (temp file, fsync,
// rename over the old one, fsync the directory), so a kill at any moment
// leaves either the old file or the new one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <omp.h>

#include "core/status.h"

namespace faiss {
struct IndexBinary;
}

namespace celmatch {

// fsync of a directory, so a rename() in it is durable.
Status SyncDir(const std::string& dir);

// Replaces `path` (inside `dir`) by `bytes` atomically.
Status WriteFileAtomically(const std::string& dir, const std::string& path, const std::string& bytes);

// Replaces `path` (inside `dir`) by `index` in FAISS's format and its seal,
// atomically.
// `what` names the index in error messages ("hash index", "feature index").
Status WriteBinaryIndexAtomically(const std::string& dir, const std::string& path, const faiss::IndexBinary& index,
                                  const char* what);

// Sealed files: every file of the index besides the catalog and the manifest
// ends in a 24-byte seal, "CMSEAL01", the payload's size (u64) and its CRC-32
// (u32), then 4 zero bytes. A file is parsed only when its seal holds, so
// damaged bytes never reach FAISS's readers (which assert, or read out of
// bounds, on a bad table). The seal is written with the file (temp + rename),
// so a kill at any moment leaves a sealed file. FAISS's readers stop at the
// end of the index and ignore the seal behind it.
constexpr size_t kSealBytes = 24;

// Replaces `path` (inside `dir`) by `bytes` and their seal, atomically.
Status WriteSealedFileAtomically(const std::string& dir, const std::string& path, std::string bytes);

// A sealed file written piece by piece, for files too large to hold twice in
// memory: Append streams the payload to `path`.tmp (buffered) while its
// CRC-32 is summed, and Commit writes the seal, fsyncs and renames it over
// `path` (then fsyncs `dir`). Destroyed before Commit: the temp file is
// removed and `path` is untouched.
class SealedFileWriter {
 public:
  static Result<std::unique_ptr<SealedFileWriter>> Create(const std::string& dir, const std::string& path);
  ~SealedFileWriter();
  SealedFileWriter(const SealedFileWriter&) = delete;
  SealedFileWriter& operator=(const SealedFileWriter&) = delete;

  Status Append(const void* data, size_t n);
  // Appends zero bytes until the payload's size is a multiple of `alignment`.
  Status Pad(size_t alignment);
  uint64_t size() const { return size_; }
  Status Commit();

 private:
  SealedFileWriter() = default;
  Status Flush();
  std::string dir_, path_, tmp_;
  int fd_ = -1;
  uint64_t size_ = 0;
  unsigned long crc_ = 0;
  std::vector<char> buffer_;
};

// A sealed file mapped read-only and shared (MAP_SHARED: every process on a
// host reading the same file shares its pages in the page cache), its seal
// verified over the mapping before anything reads the payload. The mapping
// stays valid when the file is replaced by rename, as celmatch's writers do.
class MappedSealedFile {
 public:
  // kNotFound when missing; kCorrupt as ReadSealedFile.
  static Result<std::shared_ptr<const MappedSealedFile>> Open(const std::string& path);
  ~MappedSealedFile();
  MappedSealedFile(const MappedSealedFile&) = delete;
  MappedSealedFile& operator=(const MappedSealedFile&) = delete;

  const uint8_t* data() const { return static_cast<const uint8_t*>(map_); }
  size_t size() const { return payload_; }  // the payload's bytes, seal excluded

 private:
  MappedSealedFile() = default;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  size_t payload_ = 0;
};

// The payload of the sealed file at `path`. kNotFound when it does not exist;
// kCorrupt, naming the file and the reason, when it is a symbolic link, not a
// regular file, has no seal, or its size or checksum do not match.
Result<std::string> ReadSealedFile(const std::string& path);

// As ReadSealedFile, without keeping the bytes.
Status VerifySealedFile(const std::string& path);

// The FAISS binary index in the sealed file at `path`, read once and parsed
// from the verified bytes; null when the file is missing, unsealed, damaged
// or not a FAISS binary index (callers then rebuild it from the catalog).
std::unique_ptr<faiss::IndexBinary> ReadSealedBinaryIndex(const std::string& path);

// Indexes written before seals: a file without the seal's magic is returned
// whole unless `require_seal`; one with it must hold its seal.
Result<std::string> ReadMaybeSealedFile(const std::string& path, bool require_seal);

// Runs FAISS on the calling thread only, for the guard's lifetime. A single
// query gains nothing from an OpenMP team (IndexBinaryFlat opens one per 64k
// codes and waits for it at a barrier: at 1M codes on a busy 2-core machine
// 89 ms a query instead of 25 ms), and searches are called from many threads
// at once. The OpenMP setting is per thread, so this is thread-safe.
class SingleThreadedOpenMp {
 public:
  SingleThreadedOpenMp() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SingleThreadedOpenMp() { omp_set_num_threads(saved_); }
  SingleThreadedOpenMp(const SingleThreadedOpenMp&) = delete;
  SingleThreadedOpenMp& operator=(const SingleThreadedOpenMp&) = delete;

 private:
  int saved_;
};

}  // namespace celmatch
