// The tools/slurm/ pipeline on a real Slurm: a one-machine cluster (munged,
// slurmctld, slurmd started by tools/slurm/local-cluster.sh in a temporary
// folder), the build array, the dependent merge, the match array and the
// results merge submitted with sbatch; the merged index and the results must
// equal an unsharded run's. Skipped unless root with slurm-wlm and munge
// installed.
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "cli_runner.h"
#include "shard_support.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

const std::string kSlurmTools = std::string(CELMATCH_SOURCE_DIR) + "/tools/slurm";

// Runs `command` through /bin/sh; stdout and stderr together.
CliRun RunWithStderr(const std::string& command) { return RunShell(command + " 2>&1"); }

// Starts the cluster; stops it (jobs, daemons) when destroyed, including when
// a REQUIRE fails. The script's watchdog stops it too if this process dies.
class LocalCluster {
 public:
  explicit LocalCluster(const std::string& dir) : dir_(dir) {
    start_ = RunWithStderr("bash " + ShellQuote(kSlurmTools + "/local-cluster.sh") + " start " + ShellQuote(dir) + " " +
                      std::to_string(::getpid()));
    std::smatch m;
    static const std::regex conf("export SLURM_CONF=(\\S+)");
    if (start_.exit_code == 0 && std::regex_search(start_.out, m, conf)) {
      ::setenv("SLURM_CONF", m[1].str().c_str(), 1);
      up_ = true;
    }
  }
  ~LocalCluster() { RunWithStderr("bash " + ShellQuote(kSlurmTools + "/local-cluster.sh") + " stop " + ShellQuote(dir_)); }
  bool up() const { return up_; }
  const std::string& start_output() const { return start_.out; }

 private:
  std::string dir_;
  CliRun start_;
  bool up_ = false;
};

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string FileText(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string Logs(const std::string& dir) {
  std::string out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) out += "== " + e.path().string() + "\n" + FileText(e.path());
  return out;
}

}  // namespace

TEST_CASE("Slurm: build array, merge, match array and results merge equal the unsharded run") {
  if (::geteuid() != 0) CELMATCH_SKIP("needs root to start slurmd");
  if (RunWithStderr("command -v munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol scancel").exit_code != 0)
    CELMATCH_SKIP("slurm-wlm and munge are not installed (tools/install-deps.sh)");

  TempDir tmp;
  const std::string footage = tmp.str() + "/footage";
  Result<std::string> distractors = WriteSyntheticFootage(footage, 33, 3, 2, 4.0);
  REQUIRE(distractors.ok());
  const std::string dump = tmp.str() + "/dump";
  CliRun leaks = RunCelmatch({"bench", "leaks", "--out", dump, "--truth", tmp.str() + "/truth.csv", "--seed", "8",
                              "--frames", "1", "--transforms", "jpeg75", "--distractors", *distractors, "--",
                              footage});
  INFO(leaks.out);
  REQUIRE(leaks.exit_code == 0);

  // The unsharded run, on this machine directly.
  const std::string whole = tmp.str() + "/whole";
  CliRun build = RunCelmatch({"index", "build", "--jobs", "2", "--index", whole, footage});
  INFO(build.out);
  REQUIRE(build.exit_code == 0);
  const std::string unsharded = tmp.str() + "/unsharded.jsonl";
  CliRun match = RunCelmatch({"match", "--jobs", "2", "--index", whole, "--out", unsharded, dump});
  INFO(match.out);
  REQUIRE(match.exit_code == 0);

  // Declared after tmp, so the cluster stops before its folder is removed.
  LocalCluster cluster(tmp.str() + "/cluster");
  INFO(cluster.start_output());
  REQUIRE(cluster.up());

  const std::string work = tmp.str() + "/work";
  ::setenv("CELMATCH", CELMATCH_BINARY, 1);
  CliRun submit = RunWithStderr("bash " + ShellQuote(kSlurmTools + "/submit.sh") + " --build-shards 3 --match-shards 4 " +
                           ShellQuote(work) + " " + ShellQuote(footage) + " " + ShellQuote(dump));
  INFO(submit.out);
  REQUIRE(submit.exit_code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(submit.out, m, std::regex("build=(\\d+) merge=(\\d+) match=(\\d+) results=(\\d+)")));
  const std::vector<std::string> jobs = {m[1], m[2], m[3], m[4]};

  // Wait for the queue to drain; bounded, so a stuck job fails the test (and
  // the cluster is stopped) well inside CTest's timeout.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(150);
  bool drained = false;
  while (std::chrono::steady_clock::now() < deadline) {
    CliRun q = RunWithStderr("squeue -h -o %i");
    if (q.exit_code == 0 && q.out.find_first_not_of(" \n") == std::string::npos) {
      drained = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  INFO(Logs(work + "/logs"));
  INFO(RunWithStderr("squeue; sinfo").out);
  REQUIRE(drained);
  for (const std::string& id : jobs) {
    CliRun show = RunWithStderr("scontrol show job " + id);
    INFO(show.out);
    CHECK(show.exit_code == 0);
    // One JobState line per array task: all of them completed.
    const int states = Count(show.out, "JobState=");
    const int completed = Count(show.out, "JobState=COMPLETED");
    CHECK(states >= 1);
    CHECK(completed == states);
  }

  CHECK(IndexContents(work + "/index") == IndexContents(whole));
  REQUIRE(fs::exists(work + "/results.jsonl"));
  const auto expected = JsonlRecordSet({unsharded}, true);
  CHECK(expected.size() >= 8);
  CHECK(JsonlRecordSet({work + "/results.jsonl"}, true) == expected);
}
