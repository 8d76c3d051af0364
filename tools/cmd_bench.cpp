// `celmatch bench footage|leaks|score`: leak simulation and scoring, with
// the vPDQ and pHash baselines side by side (`bench score --baselines`).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>

#include "cli_common.h"
#include "core/input_walker.h"
#include "index/reference_builder.h"
#include "leaks/leak_baselines.h"
#include "leaks/leak_plot.h"
#include "leaks/leak_score.h"
#include "leaks/leak_simulator.h"
#include "leaks/leak_transforms.h"
#include "leaks/index_scale.h"
#include "leaks/shortlist_bench.h"
#include "leaks/throughput.h"
#include "leaks/embedding_throughput.h"
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

struct ScoreArgs {
  std::string truth_path, results_path, dump, json_path, plot_path;
  bool baselines = false;
  bool pdq_every_frame = false;  // a third baseline: PDQ over every reference frame
  std::vector<std::string> references;  // "PRODUCTION=PATH" or PATH (named as in `index build`)
  int jobs = 0;
};

// "Name=path" names the production (as `--production` would); a bare path is
// named from its folders, as `index build PATH` names it.
std::vector<ReferenceInput> PlanNamedReferences(const std::vector<std::string>& specs) {
  std::vector<ReferenceInput> out;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    std::vector<ReferenceInput> part =
        eq == std::string::npos ? PlanReferenceInputs({spec}, std::nullopt)
                                : PlanReferenceInputs({spec.substr(eq + 1)}, spec.substr(0, eq));
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

int RunBenchScore(const ScoreArgs& a) {
  Result<std::vector<LeakTruth>> truth = ReadTruthCsv(a.truth_path);
  if (!truth.ok()) return Fatal(truth.status());
  Result<LeakScore> score = ScoreLeakRun(*truth, a.results_path);
  if (!score.ok()) return Fatal(score.status());
  nlohmann::json json;
  json["celmatch"] = LeakScoreToJson(*score);
  std::vector<MethodScore> methods = {{"celmatch", "score >= 0.5 (the default threshold)", *score}};
  if (!a.baselines) {
    std::fputs(FormatLeakScore(*score).c_str(), stdout);
  } else {
    if (a.dump.empty() || a.references.empty())
      return Fatal(Status::InvalidArgument("--baselines needs --dump (the leak dump folder) and --reference "
                                           "(the indexed footage, NAME=PATH as given to index build)"));
    BaselineOptions options;
    options.jobs = a.jobs > 0 ? a.jobs : DefaultJobs();
    Result<BaselineReferences> refs = HashBaselineReferences(PlanNamedReferences(a.references), options);
    if (!refs.ok()) return Fatal(refs.status());
    std::fprintf(stderr, "baselines: %zu reference frames (1 per second) from %zu sources, hashed in %.1f s\n",
                 refs->frames.size(), refs->sources.size(), refs->seconds);
    BaselineRun run = RunBaselines(*refs, a.dump, *truth, options);
    const LeakScore vpdq = ScoreLeakOutcomes(*truth, run.vpdq);
    // pHash: the threshold that gives 99.9% precision over the ranking.
    const LeakScore phash_ranked = ScoreLeakOutcomes(*truth, run.phash);
    const RankingScore& pr = phash_ranked.ranking;
    const double phash_min_score = pr.p999_reached ? pr.threshold_at_p999 : 2.0;
    LeakScore phash = ScoreLeakOutcomes(*truth, run.phash, phash_min_score);
    char phash_point[96];
    if (pr.p999_reached)
      std::snprintf(phash_point, sizeof phash_point, "pHash <= %d of 64 bits (P99.9 on this run)",
                    int(std::lround((1.0 - phash_min_score) * 64)));
    else
      std::snprintf(phash_point, sizeof phash_point, "none reaches P99.9: nothing reported");
    methods.push_back({"vPDQ", "PDQ <= 31 bits, quality >= 50, 1 frame/s", vpdq});
    methods.push_back({"pHash", phash_point, phash});
    if (a.pdq_every_frame) {
      BaselineOptions every = options;
      every.reference_every_frame = true;
      Result<BaselineReferences> all_frames = HashBaselineReferences(PlanNamedReferences(a.references), every);
      if (!all_frames.ok()) return Fatal(all_frames.status());
      std::fprintf(stderr, "baselines: %zu reference frames (every frame), hashed in %.1f s\n",
                   all_frames->frames.size(), all_frames->seconds);
      const LeakScore pdq_all = ScoreLeakOutcomes(*truth, RunBaselines(*all_frames, a.dump, *truth, every).vpdq);
      methods.push_back({"PDQ all", "as vPDQ, every reference frame hashed", pdq_all});
      json["pdq_every_frame"] = LeakScoreToJson(pdq_all);
      json["pdq_every_frame_reference_frames"] = all_frames->frames.size();
    }
    std::fputs(FormatSideBySide(methods).c_str(), stdout);
    std::fputs("\nfiles/s per core: files / sum of per-file wall time (celmatch: JSONL \"elapsed\"; "
               "baselines: decode + hash + brute-force search, one core per file)\n\ncelmatch in detail:\n",
               stdout);
    std::fputs(FormatLeakScore(*score).c_str(), stdout);
    json["vpdq"] = LeakScoreToJson(vpdq);
    json["phash"] = LeakScoreToJson(phash);
    json["phash"]["operating_point"] = phash_point;
    json["baseline_reference_frames"] = refs->frames.size();
  }
  if (!a.plot_path.empty()) {
    Status st = WriteRecallPlot(a.plot_path, methods);
    if (!st.ok()) return Fatal(st);
    std::fprintf(stderr, "recall per transform plotted in %s\n", a.plot_path.c_str());
  }
  if (!a.json_path.empty()) {
    std::ofstream f(a.json_path, std::ios::trunc);
    f << json.dump(2) << "\n";
    if (!f) return Fatal(Status::IoError(a.json_path + ": cannot write"));
  }
  return kExitOk;
}

struct BenchArgs {
  std::string out, truth_path, results_path;
  uint32_t seed = 1;
  std::vector<std::string> paths, distractors;
  std::optional<std::string> production;
  LeakDumpOptions leak_options;
  ScoreArgs score;
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
  leaks_cmd->add_option("--transforms", a->leak_options.transforms,
                        "Transforms: all (the leak benchmark's), generalisation (other releases, other line-art "
                        "pipelines, half-size crops), or some of " + [] {
                          std::string s;
                          for (const std::string& k : KnownLeakTransforms()) s += (s.empty() ? "" : ", ") + k;
                          for (const std::string& k : LeakGeneralisationTransforms()) s += ", " + k;
                          return s;
                        }() + " (default png, jpeg75, half)");
  leaks_cmd->add_option("paths", a->paths, "Reference footage, named as in `index build`");
  registry.Add(leaks_cmd, [a] {
    return RunBenchLeaks(a->paths, a->distractors, a->production, a->out, a->truth_path, a->leak_options);
  });

  CLI::App* score_cmd =
      bench_cmd->add_subcommand("score", "Score a `celmatch match` run against a leak dump's ground truth");
  ScoreArgs& sa = a->score;
  score_cmd->add_option("--truth", sa.truth_path, "Ground-truth CSV from `bench leaks`")->required();
  score_cmd->add_option("--results", sa.results_path, "JSON Lines from `celmatch match`")->required();
  score_cmd->add_flag("--baselines", sa.baselines,
                      "Also run vPDQ (PDQ, 1 frame/s, <= 31 bits) and 64-bit pHash on the same footage and dump, "
                      "and print them beside celmatch");
  score_cmd->add_flag("--pdq-every-frame", sa.pdq_every_frame,
                      "With --baselines, also PDQ with every reference frame hashed (not 1 per second)");
  score_cmd->add_option("--dump", sa.dump, "The leak dump folder (for --baselines)");
  score_cmd->add_option("--reference", sa.references,
                        "Indexed footage for --baselines, NAME=PATH (production name as given to index build "
                        "--production) or PATH; repeat for each");
  score_cmd->add_option("--jobs", sa.jobs, "Files matched in parallel by the baselines (default: all cores)");
  score_cmd->add_option("--json", sa.json_path, "Also write every figure to this JSON file");
  score_cmd->add_option("--plot", sa.plot_path,
                        "Also write a PNG bar chart of recall per transform (celmatch, and the baselines with "
                        "--baselines)");
  registry.Add(score_cmd, [a] { return RunBenchScore(a->score); });

  // throughput
  struct ThroughputArgs {
    std::string index_dir, scratch = "/tmp";
    std::vector<std::string> footage, dump;
    ScaleOptions scale;
    std::vector<std::string> scale_types;
    std::string embedding_model;
    int repeats = 3;
  };
  auto t = std::make_shared<ThroughputArgs>();
  CLI::App* throughput_cmd = bench_cmd->add_subcommand(
      "throughput", "Index build speed against FFmpeg decode of the same footage, and match speed per stage (one thread)");
  throughput_cmd->add_option("--footage", t->footage, "Reference footage to decode and index (build speed)");
  throughput_cmd->add_option("--index", t->index_dir, "Index to match --dump against (match speed)");
  throughput_cmd->add_option("--dump", t->dump, "Files or folders to match (match speed)");
  throughput_cmd->add_option("--scratch", t->scratch, "Folder for temporary indexes (build and --scale)");
  throughput_cmd
      ->add_option("--scale", t->scale.pdq_sizes,
                   "Search table of the PDQ index types at these synthetic sizes (e.g. 100000,1000000,10000000): "
                   "build time, memory per frame, query latency, recall@1 against exact search")
      ->delimiter(',');
  throughput_cmd
      ->add_option("--scale-embeddings", t->scale.embedding_sizes,
                   "The same for the embedding index types (256-d floats, 1 KiB a frame; e.g. 100000,1000000)")
      ->delimiter(',');
  throughput_cmd
      ->add_option("--scale-types", t->scale_types,
                   "Index types of the search table (default all): " + [] {
                     std::string s;
                     for (const std::string& k : ScaleIndexTypes()) s += (s.empty() ? "" : ", ") + k;
                     return s;
                   }())
      ->delimiter(',');
  throughput_cmd->add_option("--scale-queries", t->scale.queries, "Queries per index type in the search table");
  throughput_cmd->add_option("--repeat", t->repeats, "Passes of decode and of match over --dump; the fastest counts")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  throughput_cmd->add_option("--embedding", t->embedding_model,
                             "Embedding speed of this ONNX model (\"default\": celmatch-embed-v2 where celmatch "
                             "finds it), one thread, decode excluded");
  registry.Add(throughput_cmd, [t] {
    const bool scale = !t->scale.pdq_sizes.empty() || !t->scale.embedding_sizes.empty();
    if (t->footage.empty() && (t->index_dir.empty() || t->dump.empty()) && !scale && t->embedding_model.empty()) {
      std::fprintf(stderr, "celmatch: error: give --footage, or --index with --dump, or --scale SIZES, or --embedding MODEL\n");
      return kExitUsage;
    }
    if (!t->embedding_model.empty()) {
      std::string onnx = t->embedding_model;
      if (onnx == "default") onnx = FindEmbeddingModel(kDefaultEmbeddingModel).value_or(std::string(kDefaultEmbeddingModel) + ".onnx");
      Result<EmbeddingThroughput> e = MeasureEmbeddingThroughput(onnx, 400, 16);
      if (!e.ok()) return Fatal(e.status());
      std::fputs(FormatEmbeddingThroughput(*e).c_str(), stdout);
      std::fflush(stdout);
    }
    std::optional<BuildThroughput> build;
    std::optional<MatchThroughput> match;
    if (!t->footage.empty()) {
      Result<BuildThroughput> b = MeasureBuildThroughput(t->footage, t->scratch, DefaultJobs());
      if (!b.ok()) return Fatal(b.status());
      build = *b;
    }
    if (!t->index_dir.empty() && !t->dump.empty()) {
      Result<MatchThroughput> m = MeasureMatchThroughput(t->index_dir, t->dump, t->repeats);
      if (!m.ok()) return Fatal(m.status());
      match = *m;
    }
    if (build || match) {
      std::fputs(FormatThroughput(build ? &*build : nullptr, match ? &*match : nullptr).c_str(), stdout);
    }
    if (scale) {
      t->scale.scratch_dir = t->scratch;
      t->scale.types.insert(t->scale_types.begin(), t->scale_types.end());
      std::printf("search table (synthetic frames, %d queries, one thread per query; BLAS: %s)\n%s",
                  t->scale.queries, LoadedBlasLibrary().c_str(), FormatScaleHeader().c_str());
      std::fflush(stdout);
      Status st = RunScaleBenchmark(t->scale, [](const ScaleRow& row) {
        std::fputs(FormatScaleRow(row).c_str(), stdout);
        std::fflush(stdout);
      });
      if (!st.ok()) return Fatal(st);
    }
    return kExitOk;
  });

  auto sl = std::make_shared<ShortlistOptions>();
  CLI::App* shortlist_cmd = bench_cmd->add_subcommand(
      "shortlist", "Recall and time of the local-feature shortlist: the index's vote through visual words beside "
                   "an IDF-ranked inverted file, the brute-force vote and the embedding, on a leak dump's image files");
  shortlist_cmd->add_option("--index", sl->index_dir, "The dump's reference index")->required();
  shortlist_cmd->add_option("--dump", sl->dump_dir, "The leak dump (celmatch bench leaks --out)")->required();
  shortlist_cmd->add_option("--truth", sl->truth_csv, "Its ground truth (bench leaks --truth)")->required();
  shortlist_cmd->add_option("--max-files", sl->max_files, "Image files measured, evenly spread")->capture_default_str();
  shortlist_cmd->add_option("--branching", sl->branching, "The inverted file's vocabulary tree: children per node")
      ->capture_default_str();
  shortlist_cmd->add_option("--levels", sl->levels, "The inverted file's vocabulary tree: levels")->capture_default_str();
  shortlist_cmd->add_option("--beam", sl->beam,
                            "The vote's words per query descriptor, both layers (default: matching's, FeatureMatchOptions)");
  shortlist_cmd->add_flag("--exact", sl->exact, "Also the vote over every reference descriptor (seconds a file)");
  registry.Add(shortlist_cmd, [sl] {
    Result<ShortlistResult> r = MeasureShortlist(*sl);
    if (!r.ok()) return Fatal(r.status());
    std::fputs(FormatShortlist(*r, *sl).c_str(), stdout);
    return kExitOk;
  });
}

}  // namespace celmatch::cli
