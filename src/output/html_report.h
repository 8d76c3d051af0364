// `celmatch match --report FILE`: one self-contained HTML page an investigator
// can hand over: a summary per production (files matched, sources and time
// ranges, counts of unmatched / skipped / failed files), then one row per file
// with the query's thumbnail beside the matched reference frame (the matched
// region outlined), production / source / timecode, score and evidence, and
// for clips the aligned segment. Sorting and filtering by production, status
// and score run in plain JavaScript inside the page; the filter state lives
// in the URL fragment (report.html#status=match&production=X&min_score=0.8&
// sort=score), so a link reopens the same view.
//
// Offline by construction: no external resource; pictures are data: URIs, and
// a Content-Security-Policy forbids any network load and any script but the
// page's own (pinned by its SHA-256), so markup smuggled into a file name could
// not run even if escaping failed. Every string from the dump or the catalog
// is HTML-escaped.
//
// Results are kept in memory until the end of the run, so keep them small:
// the query thumbnail is a small JPEG (MatchOptions::query_thumbnail_max_side);
// reference thumbnails are read from the index only when the page is written.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
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
};

// Escapes & < > " ' so that `text` is safe as element text and inside quoted
// attribute values.
std::string HtmlEscape(std::string_view text);

class HtmlReport {
 public:
  // Thread-safe.
  void Add(FileResult result);
  size_t size() const;

  // The page, rows in the order results were added.
  std::string Render(const ReportRunInfo& info, const ReferencePictureFn& reference) const;
  // Render, written to a temporary name beside `path` and renamed over it.
  Status Write(const std::string& path, const ReportRunInfo& info, const ReferencePictureFn& reference) const;

 private:
  mutable std::mutex mu_;
  std::vector<FileResult> results_;
};

}  // namespace celmatch
