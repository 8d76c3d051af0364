// Crash-safe file replacement and FAISS threading for the index directory.
// Internal to index/: the one way an index file is written (temp file, fsync,
// rename over the old one, fsync the directory), so a kill at any moment
// leaves either the old file or the new one.
#pragma once

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

// Replaces `path` (inside `dir`) by `index` in FAISS's format, atomically.
// `what` names the index in error messages ("hash index", "feature index").
Status WriteBinaryIndexAtomically(const std::string& dir, const std::string& path, const faiss::IndexBinary& index,
                                  const char* what);

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
