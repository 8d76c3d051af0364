// The `celmatch` command end to end on generated footage: index build/add,
// idempotence, matching a dump with bad files in it, exit codes, and a build
// killed mid-way. Runs everywhere (no shared footage needed).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "cli_runner.h"
#include "index/reference_index.h"
#include "leaks/leak_simulator.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

extern char** environ;

namespace {

nlohmann::json IndexInfo(const std::string& index) {
  CliRun r = RunCelmatch({"index", "info", "--index", index, "--json"});
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

size_t CountFiles(const fs::path& dir) {
  size_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace

TEST_CASE("index build, idempotent add, and matching a generated dump with bad files") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage";
  Result<std::string> distractors = WriteSyntheticFootage(footage, 3, 2, 1, 10.0);
  REQUIRE(distractors.ok());
  const std::string index = tmp.str() + "/index";

  CliRun build = RunCelmatch({"index", "build", "--index", index, footage});
  INFO(build.out);
  REQUIRE(build.exit_code == 0);
  nlohmann::json info = IndexInfo(index);
  CHECK(info["productions"] == 2);
  CHECK(info["sources"] == 2);
  // At least one reference frame per second of footage (max interval 1 s).
  CHECK(info["frames"].get<int>() >= 20);
  const int frames = info["frames"].get<int>();

  // Adding the same footage again changes nothing.
  CliRun again = RunCelmatch({"index", "add", "--index", index, footage});
  INFO(again.out);
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("already_present") != std::string::npos);
  CHECK(IndexInfo(index)["frames"].get<int>() == frames);
  // `build` refuses a folder that already holds an index.
  CHECK(RunCelmatch({"index", "build", "--index", index, footage}).exit_code == 1);

  const std::string dump = tmp.str() + "/dump";
  CliRun leaks = RunCelmatch({"bench", "leaks", "--out", dump, "--truth", tmp.str() + "/truth.csv", "--seed", "5",
                              "--frames", "5", "--distractors", *distractors, "--", footage});
  INFO(leaks.out);
  REQUIRE(leaks.exit_code == 0);
  Result<std::vector<LeakTruth>> truth = ReadTruthCsv(tmp.str() + "/truth.csv");
  REQUIRE(truth.ok());
  REQUIRE(truth->size() >= 30);

  // Bad files in the dump: each is reported, none stops the run.
  fs::create_directories(dump + "/bad");
  WriteFileBytes(dump + "/bad/empty.png", {});
  std::vector<uint8_t> png;
  cv::imencode(".png", celmatch::SyntheticCartoonFrame(9, 0), png);
  png.resize(png.size() / 3);
  WriteFileBytes(dump + "/bad/truncated.png", png);
  std::mt19937 rng(1);
  std::vector<uint8_t> noise(5000);
  for (auto& b : noise) b = uint8_t(rng());
  WriteFileBytes(dump + "/bad/random.mp4", noise);
  { std::ofstream(dump + "/bad/notes.txt") << "retake: fix the left hand in shot 12\n"; }

  const std::string results = tmp.str() + "/results.jsonl";
  CliRun match = RunCelmatch({"match", "--index", index, "--out", results, "--jobs", "2", dump});
  INFO(match.out);
  REQUIRE(match.exit_code == 0);
  std::map<std::string, nlohmann::json> records = ReadJsonl(results, dump);
  CHECK(records.size() == CountFiles(dump));

  for (const LeakTruth& t : *truth) {
    INFO(t.file << " " << t.transform << " " << t.source << " @ " << t.time_s);
    REQUIRE(records.count(t.file) == 1);
    const nlohmann::json& r = records[t.file];
    if (t.distractor) {
      CHECK(r["status"] == "no_match");
      continue;
    }
    REQUIRE(r["status"] == "match");
    const nlohmann::json& m = r["matches"][0];
    CHECK(m["production"] == t.production);
    CHECK(m["source"] == t.source);
    CHECK(std::fabs(m["time"].get<double>() - t.time_s) <= 1.0);
    CHECK(m["time_span"][0].get<double>() <= t.time_s + 1e-3);
    CHECK(m["time_span"][1].get<double>() >= t.time_s - 1e-3);
    CHECK(m["score"].get<double>() >= 0.5);
    CHECK(m["score"].get<double>() <= 1.0);
    CHECK(m["evidence"]["pdq_distance"].get<int>() <= 31);
  }
  for (const char* bad : {"bad/empty.png", "bad/truncated.png", "bad/random.mp4"}) {
    INFO(bad << ": " << records[bad].dump());
    CHECK(records[bad]["status"] == (std::string(bad) == "bad/random.mp4" ? "skipped" : "error"));
    if (records[bad]["status"] == "error") {
      CHECK(records[bad]["error"].get<std::string>().find(fs::path(bad).filename().string()) != std::string::npos);
    }
  }
  CHECK(records["bad/notes.txt"]["status"] == "skipped");
  CHECK(records["bad/notes.txt"]["kind"] == "other");
}

TEST_CASE("a video clip in the dump is placed at its offset in the episode") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage/Tin Island";
  fs::create_directories(footage);
  REQUIRE(celmatch::WriteSyntheticVideo(footage + "/episode_01.mp4", 21, 20.0, 24, 5.0).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, tmp.str() + "/footage"}).exit_code == 0);

  // A 4-second excerpt starting at 7.5 s, written by the same generator at
  // another size and frame rate.
  const std::string dump = tmp.str() + "/dump";
  fs::create_directories(dump);
  {
    cv::VideoWriter w(dump + "/clip.avi", cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 12,
                      cv::Size(320, 180));
    REQUIRE(w.isOpened());
    for (int i = 0; i < 48; ++i) {
      const double t = 7.5 + i / 12.0;
      const int shot = int(t / 5.0);
      cv::Mat f = celmatch::SyntheticCartoonFrame(21 * 1000u + uint32_t(shot), t - shot * 5.0, 640, 360), small;
      cv::resize(f, small, cv::Size(320, 180), 0, 0, cv::INTER_AREA);
      w.write(small);
    }
  }
  const std::string results = tmp.str() + "/results.jsonl";
  CliRun match = RunCelmatch({"match", "--index", index, "--out", results, dump});
  INFO(match.out);
  REQUIRE(match.exit_code == 0);
  nlohmann::json r = ReadJsonl(results, dump)["clip.avi"];
  INFO(r.dump());
  CHECK(r["kind"] == "video");
  REQUIRE(r["status"] == "match");
  CHECK(r["matches"][0]["source"] == "episode_01.mp4");
  CHECK(r["matches"][0]["production"] == "Tin Island");
  CHECK(std::fabs(r["matches"][0]["time"].get<double>() - 7.5) <= 1.0);
  CHECK(r["matches"][0]["evidence"]["samples_matched"].get<int>() >= 4);

  // A named path that does not exist is reported once, with the reason, and
  // makes the exit non-zero after the other inputs are done.
  const std::string missing = dump + "/does_not_exist.png", results2 = tmp.str() + "/results2.jsonl";
  CliRun partly = RunCelmatch({"match", "--index", index, "--out", results2, missing, dump});
  INFO(partly.out);
  CHECK(partly.exit_code == 1);
  CHECK(partly.out.find("does_not_exist.png: no such file or folder") != std::string::npos);
  CHECK(partly.out.find(missing + ": " + missing) == std::string::npos);  // the path once, not twice
  std::map<std::string, nlohmann::json> both = ReadJsonl(results2);
  REQUIRE(both.size() == 2);
  CHECK(both[missing]["status"] == "error");
  CHECK(both[dump + "/clip.avi"]["status"] == "match");
}

