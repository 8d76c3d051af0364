#include "output/resume_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "output/run_record.h"

namespace celmatch {

std::string ReportedFileKey(const std::string& display_path) {
  return nlohmann::json(display_path).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<ReportedFiles> PrepareResume(const std::string& path,
                                    const std::function<void(const nlohmann::json&)>& on_record) {
  ReportedFiles out;
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return out;
    return Status::IoError(path + ": cannot open to resume: " + std::strerror(errno));
  }
  std::string data;
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      return Status::IoError(path + ": read error: " + err);
    }
    if (n == 0) break;
    data.append(buf.data(), size_t(n));
  }
  const size_t complete = data.rfind('\n') == std::string::npos ? 0 : data.rfind('\n') + 1;
  if (complete < data.size()) {
    if (::ftruncate(fd, off_t(complete)) != 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      return Status::IoError(path + ": cannot remove the partial last line: " + err);
    }
    out.truncated_bytes = int64_t(data.size() - complete);
  }
  ::close(fd);
  size_t begin = 0;
  while (begin < complete) {
    const size_t end = data.find('\n', begin);
    const std::string_view line(data.data() + begin, end - begin);
    begin = end + 1;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (IsRunRecord(j)) continue;  // a run's first line, not a file's
    if (j.is_discarded() || !j.is_object() || !j.contains("file") || !j["file"].is_string()) {
      ++out.unreadable_lines;
      continue;
    }
    out.keys.insert(j["file"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    ++out.records;
    if (on_record) on_record(j);
  }
  return out;
}

}  // namespace celmatch
