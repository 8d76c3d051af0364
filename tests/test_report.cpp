// The investigator's outputs without a browser: CSV quoting and the formula
// guard, the hash-list CSV reader, and the HTML report's escaping, pictures
// and Content-Security-Policy (the browser test, test_report_browser.cpp,
// checks that the page works in Chromium).
#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include "core/csv.h"
#include "core/file_digest.h"
#include "output/csv_writer.h"
#include "output/html_report.h"
#include "output/jsonl_reader.h"
#include "output/jsonl_writer.h"
#include "test_support.h"

using namespace celmatch;
using namespace celmatch::testing;

namespace {

FileResult MatchedImage(const std::string& file, const std::string& production, int64_t frame_id) {
  FileResult r;
  r.file = file;
  r.kind = MediaKind::kImage;
  r.status = FileStatus::kMatch;
  Match m;
  m.production = production;
  m.source = "ep<1>.mp4";
  m.time_s = 65.25;
  m.span_start_s = 65.25;
  m.span_end_s = 65.5;
  m.score = 0.9;
  m.evidence.frame_id = frame_id;
  m.evidence.pdq_distance = 6;
  r.matches.push_back(m);
  r.query_thumbnail_jpeg = {0xff, 0xd8, 0xff, 0xd9};
  return r;
}

std::string ReadText(const std::string& path) {
  const std::vector<uint8_t> bytes = ReadFileBytes(path);
  return std::string(bytes.begin(), bytes.end());
}

// The one page of a report of `results`, written to a temporary folder.
// The run information the tests show: index `index_dir`, one input "dump/".
ReportRunInfo TestRunInfo(const std::string& index_dir) {
  ReportRunInfo info;
  info.index_dir = index_dir;
  info.inputs = {"dump/"};
  info.version = "0.1.0";
  info.generated_at = "2024-01-01";
  info.elapsed_s = 1.5;
  return info;
}

std::string RenderReport(const std::vector<FileResult>& results, const ReportRunInfo& info,
                         const ReferencePictureFn& reference) {
  TempDir tmp;
  const std::string path = tmp.str() + "/report.html";
  Result<std::unique_ptr<HtmlReport>> report = HtmlReport::Create(path, reference);
  REQUIRE(report.ok());
  for (const FileResult& r : results) REQUIRE((*report)->Add(r).ok());
  Result<std::vector<std::string>> pages = (*report)->Finish(info);
  REQUIRE(pages.ok());
  REQUIRE(*pages == std::vector<std::string>{path});
  return ReadText(path);
}

}  // namespace

TEST_CASE("CSV fields are quoted and guarded against formulas, and the reader undoes both") {
  CHECK(CsvField("plain", true) == "plain");
  CHECK(CsvField("a,b", true) == "\"a,b\"");
  CHECK(CsvField("say \"hi\"", true) == "\"say \"\"hi\"\"\"");
  CHECK(CsvField("=HYPERLINK(\"http://x\")", true) == "\"'=HYPERLINK(\"\"http://x\"\")\"");
  for (const char* v : {"+1", "-1", "@SUM(A1)", "'quoted"}) CHECK(CsvField(v, true) == std::string("'") + v);
  CHECK(CsvField("-1", false) == "-1");

  const std::vector<std::string> row = {"=cmd|' /C calc'!A0", "two\nlines", "x,y", "'q", ""};
  Result<std::vector<std::vector<std::string>>> parsed = ParseCsv(CsvRow(row, true) + "a,b\r\n\n");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->size() == 2);
  REQUIRE((*parsed)[0].size() == row.size());
  for (size_t i = 0; i < row.size(); ++i) CHECK(UnguardCsvField((*parsed)[0][i]) == row[i]);
  CHECK((*parsed)[1] == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(ParseCsv("a,\"open\nb").ok());
}

TEST_CASE("a result row in CSV carries the best match, and file names cannot become formulas") {
  FileResult r = MatchedImage("=1+1.png", "Sintel", 3);
  std::vector<std::string> fields = FileResultToCsvFields(r);
  REQUIRE(fields.size() == CsvResultColumns().size());
  CHECK(fields[0] == "=1+1.png");
  CHECK(fields[3] == "Sintel");
  CHECK(fields[6] == "00:01:05.250");
  CHECK(fields[9] == "0.900");
  const std::string line = CsvRow(fields, true);
  CHECK(line.rfind("'=1+1.png,", 0) == 0);

  // A page of a PDF, a panel on it: the row names both (columns by name).
  const std::vector<std::string>& columns = CsvResultColumns();
  auto column = [&](const std::string& name) {
    const auto at = std::find(columns.begin(), columns.end(), name);
    REQUIRE(at != columns.end());
    return size_t(at - columns.begin());
  };
  CHECK(fields[column("page")].empty());
  CHECK(fields[column("panel")].empty());
  r.kind = MediaKind::kDocument;
  r.matches.front().page = 3;
  r.matches.front().has_panel = true;
  const double panel[4] = {0.05, 0.125, 0.4, 0.3};
  std::copy(panel, panel + 4, r.matches.front().panel);
  fields = FileResultToCsvFields(r);
  CHECK(fields[column("kind")] == "document");
  CHECK(fields[column("page")] == "3");
  CHECK(fields[column("panel")] == "0.050 0.125 0.400 0.300");
  // The columns that were there before keep their places.
  CHECK(column("file") == 0);
  CHECK(column("segments") == 20);
}

