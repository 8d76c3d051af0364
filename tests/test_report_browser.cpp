// The HTML report in a real browser: headless Chromium (Debian's `chromium`,
// installed by tools/install-deps.sh) opens a report of a generated dump with
// no network, and the page's summary, rows and filters are read back from the
// DOM it leaves (--dump-dom, after the page's script has run). Filters are
// set through the URL fragment, as a shared link would set them.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>

#include "cli_runner.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

const char* kChromium = "/usr/bin/chromium";

// The DOM after load. The flags keep Chromium off the network and away from
// the user's profile.
std::string DumpDom(const std::string& url, const std::string& profile) {
  std::string cmd = std::string(kChromium) +
                    " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                    " --disable-background-networking --disable-component-update --disable-sync"
                    " --disable-dev-shm-usage --virtual-time-budget=3000 --user-data-dir=" +
                    ShellQuote(profile) + " --dump-dom " + ShellQuote(url) + " 2>/dev/null";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

struct Row {
  std::string file, status, production;
  double score = 0;
  bool hidden = false;
};

std::string Attr(const std::string& tag, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(tag, m, std::regex(" " + name + "=\"([^\"]*)\""))) return "";
  return m[1].str();
}

// Result rows in document order.
std::vector<Row> Rows(const std::string& dom) {
  std::vector<Row> rows;
  std::regex tr("<tr [^>]*class=\"row\"[^>]*>");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), tr); it != std::sregex_iterator(); ++it) {
    const std::string tag = it->str();
    Row r;
    r.file = Attr(tag, "data-file");
    r.status = Attr(tag, "data-status");
    r.production = Attr(tag, "data-production");
    r.score = std::stod(Attr(tag, "data-score"));
    r.hidden = std::regex_search(tag, std::regex(" hidden(=\"[^\"]*\")?[ >]"));
    rows.push_back(r);
  }
  return rows;
}

int Visible(const std::vector<Row>& rows) {
  int n = 0;
  for (const Row& r : rows) n += !r.hidden;
  return n;
}

std::string Unescape(std::string s) {
  for (auto [from, to] : {std::pair{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}})
    for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += std::strlen(to))
      s.replace(p, std::strlen(from), to);
  return s;
}

}  // namespace