TEST_CASE("exit codes, --help and incompatible indexes") {
  TempDir tmp;
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
           {"--help"}, {"index", "--help"}, {"index", "build", "--help"}, {"index", "add", "--help"},
           {"index", "info", "--help"}, {"match", "--help"}, {"bench", "leaks", "--help"}}) {
    CliRun r = RunCelmatch(cmd);
    INFO(cmd.back() << ": " << r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Usage") != std::string::npos);
  }
  CHECK(RunCelmatch({"match", tmp.str()}).exit_code == 2);              // no --index
  CHECK(RunCelmatch({"frobnicate"}).exit_code == 2);
  CliRun missing = RunCelmatch({"match", "--index", tmp.str() + "/nope", tmp.str()});
  CHECK(missing.exit_code == 1);
  CHECK(missing.out.find("nope") != std::string::npos);

  // An index written by a newer format is refused with a clear message.
  fs::create_directories(tmp.str() + "/footage/P");
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/P/a.mp4", 4, 3.0, 12).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, tmp.str() + "/footage"}).exit_code == 0);
  nlohmann::json manifest;
  std::ifstream(index + "/manifest.json") >> manifest;
  manifest["format_version"] = 99;
  std::ofstream(index + "/manifest.json", std::ios::trunc) << manifest.dump();
  CliRun newer = RunCelmatch({"match", "--index", index, tmp.str() + "/footage"});
  INFO(newer.out);
  CHECK(newer.exit_code == 1);
  CHECK(newer.out.find("99") != std::string::npos);
}

