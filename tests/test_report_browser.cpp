// The HTML report in a real browser: headless Chromium (Debian's `chromium`,
// installed by tools/install-deps.sh) opens a report of a generated dump with
// no network, and the page's summary, rows and filters are read back from the
// DOM it leaves (--dump-dom, after the page's script has run). Filters are
// set through the URL fragment, as a shared link would set them. The
// interactive parts (typing in the search box, the larger view, its flicker
// and blend controls, Escape) are driven through the DevTools protocol on a
// pipe: real mouse clicks and key presses, the page's state read back.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
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

// Headless Chromium driven over the DevTools protocol with
// --remote-debugging-pipe: it reads commands from fd 3 and writes replies
// and events to fd 4, each a JSON text ended by a NUL byte.
class Browser {
 public:
  explicit Browser(const std::string& profile) {
    int to[2], from[2];
    REQUIRE(::pipe2(to, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(from, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int r = ::fcntl(to[0], F_DUPFD_CLOEXEC, 10), w = ::fcntl(from[1], F_DUPFD_CLOEXEC, 10);
      const int null = ::open("/dev/null", O_RDWR);
      if (r < 0 || w < 0 || null < 0 || ::dup2(r, 3) != 3 || ::dup2(w, 4) != 4 || ::dup2(null, 1) != 1 ||
          ::dup2(null, 2) != 2)
        ::_exit(127);
      const std::string dir = "--user-data-dir=" + profile;
      ::execl(kChromium, kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1280,900", "--remote-debugging-pipe", dir.c_str(),
              "about:blank", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(to[0]);
    ::close(from[1]);
    in_ = to[1];
    out_ = from[0];
  }
  ~Browser() {
    if (in_ >= 0) {
      const std::string close = R"({"id":999999,"method":"Browser.close"})";
      (void)!::write(in_, close.c_str(), close.size() + 1);
      ::close(in_);
    }
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      ::usleep(50000);
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  nlohmann::json Call(const std::string& method, nlohmann::json params = nlohmann::json::object()) {
    nlohmann::json msg = {{"id", ++id_}, {"method", method}, {"params", std::move(params)}};
    if (!session_.empty() && method.rfind("Target.", 0) != 0) msg["sessionId"] = session_;
    const std::string text = msg.dump();
    REQUIRE(::write(in_, text.c_str(), text.size() + 1) == ssize_t(text.size() + 1));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      for (size_t end; (end = buf_.find('\0')) != std::string::npos;) {
        nlohmann::json reply = nlohmann::json::parse(buf_.substr(0, end), nullptr, false);
        buf_.erase(0, end + 1);
        if (!reply.is_object() || !reply.contains("id") || reply["id"] != id_) continue;  // events
        INFO(method << ": " << reply.dump());
        REQUIRE(!reply.contains("error"));
        return reply["result"];
      }
      const int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                               std::chrono::steady_clock::now())
                             .count());
      INFO("no reply from Chromium to " << method);
      REQUIRE(ms > 0);
      pollfd p{out_, POLLIN, 0};
      REQUIRE(::poll(&p, 1, ms) >= 0);
      char chunk[65536];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      REQUIRE(n > 0);
      buf_.append(chunk, size_t(n));
    }
  }

  // Opens `url` in a new tab and waits for the page's script to finish.
  void Open(const std::string& url) {
    const std::string target = Call("Target.createTarget", {{"url", url}})["targetId"];
    session_ = Call("Target.attachToTarget", {{"targetId", target}, {"flatten", true}})["sessionId"];
    for (int i = 0; i < 200 && Eval("document.body && document.body.getAttribute('data-ready')") != "1"; ++i)
      ::usleep(50000);
    REQUIRE(Eval("document.body.getAttribute('data-ready')") == "1");
  }

  // The value of a JavaScript expression in the page.
  nlohmann::json Eval(const std::string& expression) {
    nlohmann::json r = Call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}});
    INFO(expression << ": " << r.dump());
    REQUIRE(!r.contains("exceptionDetails"));
    return r["result"].contains("value") ? r["result"]["value"] : nlohmann::json();
  }

  // A left click at the centre of the first element `selector` names
  // (scrolled into view), or at `fx` of its width.
  void Click(const std::string& selector, double fx = 0.5) {
    nlohmann::json xy = Eval("(function () { var e = document.querySelector(" + nlohmann::json(selector).dump() +
                             "); if (!e) return null; e.scrollIntoView({block: 'center'});"
                             " var r = e.getBoundingClientRect(); return [r.left + " +
                             std::to_string(fx) + " * r.width, r.top + r.height / 2]; })()");
    INFO(selector);
    REQUIRE(xy.is_array());
    for (const char* type : {"mouseMoved", "mousePressed", "mouseReleased"})
      Call("Input.dispatchMouseEvent",
           {{"type", type}, {"x", xy[0]}, {"y", xy[1]}, {"button", "left"}, {"clickCount", 1}});
  }

  void Key(const std::string& key, int code) {
    for (const char* type : {"keyDown", "keyUp"})
      Call("Input.dispatchKeyEvent", {{"type", type}, {"key", key}, {"code", key}, {"windowsVirtualKeyCode", code}});
  }

  void Type(const std::string& text) { Call("Input.insertText", {{"text", text}}); }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  int id_ = 0;
  std::string session_, buf_;
};

