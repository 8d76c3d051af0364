// `celmatch index build|add|info|check`: the reference index.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "index/reference_builder.h"
#include "index/reference_index.h"

namespace fs = std::filesystem;

namespace celmatch::cli {
namespace {


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

struct IndexArgs {
  std::string index_dir;
  std::vector<std::string> paths;
  std::optional<std::string> production;
  int jobs = DefaultJobs();
  bool json = false;
};

}  // namespace

void RegisterIndexCommands(CLI::App& app, CommandRegistry& registry) {
  auto a = std::make_shared<IndexArgs>();
  CLI::App* index_cmd = app.add_subcommand("index", "Build, extend and inspect a reference index");
  index_cmd->require_subcommand(1);
  auto add_build_options = [a](CLI::App* c) {
    c->add_option("--index", a->index_dir, "Index directory")->required();
    c->add_option("--production", a->production, "Production name for every file (default: from folder names)");
    c->add_option("--jobs,-j", a->jobs, "Files decoded in parallel (default: all cores)")->check(CLI::PositiveNumber);
    c->add_option("paths", a->paths,
                  "Footage: a folder gives one production per subfolder (files directly in it: a production "
                  "named after the folder); a file belongs to a production named after its parent folder")
        ->required();
  };
  CLI::App* build_cmd = index_cmd->add_subcommand("build", "Create a new index from footage (videos and stills)");
  add_build_options(build_cmd);
  registry.Add(build_cmd, [a] { return RunIndexAdd(a->index_dir, a->paths, a->production, a->jobs, true); });

  CLI::App* add_cmd =
      index_cmd->add_subcommand("add", "Add footage to an existing index (content already indexed is skipped)");
  add_build_options(add_cmd);
  registry.Add(add_cmd, [a] { return RunIndexAdd(a->index_dir, a->paths, a->production, a->jobs, false); });

  CLI::App* info_cmd = index_cmd->add_subcommand("info", "Productions, sources, frames, size and index type");
  info_cmd->add_option("--index", a->index_dir, "Index directory")->required();
  info_cmd->add_flag("--json", a->json, "Print as JSON");
  registry.Add(info_cmd, [a] { return RunIndexInfo(a->index_dir, a->json); });

  CLI::App* check_cmd = index_cmd->add_subcommand("check", "Verify that the catalog and the FAISS index agree");
  check_cmd->add_option("--index", a->index_dir, "Index directory")->required();
  registry.Add(check_cmd, [a] { return RunIndexCheck(a->index_dir); });
}

}  // namespace celmatch::cli
