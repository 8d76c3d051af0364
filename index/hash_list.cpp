#include "index/hash_list.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "core/csv.h"
#include "core/file_digest.h"

namespace celmatch {

namespace {

const std::vector<std::string> kColumns = {"hash", "quality", "production", "source", "time", "span_end", "kind"};

// Shortest text that reads back as the same double, so an exported and
// re-imported index places matches at exactly the same times.
std::string ExactNumber(double x) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(x);
}

std::optional<double> ParseNumber(const std::string& s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

struct ImportedFrame {
  PdqHash hash;
  int quality = 0;
  std::optional<double> time_s, span_end_s;
  bool span = false;  // kind "span": a span hash of the frame before it
};

struct ImportedSource {
  std::string production, source;
  std::vector<ImportedFrame> frames;
};

}  // namespace

Status ExportHashList(const ReferenceIndex& index, const std::string& path) {
  std::string text = CsvRow(kColumns, false);
  for (int64_t f = 0; f < index.frame_count(); ++f) {
    const FrameRecord& fr = index.frame(f);
    const SourceRecord& src = index.source(fr.source_id);
    const std::string& production = index.production(src.production_id).name;
    text += CsvRow({fr.pdq.ToHex(), std::to_string(fr.quality), production, src.path,
                    src.is_still ? "" : ExactNumber(fr.time_s), src.is_still ? "" : ExactNumber(fr.span_end_s), "frame"},
                   true);
    for (const SpanHash& h : fr.span_hashes)
      text += CsvRow({h.hash.ToHex(), "", production, src.path, ExactNumber(h.time_s), "", "span"}, true);
  }
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (std::ferror(stdout)) return Status::IoError("stdout: write failed");
    return Status::Ok();
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError(path + ": cannot open for writing: " + std::strerror(errno));
    out.write(text.data(), std::streamsize(text.size()));
    out.close();
    if (!out) return Status::IoError(path + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IoError(path + ": cannot rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

Result<HashListImportReport> ImportHashList(ReferenceIndex& index, const std::string& csv_path) {
  std::ifstream in(csv_path, std::ios::binary);
  if (!in) return Status::IoError(csv_path + ": cannot open: " + std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  Result<std::vector<std::vector<std::string>>> records = ParseCsv(buf.str());
  if (!records.ok()) return records.status().WithPrefix(csv_path);
  if (records->empty()) return Status::Corrupt(csv_path + ": empty hash list (no header row)");

  // Columns by name, so that lists with the columns in another order, or
  // with more columns, are read too.
  std::map<std::string, size_t> col;
  const std::vector<std::string>& header = records->front();
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* required : {"hash", "quality", "production", "source"})
    if (!col.count(required))
      return Status::Corrupt(csv_path + ": header has no \"" + std::string(required) +
                             "\" column (expected hash,quality,production,source,time,span_end)");
  auto field = [&](const std::vector<std::string>& row, const char* name) -> std::string {
    auto it = col.find(name);
    return it == col.end() || it->second >= row.size() ? std::string() : row[it->second];
  };

  std::vector<ImportedSource> sources;
  std::map<std::pair<std::string, std::string>, size_t> source_of;
  for (size_t r = 1; r < records->size(); ++r) {
    const std::vector<std::string>& row = (*records)[r];
    const std::string where = csv_path + ": record " + std::to_string(r + 1);
    Result<PdqHash> hash = PdqHash::FromHex(field(row, "hash"));
    if (!hash.ok()) return Status::Corrupt(where + ": " + hash.status().message());
    const std::string kind = field(row, "kind");
    if (kind != "" && kind != "frame" && kind != "span")
      return Status::Corrupt(where + ": kind \"" + kind + "\" is neither frame nor span");
    const bool span = kind == "span";
    // A span hash's quality is its frame's: the column may be empty.
    std::optional<double> quality = span && field(row, "quality").empty() ? 0.0 : ParseNumber(field(row, "quality"));
    if (!quality || *quality < 0 || *quality > 100 || *quality != std::floor(*quality))
      return Status::Corrupt(where + ": quality \"" + field(row, "quality") + "\" is not an integer 0..100");
    ImportedFrame frame{*hash, int(*quality), std::nullopt, std::nullopt, span};
    for (auto [name, target] : {std::pair{"time", &frame.time_s}, std::pair{"span_end", &frame.span_end_s}}) {
      const std::string text = field(row, name);
      if (text.empty()) continue;
      std::optional<double> v = ParseNumber(text);
      if (!v || *v < 0) return Status::Corrupt(where + ": " + name + " \"" + text + "\" is not a time in seconds");
      *target = v;
    }
    if (span && !frame.time_s) return Status::Corrupt(where + ": a span hash without a time");
    const std::string production = UnguardCsvField(field(row, "production"));
    const std::string source = UnguardCsvField(field(row, "source"));
    if (production.empty() || source.empty()) return Status::Corrupt(where + ": empty production or source");
    auto [it, inserted] = source_of.try_emplace({production, source}, sources.size());
    if (inserted) sources.push_back(ImportedSource{production, source, {}});
    sources[it->second].frames.push_back(frame);
  }

  HashListImportReport report;
  for (ImportedSource& s : sources) {
    std::stable_sort(s.frames.begin(), s.frames.end(), [](const ImportedFrame& a, const ImportedFrame& b) {
      return a.time_s.value_or(0) < b.time_s.value_or(0);
    });
    const bool is_still =
        std::all_of(s.frames.begin(), s.frames.end(), [](const ImportedFrame& f) { return !f.time_s; });
    std::string canonical = "celmatch hash list source\n" + CsvRow({s.production, s.source}, false);
    for (const ImportedFrame& f : s.frames) {
      std::vector<std::string> row = {f.hash.ToHex(), std::to_string(f.quality), f.time_s ? ExactNumber(*f.time_s) : "",
                                      f.span_end_s ? ExactNumber(*f.span_end_s) : ""};
      if (f.span) row.push_back("span");  // a list without span hashes keeps its digest
      canonical += CsvRow(row, false);
    }
    const std::string digest = Sha256Hex(canonical);
    Result<bool> present = index.HasSource(digest);
    if (!present.ok()) return present.status();
    if (*present) {
      report.sources_present++;
      continue;
    }
    SourceToAdd item;
    item.production = s.production;
    item.source.path = s.source;
    item.source.content_sha256 = digest;
    item.source.is_still = is_still;
    for (size_t i = 0; i < s.frames.size(); ++i) {
      const ImportedFrame& f = s.frames[i];
      if (f.span) {  // the frame before it in time stands for it
        if (item.frames.empty() || is_still)
          return Status::Corrupt(csv_path + ": " + s.source + ": a span hash at " + ExactNumber(*f.time_s) +
                                 " s comes before every frame of its source");
        item.frames.back().span_hashes.push_back(SpanHash{*f.time_s, f.hash});
        continue;
      }
      FrameRecord fr;
      fr.time_s = is_still ? 0 : f.time_s.value_or(0);
      fr.span_end_s = is_still ? 0 : std::max(fr.time_s, f.span_end_s.value_or(fr.time_s));
      fr.frame_number = int64_t(item.frames.size());
      fr.quality = f.quality;
      fr.pdq = f.hash;
      item.source.duration_s = std::max(item.source.duration_s, fr.span_end_s);
      item.frames.push_back(fr);
    }
    const int64_t n = int64_t(item.frames.size());
    Status st = index.AddSource(std::move(item));
    if (!st.ok()) return st.WithPrefix(csv_path);
    report.sources_added++;
    report.frames_added += n;
  }
  Status st = index.Save();
  if (!st.ok()) return st;
  return report;
}

}  // namespace celmatch
