// Output of `celmatch match`: one JSON object per input file (JSON Lines),
// written as results arrive.
//
// Each line goes out in a single write(2) on a file opened with O_APPEND, so
// a crash or a kill leaves only whole lines behind (at most the line being
// written is missing). Thread-safe: Write may be called from many threads.
#pragma once

#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "match/match_result.h"

namespace celmatch {

// The JSON record of one file (field names are the output format; see README).
nlohmann::json FileResultToJson(const FileResult& r);

class JsonlWriter {
 public:
  // `path` "-" or empty writes to standard output.
  static Result<std::unique_ptr<JsonlWriter>> Open(const std::string& path, bool append);
  ~JsonlWriter();
  Status Write(const nlohmann::json& record);

 private:
  JsonlWriter(int fd, bool owned, std::string path) : fd_(fd), owned_(owned), path_(std::move(path)) {}
  std::mutex mu_;
  int fd_;
  bool owned_;
  std::string path_;
};

// "HH:MM:SS.mmm" for a time in seconds.
std::string FormatTimecode(double time_s);

// One human-readable line for stderr: "match  a/b.png -> Sintel / sintel.mp4 @ 00:00:12.480 (score 0.93)".
std::string SummaryLine(const FileResult& r);

}  // namespace celmatch