TEST_CASE("index build: sources join the catalog in input order, the same files for one job or two") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage/Show";
  fs::create_directories(footage);
  // The first source takes longest: with two jobs the stills after it are ready first.
  REQUIRE(celmatch::testing::WriteSyntheticVideo(footage + "/a_long.avi", 41, 8.0, 12, 4.0, 640, 360));
  REQUIRE(cv::imwrite(footage + "/b_still.png", celmatch::testing::SyntheticCartoonFrame(42, 0.0)));
  REQUIRE(cv::imwrite(footage + "/c_still.png", celmatch::testing::SyntheticCartoonFrame(43, 0.0)));
  REQUIRE(celmatch::testing::WriteSyntheticVideo(footage + "/d_short.avi", 44, 1.0, 12, 4.0, 640, 360));
  for (const char* jobs : {"1", "2"}) {
    const std::string index = tmp.str() + "/index" + jobs;
    CliRun build = RunCelmatch({"index", "build", "--index", index, "--jobs", jobs, tmp.str() + "/footage"});
    INFO(build.out);
    REQUIRE(build.exit_code == 0);
    auto read = ReferenceIndex::OpenForRead(index);
    REQUIRE(read.ok());
    std::vector<std::string> order;  // sources by id
    for (int64_t id = 0; id < (*read)->frame_count(); ++id) {
      const std::string& path = (*read)->source((*read)->frame(id).source_id).path;
      if (order.empty() || order.back() != path) order.push_back(path);
    }
    INFO("--jobs " << jobs);
    CHECK(order == std::vector<std::string>{"a_long.avi", "b_still.png", "c_still.png", "d_short.avi"});
  }
  // Byte for byte the same index files (the catalog holds build times).
  for (const std::string name : {"pdq.faissbin", "words_color.bin", "words_line.bin", "embeddings.f32",
                                 "embedding_regions.f32"}) {
    INFO(name);
    REQUIRE(fs::exists(tmp.path() / "index1" / name));
    const bool same = ReadFileBytes(tmp.str() + "/index1/" + name) == ReadFileBytes(tmp.str() + "/index2/" + name);
    CHECK(same);
  }
}

TEST_CASE("an index add killed at random moments leaves the index readable and consistent") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage";
  fs::create_directories(footage + "/first");
  REQUIRE(celmatch::WriteSyntheticVideo(footage + "/first/a.mp4", 50, 4.0, 24).ok());
  for (int i = 0; i < 6; ++i) {
    fs::create_directories(footage + "/more");
    REQUIRE(celmatch::WriteSyntheticVideo(footage + "/more/ep" + std::to_string(i) + ".mp4", 60 + i, 4.0, 24).ok());
  }
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, footage + "/first"}).exit_code == 0);
  const int first_frames = IndexInfo(index)["frames"].get<int>();

  std::mt19937 rng(12345);
  for (int cycle = 0; cycle < 5; ++cycle) {
    std::vector<std::string> args = {CELMATCH_BINARY, "index", "add", "--index", index, "--jobs", "1", footage + "/more"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 600));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);

    CliRun check = RunCelmatch({"index", "check", "--index", index});
    INFO("cycle " << cycle << ": " << check.out);
    REQUIRE(check.exit_code == 0);
    CHECK(IndexInfo(index)["frames"].get<int>() >= first_frames);
  }
  // Finishing the add afterwards completes the index.
  REQUIRE(RunCelmatch({"index", "add", "--index", index, footage + "/more"}).exit_code == 0);
  nlohmann::json info = IndexInfo(index);
  CHECK(info["sources"] == 7);
  CHECK(RunCelmatch({"index", "check", "--index", index}).exit_code == 0);
}

TEST_CASE("bench throughput times the cascade step by step on the same files, beside decoding them") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage";
  Result<std::string> distractors = WriteSyntheticFootage(footage, 7, 1, 1, 6.0);
  REQUIRE(distractors.ok());
  const std::string index = tmp.str() + "/index", dump = tmp.str() + "/dump";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, footage}).exit_code == 0);
  REQUIRE(RunCelmatch({"bench", "leaks", "--out", dump, "--truth", tmp.str() + "/truth.csv", "--seed", "3",
                       "--frames", "2", "--transforms", "crop50", "jpeg75", "sheet", "--distractors", *distractors, "--",
                       footage})
              .exit_code == 0);
  CliRun bench = RunCelmatch({"bench", "throughput", "--index", index, "--dump", dump, "--repeat", "1"});
  INFO(bench.out);
  REQUIRE(bench.exit_code == 0);
  // The steps in cascade order, each a row; the embedding's only when the
  // index has embeddings (and then `match`'s model runs it).
  const bool embedding = IndexInfo(index).contains("embedding");
  std::vector<std::string> rows = {"PDQ alone (PDQ/vPDQ matching)", "+ local features", "+ cel pixels"};
  if (embedding) rows.push_back("+ embedding");
  rows.push_back("+ line drawings, located pixels (full)");
  size_t at = bench.out.find("the cascade step by step");
  REQUIRE(at != std::string::npos);
  for (const std::string& row : rows) {
    const size_t next = bench.out.find("\n    " + row + " ", at);
    CHECK(next != std::string::npos);
    if (next != std::string::npos) at = next;
  }
  CHECK((bench.out.find("+ embedding") != std::string::npos) == embedding);
  CHECK(bench.out.find(embedding ? "embedding: celmatch-embed" : "embedding: none in this index") != std::string::npos);
  CHECK(bench.out.find("match / decode") != std::string::npos);
}
