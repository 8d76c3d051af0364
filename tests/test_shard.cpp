// Sharded work gives the unsharded result: `index build --shard I/N` parts
// merged with `index merge` hold exactly what one build holds (and match the
// dump the same way), and `match --shard I/N` outputs add up to one run.
// Runs everywhere on generated footage.
#include <filesystem>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include "cli_runner.h"
#include "core/shard.h"
#include "index/index_merge.h"
#include "shard_support.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

int64_t Frames(const std::string& index) {
  auto ix = ReferenceIndex::OpenForRead(index);
  return ix.ok() ? (*ix)->frame_count() : -1;
}

// A source with `frames` random hashes and a thumbnail per frame, as a build
// would add it (no media needed).
SourceToAdd FakeSource(const std::string& production, const std::string& path, uint32_t seed, int frames) {
  std::mt19937 rng(seed);
  SourceToAdd item;
  item.production = production;
  item.source.path = path;
  item.source.content_sha256 = Sha256Hex(production + "/" + path + "#" + std::to_string(seed));
  item.source.size_bytes = 1000 + seed;
  item.source.duration_s = frames;
  item.source.width = 640;
  item.source.height = 360;
  for (int i = 0; i < frames; ++i) {
    FrameRecord f;
    f.time_s = i;
    f.span_end_s = i + 1;
    f.frame_number = 24 * i;
    f.quality = 90;
    for (auto& b : f.pdq.bytes) b = uint8_t(rng());
    SpanHash between{i + 0.5, {}};  // a dropped frame's hash, as the sampler keeps them
    for (auto& b : between.hash.bytes) b = uint8_t(rng());
    f.span_hashes.push_back(between);
    item.frames.push_back(f);
    item.thumbnails.push_back({0xff, 0xd8, uint8_t(seed), uint8_t(i), 0xff, 0xd9});
  }
  return item;
}

Status MakeIndex(const std::string& dir, const IndexParams& params, std::vector<SourceToAdd> sources) {
  auto ix = ReferenceIndex::OpenForWrite(dir, params);
  if (!ix.ok()) return ix.status();
  for (auto& s : sources) CELMATCH_RETURN_IF_ERROR((*ix)->AddSource(std::move(s)));
  return (*ix)->Save();
}

}  // namespace

