// What `match` prints for people and for pipes: a table on a terminal and
// JSON Lines otherwise, --format jsonl|csv|table, --quiet, --no-progress,
// --files-from FILE or -, NUL-separated with -0.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include "cli_runner.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch::testing;

namespace {

CliRun Shell(const std::string& cmd) { return RunShell(cmd); }

}  // namespace

TEST_CASE("match output for people and pipes: formats, quiet, files-from") {
  TempDir tmp;
  fs::create_directories(tmp.str() + "/footage/Show");
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/Show/ep.mp4", 97, 4.0, 12, 4.0).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, "--no-embedding", tmp.str() + "/footage"}).exit_code == 0);
  const std::string dump = tmp.str() + "/dump dir";  // a space: the list and -0 must keep it
  fs::create_directories(dump);
  std::vector<std::string> files;
  for (int i = 0; i < 3; ++i) {
    files.push_back(dump + "/f " + std::to_string(i) + ".png");
    REQUIRE(cv::imwrite(files.back(), SyntheticCartoonFrame(97 * 1000u, 0.5 + i, 640, 360)));
  }
  const std::string bin = ShellQuote(CELMATCH_BINARY), ix = " --index " + ShellQuote(index) + " --no-embedding ";

  // Piped: JSON Lines on stdout, per-file lines on stderr.
  CliRun piped = Shell(bin + " match" + ix + ShellQuote(dump) + " 2>/dev/null");
  REQUIRE(piped.exit_code == 0);
  CHECK(std::count(piped.out.begin(), piped.out.end(), '\n') == 4);  // the run record, then a line a file
  CHECK(piped.out.rfind("{\"celmatch_run\":", 0) == 0);
  // --format table and csv on stdout.
  CliRun table = Shell(bin + " match" + ix + "--format table " + ShellQuote(dump) + " 2>/dev/null");
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.find('{') == std::string::npos);
  CHECK(table.out.find("match    " + files[0] + " -> Show / ep.mp4 @ ") != std::string::npos);
  CliRun csv = Shell(bin + " match" + ix + "--format csv " + ShellQuote(dump) + " 2>/dev/null");
  REQUIRE(csv.exit_code == 0);
  CHECK(csv.out.rfind("file,kind,status,", 0) == 0);
  CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 4);
  // On a terminal (a pseudo-terminal from script(1)): the table, no JSON.
  CliRun tty = Shell("script -qec " + ShellQuote(bin + " match" + ix + ShellQuote(dump)) + " /dev/null");
  INFO(tty.out);
  REQUIRE(tty.exit_code == 0);
  CHECK(tty.out.find("{\"") == std::string::npos);
  CHECK(tty.out.find("-> Show / ep.mp4") != std::string::npos);
  // --quiet: nothing on stderr; --no-progress keeps the per-file lines.
  CliRun quiet = Shell(bin + " match" + ix + "--quiet --out " + ShellQuote(tmp.str() + "/q.jsonl") + " " +
                       ShellQuote(dump) + " 2>&1");
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.out.empty());
  CHECK(ReadJsonl(tmp.str() + "/q.jsonl").size() == 3);
  // --files-from, newline- and NUL-separated, from a file and from stdin.
  {
    std::ofstream list(tmp.str() + "/list.txt");
    list << files[0] << "\n" << files[2] << "\n";
    std::ofstream nul(tmp.str() + "/list0", std::ios::binary);
    nul << files[1] << '\0' << files[2] << '\0';
  }
  CliRun from = Shell(bin + " match" + ix + "--files-from " + ShellQuote(tmp.str() + "/list.txt") + " 2>/dev/null");
  REQUIRE(from.exit_code == 0);
  CHECK(std::count(from.out.begin(), from.out.end(), '\n') == 3);
  CHECK(from.out.find("f 0.png") != std::string::npos);
  CHECK(from.out.find("f 1.png") == std::string::npos);
  CliRun stdin0 = Shell("cat " + ShellQuote(tmp.str() + "/list0") + " | " + bin + " match" + ix +
                        "-0 --files-from - 2>/dev/null");
  REQUIRE(stdin0.exit_code == 0);
  CHECK(std::count(stdin0.out.begin(), stdin0.out.end(), '\n') == 3);
  CHECK(stdin0.out.find("f 1.png") != std::string::npos);
  // No paths at all is a usage error; --resume needs JSON Lines.
  CHECK(Shell(bin + " match" + ix + " 2>/dev/null").exit_code == 2);
  CHECK(Shell(bin + " match" + ix + "--format csv --resume --out x.csv " + ShellQuote(dump) + " 2>/dev/null").exit_code == 2);
  // Results written into the dump are not part of it: left out of the walk,
  // in the first run (created before the walk) and in the next (already
  // there); a file named on the command line is still looked at.
  const std::string in_dump = dump + "/results.jsonl", csv_in_dump = dump + "/results.csv";
  for (int run = 0; run < 2; ++run) {
    CliRun r = Shell(bin + " match" + ix + "--out " + ShellQuote(in_dump) + " --csv " + ShellQuote(csv_in_dump) + " " +
                     ShellQuote(dump) + " 2>&1");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("0 skipped") != std::string::npos);
    CHECK(ReadJsonl(in_dump).size() == 3);
  }
  CliRun named = Shell(bin + " match" + ix + ShellQuote(in_dump) + " 2>/dev/null");
  CHECK(named.out.find("results.jsonl") != std::string::npos);
}

