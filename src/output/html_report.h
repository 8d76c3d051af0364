// `celmatch match --report FILE`: self-contained HTML pages an investigator
// can hand over: a summary per production (files matched, sources and time
// ranges, counts of unmatched / skipped / failed files), then one row per file
// with the query's thumbnail beside the matched reference frame (the matched
// region outlined), production / source / timecode, score and evidence, and
// for clips the aligned segment. Sorting and filtering by production, status
// and score run in plain JavaScript inside the page; the filter state lives
// in the URL fragment (report.html#status=match&production=X&min_score=0.8&
// sort=score&q=ep01), so a link reopens the same view; `q` filters by a part
// of the file name (the search box).
//
// The header lists the match settings the caller knows (thresholds, the
// learned-embedding model and whether it ran). The summary has one row per
// production with its counts and, per source, a timeline: where the matched
// times fall along the source's duration. Sorting by production groups the
// rows under one heading per production. Clicking a picture opens a larger
// view of the query laid over its matched region of the reference frame,
// with a slider between the two and a flicker toggle that alternates them in
// place; a click or Escape closes it.
//
// Offline by construction: no external resource; pictures are data: URIs, and
// a Content-Security-Policy forbids any network load and any script but the
// page's own (pinned by its SHA-256), so markup smuggled into a file name could
// not run even if escaping failed. Every string from the dump or the catalog
// is HTML-escaped.
//
// Rows are rendered as results are added, into a file beside the report
// (PATH.rows.tmp), so a run of millions of files holds only the summary's
// counts in memory (and the first marks of each source's timeline), not its
// results or thumbnails. A report of more than `rows_per_page` files is split
// into pages (PATH, then PATH-2.html, ...), each with the whole run's header
// and summary and links to the others; filters, sorting and search act on the
// page's own rows.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "match/match_result.h"

namespace celmatch {

// The reference side of a match as the report shows it.
struct ReferencePicture {
  std::vector<uint8_t> jpeg;  // empty: no thumbnail (e.g. a reference imported from a hash list)
  int source_width = 0;       // pixels of the reference source (0 = unknown)
  int source_height = 0;
};
using ReferencePictureFn = std::function<ReferencePicture(int64_t frame_id)>;

struct ReportRunInfo {
  std::string index_dir;
  std::vector<std::string> inputs;  // the PATH arguments
  std::string version;              // of celmatch
  std::string generated_at;         // a date as the caller wants it shown
  double elapsed_s = 0;
  // Settings shown in the page header as (name, value), in this order: what
  // the caller knows of the run (thresholds, the embedding model). The JSON
  // Lines do not record the options, so `celmatch report` knows fewer.
  std::vector<std::pair<std::string, std::string>> settings;
  // The duration in seconds of the source a match is in (0: unknown or a
  // still), for the summary's timelines. Unset or 0: a timeline ends at the
  // latest matched time of its source.
  std::function<double(const Match& match)> source_duration;
};

// Escapes & < > " ' so that `text` is safe as element text and inside quoted
// attribute values.
std::string HtmlEscape(std::string_view text);

class HtmlReport {
 public:
  // Files a page; a page of matches with both thumbnails weighs about 25 MB.
  static constexpr size_t kRowsPerPage = 1000;

  // A report to be written at `path`; creates its rows file beside it.
  // `reference` gives a match's reference picture when its row is added.
  static Result<std::unique_ptr<HtmlReport>> Create(const std::string& path, ReferencePictureFn reference,
                                                    size_t rows_per_page = kRowsPerPage);
  ~HtmlReport();  // removes the rows file
  HtmlReport(const HtmlReport&) = delete;
  HtmlReport& operator=(const HtmlReport&) = delete;

  // Renders the file's row and counts it. Thread-safe. An error (the rows
  // file cannot be written) is returned again by every later call.
  Status Add(const FileResult& result);
  size_t size() const;

  // Writes the page(s), each to a temporary name beside it and renamed over
  // it; returns their paths, `path` first. Rows added later go on the pages
  // of a later Finish.
  Result<std::vector<std::string>> Finish(const ReportRunInfo& info);

  // The file of page `page` (0-based) of a report at `path`: `path` itself,
  // then its name with -2, -3, ... before the extension.
  static std::string PagePath(const std::string& path, size_t page);

  struct Totals;

 private:
  HtmlReport(std::string path, ReferencePictureFn reference, size_t rows_per_page);

  const std::string path_, rows_path_;
  const ReferencePictureFn reference_;
  const size_t rows_per_page_;
  mutable std::mutex mu_;
  std::unique_ptr<Totals> totals_;
  std::FILE* rows_ = nullptr;
  std::vector<uint64_t> page_start_;  // offset in the rows file of each page's first row
  Status error_;
};

}  // namespace celmatch
