#include "output/csv_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "core/csv.h"
#include "output/jsonl_writer.h"

namespace celmatch {

namespace {

std::string Fixed3(double x) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

}  // namespace

const std::vector<std::string>& CsvResultColumns() {
  static const std::vector<std::string> columns = {
      "file",          "kind",         "status",        "production",    "source",
      "time",          "timecode",     "span_start",    "span_end",      "score",
      "pdq_distance",  "quality",      "query_quality", "transform",     "samples_matched",
      "samples_total", "tied_sources", "other_matches", "reason",        "elapsed",
      "segments",      "page",         "panel"};
  return columns;
}

std::vector<std::string> FileResultToCsvFields(const FileResult& r) {
  std::vector<std::string> f(CsvResultColumns().size());
  f[0] = r.file;
  f[1] = MediaKindName(r.kind);
  f[2] = FileStatusName(r.status);
  if (!r.matches.empty()) {
    const Match& m = r.matches.front();
    f[3] = m.production;
    f[4] = m.source;
    if (!m.is_still) {  // stills have no time: empty cells, as JSON's null
      f[5] = Fixed3(m.time_s);
      f[6] = FormatTimecode(m.time_s);
      f[7] = Fixed3(m.span_start_s);
      f[8] = Fixed3(m.span_end_s);
    }
    f[9] = Fixed3(m.score);
    f[10] = std::to_string(m.evidence.pdq_distance);
    f[11] = std::to_string(m.evidence.reference_quality);
    f[12] = std::to_string(m.evidence.query_quality);
    f[13] = m.evidence.transform;
    if (r.kind == MediaKind::kVideo) {
      f[14] = std::to_string(m.evidence.samples_matched);
      f[15] = std::to_string(m.evidence.samples_total);
    }
    f[16] = std::to_string(std::max(1, r.tied_sources));
    f[17] = std::to_string(r.matches.size() - 1);
    if (m.page > 0) f[21] = std::to_string(m.page);  // a document's page, from 1
    if (m.has_panel)  // a page of panels: the panel's place, fractions of the page
      f[22] = Fixed3(m.panel[0]) + " " + Fixed3(m.panel[1]) + " " + Fixed3(m.panel[2]) + " " + Fixed3(m.panel[3]);
  }
  f[18] = (r.status == FileStatus::kError || r.status == FileStatus::kSkipped) ? r.error : r.note;
  f[19] = Fixed3(r.elapsed_s);
  // Video segments, "QUERY_START-QUERY_END=SOURCE@SOURCE_START-SOURCE_END"
  // joined by " | " (seconds; a still source has no times).
  for (const Segment& seg : r.segments) {
    if (!f[20].empty()) f[20] += " | ";
    f[20] += Fixed3(seg.query_start_s) + "-" + Fixed3(seg.query_end_s) + "=" + seg.source;
    if (!seg.is_still) f[20] += "@" + Fixed3(seg.source_start_s) + "-" + Fixed3(seg.source_end_s);
  }
  return f;
}

Result<std::unique_ptr<CsvWriter>> CsvWriter::Open(const std::string& path) {
  // "-": standard output (a copy of it, which the writer closes).
  int fd = path == "-" ? ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)
                       : ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError(path + ": cannot open for writing: " + std::strerror(errno));
  std::unique_ptr<CsvWriter> w(new CsvWriter(fd, path));
  Status st = w->WriteText(CsvRow(CsvResultColumns(), false));
  if (!st.ok()) return st;
  return w;
}

CsvWriter::~CsvWriter() { ::close(fd_); }

Status CsvWriter::Write(const FileResult& r) { return WriteText(CsvRow(FileResultToCsvFields(r), true)); }

Status CsvWriter::WriteText(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(path_ + ": write failed: " + std::strerror(errno));
    }
    done += size_t(n);
  }
  return Status::Ok();
}

}  // namespace celmatch
