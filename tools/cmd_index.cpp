// `celmatch index build|add|info|check`: the reference index.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "core/interrupt.h"
#include "core/shard.h"
#include "index/hash_list.h"
#include "index/reference_builder.h"
#include "index/reference_index.h"
#include "output/jsonl_writer.h"

namespace fs = std::filesystem;

namespace celmatch::cli {
namespace {

// See RunIndexAdd.
constexpr char kBuildIncompleteName[] = "BUILD_INCOMPLETE";

// "Sintel / sintel.mp4: 61 of 888 s, 1,464 frames at 24/s, 42 kept, ETA 00:09:01"
// (no "of" or ETA when the container does not say its duration).
std::string FormatSourceProgress(const SourceProgress& p) {
  std::string s = p.input->production + " / " + p.input->source + ": ";
  char buf[160];
  const double fps = p.elapsed_s > 0 ? p.frames_decoded / p.elapsed_s : 0;
  if (p.duration_s > 0) {
    std::snprintf(buf, sizeof buf, "%.0f of %.0f s, ", p.media_s, p.duration_s);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f s, ", p.media_s);
  }
  s += buf;
  std::snprintf(buf, sizeof buf, "%lld frames at %.0f/s, %lld kept", (long long)p.frames_decoded, fps,
                (long long)p.frames_kept);
  s += buf;
  if (p.duration_s > 0 && p.media_s > 0 && p.elapsed_s > 0) {
    const double eta = std::max(0.0, p.duration_s - p.media_s) * p.elapsed_s / p.media_s;
    s += ", ETA " + FormatTimecode(eta).substr(0, 8);
  }
  return s;
}


// Which embedding model `index build/add` uses (see ChooseBuildEmbeddingModel).
struct EmbeddingChoice {
  std::string model, model_manifest;
  bool none = false;   // --no-embedding
};

int RunIndexAdd(const std::string& dir, const std::vector<std::string>& paths,
                const std::optional<std::string>& production, int jobs, bool must_be_new,
                const std::string& shard_text, const EmbeddingChoice& embedding) {
  Result<ShardSpec> shard = ParseShardSpec(shard_text.empty() ? "0/1" : shard_text);
  if (!shard.ok()) return Fatal(shard.status());  // checked while parsing; kept for direct callers
  // `index build` leaves this file in the index until it completes: the same
  // `index build` run again after a stop (Ctrl-C, a kill, a crash) continues
  // it, skipping the sources already in; a completed index is refused.
  const fs::path build_marker = fs::path(dir) / kBuildIncompleteName;
  if (must_be_new && fs::exists(fs::path(dir) / "manifest.json")) {
    // A build stopped before its first source left an empty index: built on.
    Result<std::unique_ptr<ReferenceIndex>> existing = ReferenceIndex::OpenForRead(dir);
    Result<IndexStats> stats = existing.ok() ? (*existing)->Stats() : Result<IndexStats>(existing.status());
    if (fs::exists(build_marker)) {
      std::fprintf(stderr, "%s: continuing the index build that stopped before it completed\n", dir.c_str());
    } else if (!stats.ok() || stats->sources > 0) {
      std::fprintf(stderr,
                   "celmatch: error: %s already holds an index; use `celmatch index add --index %s PATH...` to add "
                   "footage to it (sources already in it are skipped, so it also continues a stopped build)\n",
                   dir.c_str(), dir.c_str());
      return kExitFatal;
    }
  }
  if (!must_be_new && !fs::exists(fs::path(dir) / "manifest.json")) {
    std::fprintf(stderr, "celmatch: error: %s is not a celmatch index (no manifest.json); create it with `celmatch index build`\n",
                 dir.c_str());
    return kExitFatal;
  }
  if (!embedding.model.empty() && !fs::is_regular_file(embedding.model)) {
    // Before the index directory is created: a typo must not leave an index behind.
    return Fatal(Status::NotFound(embedding.model + ": embedding model not found"));
  }
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForWrite(dir, IndexParams{});
  if (!index.ok()) return Fatal(index.status());
  if (must_be_new) {
    std::FILE* f = std::fopen(build_marker.c_str(), "w");
    if (!f) return Fatal(Status::IoError(build_marker.string() + ": cannot write: " + std::strerror(errno)));
    std::fputs("celmatch index build has not completed; run the same index build again to continue it\n", f);
    std::fclose(f);
  }
  std::vector<ReferenceInput> inputs = PlanReferenceInputs(paths, production);
  if (shard->count > 1) {
    // Split by source name (production/source), so each source lands in one
    // part whatever the folder listing looked like when this task ran.
    const size_t all = inputs.size();
    std::erase_if(inputs, [&](const ReferenceInput& in) { return !shard->Contains(in.production + "/" + in.source); });
    std::fprintf(stderr, "shard %s: %zu of %zu files\n", shard->ToString().c_str(), inputs.size(), all);
  }
  // A PATH that does not exist is reported, the others are indexed, and the
  // exit is non-zero.
  int missing = 0;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      std::fprintf(stderr, "celmatch: error: %s: no such file or folder\n", p.c_str());
      ++missing;
    }
  }
  BuildOptions options;
  options.jobs = jobs;
  options.stop = StopRequested;
  InstallStopHandlers();
  if (!embedding.none) {
    std::string warning;
    Result<std::shared_ptr<EmbeddingModelPool>> pool =
        ChooseBuildEmbeddingModel(**index, embedding.model, embedding.model_manifest, &warning);
    if (!pool.ok()) return Fatal(pool.status());
    if (!warning.empty()) std::fprintf(stderr, "celmatch: warning: %s\n", warning.c_str());
    options.embedding = *pool;
    if ((*index)->embedding() && options.embedding) {
      std::fprintf(stderr, "embedding: %s\n", (*index)->embedding()->model().ToString().c_str());
    }
  }
  Progress progress(inputs.size());
  options.progress = [&progress](const SourceProgress& p) { progress.Detail(FormatSourceProgress(p)); };
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
  if (StopRequested()) {
    std::string cmd = CommandLineWith("");
    if (!must_be_new) {
      std::fprintf(stderr, "interrupted: the %lld sources added are saved in %s; continue with: %s\n",
                   (long long)added, dir.c_str(), cmd.c_str());
    } else {
      std::fprintf(stderr, "interrupted: the %lld sources added are saved in %s; the same command continues the "
                           "build: %s\n",
                   (long long)added, dir.c_str(), cmd.c_str());
    }
    return ExitForStop(StopSignal());
  }
  if (must_be_new) fs::remove(build_marker);
  if (missing > 0) {
    std::fprintf(stderr, "celmatch: error: %d of the paths given do not exist (see above)\n", missing);
    return kExitFatal;
  }
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
    j["span_hashes"] = ix.span_hash_count();
    if (const EmbeddingIndex* e = ix.embedding()) {
      j["embedding"] = e->model().ToJson();
      j["embedding"]["frames"] = e->size();
      j["embedding"]["search_index"] = e->search_index_type();
      j["embedding"]["whitening_fitted_on"] = e->whitening_fitted_on();
      // Frames with all their regions' vectors (none in an index from before regions).
      const EmbeddingIndex* regions = ix.embedding_regions();
      j["embedding"]["frames_with_regions"] = regions ? regions->size() / kRegionsPerFrame : 0;
    }
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
  std::printf("size on disk %.1f MiB\nhash index   %s (PDQ, 256 bits), and %lld span hashes of frames between them\n",
              stats->bytes_on_disk / 1048576.0, stats->hash_index_type.c_str(), (long long)ix.span_hash_count());
  if (const EmbeddingIndex* e = ix.embedding()) {
    const EmbeddingIndex* regions = ix.embedding_regions();
    std::printf("embedding    %s: %lld frames (%lld with their %d regions), %s search, whitening fitted on %lld\n",
                e->model().ToString().c_str(), (long long)e->size(),
                (long long)(regions ? regions->size() / kRegionsPerFrame : 0), kRegionsPerFrame,
                e->search_index_type().c_str(), (long long)e->whitening_fitted_on());
  } else {
    std::printf("embedding    none (built with --no-embedding or without a model)\n");
  }
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

int RunExportHashes(const std::string& dir, const std::string& out) {
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(dir);
  if (!index.ok()) return Fatal(index.status());
  Status st = ExportHashList(**index, out);
  if (!st.ok()) return Fatal(st);
  if (!out.empty() && out != "-")
    std::fprintf(stderr, "%s: %lld reference frame hashes written to %s\n", dir.c_str(),
                 (long long)(*index)->frame_count(), out.c_str());
  return kExitOk;
}

int RunImportHashes(const std::string& dir, const std::string& csv_path) {
  if (!fs::exists(fs::path(dir) / "manifest.json")) {
    // A new index for the list, like `index build`: sharing hashes is how a
    // matcher without footage gets its references.
    std::fprintf(stderr, "%s: no index yet, creating one\n", dir.c_str());
  }
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForWrite(dir, IndexParams{});
  if (!index.ok()) return Fatal(index.status());
  Result<HashListImportReport> report = ImportHashList(**index, csv_path);
  if (!report.ok()) return Fatal(report.status());
  std::fprintf(stderr, "%s: %lld sources added (%lld reference frames, hashes only), %lld already present\n",
               dir.c_str(), (long long)report->sources_added, (long long)report->frames_added,
               (long long)report->sources_present);
  return kExitOk;
}

struct HashListArgs {
  std::string index_dir, out = "-", csv_path;
};

struct IndexArgs {
  std::string index_dir;
  std::vector<std::string> paths;
  std::optional<std::string> production;
  int jobs = DefaultJobs();
  bool json = false;
  std::string shard;
  EmbeddingChoice embedding;
};

}  // namespace

