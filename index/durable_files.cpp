#include "index/durable_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

#include <faiss/IndexBinary.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <zlib.h>

namespace celmatch {
namespace {

std::string Errno(int e) { return std::strerror(e); }

Status RenameOver(const std::string& dir, const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError(path + ": cannot rename " + tmp + " over it: " + Errno(errno));
  }
  return SyncDir(dir);
}

}  // namespace

namespace {

constexpr char kSealMagic[8] = {'C', 'M', 'S', 'E', 'A', 'L', '0', '1'};

uint32_t Crc32Continue(uint32_t sum, const char* data, size_t n) {
  uLong c = sum;
  for (size_t at = 0; at < n; at += (size_t(1) << 30)) {  // zlib takes a uInt length
    c = crc32(c, reinterpret_cast<const Bytef*>(data + at), uInt(std::min(n - at, size_t(1) << 30)));
  }
  return uint32_t(c);
}

uint32_t Crc32(const char* data, size_t n) { return Crc32Continue(uint32_t(crc32(0L, Z_NULL, 0)), data, n); }

// The seal of a payload of `n` bytes whose CRC-32 is `sum`.
std::string Seal(uint64_t n, uint32_t sum) {
  const uint32_t zero = 0;
  std::string seal(kSealMagic, sizeof kSealMagic);
  seal.append(reinterpret_cast<const char*>(&n), 8);
  seal.append(reinterpret_cast<const char*>(&sum), 4);
  seal.append(reinterpret_cast<const char*>(&zero), 4);
  return seal;
}

// Opens the regular file at `path` for reading (never through a symbolic
// link); its size in `*size`.
Result<int> OpenRegularFile(const std::string& path, size_t* size) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": missing");
    return Status::IoError(path + ": cannot stat: " + Errno(errno));
  }
  if (S_ISLNK(st.st_mode)) return Status::Corrupt(path + ": is a symbolic link, not a file of the index");
  if (!S_ISREG(st.st_mode)) return Status::Corrupt(path + ": not a regular file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::IoError(path + ": cannot open: " + Errno(errno));
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return Status::IoError(path + ": cannot stat: " + Errno(e));
  }
  *size = size_t(st.st_size);
  return fd;
}

// Reads the regular file at `path` whole (never through a symbolic link).
Result<std::string> ReadRegularFile(const std::string& path) {
  size_t size = 0;
  Result<int> opened = OpenRegularFile(path, &size);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  std::string out;
  out.reserve(size);
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return Status::IoError(path + ": read failed: " + Errno(e));
    }
    if (n == 0) break;
    out.append(buf.data(), size_t(n));
  }
  ::close(fd);
  return out;
}

bool HasSealMagic(const std::string& bytes) {
  return bytes.size() >= kSealBytes &&
         std::memcmp(bytes.data() + bytes.size() - kSealBytes, kSealMagic, sizeof kSealMagic) == 0;
}

// Checks the seal at the end of `bytes` (a whole file of `n` bytes); the
// payload's size in `*payload`.
Status CheckSeal(const std::string& path, const char* bytes, size_t n, size_t* payload) {
  if (n < kSealBytes || std::memcmp(bytes + n - kSealBytes, kSealMagic, sizeof kSealMagic) != 0) {
    return Status::Corrupt(path + ": no seal at its end (truncated, or not written by celmatch)");
  }
  const char* seal = bytes + n - kSealBytes;
  uint64_t stored = 0;
  uint32_t sum = 0;
  std::memcpy(&stored, seal + 8, 8);
  std::memcpy(&sum, seal + 16, 4);
  if (stored != n - kSealBytes) {
    return Status::Corrupt(path + ": its seal records " + std::to_string(stored) + " bytes, the file holds " +
                           std::to_string(n - kSealBytes) + " (truncated or extended)");
  }
  if (Crc32(bytes, size_t(stored)) != sum) return Status::Corrupt(path + ": its bytes do not match its checksum (damaged)");
  *payload = size_t(stored);
  return Status::Ok();
}

// Checks the seal of `bytes` (a whole file) and cuts it off.
Status Unseal(const std::string& path, std::string* bytes) {
  size_t payload = 0;
  CELMATCH_RETURN_IF_ERROR(CheckSeal(path, bytes->data(), bytes->size(), &payload));
  bytes->resize(payload);
  return Status::Ok();
}

}  // namespace

Result<std::string> ReadSealedFile(const std::string& path) {
  Result<std::string> bytes = ReadRegularFile(path);
  if (!bytes.ok()) return bytes.status();
  CELMATCH_RETURN_IF_ERROR(Unseal(path, &*bytes));
  return bytes;
}

Status VerifySealedFile(const std::string& path) {
  Result<std::string> bytes = ReadSealedFile(path);
  return bytes.ok() ? Status::Ok() : bytes.status();
}

namespace {

// FAISS's reader over bytes in memory (no copy).
struct BytesReader : faiss::IOReader {
  explicit BytesReader(const std::string& b) : bytes(b) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0 || at >= bytes.size()) return 0;
    const size_t n = std::min(nitems, (bytes.size() - at) / size);
    if (n == 0) return 0;  // FAISS reads empty vectors into a null pointer
    std::memcpy(ptr, bytes.data() + at, n * size);
    at += n * size;
    return n;
  }
  const std::string& bytes;
  size_t at = 0;
};

}  // namespace

