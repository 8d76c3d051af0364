// SIGINT during the long commands: `match` stops taking files, keeps every
// line whole, writes the report of what it did, prints the summary and the
// command that resumes it; `index build` keeps the sources it committed, and
// the same command run again completes the build.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include "child_process.h"
#include "cli_runner.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch::testing;

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

size_t CountLines(const std::string& path) {
  const std::string s = ReadAll(path);
  return size_t(std::count(s.begin(), s.end(), '\n'));
}

// Waits until `ready` holds (checked every 5 ms), at most `limit_s`.
bool WaitFor(const std::function<bool()>& ready, double limit_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

TEST_CASE("SIGINT during match: whole lines, the report, the summary and the resume command") {
  TempDir tmp;
  fs::create_directories(tmp.str() + "/footage/Show");
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/Show/ep.mp4", 61, 6.0, 12, 3.0).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, "--no-embedding", tmp.str() + "/footage"}).exit_code == 0);
  const std::string dump = tmp.str() + "/dump";
  fs::create_directories(dump);
  const int n_files = 80;
  for (int i = 0; i < n_files; ++i) {
    REQUIRE(cv::imwrite(dump + "/f" + std::to_string(i) + ".png",
                        SyntheticCartoonFrame(61 * 1000u + uint32_t(i % 2), 0.05 * i, 640, 360)));
  }
  const std::string out = tmp.str() + "/r.jsonl", report = tmp.str() + "/r.html", err = tmp.str() + "/stderr.txt";
  const std::vector<std::string> args = {"match", "--index", index, "--jobs", "1", "--out", out, "--report", report, dump};
  const pid_t pid = SpawnCelmatch(args, "", err);
  REQUIRE(pid > 0);
  REQUIRE(WaitFor([&] { return CountLines(out) >= 5; }, 120));
  ::kill(pid, SIGINT);
  bool timed_out = false;
  const int code = WaitOrKill(pid, 60, &timed_out);
  const std::string stderr_text = ReadAll(err);
  INFO(stderr_text);
  REQUIRE_FALSE(timed_out);
  CHECK(code == 128 + SIGINT);
  const size_t done = CountLines(out);
  REQUIRE(done < size_t(n_files));  // stopped, not finished
  // Every line whole, and the report of the files done.
  const std::map<std::string, nlohmann::json> records = ReadJsonl(out, dump);
  CHECK(records.size() == done - 1);  // and the run record first
  CHECK(ReadAll(out).back() == '\n');
  REQUIRE(fs::exists(report));
  const std::string html = ReadAll(report);
  for (const auto& [file, j] : records) CHECK(html.find(file) != std::string::npos);
  CHECK(stderr_text.find("interrupted (SIGINT)") != std::string::npos);
  CHECK(stderr_text.find(" files: ") != std::string::npos);  // the summary
  const size_t at = stderr_text.find("resume with: ");
  REQUIRE(at != std::string::npos);
  const std::string resume = stderr_text.substr(at + 13, stderr_text.find('\n', at) - at - 13);
  CHECK(resume.find("--resume") != std::string::npos);
  // The printed command, as printed, completes the run: every file once.
  const int rc = std::system((resume + " 2>/dev/null").c_str());
  CHECK(WIFEXITED(rc));
  CHECK(WEXITSTATUS(rc) == 0);
  CHECK(ReadJsonl(out, dump).size() == size_t(n_files));
  CHECK(CountLines(out) == size_t(n_files) + 2);  // two runs, a run record each
}

TEST_CASE("SIGINT during index build: the committed sources stay and the same command completes the build") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage/Show";
  fs::create_directories(footage);
  const int n_sources = 6;
  for (int i = 0; i < n_sources; ++i) {
    REQUIRE(celmatch::WriteSyntheticVideo(footage + "/ep" + std::to_string(i) + ".mp4", 70 + uint32_t(i), 8.0, 12,
                                          4.0).ok());
  }
  const std::string index = tmp.str() + "/index", err = tmp.str() + "/stderr.txt";
  const std::vector<std::string> args = {"index", "build", "--index", index, "--jobs", "1", "--no-embedding",
                                         tmp.str() + "/footage"};
  const pid_t pid = SpawnCelmatch(args, "", err);
  REQUIRE(pid > 0);
  REQUIRE(WaitFor([&] { return ReadAll(err).find("added ") != std::string::npos; }, 120));
  ::kill(pid, SIGINT);
  bool timed_out = false;
  const int code = WaitOrKill(pid, 60, &timed_out);
  const std::string stderr_text = ReadAll(err);
  INFO(stderr_text);
  REQUIRE_FALSE(timed_out);
  CHECK(code == 128 + SIGINT);
  CHECK(stderr_text.find("the same command continues the build") != std::string::npos);
  // What was committed opens and passes check.
  CliRun check = RunCelmatch({"index", "check", "--index", index});
  INFO(check.out);
  CHECK(check.exit_code == 0);
  CliRun info = RunCelmatch({"index", "info", "--index", index, "--json"});
  REQUIRE(info.exit_code == 0);
  const int64_t before = nlohmann::json::parse(info.out)["sources"].get<int64_t>();
  CHECK(before >= 1);
  CHECK(before < n_sources);
  // The same command again completes it; a third time it is refused.
  CliRun again = RunCelmatch(args);
  INFO(again.out);
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("continuing the index build") != std::string::npos);
  CHECK(nlohmann::json::parse(RunCelmatch({"index", "info", "--index", index, "--json"}).out)["sources"] == n_sources);
  CliRun third = RunCelmatch(args);
  CHECK(third.exit_code == 1);
  CHECK(third.out.find("index add") != std::string::npos);
  CHECK(RunCelmatch({"index", "check", "--index", index}).exit_code == 0);
}

TEST_CASE("index add of a path that does not exist says so and exits 1, and bad --jobs is a usage error") {
  TempDir tmp;
  fs::create_directories(tmp.str() + "/footage/Show");
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/Show/ep.mp4", 81, 2.0, 12).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, "--no-embedding", tmp.str() + "/footage"}).exit_code == 0);
  CliRun add = RunCelmatch({"index", "add", "--index", index, "--no-embedding", tmp.str() + "/nonexistent.mp4"});
  INFO(add.out);
  CHECK(add.exit_code == 1);
  CHECK(add.out.find("nonexistent.mp4: no such file or folder") != std::string::npos);
  for (const char* bad : {"0", "-1", "lots"}) {
    CliRun r = RunCelmatch({"match", "--index", index, "--jobs", bad, tmp.str()});
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("from 1 to 4096") != std::string::npos);
    CHECK(r.out.size() < 400);  // a plain message, not CLI11's numeric range
  }
  // An index path that is a file.
  CliRun file = RunCelmatch({"match", "--index", tmp.str() + "/footage/Show/ep.mp4", tmp.str()});
  CHECK(file.exit_code == 1);
  CHECK(file.out.find("is a file, not an index directory") != std::string::npos);
  // A report that cannot be written: refused before any matching.
  CliRun report = RunCelmatch({"match", "--index", index, "--report", "/proc/celmatch/r.html", tmp.str() + "/footage"});
  INFO(report.out);
  CHECK(report.exit_code == 1);
  CHECK(report.out.find("cannot write the report") != std::string::npos);
  CHECK(report.out.find("matched") == std::string::npos);  // no file was matched
}
