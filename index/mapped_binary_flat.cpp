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
#include <omp.h>

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
  if (std::memcmp(p, "IBxF", 4) != 0) {
    return Status::Corrupt(path + ": not a FAISS IndexBinaryFlat (fourcc '" + std::string(reinterpret_cast<const char*>(p), 4) + "')");
  }
  const int32_t d = ReadAt<int32_t>(p, 4);
  const int32_t code_size = ReadAt<int32_t>(p, 8);
  const int64_t ntotal = ReadAt<int64_t>(p, 12);
  const uint64_t stored = ReadAt<uint64_t>(p, kHeaderBytes);
  if (code_size != int32_t(code_bytes) || d != int32_t(code_bytes * 8) || ntotal < 0 ||
      stored != uint64_t(ntotal) * code_bytes || kCodesOffset + stored > bytes) {
    return Status::Corrupt(path + ": header says d=" + std::to_string(d) + ", " + std::to_string(ntotal) +
                           " codes of " + std::to_string(code_size) + " bytes in a " + std::to_string(bytes) +
                           "-byte file; expected " + std::to_string(code_bytes) + "-byte codes");
  }
  m->codes_ = p + kCodesOffset;
  m->code_bytes_ = code_bytes;
  m->n_ = ntotal;
  // Scans read the codes front to back.
  ::madvise(map, bytes, MADV_SEQUENTIAL);
  return m;
}

MappedBinaryFlat::~MappedBinaryFlat() {
  if (map_) ::munmap(map_, map_bytes_);
}

std::vector<MappedBinaryFlat::Neighbor> MappedBinaryFlat::Search(const uint8_t* query, int k) const {
  std::vector<Neighbor> out;
  if (k <= 0 || n_ == 0) return out;
  const size_t kk = size_t(std::min<int64_t>(k, n_));
  std::vector<int32_t> distances(kk);
  std::vector<int64_t> ids(kk);
  faiss::int_maxheap_array_t heap = {1, kk, ids.data(), distances.data()};
  // One query gains nothing from an OpenMP team (see ReferenceIndex::Search).
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  faiss::hammings_knn_hc(&heap, query, codes_, size_t(n_), code_bytes_, /*ordered=*/1);
  omp_set_num_threads(saved);
  for (size_t i = 0; i < kk; ++i)
    if (ids[i] >= 0) out.push_back(Neighbor{ids[i], distances[i]});
  std::sort(out.begin(), out.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.id < b.id;
  });
  return out;
}

}  // namespace celmatch