std::unique_ptr<faiss::IndexBinary> ReadSealedBinaryIndex(const std::string& path) {
  Result<std::string> bytes = ReadSealedFile(path);
  if (!bytes.ok()) return nullptr;
  BytesReader reader(*bytes);
  try {
    return std::unique_ptr<faiss::IndexBinary>(faiss::read_index_binary(&reader));
  } catch (const std::exception&) {
    return nullptr;
  }
}

Result<std::string> ReadMaybeSealedFile(const std::string& path, bool require_seal) {
  Result<std::string> bytes = ReadRegularFile(path);
  if (!bytes.ok()) return bytes.status();
  if (require_seal || HasSealMagic(*bytes)) CELMATCH_RETURN_IF_ERROR(Unseal(path, &*bytes));
  return bytes;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(dir + ": cannot open directory to sync it: " + Errno(errno));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return Status::IoError(dir + ": fsync failed: " + Errno(e));
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& dir, const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError(tmp + ": cannot create: " + Errno(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return Status::IoError(tmp + ": write failed: " + Errno(e));
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    return Status::IoError(tmp + ": fsync failed: " + Errno(e));
  }
  if (::close(fd) != 0) return Status::IoError(tmp + ": close failed: " + Errno(errno));
  return RenameOver(dir, tmp, path);
}

Status WriteSealedFileAtomically(const std::string& dir, const std::string& path, std::string bytes) {
  Result<std::unique_ptr<SealedFileWriter>> w = SealedFileWriter::Create(dir, path);
  if (!w.ok()) return w.status();
  CELMATCH_RETURN_IF_ERROR((*w)->Append(bytes.data(), bytes.size()));
  return (*w)->Commit();
}

Result<std::unique_ptr<SealedFileWriter>> SealedFileWriter::Create(const std::string& dir, const std::string& path) {
  std::unique_ptr<SealedFileWriter> w(new SealedFileWriter());
  w->dir_ = dir;
  w->path_ = path;
  w->tmp_ = path + ".tmp";
  w->fd_ = ::open(w->tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd_ < 0) return Status::IoError(w->tmp_ + ": cannot create: " + Errno(errno));
  w->crc_ = crc32(0L, Z_NULL, 0);
  w->buffer_.reserve(size_t(1) << 20);
  return w;
}

SealedFileWriter::~SealedFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

Status SealedFileWriter::Flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(tmp_ + ": write failed: " + Errno(errno));
    done += size_t(n);
  }
  buffer_.clear();
  return Status::Ok();
}

Status SealedFileWriter::Append(const void* data, size_t n) {
  if (fd_ < 0) return Status::Internal(path_ + ": written after its commit");
  const char* p = static_cast<const char*>(data);
  crc_ = uLong(Crc32Continue(uint32_t(crc_), p, n));
  size_ += n;
  while (n > 0) {
    const size_t room = buffer_.capacity() - buffer_.size();
    const size_t take = std::min(n, room);
    buffer_.insert(buffer_.end(), p, p + take);
    p += take;
    n -= take;
    if (buffer_.size() == buffer_.capacity()) CELMATCH_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

Status SealedFileWriter::Pad(size_t alignment) {
  static const char zeros[64] = {};
  while (alignment > 1 && size_ % alignment != 0) {
    CELMATCH_RETURN_IF_ERROR(Append(zeros, std::min<size_t>(sizeof zeros, alignment - size_ % alignment)));
  }
  return Status::Ok();
}

Status SealedFileWriter::Commit() {
  const std::string seal = Seal(size_, uint32_t(crc_));
  buffer_.insert(buffer_.end(), seal.begin(), seal.end());
  CELMATCH_RETURN_IF_ERROR(Flush());
  if (::fsync(fd_) != 0) return Status::IoError(tmp_ + ": fsync failed: " + Errno(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    ::unlink(tmp_.c_str());
    return Status::IoError(tmp_ + ": close failed: " + Errno(errno));
  }
  return RenameOver(dir_, tmp_, path_);
}

Result<std::shared_ptr<const MappedSealedFile>> MappedSealedFile::Open(const std::string& path) {
  size_t bytes = 0;
  Result<int> opened = OpenRegularFile(path, &bytes);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  if (bytes < kSealBytes) {
    ::close(fd);
    return Status::Corrupt(path + ": no seal at its end (truncated, or not written by celmatch)");
  }
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);
  if (map == MAP_FAILED) return Status::IoError(path + ": mmap failed: " + Errno(e));
  std::shared_ptr<MappedSealedFile> m(new MappedSealedFile());
  m->map_ = map;
  m->map_bytes_ = bytes;
  // The checksum reads every page once, in order, and leaves them mapped.
  // (Not MADV_SEQUENTIAL, which lets the kernel drop pages behind the read
  // that the searches come back to: twice the CPU a query at 100k frames.)
  ::madvise(map, bytes, MADV_WILLNEED);
  CELMATCH_RETURN_IF_ERROR(CheckSeal(path, static_cast<const char*>(map), bytes, &m->payload_));
  return std::shared_ptr<const MappedSealedFile>(std::move(m));
}

MappedSealedFile::~MappedSealedFile() {
  if (map_) ::munmap(map_, map_bytes_);
}

Status WriteBinaryIndexAtomically(const std::string& dir, const std::string& path, const faiss::IndexBinary& index,
                                  const char* what) {
  faiss::VectorIOWriter writer;
  try {
    faiss::write_index_binary(&index, &writer);
  } catch (const std::exception& e) {
    return Status::IoError(path + ": writing the " + what + " failed: " + e.what());
  }
  return WriteSealedFileAtomically(dir, path,
                                   std::string(reinterpret_cast<const char*>(writer.data.data()), writer.data.size()));
}

}  // namespace celmatch
