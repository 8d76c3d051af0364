// Sharing hashes instead of footage: `celmatch hash` agrees with Meta's
// reference PDQ output, and an index exported as a hash list and imported
// into a new index matches a dump exactly as the original does at the PDQ
// stage (which needs no footage).
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include "cli_runner.h"
#include "core/csv.h"
#include "core/input_walker.h"
#include "index/reference_index.h"
#include "match/matcher.h"
#include "output/jsonl_writer.h"
#include "signatures/pdq_hash.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

std::vector<std::vector<std::string>> ReadCsv(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  Result<std::vector<std::vector<std::string>>> rows = ParseCsv(s.str());
  REQUIRE(rows.ok());
  return *rows;
}

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream s(line);
  std::string f;
  while (std::getline(s, f, ',')) out.push_back(f);
  return out;
}

int Distance(const std::string& a, const std::string& b) {
  Result<PdqHash> ha = PdqHash::FromHex(a), hb = PdqHash::FromHex(b);
  REQUIRE(ha.ok());
  REQUIRE(hb.ok());
  return ha->Distance(*hb);
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// What the command prints on stdout (FFmpeg may warn on stderr).
std::string RunStdout(const std::vector<std::string>& args) {
  std::string cmd = ShellQuote(CELMATCH_BINARY);
  for (const std::string& a : args) cmd += " " + ShellQuote(a);
  cmd += " 2>/dev/null";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  REQUIRE(::pclose(p) == 0);
  return out;
}

}  // namespace

TEST_CASE("celmatch hash agrees with Meta's reference hashes (hash,quality,filename)") {
  const std::string vectors = PdqVectorsDir();
  if (vectors.empty()) CELMATCH_SKIP("no ../shared/pdq-vectors");
  const std::string images = vectors + "/images";

  std::vector<std::vector<std::string>> expected = ReadCsv(vectors + "/hashes.csv");
  REQUIRE(expected.size() > 1);
  std::vector<std::string> args = {"hash"};
  for (size_t i = 1; i < expected.size(); ++i) args.push_back(images + "/" + expected[i][0]);
  CliRun run = RunCelmatch(args);
  REQUIRE(run.exit_code == 0);
  std::map<std::string, std::vector<std::string>> ours;  // file name -> hash, quality
  std::stringstream lines(run.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> f = Split(line);
    REQUIRE(f.size() == 3);
    CHECK(f[0].size() == 64);
    ours[fs::path(f[2]).filename().string()] = {f[0], f[1]};
  }
  int compared = 0;
  for (size_t i = 1; i < expected.size(); ++i) {
    const std::string& file = expected[i][0];
    REQUIRE(ours.count(file));
    if (std::stoi(expected[i][2]) < 80) continue;
    INFO(file);
    CHECK(Distance(ours[file][0], expected[i][1]) <= 10);
    CHECK(std::abs(std::stoi(ours[file][1]) - std::stoi(expected[i][2])) <= 10);
    ++compared;
  }
  CHECK(compared >= 10);

  // --dihedral: eight lines per image, in the reference's order.
  std::vector<std::vector<std::string>> dihedral = ReadCsv(vectors + "/dihedral.csv");
  REQUIRE(dihedral.size() > 1);
  std::vector<std::string> dargs = {"hash", "--dihedral"};
  for (size_t i = 1; i < dihedral.size(); ++i) dargs.push_back(images + "/" + dihedral[i][0]);
  CliRun drun = RunCelmatch(dargs);
  REQUIRE(drun.exit_code == 0);
  std::vector<std::vector<std::string>> dlines;
  std::stringstream ds(drun.out);
  while (std::getline(ds, line)) dlines.push_back(Split(line));
  REQUIRE(dlines.size() == 8 * (dihedral.size() - 1));
  for (size_t i = 1; i < dihedral.size(); ++i) {
    if (std::stoi(dihedral[i][1]) < 80) continue;
    for (size_t v = 0; v < 8; ++v) {
      const std::vector<std::string>& got = dlines[(i - 1) * 8 + v];
      INFO(dihedral[i][0] << " variant " << dihedral[0][2 + v]);
      CHECK(fs::path(got[2]).filename() == dihedral[i][0]);
      CHECK(Distance(got[0], dihedral[i][2 + v]) <= 10);
    }
  }
}

TEST_CASE("celmatch hash prints one line per sampled second of a video, and fails on non-media") {
  TempDir t;
  const std::string video = (t.path() / "clip.avi").string();
  REQUIRE(WriteSyntheticVideo(video, 21, 4.0, 10.0));
  std::stringstream lines(RunStdout({"hash", video}));
  std::string line;
  std::vector<double> times;
  while (std::getline(lines, line)) {
    std::vector<std::string> f = Split(line);
    REQUIRE(f.size() == 4);
    CHECK(f[0].size() == 64);
    CHECK(f[2] == video);
    times.push_back(std::stod(f[3]));
  }
  REQUIRE(times.size() == 4);
  for (size_t i = 0; i < times.size(); ++i) CHECK(times[i] == Approx(double(i)).margin(0.11));

  const std::string text = (t.path() / "notes.txt").string();
  WriteFileBytes(text, {'h', 'i', '\n'});
  CliRun bad = RunCelmatch({"hash", text, video});
  CHECK(bad.exit_code == 1);
  CHECK(bad.out.find("notes.txt") != std::string::npos);
  CHECK(bad.out.find(video) != std::string::npos);  // the good file is still hashed
}