TEST_CASE("celmatch report rebuilds the page from a JSONL: every file once, its SHA-256 and the deciding evidence") {
  TempDir tmp;
  fs::create_directories(tmp.str() + "/footage/Show");
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/Show/ep.mp4", 98, 4.0, 12, 4.0).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, "--no-embedding", tmp.str() + "/footage"}).exit_code == 0);
  const std::string dump = tmp.str() + "/dump";
  fs::create_directories(dump);
  REQUIRE(cv::imwrite(dump + "/whole.png", SyntheticCartoonFrame(98 * 1000u, 1.0, 640, 360)));
  cv::Mat crop = SyntheticCartoonFrame(98 * 1000u, 2.0, 640, 360)(cv::Rect(100, 60, 400, 240)).clone();
  REQUIRE(cv::imwrite(dump + "/crop.png", crop));
  WriteFileBytes(dump + "/notes.txt", {'x', '\n'});
  // Retake notes as a PDF: a text page, then a frame.
  WriteFileBytes(dump + "/notes.pdf", MakePdf({{}, {{SyntheticCartoonFrame(98 * 1000u, 3.0, 640, 360), 40, 80, 515, 290, {}, {}}}}));
  const std::string jsonl = tmp.str() + "/r.jsonl";
  REQUIRE(RunCelmatch({"match", "--index", index, "--no-embedding", "--out", jsonl, dump}).exit_code == 0);
  const auto by_path = ReadJsonl(jsonl), records = ReadJsonl(jsonl, dump);
  // The run record comes first and says what made the results.
  nlohmann::json run;
  {
    std::ifstream in(jsonl);
    std::string first;
    std::getline(in, first);
    run = nlohmann::json::parse(first);
  }
  REQUIRE(run.contains("celmatch_run"));
  CHECK(run.size() == 1);
  const nlohmann::json& rr = run["celmatch_run"];
  CHECK(rr["schema"] == 2);
  CHECK(rr["celmatch"] == CELMATCH_VERSION_STRING);
  CHECK(rr["index"]["path"] == index);
  CHECK(rr["index"]["frames"].get<int>() > 0);
  CHECK(rr["inputs"] == nlohmann::json::array({dump}));
  CHECK(rr["embedding"]["model"].is_null());  // built with --no-embedding
  CHECK(rr["embedding"]["used"] == false);
  CHECK(rr["options"]["max_distance"] == 31);
  CHECK(rr["options"]["min_inliers"] == 16);
  // A resumed run's file holds a file twice (the one in flight at the kill),
  // and a run record of its own, here with other thresholds.
  {
    std::ifstream in(jsonl);
    std::string line, record;
    while (std::getline(in, line) && record.empty()) {
      if (line.find("\"celmatch_run\"") == std::string::npos) record = line;
    }
    nlohmann::json later = run;
    later["celmatch_run"]["options"]["max_distance"] = 27;
    std::ofstream(jsonl, std::ios::app) << later.dump() << "\n" << record << "\n" << "not a record\n";
  }
  const std::string html_path = tmp.str() + "/report.html";
  CliRun r = RunCelmatch({"report", jsonl, "--index", index, "--out", html_path});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("4 files") != std::string::npos);
  std::ifstream in(html_path);
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t rows = 0;
  for (size_t at = html.find("<tr class=\"row\""); at != std::string::npos; at = html.find("<tr class=\"row\"", at + 1)) ++rows;
  CHECK(rows == 4);
  for (const auto& [file, j] : by_path) {
    INFO(file);
    CHECK(html.find(file) != std::string::npos);
    if (j.contains("sha256")) CHECK(html.find("SHA-256 " + j["sha256"].get<std::string>()) != std::string::npos);
  }
  REQUIRE(records.at("crop.png")["status"] == "match");
  // The PDF: a document, matched on its second page, whose page the report shows.
  const nlohmann::json& notes = records.at("notes.pdf");
  CHECK(notes["kind"] == "document");
  REQUIRE(notes["status"] == "match");
  CHECK(notes["matches"][0]["page"] == 2);
  CHECK(html.find("<img alt=\"query: " + dump + "/notes.pdf\" src=\"data:image/jpeg;base64,") != std::string::npos);
  CHECK(records.at("whole.png")["sha256"].get<std::string>().size() == 64);
  // The crop was placed by local features: the report says how many inliers.
  const int inliers = records.at("crop.png")["matches"][0]["evidence"]["inliers"].get<int>();
  CHECK(inliers > 0);
  CHECK(html.find("local features: " + std::to_string(inliers) + " inliers") != std::string::npos);
  // The settings of the last run record head the page.
  CHECK(html.find("<dt>PDQ distance threshold</dt><dd>27 of 256 bits</dd>") != std::string::npos);
  CHECK(html.find("<dt>local features</dt><dd>on, at least 16 inliers</dd>") != std::string::npos);
  CHECK(html.find("not recorded in the JSON Lines") == std::string::npos);
  // Every field of every record is documented in docs/results.schema.json.
  std::ifstream schema_in(std::string(CELMATCH_SOURCE_DIR) + "/docs/results.schema.json");
  const nlohmann::json schema = nlohmann::json::parse(schema_in);
  const nlohmann::json& run_props = schema["$defs"]["run"]["properties"];
  for (const auto& [key, value] : rr.items()) {
    INFO("celmatch_run." << key);
    CHECK(run_props.contains(key));
  }
  for (const char* part : {"index", "embedding", "options"}) {
    for (const auto& [key, value] : rr[part].items()) {
      INFO("celmatch_run." << part << "." << key);
      CHECK(run_props[part]["properties"].contains(key));
    }
  }
  auto documented = [](const nlohmann::json& props, const nlohmann::json& obj, const std::string& where) {
    for (const auto& [key, value] : obj.items()) {
      INFO(where << "." << key);
      CHECK(props.contains(key));
    }
  };
  for (const auto& [file, j] : by_path) {
    documented(schema["properties"], j, "record");
    for (const nlohmann::json& m : j["matches"]) {
      documented(schema["$defs"]["match"]["properties"], m, "match");
      documented(schema["$defs"]["evidence"]["properties"], m["evidence"], "evidence");
    }
  }
  // An unwritable --out is refused before anything is read.
  CHECK(RunCelmatch({"report", jsonl, "--index", index, "--out", "/proc/none/r.html"}).exit_code == 1);
}

