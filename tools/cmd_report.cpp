// `celmatch report RESULTS.jsonl --index DIR --out report.html`: the HTML
// report rebuilt from JSON Lines that `match` wrote (also after --resume,
// whose runs append to one file), with the reference frames from the index
// and the stills' thumbnails read again from their files.
#include <cstdio>
#include <fstream>
#include <functional>
#include <unordered_map>

#include "cli_common.h"
#include "output/run_record.h"
#include "output/jsonl_reader.h"

namespace celmatch::cli {
namespace {

struct ReportArgs {
  std::string results, index_dir, out;
};

// A file's name as a 128-bit key (two independent 64-bit hashes): the
// de-duplication below holds the keys, not the names; two names of a run of
// 10 million files share a key with probability about 1e-25.
struct FileKey {
  uint64_t a = 0, b = 0;
  bool operator==(const FileKey& o) const { return a == o.a && b == o.b; }
};
struct FileKeyHash {
  size_t operator()(const FileKey& k) const { return size_t(k.a ^ (k.b * 0x9e3779b97f4a7c15ull)); }
};
FileKey KeyOf(const std::string& file) {
  uint64_t fnv = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : file) fnv = (fnv ^ c) * 0x100000001b3ull;
  return {uint64_t(std::hash<std::string>()(file)), fnv};
}

// Where a file's rows are in the JSON Lines: its first line (the row's place)
// and the offset of its last one (the record shown).
struct FileLines {
  int64_t first_line = 0;
  std::streamoff last_offset = 0;
};

int RunReport(const ReportArgs& a) {
  Status writable = CheckWritable(a.out);
  if (!writable.ok()) return Fatal(writable);
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(a.index_dir);
  if (!index.ok()) return Fatal(index.status());
  std::ifstream in(a.results, std::ios::binary);
  if (!in) return Fatal(Status::IoError(a.results + ": cannot read"));
  // One row per file: a file reported twice (a resumed run that matched the
  // file in flight again) keeps its last record, at its first place. Two
  // passes, so that only the files' keys are held, never the records.
  std::unordered_map<FileKey, FileLines, FileKeyHash> lines_of;
  std::string line;
  nlohmann::json run_record;
  int64_t lineno = 0, unreadable = 0;
  for (std::streamoff offset = 0; std::getline(in, line); offset = in.tellg()) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (IsRunRecord(j)) {  // the settings of the last run are shown
      run_record = std::move(j);
      continue;
    }
    Result<FileResult> r = j.is_discarded() ? Result<FileResult>(Status::Corrupt("not JSON")) : FileResultFromJson(j);
    if (!r.ok()) {
      if (++unreadable <= 5)
        std::fprintf(stderr, "celmatch: warning: %s:%lld: %s\n", a.results.c_str(), (long long)lineno,
                     r.status().message().c_str());
      continue;
    }
    auto [it, fresh] = lines_of.try_emplace(KeyOf(r->file), FileLines{lineno, offset});
    it->second.last_offset = offset;
  }
  ReportRunInfo info;
  info.index_dir = a.index_dir;
  info.inputs = {a.results};
  info.version = CELMATCH_VERSION;
  info.generated_at = UtcNow();
  DescribeRunForReport(&info, **index, run_record.is_null() ? nullptr : &run_record);
  Result<std::unique_ptr<HtmlReport>> report = HtmlReport::Create(a.out, ReferencePicturesOf(**index));
  if (!report.ok()) return Fatal(report.status());
  // Second pass: each file's row at its first line, from its last record.
  in.clear();
  in.seekg(0);
  lineno = 0;
  double elapsed = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    Result<FileResult> r = FileResultFromJson(nlohmann::json::parse(line, nullptr, false));
    if (!r.ok()) continue;  // the run records, and lines warned about above
    const auto it = lines_of.find(KeyOf(r->file));
    if (it == lines_of.end() || it->second.first_line != lineno) continue;
    const std::streamoff here = in.tellg();
    std::string last;
    if (in.seekg(it->second.last_offset) && std::getline(in, last)) {
      Result<FileResult> newer = FileResultFromJson(nlohmann::json::parse(last, nullptr, false));
      if (newer.ok() && newer->file == r->file) r = std::move(newer);
    }
    in.clear();
    in.seekg(here);
    AddQueryThumbnail(&*r, kReportThumbnailSide);
    elapsed += r->elapsed_s;
    if (Status st = (*report)->Add(*r); !st.ok()) return Fatal(st);
  }
  info.elapsed_s = elapsed;
  Result<std::vector<std::string>> pages = (*report)->Finish(info);
  if (!pages.ok()) return Fatal(pages.status());
  std::fprintf(stderr, "%s: %zu files from %s%s\n", ReportWrittenLine(*pages).c_str(), (*report)->size(),
               a.results.c_str(), unreadable ? (", " + std::to_string(unreadable) + " lines not records").c_str() : "");
  return kExitOk;
}

}  // namespace

void RegisterReportCommand(CLI::App& app, CommandRegistry& registry) {
  auto a = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand("report", "Rebuild the HTML report from the JSON Lines of `match`");
  cmd->add_option("results", a->results, "JSON Lines written by `celmatch match --out`")->required();
  cmd->add_option("--index", a->index_dir, "The index the results were matched against")->required();
  cmd->add_option("--out,-o", a->out, "The HTML file to write")->required();
  registry.Add(cmd, [a] { return RunReport(*a); });
}

}  // namespace celmatch::cli
