// `celmatch index merge --index OUT PART...`: folds the part indexes of a
// sharded build (`index build --shard I/N`) into one.
#include <cstdio>

#include "cli_common.h"
#include "index/index_merge.h"

namespace celmatch::cli {
namespace {

struct MergeArgs {
  std::string index_dir;
  std::vector<std::string> parts;
};

int RunIndexMerge(const MergeArgs& a) {
  Result<MergeReport> report = MergeIndexes(a.index_dir, a.parts, [](const MergePartReport& p) {
    std::fprintf(stderr, "merged %s: %lld sources added (%lld reference frames), %lld already present\n",
                 p.part.c_str(), (long long)p.sources_added, (long long)p.frames_added,
                 (long long)p.sources_present);
  });
  if (!report.ok()) return Fatal(report.status());
  std::fprintf(stderr, "%s: %zu parts merged, %lld sources added (%lld reference frames), %lld already present; "
               "%lld reference frames in all\n",
               a.index_dir.c_str(), report->parts.size(), (long long)report->sources_added,
               (long long)report->frames_added, (long long)report->sources_present,
               (long long)report->frames_total);
  return kExitOk;
}

}  // namespace

void RegisterIndexMergeCommand(CLI::App* index_cmd, CommandRegistry& registry) {
  auto a = std::make_shared<MergeArgs>();
  CLI::App* merge_cmd = index_cmd->add_subcommand(
      "merge",
      "Merge part indexes (from `index build --shard I/N`) into one; idempotent (sources already present, by "
      "content, are skipped); refuses parts built with other parameters");
  merge_cmd->add_option("--index", a->index_dir, "Output index directory (created when it holds no index)")
      ->required();
  merge_cmd->add_option("parts", a->parts, "Part index directories, merged in this order")->required();
  registry.Add(merge_cmd, [a] { return RunIndexMerge(*a); });
}

}  // namespace celmatch::cli