void RegisterIndexCommands(CLI::App& app, CommandRegistry& registry) {
  auto a = std::make_shared<IndexArgs>();
  CLI::App* index_cmd = app.add_subcommand("index", "Build, extend and inspect a reference index");
  index_cmd->require_subcommand(1);
  auto add_build_options = [a](CLI::App* c) {
    c->add_option("--index", a->index_dir, "Index directory")->required();
    c->add_option("--production", a->production, "Production name for every file (default: from folder names)");
    c->add_option("--jobs,-j", a->jobs, "Files decoded in parallel, and workers describing their frames (default: all cores)")->check(JobsValidator());
    c->add_option("paths", a->paths,
                  "Footage: a folder gives one production per subfolder (files directly in it: a production "
                  "named after the folder); a file belongs to a production named after its parent folder")
        ->required();
    c->add_option("--shard", a->shard,
                  "Only the I-th of N shares of the footage (I/N, 0 <= I < N; split by source name, stable "
                  "across runs); merge the parts with `celmatch index merge`")
        ->check(ShardValidator());
    CLI::Option* model = c->add_option(
        "--model", a->embedding.model,
        "Learned-embedding model (ONNX; its manifest FILE.json beside it). Default: the model the index "
        "records, or for a new index celmatch-embed-v2.onnx from ../share/celmatch/models, ../models or "
        "models beside the celmatch executable");
    c->add_option("--model-manifest", a->embedding.model_manifest,
                  "The model's JSON manifest (name, input size, mean/std, output dimension) when not beside it")
        ->needs(model);
    c->add_flag("--no-embedding", a->embedding.none,
                "Index without the learned embedding (PDQ and local features only)")
        ->excludes(model);
  };
  CLI::App* build_cmd = index_cmd->add_subcommand("build", "Create a new index from footage (videos and stills)");
  add_build_options(build_cmd);
  registry.Add(build_cmd, [a] {
    return RunIndexAdd(a->index_dir, a->paths, a->production, a->jobs, true, a->shard, a->embedding);
  });

  CLI::App* add_cmd =
      index_cmd->add_subcommand("add", "Add footage to an existing index (content already indexed is skipped)");
  add_build_options(add_cmd);
  registry.Add(add_cmd, [a] {
    return RunIndexAdd(a->index_dir, a->paths, a->production, a->jobs, false, a->shard, a->embedding);
  });

  CLI::App* info_cmd = index_cmd->add_subcommand("info", "Productions, sources, frames, size and index type");
  info_cmd->add_option("--index", a->index_dir, "Index directory")->required();
  info_cmd->add_flag("--json", a->json, "Print as JSON");
  registry.Add(info_cmd, [a] { return RunIndexInfo(a->index_dir, a->json); });

  CLI::App* check_cmd = index_cmd->add_subcommand("check", "Verify that the catalog and the FAISS index agree");
  check_cmd->add_option("--index", a->index_dir, "Index directory")->required();
  registry.Add(check_cmd, [a] { return RunIndexCheck(a->index_dir); });

  auto h = std::make_shared<HashListArgs>();
  CLI::App* export_cmd = index_cmd->add_subcommand(
      "export-hashes", "Write the PDQ hash of every reference frame as CSV "
                       "(hash,quality,production,source,time,span_end,kind; ThreatExchange hex; kind span: a hash of a frame between reference frames)");
  export_cmd->add_option("--index", h->index_dir, "Index directory")->required();
  export_cmd->add_option("--out,-o", h->out, "CSV file to write (default: standard output)");
  registry.Add(export_cmd, [h] { return RunExportHashes(h->index_dir, h->out); });

  CLI::App* import_cmd = index_cmd->add_subcommand(
      "import-hashes", "Add a hash list from `index export-hashes` as references without footage "
                       "(matches carry hash evidence only; importing the same list again is a no-op)");
  import_cmd->add_option("--index", h->index_dir, "Index directory (created when missing)")->required();
  import_cmd->add_option("list", h->csv_path, "Hash list CSV")->required()->check(CLI::ExistingFile);
  registry.Add(import_cmd, [h] { return RunImportHashes(h->index_dir, h->csv_path); });

  RegisterIndexMergeCommand(index_cmd, registry);  // cmd_index_merge.cpp
}

}  // namespace celmatch::cli
