// celmatch: the command line. Parses arguments and calls the library; no
// matching logic lives here.
//
// Exit status: 0 when the run completed (even with per-file errors), 2 for
// usage errors, 1 for fatal errors (an unreadable index, an unwritable output).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/input_walker.h"
#include "core/thread_pool.h"
#include "index/reference_builder.h"
#include "leaks/leak_score.h"
#include "leaks/leak_simulator.h"
#include "synthetic/synthetic_footage.h"
#include "index/reference_index.h"
#include "match/matcher.h"
#include "output/jsonl_writer.h"

namespace fs = std::filesystem;
using namespace celmatch;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFatal = 1;
constexpr int kExitUsage = 2;

int Fatal(const Status& st) {
  std::fprintf(stderr, "celmatch: error: %s\n", st.message().c_str());
  return kExitFatal;
}

// Per-file lines on stderr, with a progress bar under them when stderr is a
// terminal. Thread-safe.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(::isatty(STDERR_FILENO)), start_(Clock::now()) {}

  void FileDone(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    if (tty_) std::fputs("\r\033[K", stderr);
    std::fprintf(stderr, "%s\n", line.c_str());
    if (tty_) DrawBar();
    std::fflush(stderr);
  }

  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    if (tty_) std::fputs("\r\033[K", stderr);
  }

  double elapsed_s() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  void DrawBar() {
    const double t = elapsed_s();
    const double rate = t > 0 ? done_ / t : 0;
    const double eta = rate > 0 ? (total_ - done_) / rate : 0;
    const int width = 30;
    const int filled = total_ ? int(width * done_ / total_) : width;
    std::string bar(size_t(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "[%s] %zu/%zu  %.1f files/s  ETA %s", bar.c_str(), done_, total_, rate,
                 FormatTimecode(eta).substr(0, 8).c_str());
  }
  std::mutex mu_;
  size_t total_, done_ = 0;
  bool tty_;
  Clock::time_point start_;
};

int DefaultJobs() { return int(ThreadPool::DefaultThreads()); }

// --- index build / add -------------------------------------------------------

int RunIndexAdd(const std::string& dir, const std::vector<std::string>& paths,
                const std::optional<std::string>& production, int jobs, bool must_be_new) {
  if (must_be_new && fs::exists(fs::path(dir) / "manifest.json")) {
    std::fprintf(stderr,
                 "celmatch: error: %s already holds an index; use `celmatch index add` to add footage to it\n",
                 dir.c_str());
    return kExitFatal;
  }
  if (!must_be_new && !fs::exists(fs::path(dir) / "manifest.json")) {
    std::fprintf(stderr, "celmatch: error: %s is not a celmatch index (no manifest.json); create it with `celmatch index build`\n",
                 dir.c_str());
    return kExitFatal;
  }
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForWrite(dir, IndexParams{});
  if (!index.ok()) return Fatal(index.status());
  std::vector<ReferenceInput> inputs = PlanReferenceInputs(paths, production);
  BuildOptions options;
  options.jobs = jobs;
  Progress progress(inputs.size());
  int64_t added = 0, present = 0, skipped = 0, errors = 0, frames = 0;
  Status st = AddReferences(**index, inputs, options, [&](const BuildFileReport& r) {
    std::string line = OutcomeName(r.outcome);
    line.resize(16, ' ');
    line += r.input.production + " / " + r.input.source;
    switch (r.outcome) {
      case BuildFileReport::Outcome::kAdded: {
        ++added;
        frames += r.frames_kept;
        char buf[96];
        std::snprintf(buf, sizeof buf, ": %lld reference frames from %lld decoded (%.1f s)",
                      (long long)r.frames_kept, (long long)r.frames_decoded, r.seconds);
        line += buf;
        break;
      }
      case BuildFileReport::Outcome::kAlreadyPresent: ++present; line += ": " + r.message; break;
      case BuildFileReport::Outcome::kSkipped: ++skipped; line += ": " + r.message; break;
      case BuildFileReport::Outcome::kError: ++errors; line += ": " + r.message; break;
    }
    progress.FileDone(line);
  });
  progress.Finish();
  if (!st.ok()) return Fatal(st);
  std::fprintf(stderr, "%s: %lld sources added (%lld reference frames), %lld already present, %lld skipped, %lld errors in %.1f s\n",
               dir.c_str(), (long long)added, (long long)frames, (long long)present, (long long)skipped,
               (long long)errors, progress.elapsed_s());
  return kExitOk;
}

