// `celmatch report RESULTS.jsonl --index DIR --out report.html`: the HTML
// report rebuilt from JSON Lines that `match` wrote (also after --resume,
// whose runs append to one file), with the reference frames from the index
// and the stills' thumbnails read again from their files.
#include <cstdio>
#include <fstream>
#include <map>

#include "cli_common.h"
#include "output/run_record.h"
#include "output/jsonl_reader.h"

namespace celmatch::cli {
namespace {

struct ReportArgs {
  std::string results, index_dir, out;
};

int RunReport(const ReportArgs& a) {
  Status writable = CheckWritable(a.out);
  if (!writable.ok()) return Fatal(writable);
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(a.index_dir);
  if (!index.ok()) return Fatal(index.status());
  std::ifstream in(a.results);
  if (!in) return Fatal(Status::IoError(a.results + ": cannot read"));
  // One row per file: a file reported twice (a resumed run that matched the
  // file in flight again) keeps its last record, at its first place.
  std::vector<FileResult> results;
  std::map<std::string, size_t> row_of;
  std::string line;
  nlohmann::json run_record;
  int64_t lineno = 0, unreadable = 0;
  while (std::getline(in, line)) {
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
    auto [it, fresh] = row_of.try_emplace(r->file, results.size());
    if (fresh) results.push_back(std::move(*r));
    else results[it->second] = std::move(*r);
  }
  HtmlReport report;
  double elapsed = 0;
  for (FileResult& r : results) {
    AddQueryThumbnail(&r, kReportThumbnailSide);
    elapsed += r.elapsed_s;
    report.Add(std::move(r));
  }
  ReportRunInfo info;
  info.index_dir = a.index_dir;
  info.inputs = {a.results};
  info.version = CELMATCH_VERSION;
  info.generated_at = UtcNow();
  info.elapsed_s = elapsed;
  DescribeRunForReport(&info, **index, run_record.is_null() ? nullptr : &run_record);
  Status st = report.Write(a.out, info, ReferencePicturesOf(**index));
  if (!st.ok()) return Fatal(st);
  std::fprintf(stderr, "report: %s (%zu files from %s%s)\n", a.out.c_str(), report.size(), a.results.c_str(),
               unreadable ? (", " + std::to_string(unreadable) + " lines not records").c_str() : "");
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