TEST_CASE("shard specs parse strictly and split by a hash fixed by its definition") {
  auto ok = ParseShardSpec("2/5");
  REQUIRE(ok.ok());
  CHECK(ok->index == 2);
  CHECK(ok->count == 5);
  for (const char* bad : {"5/5", "-1/4", "1/0", "1", "a/b", "1/4x", "", "1/"}) {
    INFO(bad);
    CHECK(!ParseShardSpec(bad).ok());
  }
  // FNV-1a 64 reference values: shards must not move between builds.
  CHECK(StableNameHash("") == 0xcbf29ce484222325ULL);
  CHECK(StableNameHash("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(StableNameHash("foobar") == 0x85944171f73967e8ULL);
  // Every name is in exactly one shard.
  for (int i = 0; i < 200; ++i) {
    const std::string name = "dump/" + std::to_string(i) + ".png";
    int owners = 0;
    for (int s = 0; s < 7; ++s) owners += ShardSpec{s, 7}.Contains(name) ? 1 : 0;
    CHECK(owners == 1);
  }
}

TEST_CASE("index merge keeps digests and thumbnails, is idempotent, refuses other parameters") {
  TempDir tmp;
  const std::string a = tmp.str() + "/a", b = tmp.str() + "/b", out = tmp.str() + "/out";
  REQUIRE(MakeIndex(a, IndexParams{}, {FakeSource("P", "e1.mp4", 1, 5), FakeSource("Q", "e1.mp4", 2, 3)}).ok());
  // b repeats a's first source under another name: same content, merged once.
  SourceToAdd dup = FakeSource("P", "e1.mp4", 1, 5);
  dup.source.path = "copy_of_e1.mp4";
  REQUIRE(MakeIndex(b, IndexParams{}, {FakeSource("P", "e2.mp4", 3, 4), dup}).ok());

  auto report = MergeIndexes(out, {a, b});
  REQUIRE(report.ok());
  CHECK(report->sources_added == 3);
  CHECK(report->sources_present == 1);
  CHECK(report->frames_total == 12);
  const nlohmann::json merged = IndexContents(out);
  REQUIRE(merged.size() == 3);
  const nlohmann::json in_a = IndexContents(a);
  REQUIRE(in_a[0]["frames"][0]["span_hashes"].size() == 1);
  CHECK(merged[0] == in_a[0]);  // P/e1.mp4: digest, frames, span hashes, thumbnails intact
  CHECK(merged[2] == in_a[1]);  // Q/e1.mp4
  CHECK(merged[1] == IndexContents(b)[1]);  // P/e2.mp4
  {
    auto ix = ReferenceIndex::OpenForRead(out);
    REQUIRE(ix.ok());
    CHECK((*ix)->Check().ok());
  }

  // Again, and again with the parts the other way round: nothing to add.
  auto again = MergeIndexes(out, {b, a});
  REQUIRE(again.ok());
  CHECK(again->sources_added == 0);
  CHECK(again->sources_present == 4);
  CHECK(IndexContents(out) == merged);

  // A part built with other parameters is refused before anything is written.
  IndexParams other;
  other.thumbnail_max_side = 96;
  const std::string c = tmp.str() + "/c";
  REQUIRE(MakeIndex(c, other, {FakeSource("R", "x.mp4", 9, 2)}).ok());
  auto refused = MergeIndexes(out, {c});
  REQUIRE(!refused.ok());
  CHECK(refused.status().code() == Status::Code::kIncompatible);
  CHECK(refused.status().message().find("thumbnail_max_side") != std::string::npos);
  CHECK(refused.status().message().find(c) != std::string::npos);
  CHECK(IndexContents(out) == merged);
  // ... also when it is not the first part, and into a new output.
  CHECK(!MergeIndexes(tmp.str() + "/new", {a, c}).ok());
  CHECK(!fs::exists(tmp.str() + "/new/manifest.json"));

  // Not an index; the output itself as a part.
  CHECK(MergeIndexes(out, {tmp.str() + "/nothing"}).status().code() == Status::Code::kNotFound);
  CHECK(!MergeIndexes(out, {out}).ok());
}

TEST_CASE("sharded build + merge and sharded match give exactly the unsharded results") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage";
  Result<std::string> distractors = WriteSyntheticFootage(footage, 21, 3, 2, 4.0);
  REQUIRE(distractors.ok());
  // Stills beside the episodes (model sheets).
  for (int i = 0; i < 2; ++i) {
    REQUIRE(cv::imwrite(footage + "/Paper Foxes/sheet_" + std::to_string(i) + ".png",
                        celmatch::SyntheticCartoonFrame(500 + i, 0.0)));
  }
  constexpr int kShards = 3;

  const std::string whole = tmp.str() + "/whole";
  CliRun build = RunCelmatch({"index", "build", "--jobs", "2", "--index", whole, footage});
  INFO(build.out);
  REQUIRE(build.exit_code == 0);
  const nlohmann::json expected = IndexContents(whole);
  REQUIRE(expected.size() == 8);

  std::vector<std::string> parts;
  size_t sources_in_parts = 0;
  int non_empty_parts = 0;
  for (int i = 0; i < kShards; ++i) {
    parts.push_back(tmp.str() + "/part-" + std::to_string(i));
    CliRun r = RunCelmatch({"index", "build", "--jobs", "2", "--shard", std::to_string(i) + "/" + std::to_string(kShards),
                            "--index", parts.back(), footage});
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    const size_t n = IndexContents(parts.back()).size();
    sources_in_parts += n;
    non_empty_parts += n > 0 ? 1 : 0;
  }
  CHECK(sources_in_parts == expected.size());  // each source in exactly one part
  CHECK(non_empty_parts >= 2);
  // A re-run of a task (requeued, or run twice by mistake) changes nothing.
  const nlohmann::json part1 = IndexContents(parts[1]);
  CliRun rerun = RunCelmatch({"index", "add", "--jobs", "2", "--shard", "1/3", "--index", parts[1], footage});
  INFO(rerun.out);
  REQUIRE(rerun.exit_code == 0);
  CHECK(IndexContents(parts[1]) == part1);

  const std::string merged = tmp.str() + "/merged";
  std::vector<std::string> merge_args = {"index", "merge", "--index", merged};
  merge_args.insert(merge_args.end(), parts.begin(), parts.end());
  CliRun merge = RunCelmatch(merge_args);
  INFO(merge.out);
  REQUIRE(merge.exit_code == 0);
  CHECK(IndexContents(merged) == expected);
  CHECK(RunCelmatch({"index", "check", "--index", merged}).exit_code == 0);
  const int64_t frames = Frames(merged);
  CliRun remerge = RunCelmatch(merge_args);
  INFO(remerge.out);
  REQUIRE(remerge.exit_code == 0);
  CHECK(remerge.out.find(" 0 sources added") != std::string::npos);
  CHECK(Frames(merged) == frames);

  // The dump: leaked frames of every source plus distractors.
  const std::string dump = tmp.str() + "/dump";
  CliRun leaks = RunCelmatch({"bench", "leaks", "--out", dump, "--truth", tmp.str() + "/truth.csv", "--seed", "4",
                              "--frames", "1", "--transforms", "jpeg75", "half", "--distractors", *distractors, "--",
                              footage});
  INFO(leaks.out);
  REQUIRE(leaks.exit_code == 0);

  const std::string unsharded = tmp.str() + "/unsharded.jsonl";
  CliRun match = RunCelmatch({"match", "--jobs", "2", "--index", whole, "--out", unsharded, dump});
  INFO(match.out);
  REQUIRE(match.exit_code == 0);
  const std::multiset<std::string> expected_records = JsonlRecordSet({unsharded}, false);
  REQUIRE(expected_records.size() >= 12);

  std::vector<std::string> shard_outputs;
  for (int i = 0; i < kShards; ++i) {
    shard_outputs.push_back(tmp.str() + "/shard-" + std::to_string(i) + ".jsonl");
    CliRun r = RunCelmatch({"match", "--jobs", "2", "--shard", std::to_string(i) + "/" + std::to_string(kShards),
                            "--index", whole, "--out", shard_outputs.back(), dump});
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK(JsonlRecordSet({shard_outputs.back()}, false).size() < expected_records.size());
  }
  CHECK(JsonlRecordSet(shard_outputs, false) == expected_records);

  // The merged index answers the dump as the unsharded one does (frame ids
  // aside: the sources went in in another order).
  const std::string from_merged = tmp.str() + "/merged.jsonl";
  CliRun match_merged = RunCelmatch({"match", "--jobs", "2", "--index", merged, "--out", from_merged, dump});
  INFO(match_merged.out);
  REQUIRE(match_merged.exit_code == 0);
  CHECK(JsonlRecordSet({from_merged}, true) == JsonlRecordSet({unsharded}, true));

  // Bad shard specs are usage errors.
  CHECK(RunCelmatch({"match", "--shard", "3/3", "--index", whole, dump}).exit_code == 2);
  CHECK(RunCelmatch({"index", "build", "--shard", "one/2", "--index", tmp.str() + "/x", footage}).exit_code == 2);
}
