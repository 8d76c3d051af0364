#include "index/mapped_binary_flat.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <faiss/utils/Heap.h>
#include <faiss/utils/hamming.h>

namespace celmatch {

namespace {

// FAISS's binary index header as write_index_binary lays it out (packed,
// native endianness): fourcc, d, code_size, ntotal, is_trained, metric_type;
// IndexBinaryFlat then writes its codes as a size_t count and the bytes.
constexpr size_t kHeaderBytes = 4 + 4 + 4 + 8 + 1 + 4;
constexpr size_t kCodesOffset = kHeaderBytes + 8;

template <typename T>
T ReadAt(const uint8_t* p, size_t offset) {
  T v;
  std::memcpy(&v, p + offset, sizeof v);
  return v;
}

}  // namespace

Result<std::unique_ptr<MappedBinaryFlat>> MappedBinaryFlat::Open(const std::string& path, size_t code_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::IoError(path + ": cannot stat: " + std::strerror(e));
  }
  const size_t bytes = size_t(st.st_size);
  if (bytes < kCodesOffset) {
    ::close(fd);
    return Status::Corrupt(path + ": too short for a FAISS binary index (" + std::to_string(bytes) + " bytes)");
  }
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  int e = errno;
  ::close(fd);  // the mapping keeps the file
  if (map == MAP_FAILED) return Status::IoError(path + ": mmap failed: " + std::strerror(e));
  std::unique_ptr<MappedBinaryFlat> m(new MappedBinaryFlat);
  m->map_ = map;
  m->map_bytes_ = bytes;
  const auto* p = static_cast<const uint8_t*>(map);
  // An IndexBinaryMultiHash file ("IBHm") begins with its own header, then
  // its storage, a complete IndexBinaryFlat: search that in place.
  size_t at = 0;
  if (bytes >= kHeaderBytes + kCodesOffset && std::memcmp(p, "IBHm", 4) == 0) {
    at = kHeaderBytes;
    m->kind_ = "multihash";
  }
  if (std::memcmp(p + at, "IBxF", 4) != 0) {
    return Status::Corrupt(path + ": not a FAISS IndexBinaryFlat or IndexBinaryMultiHash (fourcc '" +
                           std::string(reinterpret_cast<const char*>(p + at), 4) + "')");
  }
  const int32_t d = ReadAt<int32_t>(p, at + 4);
  const int32_t code_size = ReadAt<int32_t>(p, at + 8);
  const int64_t ntotal = ReadAt<int64_t>(p, at + 12);
  const uint64_t stored = ReadAt<uint64_t>(p, at + kHeaderBytes);
  if (code_size != int32_t(code_bytes) || d != int32_t(code_bytes * 8) || ntotal < 0 ||
      stored != uint64_t(ntotal) * code_bytes || at + kCodesOffset + stored > bytes) {
    return Status::Corrupt(path + ": header says d=" + std::to_string(d) + ", " + std::to_string(ntotal) +
                           " codes of " + std::to_string(code_size) + " bytes in a " + std::to_string(bytes) +
                           "-byte file; expected " + std::to_string(code_bytes) + "-byte codes");
  }
  m->codes_ = p + at + kCodesOffset;
  m->code_bytes_ = code_bytes;
  m->n_ = ntotal;
  // Every query scans all codes: read them in now. (Not MADV_SEQUENTIAL,
  // which lets the kernel drop pages behind a scan that will come back.) A
  // multihash file's tables, behind the codes, are never read.
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = uintptr_t(m->codes_) & ~(page - 1);
  ::madvise(reinterpret_cast<void*>(first), size_t(uintptr_t(m->codes_) + stored - first), MADV_WILLNEED);
  return m;
}

MappedBinaryFlat::~MappedBinaryFlat() {
  if (map_) ::munmap(map_, map_bytes_);
}

std::vector<MappedBinaryFlat::Neighbor> MappedBinaryFlat::Search(const uint8_t* query, int k,
                                                                  int max_distance) const {
  std::vector<Neighbor> out;
  if (k <= 0 || n_ == 0 || max_distance < 0) return out;
  const size_t kk = size_t(std::min<int64_t>(k, n_));
  // A max-heap of the kk best (distance, id) so far; its top is the worst.
  // Scanning ids in increasing order and replacing only on a strictly
  // smaller distance keeps the lowest ids among ties, as FAISS does.
  std::vector<int32_t> heap_distances(kk);
  std::vector<int64_t> heap_ids(kk);
  faiss::heap_heapify<faiss::CMax<int32_t, int64_t>>(kk, heap_distances.data(), heap_ids.data());
  int32_t worst = std::min(max_distance, int(code_bytes_ * 8)) + 1;  // admit <= max_distance
  if (code_bytes_ == 32) {
    // The codes start 33 bytes into the file, so they are not 8-byte aligned,
    // and faiss::HammingComputer32 reads them through uint64_t pointers
    // (undefined behaviour; UBSan stops on it). The same kernel over words
    // copied with memcpy, which compiles to the same unaligned loads.
    uint64_t q[4];
    std::memcpy(q, query, 32);
    for (int64_t i = 0; i < n_; ++i) {
      uint64_t c[4];
      std::memcpy(c, codes_ + size_t(i) * 32, 32);
      const int32_t dis = faiss::popcount64(q[0] ^ c[0]) + faiss::popcount64(q[1] ^ c[1]) +
                          faiss::popcount64(q[2] ^ c[2]) + faiss::popcount64(q[3] ^ c[3]);
      if (dis < worst) {
        faiss::heap_replace_top<faiss::CMax<int32_t, int64_t>>(kk, heap_distances.data(), heap_ids.data(), dis, i);
        worst = std::min(heap_distances[0], worst);
      }
    }
  } else {
    for (int64_t i = 0; i < n_; ++i) {
      const uint8_t* code = codes_ + size_t(i) * code_bytes_;
      int32_t dis = 0;
      size_t b = 0;
      for (; b + 8 <= code_bytes_; b += 8) {
        uint64_t x, y;
        std::memcpy(&x, query + b, 8);
        std::memcpy(&y, code + b, 8);
        dis += faiss::popcount64(x ^ y);
      }
      for (; b < code_bytes_; ++b) dis += faiss::popcount64(uint64_t(query[b] ^ code[b]));
      if (dis < worst) {
        faiss::heap_replace_top<faiss::CMax<int32_t, int64_t>>(kk, heap_distances.data(), heap_ids.data(), dis, i);
        worst = std::min(heap_distances[0], worst);
      }
    }
  }
  for (size_t i = 0; i < kk; ++i)
    if (heap_ids[i] >= 0) out.push_back(Neighbor{heap_ids[i], heap_distances[i]});
  std::sort(out.begin(), out.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.id < b.id;
  });
  return out;
}

}  // namespace celmatch
