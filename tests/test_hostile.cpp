// Hostile dumps (issue 7): every file of a generated hostile corpus is
// reported exactly once, nothing crashes or hangs, limits are named in the
// errors, good files still match; and a killed run resumes without losing
// or repeating a file.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include "child_process.h"
#include "cli_runner.h"
#include "hostile_corpus.h"
#include "output/resume_log.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

struct IndexedFootage {
  std::string video;
  std::string index;
};

// One production with one short generated episode, indexed.
IndexedFootage BuildIndex(const TempDir& tmp, uint32_t seed) {
  IndexedFootage f;
  f.video = tmp.str() + "/footage/Show/ep1.mp4";
  fs::create_directories(tmp.path() / "footage" / "Show");
  REQUIRE(celmatch::WriteSyntheticVideo(f.video, seed, 6.0, 10.0).ok());
  f.index = tmp.str() + "/index";
  CliRun build = RunCelmatch({"index", "build", "--index", f.index, "--jobs", "1", tmp.str() + "/footage"});
  INFO(build.out);
  REQUIRE(build.exit_code == 0);
  return f;
}

// Records keyed by ReportedFileKey(file): a name that is not UTF-8 comes back
// with U+FFFD in it, and is compared the same way.
std::multimap<std::string, nlohmann::json> ReadRecords(const std::string& path) {
  std::multimap<std::string, nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);  // throws (fails the test) on a half-written line
    if (j.contains("celmatch_run")) continue;          // a run's first line
    out.emplace(j["file"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), j);
  }
  return out;
}

size_t CountLines(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a hostile dump: every file reported once, limits named, good files matched, no hang") {
  TempDir tmp;
  IndexedFootage footage = BuildIndex(tmp, 71);
  const fs::path dump = tmp.path() / "dump";
  std::vector<HostileEntry> corpus = WriteHostileCorpus(dump, tmp.path() / "outside", {footage.video, 71, 2.0});
  REQUIRE(corpus.size() > 60);

  const std::string out = tmp.str() + "/results.jsonl";
  const auto start = std::chrono::steady_clock::now();
  bool timed_out = false;
  const pid_t pid = SpawnCelmatch({"match", "--index", footage.index, "--out", out, "--jobs", "2",
                                   "--max-frames", "20000", "--max-memory-per-file", "64M",
                                   "--max-seconds-per-file", "30", dump.string()},
                                  "", tmp.str() + "/stderr.txt");
  REQUIRE(pid > 0);
  // Bounded: the limits cap every file, so the whole dump takes seconds.
  const int code = WaitOrKill(pid, 240, &timed_out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ifstream err_in(tmp.str() + "/stderr.txt");
  const std::string err((std::istreambuf_iterator<char>(err_in)), std::istreambuf_iterator<char>());
  INFO("stderr:\n" << err);
  REQUIRE_FALSE(timed_out);
  REQUIRE(code == 0);
  WARN("hostile corpus of " << corpus.size() << " entries matched in " << seconds << " s");

  std::multimap<std::string, nlohmann::json> records = ReadRecords(out);
  CHECK(records.size() == corpus.size());
  int matched_good = 0;
  for (const HostileEntry& e : corpus) {
    const std::string key = ReportedFileKey((dump / e.display_path).string());
    INFO(e.what << ": " << e.display_path);
    REQUIRE(records.count(key) == 1);
    const nlohmann::json& r = records.find(key)->second;
    INFO(r.dump());
    const std::string status = r["status"];
    switch (e.expect) {
      case HostileEntry::Expect::kMatch:
        CHECK(status == "match");
        if (status == "match") {
          ++matched_good;
          CHECK(r["matches"][0]["source"] == "ep1.mp4");
        }
        break;
      case HostileEntry::Expect::kError:
        CHECK(status == "error");
        if (!e.limit.empty()) CHECK(r["error"].get<std::string>().find(e.limit) != std::string::npos);
        break;
      case HostileEntry::Expect::kSkipped:
        CHECK(status == "skipped");
        break;
      case HostileEntry::Expect::kReported:
        CHECK((status == "match" || status == "no_match" || status == "error" || status == "skipped"));
        // Damaged copies of the indexed footage may match, but only it.
        if (status == "match") CHECK(r["matches"][0]["source"] == "ep1.mp4");
        break;
    }
  }
  CHECK(matched_good >= 15);  // every kMatch entry, checked above
  fs::permissions(dump / "unreadable" / "locked.png", fs::perms::owner_all);  // so TempDir can remove it
}

TEST_CASE("limits are options of celmatch match and the error names the limit") {
  TempDir tmp;
  IndexedFootage footage = BuildIndex(tmp, 72);
  const fs::path dump = tmp.path() / "dump";
  std::vector<HostileEntry> corpus = WriteHostileCorpus(dump, tmp.path() / "outside", {footage.video, 72, 1.0});
  const std::string png = (dump / "good" / "frame.png").string();
  const std::string clip = (dump / "good" / "clip.mp4").string();

  auto one = [&](std::vector<std::string> extra, const std::string& file) {
    std::vector<std::string> args = {"match", "--index", footage.index, "--jobs", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(file);
    CliRun r = RunCelmatch(args);
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    // The file's record: the JSON line that is not the run record.
    std::stringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("{", 0) != 0) continue;
      nlohmann::json j = nlohmann::json::parse(line);
      if (!j.contains("celmatch_run")) return j;
    }
    FAIL("no file record in the output");
    return nlohmann::json();
  };
  CHECK(one({}, png)["status"] == "match");
  nlohmann::json j = one({"--max-pixels", "1000"}, png);
  CHECK(j["status"] == "error");
  CHECK(j["error"].get<std::string>().find("max_pixels") != std::string::npos);
  j = one({"--max-file-size", "1k"}, png);
  CHECK(j["error"].get<std::string>().find("max_file_bytes") != std::string::npos);
  j = one({"--max-memory-per-file", "1M"}, png);
  CHECK(j["error"].get<std::string>().find("max_memory_bytes") != std::string::npos);
  j = one({"--max-frames", "5"}, clip);
  CHECK(j["status"] == "error");
  CHECK(j["error"].get<std::string>().find("max_frames") != std::string::npos);
  j = one({"--max-memory-per-file", "1M"}, clip);
  CHECK(j["error"].get<std::string>().find("max_memory_bytes") != std::string::npos);
  CHECK(one({}, clip)["status"] == "match");
  fs::permissions(dump / "unreadable" / "locked.png", fs::perms::owner_all);
}

