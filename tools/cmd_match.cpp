// `celmatch match`: match every file of a dump against an index.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>

#include <unistd.h>

#include <opencv2/imgcodecs.hpp>

#include "cli_common.h"
#include "core/archive_reader.h"
#include "core/input_walker.h"
#include "core/interrupt.h"
#include "core/shard.h"
#include "core/thread_pool.h"
#include "frames/keyframe_sampler.h"
#include "index/reference_index.h"
#include "match/matcher.h"
#include "output/csv_writer.h"
#include "output/html_report.h"
#include "output/jsonl_reader.h"
#include "output/jsonl_writer.h"
#include "output/run_record.h"
#include "output/resume_log.h"

namespace celmatch::cli {
namespace {


// Outputs besides the JSON Lines: a CSV row per file as results arrive, and
// the HTML report written from all results at the end.
struct MatchReports {
  std::string csv_path, report_path;
};



struct MatchArgs {
  std::string index_dir;
  std::vector<std::string> paths;
  std::string out_path = "-";
  int jobs = DefaultJobs();
  bool no_dihedral = false;
  bool no_panels = false;
  std::string shard;
  bool resume = false;
  MatchReports reports;
  MatchOptions options;
  QueryEmbedding embedding;
  // What goes to --out (or standard output): "jsonl", "csv" or "table";
  // empty: a table when standard output is a terminal, JSON Lines otherwise.
  std::string format;
  bool quiet = false, no_progress = false;
  std::string files_from;  // more paths, one a line ("-": standard input)
  bool null_separated = false;  // -0: --files-from separates paths with NUL
};

// Paths listed in FILE ("-": standard input), one a line or NUL-separated.
Result<std::vector<std::string>> ReadFileList(const std::string& file, bool null_separated) {
  std::FILE* f = file == "-" ? stdin : std::fopen(file.c_str(), "rb");
  if (!f) return Status::IoError(file + ": cannot read the file list: " + std::strerror(errno));
  std::vector<std::string> out;
  std::string cur;
  const int sep = null_separated ? '\0' : '\n';
  for (int c; (c = std::fgetc(f)) != EOF;) {
    if (c == sep) {
      if (!null_separated && !cur.empty() && cur.back() == '\r') cur.pop_back();
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(char(c));
    }
  }
  if (!cur.empty()) out.push_back(cur);
  if (f != stdin) std::fclose(f);
  return out;
}

// One line per file, as the progress lines: status, file, production /
// source @ timecode, score and evidence.
class TableWriter {
 public:
  Status Write(const FileResult& r) {
    const std::string line = SummaryLine(r) + "\n";
    std::lock_guard<std::mutex> lock(mu_);
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fflush(stdout) != 0)
      return Status::IoError(std::string("standard output: write failed: ") + std::strerror(errno));
    return Status::Ok();
  }

