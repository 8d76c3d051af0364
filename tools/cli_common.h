// Shared pieces of the `celmatch` command line: exit codes, fatal errors,
// the progress display, and the registry through which each command file
// (cmd_*.cpp) adds its subcommands. Each command file parses its own options
// and calls the library; no matching logic lives in tools/.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "index/reference_index.h"
#include "output/html_report.h"

#include "core/status.h"

namespace celmatch {
struct MatchOptions;
}

namespace celmatch::cli {

// Exit status: 0 when the run completed (even with per-file errors), 2 for
// usage errors, 1 for fatal errors (an unreadable index, an unwritable output).
constexpr int kExitOk = 0;
constexpr int kExitFatal = 1;
constexpr int kExitUsage = 2;
// Stopped by SIGINT/SIGTERM (core/interrupt.h): 128 + the signal, as a shell
// reports a process the signal ended.
inline int ExitForStop(int signal_number) { return 128 + signal_number; }

// The command line as typed (set by main), for the commands that print how
// to continue an interrupted run.
void SetCommandLine(int argc, char** argv);
// The command line, shell-quoted, with `extra` appended unless already in it.
std::string CommandLineWith(const std::string& extra);
// `s` as one shell word (quoted when it needs to be).
std::string ShellQuoted(const std::string& s);

// Prints "celmatch: error: MESSAGE" and returns kExitFatal.
int Fatal(const Status& st);

int DefaultJobs();

// Subcommands and what to run when one of them was given.
class CommandRegistry {
 public:
  void Add(CLI::App* command, std::function<int()> action) { actions_.emplace_back(command, std::move(action)); }
  // Runs the action of the parsed subcommand; kExitUsage when none.
  int RunParsed() const;

 private:
  std::vector<std::pair<CLI::App*, std::function<int()>>> actions_;
};

void RegisterIndexCommands(CLI::App& app, CommandRegistry& registry);  // cmd_index.cpp
void RegisterMatchCommand(CLI::App& app, CommandRegistry& registry);   // cmd_match.cpp
void RegisterBenchCommands(CLI::App& app, CommandRegistry& registry);  // cmd_bench.cpp
void RegisterHashCommand(CLI::App& app, CommandRegistry& registry);    // cmd_hash.cpp
void RegisterServeCommand(CLI::App& app, CommandRegistry& registry);   // cmd_serve.cpp
void RegisterReportCommand(CLI::App& app, CommandRegistry& registry);  // cmd_report.cpp

// The HTML report's helpers shared by `match --report` and `report`
// (cli_report.cpp). Query thumbnails: small, as every file's is in the page.
constexpr int kReportThumbnailSide = 160;
// Ok when `path` can be created or replaced (tried with a file beside it).
Status CheckWritable(const std::string& path);
// "YYYY-MM-DD HH:MM:SS UTC" of now.
std::string UtcNow();
// A still's query thumbnail read again from its file (`file` as recorded),
// for records of an earlier run (a PDF's: the page of its best match);
// nothing for videos, archive members, files no longer there.
void AddQueryThumbnail(FileResult* r, int max_side);
// The reference frames' thumbnails and sizes, from the index.
ReferencePictureFn ReferencePicturesOf(const ReferenceIndex& index);
// The report header's settings and the sources' durations: the thresholds,
// the embedding model and whether it ran, from the run record
// (output/run_record.h) of `match` or the last one of its JSON Lines
// (`report`); without one (JSON Lines of schema 1), the index's model only.
void DescribeRunForReport(ReportRunInfo* info, const ReferenceIndex& index, const nlohmann::json* run_record);
// "report: PATH" and, for a report over several pages, how many and where.
std::string ReportWrittenLine(const std::vector<std::string>& pages);

// Which embedding model embeds the queries (`match`, `serve`): the index's
// (FindEmbeddingModel) unless --model names the file; --no-embedding: none.
struct QueryEmbedding {
  std::string model, model_manifest;
  bool none = false;
};
// The loaded model, or null when the index has no embeddings or `choice`
// says none; errors as ChooseQueryEmbeddingModel's (a missing model names
// the file and --no-embedding).
Result<std::shared_ptr<EmbeddingModelPool>> LoadQueryEmbedding(const ReferenceIndex& index, const std::string& dir,
                                                               const QueryEmbedding& choice);
// Checks a `--shard I/N` value (core/shard.h) while parsing, so a bad one is
// a usage error (exit 2) naming the value.
CLI::Validator ShardValidator();  // cli_shard.cpp
// Checks a `--jobs N` value: 1..4096, else a usage error that says so.
CLI::Validator JobsValidator();  // cli_shard.cpp

// `index merge`, under the `index` command created by RegisterIndexCommands.
void RegisterIndexMergeCommand(CLI::App* index_cmd, CommandRegistry& registry);  // cmd_index_merge.cpp

// Per-file lines on stderr, with a progress bar (rate, ETA) under them when
// stderr is a terminal. Thread-safe.
class Progress {
 public:
  // `lines`: one line per file; `bar`: the bar under them (only ever on a
  // terminal).
  explicit Progress(size_t total, bool lines = true, bool bar = true);
  void FileDone(const std::string& line);
  // Work inside a file (e.g. a long video being indexed), shown after the
  // bar until the next FileDone; on a terminal only, like the bar.
  void Detail(const std::string& text);
  void Finish();
  double elapsed_s() const;

 private:
  using Clock = std::chrono::steady_clock;
  void DrawBar();
  std::mutex mu_;
  size_t total_, done_ = 0;
  bool lines_, tty_;
  std::string detail_;
  Clock::time_point start_;
};

}  // namespace celmatch::cli
