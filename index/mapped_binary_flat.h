// MappedBinaryFlat: the codes of a FAISS binary index file searched in place,
// through a read-only shared memory map, so every process on a host that
// searches the same file shares one copy of its codes in the page cache.
//
// Reads an IndexBinaryFlat file, or the flat storage inside an
// IndexBinaryMultiHash file (FAISS writes it whole right after the multihash
// header), so a reader can scan either kind of pdq.faissbin without loading
// it (see ReferenceIndex::OpenForRead for when it does).
//
// Why not FAISS: 1.7.3's read_index_binary ignores IO_FLAG_MMAP for flat
// binary indexes (it copies the codes into a std::vector per process; the
// flag maps only IVF inverted lists), measured by `celmatch bench throughput
// --scale`. The file layout is FAISS's own (fourcc "IBxF", d, code_size,
// ntotal, is_trained, metric_type, then the code vector), and the distance is
// FAISS's Hamming kernel (faiss::HammingComputer32's popcounts, reading the
// unaligned mapped codes through memcpy) compiled in this library,
// with the POPCNT instruction that Debian's libfaiss is built without (4-10x
// faster than IndexBinaryFlat::search here). Results equal
// IndexBinaryFlat::search's: k nearest, ties broken by the lower id.
//
// Thread-safety: Search may be called from many threads at once. The file
// must not be rewritten in place while mapped (celmatch replaces index files
// by rename, which leaves a mapping on the old file valid).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace celmatch {

class MappedBinaryFlat {
 public:
  // kNotFound when the file is missing; kCorrupt naming the file when it is
  // not an IndexBinaryFlat of `code_bytes`-byte codes or is truncated.
  static Result<std::unique_ptr<MappedBinaryFlat>> Open(const std::string& path, size_t code_bytes = 32);
  ~MappedBinaryFlat();
  MappedBinaryFlat(const MappedBinaryFlat&) = delete;
  MappedBinaryFlat& operator=(const MappedBinaryFlat&) = delete;

  int64_t size() const { return n_; }
  const uint8_t* code(int64_t i) const { return codes_ + size_t(i) * code_bytes_; }

  struct Neighbor {
    int64_t id;
    int distance;
  };
  // The k nearest codes to `query` (code_bytes long) at Hamming distance <=
  // max_distance, nearest first (ties by id). Runs on the calling thread.
  std::vector<Neighbor> Search(const uint8_t* query, int k, int max_distance = 1 << 30) const;
  // "flat" or "multihash": the kind of FAISS file mapped.
  const char* file_kind() const { return kind_; }
  size_t mapped_bytes() const { return map_bytes_; }

 private:
  MappedBinaryFlat() = default;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const uint8_t* codes_ = nullptr;
  size_t code_bytes_ = 0;
  int64_t n_ = 0;
  const char* kind_ = "flat";
};

}  // namespace celmatch