std::string RegexEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::strchr("\\^$.|?*+()[]{}", c)) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
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
  // A PDQ threshold that is not the default, to find in the page's header.
  CliRun run = RunCelmatch({"match", "--index", index, "--jobs", "2", "--max-distance", "30", "--out", results,
                            "--csv", (t.path() / "results.csv").string(), "--report", report, dump});
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
  std::regex ref_img("<td class=\"pic reference\"><div class=\"frame\"[^>]*><img [^>]*><div class=\"region\"");
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

  // The header: the thresholds of this run, the index's embedding model, and
  // whether the embedding step ran, as the records say.
  int placed = 0, with_embedding = 0;
  for (const auto& [file, j] : jsonl) {
    const std::string status = j["status"];
    if (status != "match" && status != "no_match") continue;
    ++placed;
    with_embedding += j.value("embedding", false);
  }
  const std::string ran = with_embedding == placed ? "yes, for all " + std::to_string(placed) + " files"
                          : with_embedding == 0    ? std::string("no")
                                                   : "for " + std::to_string(with_embedding) + " of " +
                                                         std::to_string(placed) + " files";
  const std::string header = dom.substr(0, dom.find("</header>"));
  CHECK(header.find("<dt>PDQ distance threshold</dt><dd>30 of 256 bits</dd>") != std::string::npos);
  CHECK(header.find("<dt>score threshold</dt><dd>0.5</dd>") != std::string::npos);
  CHECK(std::regex_search(header, std::regex("<dt>embedding model</dt><dd>[^<]+</dd>")));
  CHECK(header.find("<dt>learned embedding step ran</dt><dd>" + ran + "</dd>") != std::string::npos);

  // Per production and source: the matched files, and a timeline with one
  // mark per matched file (all sources here are videos, whose catalog
  // duration bounds the bar).
  std::map<std::pair<std::string, std::string>, std::vector<double>> times;
  std::map<std::string, int> matched_in;
  for (const auto& [file, j] : jsonl) {
    if (j["status"] != "match") continue;
    const nlohmann::json& m = j["matches"][0];
    matched_in[m["production"]]++;
    times[{m["production"], m["source"]}].push_back(m["time"].is_null() ? -1.0 : m["time"].get<double>());
  }
  REQUIRE(!times.empty());
  for (const auto& [production, n] : matched_in) {
    std::smatch pm;
    INFO("production " << production);
    REQUIRE(std::regex_search(dom, pm, std::regex("<tr class=\"production\" data-production=\"" + RegexEscape(production) +
                                                  "\">.*?<td class=\"production-files\">([0-9]+)</td>(.*?)</tr>")));
    CHECK(std::stoi(pm[1].str()) == n);
  }
  for (const auto& [key, ts] : times) {
    INFO(key.first << " / " << key.second);
    std::smatch sm;
    REQUIRE(std::regex_search(dom, sm, std::regex("<li class=\"source\" data-source=\"" + RegexEscape(key.second) + "\" data-files=\"" +
                                                  std::to_string(ts.size()) + "\">.*?<div class=\"timeline\" "
                                                  "data-marks=\"([0-9]+)\" data-duration=\"([0-9.]+)\">(.*?)</div>"
                                                  "<div class=\"timeline-scale\">(.*?)</div>")));
    CHECK(std::stoul(sm[1].str()) == ts.size());
    const double duration = std::stod(sm[2].str());
    const std::string marks = sm[3].str();
    const std::regex mark("<a class=\"mark\"");
    CHECK(size_t(std::distance(std::sregex_iterator(marks.begin(), marks.end(), mark), std::sregex_iterator())) ==
          ts.size());
    for (double time : ts) CHECK(time <= duration + 0.01);
    CHECK(sm[4].str().find("duration unknown") == std::string::npos);  // the catalog's duration
  }

  // Sorted by production: one heading per production, with its count.
  const std::string grouped = DumpDom(url + "#sort=production", profile.str());
  std::map<std::string, int> heads;
  std::regex head("<tr class=\"group-head\" data-production=\"([^\"]*)\" data-count=\"([0-9]+)\">");
  for (auto it = std::sregex_iterator(grouped.begin(), grouped.end(), head); it != std::sregex_iterator(); ++it)
    heads[(*it)[1].str()] += std::stoi((*it)[2].str());
  std::map<std::string, int> expected_heads = by_production;
  expected_heads[""] = int(jsonl.size()) - [&] { int n = 0; for (auto& [p, c] : by_production) n += c; return n; }();
  CHECK(heads == expected_heads);
  CHECK(DumpDom(url, profile.str()).find("class=\"group-head\"") == std::string::npos);

  // The search box through the URL fragment, case-insensitive.
  const std::string needle = "PNG";
  int with_needle = 0;
  for (const auto& [file, j] : jsonl) with_needle += Lower(file).find(Lower(needle)) != std::string::npos;
  REQUIRE(with_needle > 0);
  REQUIRE(with_needle < int(jsonl.size()));
  std::vector<Row> searched = Rows(DumpDom(url + "#q=" + needle, profile.str()));
  CHECK(Visible(searched) == with_needle);
  for (const Row& r : searched) CHECK(r.hidden == (Lower(Unescape(r.file)).find("png") == std::string::npos));

  // The same typed into the box, the larger view, flicker and blend, with
  // real clicks and key presses.
  TempDir profile2;
  Browser browser(profile2.str());
  browser.Open(url);
  const std::string visible = "document.getElementById('visible-count').getAttribute('data-visible')";
  CHECK(browser.Eval(visible) == std::to_string(jsonl.size()));
  browser.Click("#f-search");
  browser.Type("unrelated");
  int unrelated = 0;
  for (const auto& [file, j] : jsonl) unrelated += file.find("unrelated") != std::string::npos;
  CHECK(browser.Eval(visible) == std::to_string(unrelated));
  CHECK(browser.Eval("document.querySelectorAll('tr.row:not([hidden])').length") == unrelated);
  CHECK(browser.Eval("location.hash") == "#q=unrelated");
  browser.Eval("location.hash = ''");
  for (int i = 0; i < 40 && browser.Eval(visible) != std::to_string(jsonl.size()); ++i) ::usleep(50000);
  CHECK(browser.Eval(visible) == std::to_string(jsonl.size()));

  // A matched row's query picture: the viewer opens larger, showing it.
  const std::string row = "tr.row[data-status=match]";
  CHECK(browser.Eval("document.getElementById('viewer').hidden") == true);
  browser.Click(row + " td.query img");
  CHECK(browser.Eval("document.getElementById('viewer').hidden") == false);
  CHECK(browser.Eval("document.getElementById('viewer').getAttribute('data-shown')") == "query");
  CHECK(browser.Eval("document.getElementById('v-query').src === document.querySelector('" + row +
                     " td.query img').src") == true);
  CHECK(browser.Eval("document.getElementById('v-stage').getBoundingClientRect().width > 2 * document.querySelector('" +
                     row + " td.reference img').getBoundingClientRect().width") == true);
  CHECK(browser.Eval("getComputedStyle(document.getElementById('v-query')).opacity") == "1");
  browser.Key("Escape", 27);
  CHECK(browser.Eval("document.getElementById('viewer').hidden") == true);

  // The reference picture: the reference shown; flicker alternates the two
  // in place, and stops on a second click.
  browser.Click(row + " td.reference img");
  const std::string shown = "document.getElementById('viewer').getAttribute('data-shown')";
  CHECK(browser.Eval(shown) == "reference");
  CHECK(browser.Eval("getComputedStyle(document.getElementById('v-query')).opacity") == "0");
  browser.Click("#v-flicker");
  std::set<std::string> seen;
  for (int i = 0; i < 30 && seen.size() < 2; ++i) {
    seen.insert(browser.Eval(shown).get<std::string>());
    ::usleep(100000);
  }
  CHECK(seen == std::set<std::string>{"query", "reference"});
  browser.Click("#v-flicker");
  const std::string stopped = browser.Eval(shown);
  ::usleep(1200000);
  CHECK(browser.Eval(shown) == stopped);
  // The blend slider, clicked in its middle: both pictures half visible.
  browser.Click("#v-mix", 0.5);
  CHECK(browser.Eval(shown) == "mix");
  const double opacity = std::stod(browser.Eval("getComputedStyle(document.getElementById('v-query')).opacity").get<std::string>());
  CHECK(opacity > 0.2);
  CHECK(opacity < 0.8);
  // A click on the picture closes the view.
  browser.Click("#v-stage");
  CHECK(browser.Eval("document.getElementById('viewer').hidden") == true);

  // `celmatch report` from the JSON Lines: the thresholds from its run
  // record, the same model and durations.
  const std::string rebuilt = (t.path() / "rebuilt.html").string();
  REQUIRE(RunCelmatch({"report", results, "--index", index, "--out", rebuilt}).exit_code == 0);
  const std::vector<uint8_t> bytes = ReadFileBytes(rebuilt);
  const std::string page(bytes.begin(), bytes.end());
  CHECK(page.find("not recorded in the JSON Lines") == std::string::npos);
  CHECK(page.find("<dt>PDQ distance threshold</dt><dd>30 of 256 bits</dd>") != std::string::npos);
  CHECK(std::regex_search(page, std::regex("<dt>embedding model</dt><dd>[^<]+</dd>")));
  CHECK(page.find("<dt>learned embedding step ran</dt><dd>" + ran + "</dd>") != std::string::npos);
  CHECK(page.find("duration unknown") == std::string::npos);
}
