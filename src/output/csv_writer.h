// `celmatch match --csv FILE`: one row per input file, for spreadsheets,
// written as results arrive (beside the JSON Lines, which stay the complete
// record: the CSV carries only the best match of each file). New columns go
// at the end, so that a column keeps its place for the sheets built on it.
//
// Every field from a dump or the catalog is quoted as needed and guarded
// against formula injection (core/csv.h). Thread-safe: Write may be called from
// many threads; each row goes out in one write(2), as with JsonlWriter.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "match/match_result.h"

namespace celmatch {

// The header row's field names, in order.
const std::vector<std::string>& CsvResultColumns();
// The fields of one file's row (unquoted), in CsvResultColumns() order.
std::vector<std::string> FileResultToCsvFields(const FileResult& r);

class CsvWriter {
 public:
  // Creates (truncates) `path` ("-": standard output) and writes the header row.
  static Result<std::unique_ptr<CsvWriter>> Open(const std::string& path);
  ~CsvWriter();
  Status Write(const FileResult& r);

 private:
  CsvWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status WriteText(const std::string& text);
  std::mutex mu_;
  int fd_;
  std::string path_;
};

}  // namespace celmatch