 private:
  std::mutex mu_;
};

// This run's own output files (`outputs`; "-" and empty are standard
// output) found while walking a folder: results written into the dump are
// not part of it, and would be listed as skipped files. A file named on the
// command line is matched as asked.
void LeaveOutOwnOutputs(const std::vector<std::string>& outputs, std::vector<InputFile>* inputs) {
  std::vector<std::filesystem::path> own;
  for (const std::string& p : outputs) {
    std::error_code ec;
    if (p.empty() || p == "-") continue;
    if (std::filesystem::path c = std::filesystem::weakly_canonical(p, ec); !ec) own.push_back(std::move(c));
  }
  if (own.empty()) return;
  std::erase_if(*inputs, [&](const InputFile& in) {
    if (in.named) return false;
    const std::string name = std::filesystem::path(in.path).filename().string();
    return std::any_of(own.begin(), own.end(), [&](const std::filesystem::path& o) {
      std::error_code ec;
      return o.filename() == name && std::filesystem::weakly_canonical(in.path, ec) == o && !ec;
    });
  });
}

int RunMatch(const MatchArgs& a) {
  const std::string& dir = a.index_dir;
  const std::string& out_path = a.out_path;
  const int jobs = a.jobs;
  MatchOptions options = a.options;
  const std::string& shard_text = a.shard;
  const bool resume = a.resume;
  const MatchReports& reports = a.reports;
  const QueryEmbedding& embedding = a.embedding;
  std::vector<std::string> paths = a.paths;
  if (!a.files_from.empty()) {
    Result<std::vector<std::string>> listed = ReadFileList(a.files_from, a.null_separated);
    if (!listed.ok()) return Fatal(listed.status());
    paths.insert(paths.end(), listed->begin(), listed->end());
  }
  if (paths.empty()) {
    std::fprintf(stderr, "celmatch: error: no paths to match: give files or folders, or --files-from FILE\n");
    return kExitUsage;
  }
  const bool to_stdout = out_path.empty() || out_path == "-";
  const std::string format = !a.format.empty() ? a.format : to_stdout && ::isatty(STDOUT_FILENO) ? "table" : "jsonl";
  if (resume && format != "jsonl") {
    std::fprintf(stderr, "celmatch: error: --resume reads and appends JSON Lines: use it with --format jsonl\n");
    return kExitUsage;
  }
  Result<ShardSpec> shard = ParseShardSpec(shard_text.empty() ? "0/1" : shard_text);
  if (!shard.ok()) return Fatal(shard.status());
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(dir);
  if (!index.ok()) return Fatal(index.status());
  Result<std::shared_ptr<EmbeddingModelPool>> model = LoadQueryEmbedding(**index, dir, embedding);
  if (!model.ok()) return Fatal(model.status());
  options.embedding = *model;
  if (resume && (out_path.empty() || out_path == "-")) {
    std::fprintf(stderr, "celmatch: error: --resume needs --out FILE (the results of the run to resume)\n");
    return kExitUsage;
  }
  std::unique_ptr<CsvWriter> csv;
  if (!reports.csv_path.empty()) {
    Result<std::unique_ptr<CsvWriter>> c = CsvWriter::Open(reports.csv_path);
    if (!c.ok()) return Fatal(c.status());
    csv = std::move(*c);
  }
  // The report's rows are written as files are done; its pages at the end.
  // Checked now, so that a bad path does not cost the run.
  std::unique_ptr<HtmlReport> report;
  if (!reports.report_path.empty()) {
    Status st = CheckWritable(reports.report_path);
    if (!st.ok()) return Fatal(st);
    Result<std::unique_ptr<HtmlReport>> r = HtmlReport::Create(reports.report_path, ReferencePicturesOf(**index));
    if (!r.ok()) return Fatal(r.status());
    report = std::move(*r);
  }
  ReportedFiles reported;
  if (resume) {
    // The CSV and the report cover the whole run: the earlier records too.
    Status earlier_error;
    Result<ReportedFiles> r = PrepareResume(out_path, [&](const nlohmann::json& j) {
      if ((!csv && !report) || !earlier_error.ok()) return;
      Result<FileResult> fr = FileResultFromJson(j);
      if (!fr.ok()) return;
      if (csv) earlier_error = csv->Write(*fr);
      if (report && earlier_error.ok()) {
        AddQueryThumbnail(&*fr, options.query_thumbnail_max_side);
        earlier_error = report->Add(*fr);
      }
    });
    if (!r.ok()) return Fatal(r.status());
    if (!earlier_error.ok()) return Fatal(earlier_error);
    reported = std::move(*r);
  }
  // What made these results: the first record of the run in its JSON Lines,
  // and the report's settings.
  RunDescription run;
  run.version = CELMATCH_VERSION;
  run.started = UtcNow();
  run.index_dir = dir;
  run.inputs = paths;
  run.resumed = resume;
  if (shard->count > 1) run.shard = shard->ToString();
  const nlohmann::json run_record = RunRecordToJson(run, **index, options);
  // The main output, in its format.
  std::unique_ptr<JsonlWriter> jsonl;
  std::unique_ptr<CsvWriter> main_csv;
  std::unique_ptr<TableWriter> table;
  if (format == "jsonl") {
    Result<std::unique_ptr<JsonlWriter>> w = JsonlWriter::Open(out_path, resume);
    if (!w.ok()) return Fatal(w.status());
    jsonl = std::move(*w);
  } else if (format == "csv") {
    Result<std::unique_ptr<CsvWriter>> w = CsvWriter::Open(to_stdout ? "-" : out_path);
    if (!w.ok()) return Fatal(w.status());
    main_csv = std::move(*w);
  } else if (to_stdout) {
    table = std::make_unique<TableWriter>();
  } else {
    std::fprintf(stderr, "celmatch: error: --format table is for the terminal; write files as jsonl or csv\n");
    return kExitUsage;
  }
  Matcher matcher(**index, options);
  // Archives (zip, tar.gz) are read in place: their members become inputs.
  std::vector<InputFile> walked = WalkInputs(paths);
  LeaveOutOwnOutputs({out_path, a.reports.csv_path, a.reports.report_path}, &walked);
  std::vector<InputFile> inputs = ExpandArchives(std::move(walked));
  if (shard->count > 1) {
    // By the name printed in the output, not by position in the listing: a
    // task that walks the dump later (files added meanwhile) still takes
    // exactly its own files, so the shards' outputs add up to one run.
    const size_t all = inputs.size();
    std::erase_if(inputs, [&](const InputFile& in) { return !shard->Contains(in.display_path); });
    std::fprintf(stderr, "shard %s: %zu of %zu files\n", shard->ToString().c_str(), inputs.size(), all);
  }
  if (resume) {
    const size_t all = inputs.size();
    std::erase_if(inputs, [&](const InputFile& in) { return reported.keys.count(ReportedFileKey(in.display_path)) > 0; });
    std::fprintf(stderr, "resume: %zu of %zu files already in %s, %zu to go%s\n", all - inputs.size(), all,
                 out_path.c_str(), inputs.size(),
                 reported.truncated_bytes > 0 ? " (a partial last line was removed)" : "");
  }
  // The run record first, unless a resumed run has nothing left to add.
  if (jsonl && !(resume && inputs.empty())) {
    if (Status st = jsonl->Write(run_record); !st.ok()) return Fatal(st);
  }
  // A named path that is missing or unreadable is reported like any file and
  // makes the exit non-zero once the rest is done.
  const size_t unreadable_named =
      size_t(std::count_if(inputs.begin(), inputs.end(), [](const InputFile& in) { return in.named && !in.error.empty(); }));
  // The per-file lines would repeat a table on the same terminal.
  const bool table_on_terminal = table && ::isatty(STDOUT_FILENO) && ::isatty(STDERR_FILENO);
  Progress progress(inputs.size(), !a.quiet && !table_on_terminal, !a.quiet && !a.no_progress);
  std::atomic<int64_t> counts[4] = {0, 0, 0, 0};
  std::atomic<int64_t> not_started{0};
  // From here on SIGINT/SIGTERM stop the run cleanly (core/interrupt.h).
  InstallStopHandlers();
  Status write_error;
  std::mutex write_mu;
  {
    ThreadPool pool(size_t(std::max(1, jobs)));
    for (const InputFile& in : inputs) {
      pool.Submit([&, in] {
        if (StopRequested()) {
          ++not_started;
          return;
        }
        FileResult r = matcher.MatchFile(in);
        counts[int(r.status)]++;
        Status st = jsonl ? jsonl->Write(FileResultToJson(r)) : main_csv ? main_csv->Write(r) : table->Write(r);
        if (st.ok() && csv) st = csv->Write(r);
        if (st.ok() && report) st = report->Add(r);
        if (!st.ok()) {
          std::lock_guard<std::mutex> lock(write_mu);
          if (write_error.ok()) write_error = st;
        }
        progress.FileDone(SummaryLine(r));
      });
    }
  }
  progress.Finish();
  if (!write_error.ok()) return Fatal(write_error);
  if (report) {
    const ReferenceIndex& ix = **index;
    ReportRunInfo info;
    info.index_dir = dir;
    info.inputs = paths;
    info.version = CELMATCH_VERSION;
    info.generated_at = UtcNow();
    info.elapsed_s = progress.elapsed_s();
    DescribeRunForReport(&info, ix, &run_record);
    Result<std::vector<std::string>> pages = report->Finish(info);
    if (!pages.ok()) return Fatal(pages.status());
    if (!a.quiet) std::fprintf(stderr, "%s\n", ReportWrittenLine(*pages).c_str());
  }
  if (!a.quiet)
    std::fprintf(stderr, "%zu files: %lld matched, %lld not matched, %lld errors, %lld skipped in %.1f s\n",
               inputs.size(), (long long)counts[0].load(), (long long)counts[1].load(), (long long)counts[2].load(),
               (long long)counts[3].load(), progress.elapsed_s());
  if (StopRequested()) {
    std::fprintf(stderr, "interrupted (%s): %lld of %zu files not matched%s\n",
                 StopSignal() == SIGTERM ? "SIGTERM" : "SIGINT", (long long)not_started.load(), inputs.size(),
                 out_path.empty() || out_path == "-" ? "" : "; every finished file is in the output");
    if (out_path.empty() || out_path == "-")
      std::fprintf(stderr, "to resume, run again with --out FILE --resume (results on standard output cannot be resumed)\n");
    else
      std::fprintf(stderr, "resume with: %s\n", CommandLineWith("--resume").c_str());
    return ExitForStop(StopSignal());
  }
  if (unreadable_named > 0) {
    std::fprintf(stderr, "celmatch: error: %zu of the paths given could not be read (see above)\n", unreadable_named);
    return kExitFatal;
  }
  return kExitOk;
}


}  // namespace