int RunIndexInfo(const std::string& dir, bool json) {
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(dir);
  if (!index.ok()) return Fatal(index.status());
  Result<IndexStats> stats = (*index)->Stats();
  if (!stats.ok()) return Fatal(stats.status());
  const ReferenceIndex& ix = **index;
  // Per production: sources and frames.
  std::map<int64_t, std::pair<int64_t, int64_t>> per_production;  // id -> sources, frames
  std::map<int64_t, std::string> names;
  for (int64_t f = 0; f < ix.frame_count(); ++f) per_production[ix.source(ix.frame(f).source_id).production_id].second++;
  std::set<int64_t> seen_sources;
  for (int64_t f = 0; f < ix.frame_count(); ++f) {
    const SourceRecord& s = ix.source(ix.frame(f).source_id);
    if (seen_sources.insert(s.id).second) per_production[s.production_id].first++;
    names[s.production_id] = ix.production(s.production_id).name;
  }
  if (json) {
    nlohmann::json j;
    j["index"] = dir;
    j["productions"] = stats->productions;
    j["sources"] = stats->sources;
    j["frames"] = stats->frames;
    j["bytes_on_disk"] = stats->bytes_on_disk;
    j["hash_index_type"] = stats->hash_index_type;
    j["params"] = ix.params().ToJson();
    nlohmann::json list = nlohmann::json::array();
    for (auto& [id, c] : per_production) list.push_back({{"name", names[id]}, {"sources", c.first}, {"frames", c.second}});
    j["per_production"] = list;
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::printf("index        %s\n", dir.c_str());
  std::printf("productions  %lld\nsources      %lld\nframes       %lld\n", (long long)stats->productions,
              (long long)stats->sources, (long long)stats->frames);
  std::printf("size on disk %.1f MiB\nhash index   %s (PDQ, 256 bits)\n", stats->bytes_on_disk / 1048576.0,
              stats->hash_index_type.c_str());
  std::printf("\n%-40s %8s %8s\n", "production", "sources", "frames");
  for (auto& [id, c] : per_production)
    std::printf("%-40s %8lld %8lld\n", names[id].c_str(), (long long)c.first, (long long)c.second);
  return kExitOk;
}

int RunIndexCheck(const std::string& dir) {
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(dir);
  if (!index.ok()) return Fatal(index.status());
  Status st = (*index)->Check();
  if (!st.ok()) return Fatal(st);
  std::printf("%s: ok (%lld frames)\n", dir.c_str(), (long long)(*index)->frame_count());
  return kExitOk;
}

// --- match -------------------------------------------------------------------

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

// --- bench -------------------------------------------------------------------

int RunBenchFootage(const std::string& out, uint32_t seed) {
  Result<std::string> distractors = WriteSyntheticFootage(out, seed, 3, 2, 12.0);
  if (!distractors.ok()) return Fatal(distractors.status());
  std::fprintf(stderr, "wrote generated footage to %s (3 productions x 2 episodes) and distractors to %s\n",
               out.c_str(), distractors->c_str());
  return kExitOk;
}

int RunBenchLeaks(const std::vector<std::string>& references, const std::vector<std::string>& distractors,
                  const std::optional<std::string>& production, const std::string& out, const std::string& truth_path,
                  const LeakDumpOptions& options) {
  std::vector<ReferenceInput> refs = PlanReferenceInputs(references, production);
  std::vector<std::string> distractor_files;
  for (const InputFile& f : WalkInputs(distractors))
    if (f.error.empty() && f.skip_reason.empty()) distractor_files.push_back(f.path);
  Result<std::vector<LeakTruth>> truth = WriteLeakDump(refs, distractor_files, out, options);
  if (!truth.ok()) return Fatal(truth.status());
  Status st = WriteTruthCsv(truth_path, *truth);
  if (!st.ok()) return Fatal(st);
  std::fprintf(stderr, "wrote %zu leak files to %s, ground truth in %s\n", truth->size(), out.c_str(),
               truth_path.c_str());
  return kExitOk;
}

int RunBenchScore(const std::string& truth_path, const std::string& results_path) {
  Result<std::vector<LeakTruth>> truth = ReadTruthCsv(truth_path);
  if (!truth.ok()) return Fatal(truth.status());
  Result<LeakScore> score = ScoreLeakRun(*truth, results_path);
  if (!score.ok()) return Fatal(score.status());
  std::fputs(FormatLeakScore(*score).c_str(), stdout);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"celmatch: find which animated production, episode and moment a leaked frame, cel or clip comes from."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("celmatch ") + CELMATCH_VERSION);

  // index
  CLI::App* index_cmd = app.add_subcommand("index", "Build, extend and inspect a reference index");
  index_cmd->require_subcommand(1);
  std::string index_dir;
  std::vector<std::string> paths;
  std::optional<std::string> production;
  int jobs = DefaultJobs();

  auto add_build_options = [&](CLI::App* c) {
    c->add_option("--index", index_dir, "Index directory")->required();
    c->add_option("--production", production, "Production name for every file (default: from folder names)");
    c->add_option("--jobs,-j", jobs, "Files decoded in parallel (default: all cores)")->check(CLI::PositiveNumber);
    c->add_option("paths", paths,
                  "Footage: a folder gives one production per subfolder (files directly in it: a production "
                  "named after the folder); a file belongs to a production named after its parent folder")
        ->required();
  };
  CLI::App* build_cmd = index_cmd->add_subcommand("build", "Create a new index from footage (videos and stills)");
  add_build_options(build_cmd);
  CLI::App* add_cmd = index_cmd->add_subcommand(
      "add", "Add footage to an existing index (content already indexed is skipped)");
  add_build_options(add_cmd);
  CLI::App* info_cmd = index_cmd->add_subcommand("info", "Productions, sources, frames, size and index type");
  info_cmd->add_option("--index", index_dir, "Index directory")->required();
  bool info_json = false;
  info_cmd->add_flag("--json", info_json, "Print as JSON");
  CLI::App* check_cmd = index_cmd->add_subcommand("check", "Verify that the catalog and the FAISS index agree");
  check_cmd->add_option("--index", index_dir, "Index directory")->required();

  // match
  CLI::App* match_cmd = app.add_subcommand(
      "match", "Match every image and video under the given paths; one JSON line per file");
  std::string out_path = "-";
  MatchOptions match_options;
  match_cmd->add_option("--index", index_dir, "Index directory")->required();
  match_cmd->add_option("--out,-o", out_path, "JSON Lines output file (default: standard output)");
  match_cmd->add_option("--jobs,-j", jobs, "Files matched in parallel (default: all cores)")->check(CLI::PositiveNumber);
  match_cmd->add_option("--max-distance", match_options.max_distance,
                        "PDQ Hamming distance accepted as a match (default 31)")
      ->check(CLI::Range(0, 128));
  match_cmd->add_option("--min-quality", match_options.min_quality,
                        "PDQ quality below which a picture is too uniform to identify (default 10)")
      ->check(CLI::Range(0, 100));
  bool no_dihedral = false;
  match_cmd->add_flag("--no-dihedral", no_dihedral, "Do not search flipped and rotated variants");
  match_cmd->add_option("--max-matches", match_options.max_matches, "Sources reported per file (default 5)")
      ->check(CLI::PositiveNumber);
  match_cmd->add_option("paths", paths, "Files and folders of the dump (walked recursively)")->required();

  // bench
  CLI::App* bench_cmd = app.add_subcommand("bench", "Leak simulation and scoring (see also bench/ for speed)");
  bench_cmd->require_subcommand(1);
  std::string bench_out, truth_path, results_path;
  uint32_t seed = 1;
  std::vector<std::string> distractors;
  LeakDumpOptions leak_options;
  CLI::App* footage_cmd = bench_cmd->add_subcommand("footage", "Generate cartoon-like footage (for demos without real footage)");
  footage_cmd->add_option("--out", bench_out, "Folder to create (distractors go to OUT-distractors)")->required();
  footage_cmd->add_option("--seed", seed, "Random seed");
  CLI::App* leaks_cmd = bench_cmd->add_subcommand(
      "leaks", "Write a labelled leak dump: frames cut at random times from reference footage, transformed, opaque names");
  leaks_cmd->add_option("--out", bench_out, "Dump folder to write")->required();
  leaks_cmd->add_option("--truth", truth_path, "Ground-truth CSV to write")->required();
  leaks_cmd->add_option("--distractors", distractors, "Footage that is not indexed (must not match)");
  leaks_cmd->add_option("--production", production, "Production name (default: from folder names, as in index build)");
  leaks_cmd->add_option("--seed", leak_options.seed, "Random seed");
  leaks_cmd->add_option("--frames", leak_options.frames_per_source, "Random times per reference video");
  leaks_cmd->add_option("--transforms", leak_options.transforms, "Transforms (png, jpeg75, half)");
  leaks_cmd->add_option("paths", paths, "Reference footage, named as in `index build`");
  CLI::App* score_cmd = bench_cmd->add_subcommand("score", "Score a `celmatch match` run against a leak dump's ground truth");
  score_cmd->add_option("--truth", truth_path, "Ground-truth CSV from `bench leaks`")->required();
  score_cmd->add_option("--results", results_path, "JSON Lines from `celmatch match`")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  match_options.dihedral = !no_dihedral;

  if (build_cmd->parsed()) return RunIndexAdd(index_dir, paths, production, jobs, true);
  if (add_cmd->parsed()) return RunIndexAdd(index_dir, paths, production, jobs, false);
  if (info_cmd->parsed()) return RunIndexInfo(index_dir, info_json);
  if (check_cmd->parsed()) return RunIndexCheck(index_dir);
  if (match_cmd->parsed()) return RunMatch(index_dir, paths, out_path, jobs, match_options);
  if (footage_cmd->parsed()) return RunBenchFootage(bench_out, seed);
  if (leaks_cmd->parsed()) return RunBenchLeaks(paths, distractors, production, bench_out, truth_path, leak_options);
  if (score_cmd->parsed()) return RunBenchScore(truth_path, results_path);
  return kExitUsage;
}
