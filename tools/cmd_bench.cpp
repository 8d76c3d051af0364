// `celmatch bench footage|leaks|score`: leak simulation and scoring.
#include <cstdio>
#include <optional>

#include "cli_common.h"
#include "core/input_walker.h"
#include "index/reference_builder.h"
#include "leaks/leak_score.h"
#include "leaks/leak_simulator.h"
#include "synthetic/synthetic_footage.h"

namespace celmatch::cli {
namespace {


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

struct BenchArgs {
  std::string out, truth_path, results_path;
  uint32_t seed = 1;
  std::vector<std::string> paths, distractors;
  std::optional<std::string> production;
  LeakDumpOptions leak_options;
};

}  // namespace

void RegisterBenchCommands(CLI::App& app, CommandRegistry& registry) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* bench_cmd = app.add_subcommand("bench", "Leak simulation and scoring (see also bench/ for speed)");
  bench_cmd->require_subcommand(1);

  CLI::App* footage_cmd =
      bench_cmd->add_subcommand("footage", "Generate cartoon-like footage (for demos without real footage)");
  footage_cmd->add_option("--out", a->out, "Folder to create (distractors go to OUT-distractors)")->required();
  footage_cmd->add_option("--seed", a->seed, "Random seed");
  registry.Add(footage_cmd, [a] { return RunBenchFootage(a->out, a->seed); });

  CLI::App* leaks_cmd = bench_cmd->add_subcommand(
      "leaks", "Write a labelled leak dump: frames cut at random times from reference footage, transformed, opaque names");
  leaks_cmd->add_option("--out", a->out, "Dump folder to write")->required();
  leaks_cmd->add_option("--truth", a->truth_path, "Ground-truth CSV to write")->required();
  leaks_cmd->add_option("--distractors", a->distractors, "Footage that is not indexed (must not match)");
  leaks_cmd->add_option("--production", a->production, "Production name (default: from folder names, as in index build)");
  leaks_cmd->add_option("--seed", a->leak_options.seed, "Random seed");
  leaks_cmd->add_option("--frames", a->leak_options.frames_per_source, "Random times per reference video");
  leaks_cmd->add_option("--transforms", a->leak_options.transforms, "Transforms (png, jpeg75, half)");
  leaks_cmd->add_option("paths", a->paths, "Reference footage, named as in `index build`");
  registry.Add(leaks_cmd, [a] {
    return RunBenchLeaks(a->paths, a->distractors, a->production, a->out, a->truth_path, a->leak_options);
  });

  CLI::App* score_cmd =
      bench_cmd->add_subcommand("score", "Score a `celmatch match` run against a leak dump's ground truth");
  score_cmd->add_option("--truth", a->truth_path, "Ground-truth CSV from `bench leaks`")->required();
  score_cmd->add_option("--results", a->results_path, "JSON Lines from `celmatch match`")->required();
  registry.Add(score_cmd, [a] { return RunBenchScore(a->truth_path, a->results_path); });
}

}  // namespace celmatch::cli
