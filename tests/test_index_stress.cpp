// Index integrity under SIGKILL (issue 7): `celmatch index add` killed at
// random moments, 50+ times; after every kill the index opens, passes
// Check(), and holds every source whose "added" line had been printed (the
// line is printed after the source's catalog transaction commits). And a
// reader matching while another process adds always sees a consistent index.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include "child_process.h"
#include "cli_runner.h"
#include "index/catalog.h"
#include "index/reference_index.h"
#include "media/video_decoder.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

// Tiny episodes, so that one add cycle takes a fraction of a second.
std::vector<std::string> WriteTinyEpisodes(const fs::path& dir, int n, uint32_t seed) {
  fs::create_directories(dir);
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    const std::string name = "ep" + std::to_string(i) + ".mp4";
    REQUIRE(celmatch::WriteSyntheticVideo((dir / name).string(), seed + uint32_t(i), 1.5, 8.0, 4.0, 128, 72).ok());
    names.push_back(name);
  }
  return names;
}

// Sources ("production / source") whose "added" line is complete in the
// add command's stderr.
std::set<std::string> AddedSources(const std::string& stderr_path) {
  std::set<std::string> out;
  std::ifstream in(stderr_path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  size_t begin = 0;
  for (size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1) {
    const std::string line = text.substr(begin, end - begin);
    if (line.rfind("added ", 0) != 0) continue;
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;
    std::string name = line.substr(16, colon - 16);
    out.insert(name);
  }
  return out;
}

// The catalog's sources as "production / source"; fails the test when the
// index does not open or does not pass its check.
std::multiset<std::string> CheckedSources(const std::string& index_dir) {
  Result<std::unique_ptr<ReferenceIndex>> ix = ReferenceIndex::OpenForRead(index_dir);
  INFO((ix.ok() ? "" : ix.status().message()));
  REQUIRE(ix.ok());
  const Status st = (*ix)->Check();
  INFO(st.message());
  REQUIRE(st.ok());
  Result<std::unique_ptr<Catalog>> cat = Catalog::Open(index_dir + "/catalog.sqlite", false, true);
  REQUIRE(cat.ok());
  Result<std::vector<SourceRecord>> sources = (*cat)->Sources();
  REQUIRE(sources.ok());
  Result<std::vector<ProductionRecord>> productions = (*cat)->Productions();
  REQUIRE(productions.ok());
  std::map<int64_t, std::string> names;
  for (const ProductionRecord& p : *productions) names[p.id] = p.name;
  std::multiset<std::string> out;
  for (const SourceRecord& s : *sources) out.insert(names[s.production_id] + " / " + s.path);
  return out;
}

}  // namespace