TEST_CASE("a match run killed with SIGKILL resumes: every file exactly once") {
  TempDir tmp;
  IndexedFootage footage = BuildIndex(tmp, 73);
  // Two folders that hold files of the same names: each file is reported
  // under the path it was given with, so none hides another.
  const fs::path dump = tmp.path() / "dump";
  const fs::path folders[2] = {dump / "a", dump / "b"};
  // Stills cut from the episode, enough that the run is still going when it
  // is killed.
  const int n_files = 60, per_folder = n_files / 2;
  for (int i = 0; i < n_files; ++i) {
    cv::Mat f = celmatch::SyntheticCartoonFrame(uint32_t(i), 0.1 * i);
    const std::vector<uint8_t> png = [&] {
      std::vector<uint8_t> b;
      cv::imencode(".png", f, b);
      return b;
    }();
    fs::create_directories(folders[i / per_folder]);
    WriteFileBytes((folders[i / per_folder] / ("f" + std::to_string(i % per_folder) + ".png")).string(), png);
  }
  const std::string out = tmp.str() + "/results.jsonl", csv = tmp.str() + "/results.csv",
                    report = tmp.str() + "/report.html";
  const std::vector<std::string> args = {"match",  "--index", footage.index, "--out",    out,
                                         "--jobs", "1",       "--resume",    "--csv",    csv,
                                         "--report", report,  folders[0].string(), folders[1].string()};
  const pid_t pid = SpawnCelmatch(args);
  REQUIRE(pid > 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (CountLines(out) < 10 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  KillNow(pid);
  const size_t before = CountLines(out);
  INFO("lines before the kill: " << before);
  REQUIRE(before >= 10);
  REQUIRE(before < size_t(n_files));  // killed mid-way, not after the end
  {
    // A last line cut short (a full disk, a kill inside write on another
    // system): resume must cut it away, not keep or repeat it.
    std::ofstream app(out, std::ios::app);
    app << "{\"file\":\"f1";
  }
  CliRun resumed = RunCelmatch(args);
  INFO(resumed.out);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.out.find("partial last line") != std::string::npos);

  std::multimap<std::string, nlohmann::json> records = ReadRecords(out);
  CHECK(records.size() == size_t(n_files));
  for (int i = 0; i < n_files; ++i) {
    const std::string file = (folders[i / per_folder] / ("f" + std::to_string(i % per_folder) + ".png")).string();
    INFO(file);
    CHECK(records.count(ReportedFileKey(file)) == 1);
  }

  // The CSV and the report of the resumed run cover the whole run, not only
  // the files matched after the kill.
  CHECK(CountLines(csv) == size_t(n_files) + 1);  // and the header
  {
    std::ifstream in(report);
    const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (int i = 0; i < n_files; ++i) {
      const std::string file = (folders[i / per_folder] / ("f" + std::to_string(i % per_folder) + ".png")).string();
      INFO(file);
      CHECK(html.find(file) != std::string::npos);
    }
  }

  // Resuming a finished run adds nothing: the file holds every file's
  // record and the run records of the first run and of the resumed one.
  REQUIRE(RunCelmatch(args).exit_code == 0);
  CHECK(CountLines(out) == size_t(n_files) + 2);
  CHECK(ReadRecords(out).size() == size_t(n_files));
  // --resume without --out is a usage error.
  CHECK(RunCelmatch({"match", "--index", footage.index, "--resume", dump.string()}).exit_code == 2);
}
