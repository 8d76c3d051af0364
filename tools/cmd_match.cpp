// `celmatch match`: match every file of a dump against an index.
#include <atomic>
#include <cstdio>
#include <mutex>

#include "cli_common.h"
#include "core/input_walker.h"
#include "core/thread_pool.h"
#include "index/reference_index.h"
#include "match/matcher.h"
#include "output/jsonl_writer.h"

namespace celmatch::cli {
namespace {


int RunMatch(const std::string& dir, const std::vector<std::string>& paths, const std::string& out_path,
             int jobs, const MatchOptions& options) {
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(dir);
  if (!index.ok()) return Fatal(index.status());
  Result<std::unique_ptr<JsonlWriter>> writer = JsonlWriter::Open(out_path, false);
  if (!writer.ok()) return Fatal(writer.status());
  Matcher matcher(**index, options);
  std::vector<InputFile> inputs = WalkInputs(paths);
  Progress progress(inputs.size());
  std::atomic<int64_t> counts[4] = {0, 0, 0, 0};
  Status write_error;
  std::mutex write_mu;
  {
    ThreadPool pool(size_t(std::max(1, jobs)));
    for (const InputFile& in : inputs) {
      pool.Submit([&, in] {
        FileResult r = matcher.MatchFile(in);
        counts[int(r.status)]++;
        Status st = (*writer)->Write(FileResultToJson(r));
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
  std::fprintf(stderr, "%zu files: %lld matched, %lld not matched, %lld errors, %lld skipped in %.1f s\n",
               inputs.size(), (long long)counts[0].load(), (long long)counts[1].load(), (long long)counts[2].load(),
               (long long)counts[3].load(), progress.elapsed_s());
  return kExitOk;
}

struct MatchArgs {
  std::string index_dir;
  std::vector<std::string> paths;
  std::string out_path = "-";
  int jobs = DefaultJobs();
  bool no_dihedral = false;
  MatchOptions options;
};

}  // namespace

void RegisterMatchCommand(CLI::App& app, CommandRegistry& registry) {
  auto a = std::make_shared<MatchArgs>();
  CLI::App* match_cmd =
      app.add_subcommand("match", "Match every image and video under the given paths; one JSON line per file");
  match_cmd->add_option("--index", a->index_dir, "Index directory")->required();
  match_cmd->add_option("--out,-o", a->out_path, "JSON Lines output file (default: standard output)");
  match_cmd->add_option("--jobs,-j", a->jobs, "Files matched in parallel (default: all cores)")
      ->check(CLI::PositiveNumber);
  match_cmd->add_option("--max-distance", a->options.max_distance,
                        "PDQ Hamming distance accepted as a match (default 31)")
      ->check(CLI::Range(0, 128));
  match_cmd->add_option("--min-quality", a->options.min_quality,
                        "PDQ quality below which a picture is too uniform to identify (default 10)")
      ->check(CLI::Range(0, 100));
  match_cmd->add_flag("--no-dihedral", a->no_dihedral, "Do not search flipped and rotated variants");
  match_cmd->add_option("--max-matches", a->options.max_matches, "Sources reported per file (default 5)")
      ->check(CLI::PositiveNumber);
  match_cmd->add_option("paths", a->paths, "Files and folders of the dump (walked recursively)")->required();
  registry.Add(match_cmd, [a] {
    a->options.dihedral = !a->no_dihedral;
    return RunMatch(a->index_dir, a->paths, a->out_path, a->jobs, a->options);
  });
}

}  // namespace celmatch::cli