TEST_CASE("index add killed with SIGKILL 50+ times: opens, passes check, keeps every completed add") {
  TempDir tmp;
  const fs::path footage = tmp.path() / "Show";
  const std::vector<std::string> episodes = WriteTinyEpisodes(footage, 16, 500);
  const std::string index = tmp.str() + "/index";
  const std::string err_path = tmp.str() + "/add.stderr";

  std::mt19937 rng(7);
  std::set<std::string> completed;  // since the index was (re)created
  int cycles = 0, kills_mid_add = 0, rebuilds = 0;
  // The longest delay before the kill adapts to how fast this machine runs an
  // add: it shrinks when a cycle finished before the kill and grows when it
  // did not, so kills keep landing inside adds on fast and slow machines.
  double max_delay_us = 900'000;
  const auto start = std::chrono::steady_clock::now();
  while (cycles < 60 && std::chrono::steady_clock::now() - start < std::chrono::seconds(150)) {
    const bool exists = fs::exists(fs::path(index) / "manifest.json");
    const pid_t pid = SpawnCelmatch({"index", exists ? "add" : "build", "--index", index, "--jobs", "1",
                                     footage.string()},
                                    "", err_path);
    REQUIRE(pid > 0);
    // Random moments over a whole add's length: process start, opening,
    // hashing, the catalog transaction, the FAISS rename, the manifest.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % std::max<uint32_t>(1, uint32_t(max_delay_us))));
    const bool finished = ::waitpid(pid, nullptr, WNOHANG) == pid;
    if (!finished) {
      KillNow(pid);
      ++kills_mid_add;
      max_delay_us = std::min(2'000'000.0, max_delay_us * 1.05);
    } else {
      max_delay_us = std::max(20'000.0, max_delay_us * 0.7);
    }
    ++cycles;
    const std::set<std::string> added = AddedSources(err_path);
    completed.insert(added.begin(), added.end());
    INFO("cycle " << cycles << (finished ? " (finished)" : " (killed)"));
    if (!fs::exists(fs::path(index) / "manifest.json")) {
      // Killed before the index existed: nothing may have been reported added.
      CHECK(completed.empty());
      continue;
    }
    const std::multiset<std::string> present = CheckedSources(index);
    for (const std::string& s : completed) {
      INFO("completed add lost: " << s);
      CHECK(present.count(s) == 1);
    }
    for (const std::string& s : present) CHECK(present.count(s) == 1);  // no source twice
    if (present.size() == episodes.size()) {
      // Everything is in: start over so the kills keep landing inside adds.
      fs::remove_all(index);
      completed.clear();
      ++rebuilds;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WARN(cycles << " SIGKILL cycles (" << kills_mid_add << " killed mid-run, " << rebuilds << " full indexes) in "
              << seconds << " s");
  CHECK(cycles >= 50);
  CHECK(kills_mid_add >= 40);
}

TEST_CASE("a reader matching while another process adds sees a consistent index") {
  TempDir tmp;
  const fs::path first = tmp.path() / "first" / "Show";
  WriteTinyEpisodes(first, 1, 900);
  const fs::path more = tmp.path() / "more" / "Show";
  // Enough episodes that the writer runs for several reads even on a busy
  // machine (12 gave two reads under a loaded CI run).
  constexpr int kMore = 100;
  WriteTinyEpisodes(more, kMore, 910);
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, (tmp.path() / "first").string()}).exit_code == 0);

  // A still of the first episode, which every state of the index holds.
  const fs::path dump = tmp.path() / "dump";
  fs::create_directories(dump);
  {
    auto dec = VideoDecoder::Open((first / "ep0.mp4").string());
    REQUIRE(dec.ok());
    VideoFrame f;
    for (int i = 0; i < 4; ++i) REQUIRE((*dec)->Next(&f).ok());
    cv::imwrite((dump / "still.png").string(), f.bgr);
  }

  const pid_t writer = SpawnCelmatch({"index", "add", "--index", index, "--jobs", "1", (tmp.path() / "more").string()});
  REQUIRE(writer > 0);
  int reads = 0;
  int64_t last_frames = 0;
  bool writer_done = false;
  int status = 0;
  const auto start = std::chrono::steady_clock::now();
  while (!writer_done && std::chrono::steady_clock::now() - start < std::chrono::seconds(90)) {
    writer_done = ::waitpid(writer, &status, WNOHANG) == writer;
    // In-process reader: opens, passes the check, never shrinks.
    Result<std::unique_ptr<ReferenceIndex>> ix = ReferenceIndex::OpenForRead(index);
    INFO((ix.ok() ? "" : ix.status().message()));
    REQUIRE(ix.ok());
    const Status st = (*ix)->Check();
    INFO(st.message());
    REQUIRE(st.ok());
    CHECK((*ix)->frame_count() >= last_frames);
    last_frames = (*ix)->frame_count();
    // And the CLI reader matches.
    CliRun m = RunCelmatch({"match", "--index", index, "--jobs", "1", dump.string()});
    INFO(m.out);
    REQUIRE(m.exit_code == 0);
    CHECK(m.out.find("\"status\":\"match\"") != std::string::npos);
    ++reads;
  }
  if (!writer_done) KillNow(writer);
  REQUIRE(writer_done);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(reads >= 3);
  CHECK(CheckedSources(index).size() == size_t(1 + kMore));
}