TEST_CASE("the report opens in headless Chromium offline, and its summary, rows and filters work") {
  if (::access(kChromium, X_OK) != 0) CELMATCH_SKIP("no /usr/bin/chromium (tools/install-deps.sh installs it)");
  TempDir t;
  const std::string footage = (t.path() / "footage").string(), dump = (t.path() / "dump").string();
  const std::string index = (t.path() / "index").string();
  REQUIRE(RunCelmatch({"bench", "footage", "--out", footage, "--seed", "4"}).exit_code == 0);
  REQUIRE(RunCelmatch({"index", "build", "--index", index, "--jobs", "2", footage}).exit_code == 0);
  REQUIRE(RunCelmatch({"bench", "leaks", "--out", dump, "--truth", (t.path() / "truth.csv").string(), "--seed", "3",
                       "--frames", "1", "--transforms", "png", "--", footage})
              .exit_code == 0);
  // Footage that is not indexed: a clip that must not match.
  fs::copy_file(fs::path(footage + "-distractors") / "unrelated_0.mp4", fs::path(dump) / "unrelated.mp4");
  // Hostile names: markup in a file name must show as text. A name cannot
  // hold '/', so the first one is a folder and a file.
  std::string leaked;
  for (const auto& e : fs::recursive_directory_iterator(dump))
    if (e.path().extension() == ".png" || e.path().extension() == ".jpg") leaked = e.path().string();
  REQUIRE(!leaked.empty());
  fs::create_directories(fs::path(dump) / "<script>alert(1)<");
  fs::copy_file(leaked, fs::path(dump) / "<script>alert(1)<" / "script>.png");
  fs::copy_file(leaked, fs::path(dump) / "<img src=x onerror=\"document.title='PWNED'\">.png");
  WriteFileBytes((fs::path(dump) / "notes.txt").string(), {'h', 'i', '\n'});
  WriteFileBytes((fs::path(dump) / "broken.png").string(), {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0});

  const std::string report = (t.path() / "report.html").string(), results = (t.path() / "results.jsonl").string();
  CliRun run = RunCelmatch({"match", "--index", index, "--jobs", "2", "--out", results, "--csv",
                            (t.path() / "results.csv").string(), "--report", report, dump});
  INFO(run.out);
  REQUIRE(run.exit_code == 0);
  std::map<std::string, nlohmann::json> jsonl = ReadJsonl(results);
  std::map<std::string, int> by_status;
  std::map<std::string, int> by_production;
  int high_score = 0;
  for (const auto& [file, j] : jsonl) {
    by_status[j["status"].get<std::string>()]++;
    if (!j["matches"].empty()) {
      by_production[j["matches"][0]["production"].get<std::string>()]++;
      if (j["matches"][0]["score"].get<double>() >= 0.9) ++high_score;
    }
  }
  REQUIRE(by_status["match"] > 0);
  REQUIRE(by_status["no_match"] > 0);  // the distractors
  REQUIRE(by_status["error"] == 1);
  REQUIRE(by_status["skipped"] == 1);
  REQUIRE(by_production.size() >= 2);

  TempDir profile;
  const std::string url = "file://" + report;

  // All rows, the summary and the pictures.
  std::string dom = DumpDom(url, profile.str());
  REQUIRE(dom.find("data-ready=\"1\"") != std::string::npos);  // the page's script ran
  std::vector<Row> rows = Rows(dom);
  REQUIRE(rows.size() == jsonl.size());
  CHECK(Visible(rows) == int(jsonl.size()));
  for (const Row& r : rows) CHECK(jsonl.count(Unescape(r.file)) == 1);
  CHECK(dom.find("data-visible=\"" + std::to_string(jsonl.size()) + "\"") != std::string::npos);
  for (const auto& [status, n] : by_status)
    CHECK(dom.find("data-count=\"" + status + "\"><b>" + std::to_string(n) + "</b>") != std::string::npos);
  for (const auto& [production, n] : by_production)
    CHECK(dom.find("<tr class=\"production\" data-production=\"" + production + "\"><td><a href=\"#production=") !=
          std::string::npos);
  std::regex query_img("<td class=\"pic query\"><img ");
  std::regex ref_img("<td class=\"pic reference\"><div class=\"frame\"><img [^>]*><div class=\"region\"");
  CHECK(std::distance(std::sregex_iterator(dom.begin(), dom.end(), query_img), std::sregex_iterator()) >=
        by_status["match"] + by_status["no_match"] - 1);
  CHECK(std::distance(std::sregex_iterator(dom.begin(), dom.end(), ref_img), std::sregex_iterator()) ==
        by_status["match"]);

  // Markup in names is text: nothing ran, and no element was injected.
  CHECK(dom.find("<title>celmatch report</title>") != std::string::npos);
  CHECK(dom.find("<script>alert(1)") == std::string::npos);
  CHECK(dom.find("&lt;script&gt;alert(1)&lt;/script&gt;.png") != std::string::npos);
  CHECK(dom.find("<img src=\"x\"") == std::string::npos);
  CHECK(dom.find("<img src=x") == std::string::npos);

  // Filters through the URL fragment.
  for (const auto& [status, n] : by_status) {
    std::vector<Row> filtered = Rows(DumpDom(url + "#status=" + status, profile.str()));
    INFO("status=" << status);
    CHECK(Visible(filtered) == n);
    for (const Row& r : filtered) CHECK(r.hidden == (r.status != status));
  }
  const std::string production = by_production.begin()->first;
  std::string encoded;
  for (unsigned char c : production) {
    char b[4];
    std::snprintf(b, sizeof b, "%%%02X", c);
    encoded += std::isalnum(c) ? std::string(1, char(c)) : std::string(b);
  }
  std::vector<Row> by_prod = Rows(DumpDom(url + "#production=" + encoded, profile.str()));
  CHECK(Visible(by_prod) == by_production.begin()->second);
  for (const Row& r : by_prod) CHECK(r.hidden == (r.production != production));

  // Score filter and sort: best first, the visible ones all >= 0.9.
  std::vector<Row> sorted = Rows(DumpDom(url + "#min_score=0.9&sort=score", profile.str()));
  CHECK(Visible(sorted) == high_score);
  for (size_t i = 1; i < sorted.size(); ++i) CHECK(sorted[i - 1].score >= sorted[i].score);
  for (const Row& r : sorted) CHECK(r.hidden == (r.score < 0.9));
}
