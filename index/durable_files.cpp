#include "index/durable_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include <faiss/IndexBinary.h>
#include <faiss/index_io.h>

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

Status WriteBinaryIndexAtomically(const std::string& dir, const std::string& path, const faiss::IndexBinary& index,
                                  const char* what) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wbe");
  if (!f) return Status::IoError(tmp + ": cannot create: " + Errno(errno));
  try {
    faiss::write_index_binary(&index, f);
  } catch (const std::exception& e) {
    std::fclose(f);
    return Status::IoError(tmp + ": writing the " + what + " failed: " + e.what());
  }
  if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0) {
    int e = errno;
    std::fclose(f);
    return Status::IoError(tmp + ": flush failed: " + Errno(e));
  }
  if (std::fclose(f) != 0) return Status::IoError(tmp + ": close failed: " + Errno(errno));
  return RenameOver(dir, tmp, path);
}

}  // namespace celmatch