TEST_CASE("the HTML report escapes names, shows both pictures and pins its only script") {
  const std::string evil = "<script>alert(1)</script>.png";
  FileResult err;
  err.file = "<img src=x onerror=alert(2)>.jpg";
  err.status = FileStatus::kError;
  err.error = "bad <data> & more";
  const std::vector<FileResult> results = {MatchedImage(evil, "<b onmouseover=\"x()\">Show</b>", 7),
                                           MatchedImage("hash-only.png", "Imported", 8), err};

  ReportRunInfo info = TestRunInfo("refs/<x>");
  const std::string html = RenderReport(results, info, [](int64_t frame_id) {
    ReferencePicture p;
    if (frame_id == 7) p.jpeg = {0xff, 0xd8, 0xff, 0xd9};  // frame 8: a hash-only reference
    return p;
  });

  CHECK(html.find("<script>alert(1)") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;.png") != std::string::npos);
  CHECK(html.find("<img src=x") == std::string::npos);
  CHECK(html.find("<b onmouseover") == std::string::npos);
  CHECK(html.find("bad &lt;data&gt; &amp; more") != std::string::npos);
  CHECK(html.find("refs/&lt;x&gt;") != std::string::npos);

  // Exactly one script element, and the CSP names its hash.
  const size_t open = html.find("<script>");
  REQUIRE(open != std::string::npos);
  CHECK(html.find("<script", open + 1) == std::string::npos);
  const size_t body = open + std::string("<script>").size();
  const std::string script = html.substr(body, html.find("</script>", body) - body);
  std::smatch m;
  const std::string head = html.substr(0, open);
  REQUIRE(std::regex_search(head, m, std::regex("script-src 'sha256-([A-Za-z0-9+/=]+)'")));
  const std::string hex = Sha256Hex(script);
  std::string expected_b64;
  {
    static const char* d = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::vector<uint8_t> b;
    for (size_t i = 0; i < 64; i += 2) b.push_back(uint8_t(std::stoi(hex.substr(i, 2), nullptr, 16)));
    for (size_t i = 0; i < b.size(); i += 3) {
      uint32_t v = uint32_t(b[i]) << 16 | (i + 1 < b.size() ? b[i + 1] << 8 : 0) | (i + 2 < b.size() ? b[i + 2] : 0);
      expected_b64 += d[(v >> 18) & 63];
      expected_b64 += d[(v >> 12) & 63];
      expected_b64 += i + 1 < b.size() ? d[(v >> 6) & 63] : '=';
      expected_b64 += i + 2 < b.size() ? d[v & 63] : '=';
    }
  }
  CHECK(m[1].str() == expected_b64);
  CHECK(head.find("default-src 'none'") != std::string::npos);
  // Nothing is loaded from anywhere: pictures are data: URIs.
  CHECK(std::regex_search(html, std::regex("src=\"data:image/jpeg;base64,/9j/2Q==\"")));
  CHECK_FALSE(std::regex_search(html, std::regex("(src|href)=\"(https?:)?//")));

  // The matched reference is outlined; the hash-only one says there is no picture.
  CHECK(html.find("class=\"region\" style=\"left:0.00%;top:0.00%;width:100.00%;height:100.00%\"") != std::string::npos);
  CHECK(html.find("No thumbnail available") != std::string::npos);
  CHECK(html.find("00:01:05.250") != std::string::npos);
  // Summary: the two productions, and one error.
  CHECK(html.find("data-production=\"Imported\"") != std::string::npos);
  CHECK(html.find("data-count=\"error\"><b>1</b>") != std::string::npos);
}

TEST_CASE("the HTML report shows the run's settings, a timeline per source, the search box and the viewer") {
  FileResult a = MatchedImage("a.png", "Sintel", 1);  // ep<1>.mp4 at 65.25 s
  a.embedding = true;
  FileResult b = MatchedImage("b.png", "Sintel", 2);
  b.matches[0].time_s = b.matches[0].span_start_s = 300;
  b.matches[0].span_end_s = 300.5;
  b.matches[0].source_id = 4;
  a.matches[0].source_id = 4;
  FileResult c = MatchedImage("c.png", "Tears", 3);
  c.matches[0].source = "reel.mkv";
  c.matches[0].source_id = 9;
  c.matches[0].time_s = c.matches[0].span_start_s = 40;
  c.matches[0].span_end_s = 40.5;
  c.matches[0].has_region = true;
  c.matches[0].region[0] = 160;
  c.matches[0].region[1] = 90;
  c.matches[0].region[2] = 320;
  c.matches[0].region[3] = 180;
  c.matches[0].has_panel = true;  // one panel of a page
  c.matches[0].panel[0] = 0.5;
  c.matches[0].panel[1] = 0.1;
  c.matches[0].panel[2] = 0.45;
  c.matches[0].panel[3] = 0.3;
  c.matches.push_back(c.matches[0]);  // and another panel of the same page
  c.matches[1].time_s = 12;
  c.matches[1].panel[1] = 0.55;
  c.kind = MediaKind::kDocument;  // pages 2 and 3 of a PDF
  c.matches[0].page = 2;
  c.matches[1].page = 3;

  ReportRunInfo info = TestRunInfo("refs");
  info.settings = {{"PDQ distance threshold", "27 of 256 bits"}, {"embedding model", "m<1>"}};
  info.source_duration = [](const Match& m) { return m.source_id == 4 ? 600.0 : 0.0; };
  const std::string html = RenderReport({a, b, c}, info, [](int64_t) {
    ReferencePicture p;
    p.jpeg = {0xff, 0xd8, 0xff, 0xd9};
    p.source_width = 640;
    p.source_height = 360;
    return p;
  });

  // The settings in the header, escaped, and the embedding step as the
  // records say (one of three files).
  const std::string header = html.substr(0, html.find("</header>"));
  CHECK(header.find("data-setting=\"PDQ distance threshold\"><dt>PDQ distance threshold</dt><dd>27 of 256 bits</dd>") !=
        std::string::npos);
  CHECK(header.find("<dd>m&lt;1&gt;</dd>") != std::string::npos);
  CHECK(header.find("<dt>learned embedding step ran</dt><dd>for 1 of 3 files</dd>") != std::string::npos);

  // Sintel's source: two marks on a 600 s bar (the catalog's duration), at
  // 65.25/600 and 300/600; Tears' source has no duration: its bar ends at
  // its latest match.
  std::smatch m;
  REQUIRE(std::regex_search(html, m, std::regex("data-source=\"ep&lt;1&gt;.mp4\" data-files=\"2\">[\\s\\S]*?<div class=\"timeline\" "
                                                "data-marks=\"2\" data-duration=\"600.000\">(.*?)</div>")));
  const std::string marks = m[1].str();
  CHECK(marks.find("style=\"left:10.875%;") != std::string::npos);
  CHECK(marks.find("style=\"left:50.000%;") != std::string::npos);
  CHECK(marks.find("href=\"#q=a.png\"") != std::string::npos);
  CHECK(std::regex_search(html, std::regex("data-source=\"reel.mkv\" data-files=\"1\">[\\s\\S]*?<div class=\"timeline\" "
                                           "data-marks=\"1\" data-duration=\"40.000\">")));
  CHECK(html.find("source duration unknown") != std::string::npos);
  CHECK(html.find("<td class=\"production-files\">2</td>") != std::string::npos);

  // The search box, the viewer, and the region the viewer lays the query on.
  CHECK(html.find("<input id=\"f-search\" type=\"search\"") != std::string::npos);
  CHECK(html.find("<div id=\"viewer\" hidden") != std::string::npos);
  CHECK(html.find("id=\"v-flicker\"") != std::string::npos);
  CHECK(html.find("id=\"v-mix\" type=\"range\"") != std::string::npos);
  CHECK(html.find("data-region=\"0.2500 0.2500 0.5000 0.5000\"") != std::string::npos);
  CHECK(html.find("data-region=\"0.0000 0.0000 1.0000 1.0000\"") != std::string::npos);
  // The page and the panel a match is about are named before its evidence.
  CHECK(html.find("page 2, the panel at 50%, 10% of the page (45% x 30% of it): ") != std::string::npos);
  CHECK(html.find("&middot; page 3 &middot; the panel at 50%, 55% of the page</li>") != std::string::npos);
  CHECK(html.find("<span class=\"small\">document &middot; matched in") != std::string::npos);
  // The JSON Lines record keeps both, and reads back.
  const nlohmann::json record = FileResultToJson(c);
  CHECK(record["kind"] == "document");
  CHECK(record["matches"][1]["page"] == 3);
  CHECK(record["matches"][1]["panel"][1] == Approx(0.55));
  CHECK_FALSE(FileResultToJson(a)["matches"][0].contains("page"));
  Result<FileResult> back = FileResultFromJson(record);
  REQUIRE(back.ok());
  CHECK(back->kind == MediaKind::kDocument);
  REQUIRE(back->matches.size() == 2);
  CHECK(back->matches[0].page == 2);
  CHECK(back->matches[1].page == 3);
  CHECK(back->matches[1].has_panel);
  CHECK(SummaryLine(c).find("c.png page 2 -> Tears / reel.mkv") != std::string::npos);  // the terminal line
  // Still one script.
  const size_t open = html.find("<script");
  REQUIRE(open != std::string::npos);
  CHECK(html.find("<script", open + 1) == std::string::npos);
}

// A report of more files than a page holds: rows are rendered as they are
// added (the reference pictures are read then, not at the end), and the
// pages each hold their share of the rows in order, the whole run's summary,
// and links to the others; a timeline mark leads to the page of its row.
TEST_CASE("the HTML report renders rows as they come and splits a large run into linked pages") {
  TempDir tmp;
  const std::string path = tmp.str() + "/report.html";
  int pictures_read = 0;
  Result<std::unique_ptr<HtmlReport>> created = HtmlReport::Create(
      path,
      [&](int64_t) {
        ++pictures_read;
        ReferencePicture p;
        p.jpeg = {0xff, 0xd8, 0xff, 0xd9};
        return p;
      },
      3);
  REQUIRE(created.ok());
  HtmlReport& report = **created;
  const int files = 8;
  for (int i = 0; i < files; ++i) {
    FileResult r = MatchedImage("f" + std::to_string(i) + ".png", i < 5 ? "Sintel" : "Tears", i);
    r.matches[0].time_s = r.matches[0].span_start_s = 10.0 * i;
    r.matches[0].span_end_s = 10.0 * i + 0.5;
    if (i == 6) {
      r.status = FileStatus::kNoMatch;
      r.matches.clear();
    }
    REQUIRE(report.Add(r).ok());
    CHECK(pictures_read == (i < 6 ? i + 1 : i));  // read when the row is added
  }
  CHECK(report.size() == size_t(files));
  ReportRunInfo info = TestRunInfo("refs");
  Result<std::vector<std::string>> pages = report.Finish(info);
  REQUIRE(pages.ok());
  REQUIRE(pages->size() == 3);
  CHECK((*pages)[0] == path);
  CHECK((*pages)[1] == tmp.str() + "/report-2.html");
  CHECK((*pages)[2] == tmp.str() + "/report-3.html");
  std::vector<std::string> order;
  for (size_t p = 0; p < pages->size(); ++p) {
    INFO("page " << p + 1);
    const std::string html = ReadText((*pages)[p]);
    // The whole run's summary on every page.
    CHECK(html.find("data-count=\"all\"><b>8</b> files") != std::string::npos);
    CHECK(html.find("data-count=\"match\"><b>7</b> matched") != std::string::npos);
    CHECK(html.find("<td class=\"production-files\">5</td>") != std::string::npos);
    // This page's rows, and links to the others.
    std::regex row("<tr class=\"row\" data-index=\"(\\d+)\" data-file=\"([^\"]+)\"");
    int rows_here = 0;
    for (auto it = std::sregex_iterator(html.begin(), html.end(), row); it != std::sregex_iterator(); ++it) {
      order.push_back((*it)[2].str());
      ++rows_here;
    }
    CHECK(rows_here == (p < 2 ? 3 : 2));
    CHECK(html.find("<nav class=\"pages\" data-page=\"" + std::to_string(p + 1) + "\" data-pages=\"3\"") !=
          std::string::npos);
    for (size_t other = 0; other < pages->size(); ++other) {
      const std::string name = other == 0 ? "report.html" : "report-" + std::to_string(other + 1) + ".html";
      CHECK((html.find("href=\"" + name + "\" data-page=") != std::string::npos) == (other != p));
    }
    // f4's row is on page 2: its timeline mark links there from elsewhere.
    CHECK(html.find(p == 1 ? "href=\"#q=f4.png\"" : "href=\"report-2.html#q=f4.png\"") != std::string::npos);
  }
  CHECK(order == std::vector<std::string>{"f0.png", "f1.png", "f2.png", "f3.png", "f4.png", "f5.png", "f6.png",
                                          "f7.png"});
  CHECK(std::filesystem::exists(path + ".rows.tmp"));  // while the report is open
  created->reset();
  CHECK_FALSE(std::filesystem::exists(path + ".rows.tmp"));
}
