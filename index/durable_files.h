// Crash-safe file replacement and FAISS threading for the index directory.
// Internal to index/: the one way an index file is written (temp file, fsync,
// rename over the old one, fsync the directory), so a kill at any moment
// leaves either the old file or the new one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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