TEST_CASE("a hash list exported and imported into a new index reproduces the PDQ matches") {
  TempDir t;
  const std::string footage = (t.path() / "footage").string(), dump = (t.path() / "dump").string();
  const std::string a = (t.path() / "a").string(), b = (t.path() / "b").string();
  const std::string list = (t.path() / "hashes.csv").string();
  REQUIRE(RunCelmatch({"bench", "footage", "--out", footage, "--seed", "5"}).exit_code == 0);
  REQUIRE(RunCelmatch({"index", "build", "--index", a, "--jobs", "2", footage}).exit_code == 0);
  CliRun leaks = RunCelmatch({"bench", "leaks", "--out", dump, "--truth", (t.path() / "truth.csv").string(), "--seed",
                              "9", "--frames", "2", "--", footage});
  REQUIRE(leaks.exit_code == 0);

  REQUIRE(RunCelmatch({"index", "export-hashes", "--index", a, "--out", list}).exit_code == 0);
  std::vector<std::vector<std::string>> rows = ReadCsv(list);
  REQUIRE(rows.size() > 10);
  CHECK(rows[0] == std::vector<std::string>{"hash", "quality", "production", "source", "time", "span_end", "kind"});
  CHECK(std::any_of(rows.begin(), rows.end(), [](const std::vector<std::string>& r) { return r.back() == "span"; }));
  CHECK(rows[1][0].size() == 64);

  CliRun imported = RunCelmatch({"index", "import-hashes", "--index", b, list});
  INFO(imported.out);
  REQUIRE(imported.exit_code == 0);
  CliRun info = RunCelmatch({"index", "info", "--index", a, "--json"});
  REQUIRE(info.exit_code == 0);
  const std::string sources = std::to_string(nlohmann::json::parse(info.out)["sources"].get<int>());
  CHECK(imported.out.find(" " + sources + " sources added") != std::string::npos);
  CliRun again = RunCelmatch({"index", "import-hashes", "--index", b, list});
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find(" 0 sources added") != std::string::npos);
  CHECK(again.out.find(" " + sources + " already present") != std::string::npos);
  // The new index holds exactly the same hashes, names and times.
  const std::string list_b = (t.path() / "hashes-b.csv").string();
  REQUIRE(RunCelmatch({"index", "export-hashes", "--index", b, "--out", list_b}).exit_code == 0);
  CHECK(ReadText(list_b) == ReadText(list));
  CHECK(RunCelmatch({"index", "check", "--index", b}).exit_code == 0);

  // The PDQ stage, which needs nothing but hashes, on both indexes: local
  // features and the thumbnail time refinement need footage the hash-only
  // index does not have, so they are off on both sides.
  Result<std::unique_ptr<ReferenceIndex>> ia = ReferenceIndex::OpenForRead(a);
  Result<std::unique_ptr<ReferenceIndex>> ib = ReferenceIndex::OpenForRead(b);
  REQUIRE(ia.ok());
  REQUIRE(ib.ok());
  MatchOptions options;
  options.local_features = false;
  options.refine_time = false;
  Matcher ma(**ia, options), mb(**ib, options);
  int matched = 0, files = 0;
  for (const InputFile& in : WalkInputs({dump})) {
    INFO(in.display_path);
    FileResult ra = ma.MatchFile(in), rb = mb.MatchFile(in);
    nlohmann::json ja = FileResultToJson(ra), jb = FileResultToJson(rb);
    ja.erase("elapsed");
    jb.erase("elapsed");
    CHECK(ja.dump() == jb.dump());
    ++files;
    matched += ra.status == FileStatus::kMatch;
  }
  CHECK(files > 10);
  CHECK(matched >= files / 2);

  // The command line on the hash-only index: matches, with hash evidence.
  const std::string rb = (t.path() / "b.jsonl").string();
  std::string one_leak;
  for (const InputFile& in : WalkInputs({dump}))
    if (one_leak.empty() && ma.MatchFile(in).status == FileStatus::kMatch) one_leak = in.path;
  REQUIRE(RunCelmatch({"match", "--index", b, "--out", rb, one_leak}).exit_code == 0);
  std::map<std::string, nlohmann::json> res = ReadJsonl(rb);
  REQUIRE(res.size() == 1);
  CHECK(res.begin()->second["status"] == "match");

  // A span hash needs a frame before it in its source, and a known kind.
  const std::string bad = (t.path() / "bad.csv").string();
  const std::string hex(64, 'a');
  {
    std::ofstream out(bad);
    out << "hash,quality,production,source,time,span_end,kind\n"
        << hex << ",,Show,ep.mp4,0.5,,span\n" << hex << ",90,Show,ep.mp4,1.0,2.0,frame\n";
  }
  CliRun early_span = RunCelmatch({"index", "import-hashes", "--index", (t.path() / "c").string(), bad});
  CHECK(early_span.exit_code != 0);
  CHECK_THAT(early_span.out, Catch::Contains("ep.mp4: a span hash at 0.5 s comes before every frame"));
  {
    std::ofstream out(bad);
    out << "hash,quality,production,source,time,span_end,kind\n" << hex << ",90,Show,ep.mp4,1.0,2.0,keyframe\n";
  }
  CliRun unknown = RunCelmatch({"index", "import-hashes", "--index", (t.path() / "c").string(), bad});
  CHECK(unknown.exit_code != 0);
  CHECK_THAT(unknown.out, Catch::Contains("record 2: kind \"keyframe\" is neither frame nor span"));
}