void RegisterMatchCommand(CLI::App& app, CommandRegistry& registry) {
  auto a = std::make_shared<MatchArgs>();
  CLI::App* match_cmd =
      app.add_subcommand("match", "Match every image and video under the given paths; one JSON line per file");
  match_cmd->add_option("--index", a->index_dir, "Index directory")->required();
  match_cmd->add_option("--out,-o", a->out_path, "JSON Lines output file (default: standard output)");
  match_cmd->add_option("--jobs,-j", a->jobs, "Files matched in parallel (default: all cores)")
      ->check(JobsValidator());
  match_cmd->add_option("--max-distance", a->options.max_distance,
                        "PDQ Hamming distance accepted as a match (default 31)")
      ->check(CLI::Range(0, 128));
  match_cmd->add_option("--min-quality", a->options.min_quality,
                        "PDQ quality below which a picture is too uniform to identify (default 10)")
      ->check(CLI::Range(0, 100));
  match_cmd->add_option("--early-pdq-distance", a->options.early_pdq_distance,
                        "An image whose best PDQ match is within this many bits, both pictures of quality 50 or "
                        "more and no other source within 16 bits of it, is decided without local features; "
                        "-1: verify every match with local features (default 12)")
      ->check(CLI::Range(-1, 128));
  match_cmd->add_flag("--no-dihedral", a->no_dihedral, "Do not search flipped and rotated variants");
  match_cmd->add_flag("--no-panels", a->no_panels,
                      "Match a page of panels (a retake sheet, a storyboard) as one picture, not panel by panel");
  match_cmd->add_option("--max-matches", a->options.max_matches, "Sources reported per file (default 5)")
      ->check(CLI::PositiveNumber);
  match_cmd->add_option("--shard", a->shard,
                        "Only the I-th of N shares of the files (I/N, 0 <= I < N; split by file name, stable "
                        "across runs); the N outputs together are one unsharded run's")
      ->check(ShardValidator());
  match_cmd->add_flag("--resume", a->resume,
                      "Append to --out, skipping the files it already reports (a run that was killed)");
  MediaLimits& lim = a->options.limits;
  match_cmd->add_option("--max-pixels", lim.max_pixels, "Largest image or video frame in pixels (default 1e8)")
      ->check(CLI::PositiveNumber);
  match_cmd->add_option("--max-frames", lim.max_frames, "Most frames decoded per video (default 500000)")
      ->check(CLI::PositiveNumber);
  match_cmd->add_option("--max-pages", lim.max_pages,
                        "Most pages of a PDF matched; the record's note names any left (default 1000)")
      ->check(CLI::PositiveNumber);
  match_cmd->add_option("--max-seconds-per-file", lim.max_decode_wall_s,
                        "Wall time spent decoding one video or rendering one PDF's pages, seconds (default 600)")
      ->check(CLI::PositiveNumber);
  match_cmd->add_option("--max-file-size", lim.max_file_bytes, "Largest file read, bytes; suffixes k, M, G (default 8G)")
      ->transform(CLI::AsSizeValue(false));
  match_cmd->add_option("--max-memory-per-file", lim.max_memory_bytes,
                        "Estimated decoding memory per file, bytes; suffixes k, M, G (default 2G)")
      ->transform(CLI::AsSizeValue(false));
  match_cmd->add_option("--csv", a->reports.csv_path, "Also write one CSV row per file (best match) to this file");
  match_cmd->add_option("--report", a->reports.report_path,
                        "Write a self-contained HTML report (thumbnails, evidence, filters) to this file at the end");
  CLI::Option* model = match_cmd->add_option(
      "--model", a->embedding.model,
      "The learned-embedding model (ONNX) the index was built with, when not found where celmatch looks "
      "(../share/celmatch/models, ../models, models beside the executable); another model is refused");
  match_cmd->add_option("--model-manifest", a->embedding.model_manifest, "The model's JSON manifest when not beside it")
      ->needs(model);
  match_cmd->add_flag("--no-embedding", a->embedding.none,
                      "Match with PDQ and local features only, without the learned embedding")
      ->excludes(model);
  match_cmd->add_option("--embedding-neighbors", a->options.embedding_neighbors,
                        "Reference frames proposed by the embedding per query (and as many for its mirror image), "
                        "verified by local features or by edge layout (default 8)")
      ->check(CLI::Range(0, 1000));
  match_cmd->add_option("--embedding-min-layout", a->options.embedding_min_layout,
                        "Edge-layout agreement (-1..1) that accepts a proposed frame local features cannot verify, "
                        "for a picture with the frame's aspect ratio; above 1: never (default 0.8)")
      ->check(CLI::Range(-1.0, 2.0));
  match_cmd->add_option("--format", a->format,
                        "What --out (or standard output) holds: jsonl, csv or table (default: a table when standard "
                        "output is a terminal, JSON Lines otherwise)")
      ->check(CLI::IsMember({"jsonl", "csv", "table"}));
  match_cmd->add_flag("--quiet,-q", a->quiet, "Nothing on standard error but errors: no per-file lines, bar or summary");
  match_cmd->add_flag("--no-progress", a->no_progress, "No progress bar (the per-file lines stay)");
  match_cmd->add_option("--files-from", a->files_from, "Also match the paths listed in FILE, one a line (- : standard input)");
  match_cmd->add_flag("-0,--null", a->null_separated, "--files-from separates paths with NUL (find -print0, xargs -0)");
  match_cmd->add_option("paths", a->paths, "Files and folders of the dump (walked recursively)");
  registry.Add(match_cmd, [a] {
    a->options.dihedral = !a->no_dihedral;
    a->options.panels = !a->no_panels;
    if (!a->reports.report_path.empty()) a->options.query_thumbnail_max_side = kReportThumbnailSide;
    return RunMatch(*a);
  });
}

}  // namespace celmatch::cli