// A long source shows how far its decoding has come after the bar, on a
// terminal only (`script` gives the command one); piped output stays the
// one line per file.
TEST_CASE("index build shows progress inside a source on a terminal, and not in a pipe") {
  if (Shell("script -qec true /dev/null >/dev/null 2>&1").exit_code != 0)
    CELMATCH_SKIP("script(1) is missing or cannot open a pseudo-terminal here: the build gets no terminal");
  TempDir tmp;
  fs::create_directories(tmp.str() + "/footage/Show");
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/Show/ep.mp4", 61, 12.0, 12, 4.0).ok());
  const std::string build = ShellQuote(CELMATCH_BINARY) + " index build --no-embedding --jobs 1 --index ";
  const std::string typescript = tmp.str() + "/typescript";
  CliRun tty = Shell("script -qec " + ShellQuote(build + ShellQuote(tmp.str() + "/a") + " " +
                                                 ShellQuote(tmp.str() + "/footage")) +
                     " " + ShellQuote(typescript) + " >/dev/null 2>&1");
  REQUIRE(tty.exit_code == 0);
  std::ifstream in(typescript, std::ios::binary);
  const std::string seen((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO(seen);
  // At the first frame at least: "Show / ep.mp4: 0 of 12 s, 1 frames at 9/s, 1 kept".
  CHECK(seen.find("| Show / ep.mp4: ") != std::string::npos);
  CHECK(seen.find(" of 12 s, ") != std::string::npos);
  CHECK(seen.find(" frames at ") != std::string::npos);
  CHECK(seen.find(" kept") != std::string::npos);
  CHECK(seen.find("added           Show / ep.mp4") != std::string::npos);

  CliRun piped = Shell(build + ShellQuote(tmp.str() + "/b") + " " + ShellQuote(tmp.str() + "/footage") + " 2>&1");
  INFO(piped.out);
  REQUIRE(piped.exit_code == 0);
  CHECK(piped.out.find("added           Show / ep.mp4") != std::string::npos);
  CHECK(piped.out.find(" frames at ") == std::string::npos);
}
