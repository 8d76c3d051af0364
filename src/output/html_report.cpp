#include "output/html_report.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "core/file_digest.h"
#include "output/jsonl_writer.h"

namespace celmatch {

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

namespace {

std::string Base64(const uint8_t* data, size_t n) {
  static const char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t b = uint32_t(data[i]) << 16 | (i + 1 < n ? uint32_t(data[i + 1]) << 8 : 0) |
                       (i + 2 < n ? uint32_t(data[i + 2]) : 0);
    out.push_back(kDigits[(b >> 18) & 63]);
    out.push_back(kDigits[(b >> 12) & 63]);
    out.push_back(i + 1 < n ? kDigits[(b >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? kDigits[b & 63] : '=');
  }
  return out;
}

// For a URL fragment: everything but unreserved characters percent-encoded
// (the page decodes it with URLSearchParams).
std::string FragmentValue(std::string_view v) {
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(char(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string Fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

std::string ImgTag(const std::vector<uint8_t>& jpeg, std::string_view alt) {
  return "<img alt=\"" + HtmlEscape(alt) + "\" src=\"data:image/jpeg;base64," + Base64(jpeg.data(), jpeg.size()) +
         "\">";
}

// The part of the reference frame the query matched, as fractions of the
// frame (x, y, w, h): the verified region (reference pixels) when local
// features localised the query (a crop, a layer, a frame on a sheet), the
// whole frame for whole-frame PDQ matches or when the source size is unknown.
struct RegionFraction {
  double x = 0, y = 0, w = 1, h = 1;
};
RegionFraction MatchedRegion(const Match& m, const ReferencePicture& ref) {
  if (!m.has_region || ref.source_width <= 0 || ref.source_height <= 0) return RegionFraction{};
  auto clamp01 = [](double v) { return std::clamp(v, 0.0, 1.0); };
  RegionFraction g;
  g.x = clamp01(m.region[0] / ref.source_width);
  g.y = clamp01(m.region[1] / ref.source_height);
  g.w = clamp01(m.region[2] / ref.source_width);
  g.h = clamp01(m.region[3] / ref.source_height);
  g.w = std::min(g.w, 1.0 - g.x);
  g.h = std::min(g.h, 1.0 - g.y);
  if (g.w <= 0 || g.h <= 0) return RegionFraction{};
  return g;
}

// The page's only script. Its SHA-256 goes into the Content-Security-Policy,
// so no other script can run in the page.
constexpr const char* kScript = R"JS(
(function () {
  'use strict';
  var tbody = document.querySelector('#results tbody');
  var rows = Array.prototype.slice.call(tbody.querySelectorAll('tr.row'));
  var fProduction = document.getElementById('f-production');
  var fStatus = document.getElementById('f-status');
  var fScore = document.getElementById('f-score');
  var fSort = document.getElementById('f-sort');
  var fSearch = document.getElementById('f-search');
  var count = document.getElementById('visible-count');
  var statusOrder = {match: 0, no_match: 1, error: 2, skipped: 3};
  function str(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
  function byFile(a, b) { return str(a.dataset.file, b.dataset.file) || (a.dataset.index - b.dataset.index); }
  var sorts = {
    file: byFile,
    score: function (a, b) { return (parseFloat(b.dataset.score) - parseFloat(a.dataset.score)) || byFile(a, b); },
    production: function (a, b) {
      return str(a.dataset.production, b.dataset.production) || str(a.dataset.source, b.dataset.source) ||
             (parseFloat(a.dataset.time) - parseFloat(b.dataset.time)) || byFile(a, b);
    },
    status: function (a, b) { return (statusOrder[a.dataset.status] - statusOrder[b.dataset.status]) || byFile(a, b); }
  };
  function readState() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ''));
    return {production: p.get('production') || '', status: p.get('status') || '',
            min_score: p.get('min_score') || '', q: p.get('q') || '',
            sort: sorts[p.get('sort')] ? p.get('sort') : 'file'};
  }
  // Sorted by production: one heading row per production, with the count of
  // its rows shown.
  function groupHeadings(sorted) {
    Array.prototype.slice.call(tbody.querySelectorAll('tr.group-head')).forEach(function (h) { h.remove(); });
    var groups = [], last = null;
    sorted.forEach(function (r) {
      if (r.hidden) return;
      if (last === null || last.production !== r.dataset.production) {
        last = {production: r.dataset.production, first: r, n: 0};
        groups.push(last);
      }
      last.n++;
    });
    groups.forEach(function (g) {
      var tr = document.createElement('tr');
      tr.className = 'group-head';
      tr.setAttribute('data-production', g.production);
      tr.setAttribute('data-count', String(g.n));
      var th = document.createElement('th');
      th.colSpan = 5;
      th.textContent = (g.production || 'not placed in a production') + ' \u2014 ' + g.n + (g.n === 1 ? ' file' : ' files');
      tr.appendChild(th);
      tbody.insertBefore(tr, g.first);
    });
  }
  function apply() {
    var s = readState();
    fProduction.value = s.production;
    fStatus.value = s.status;
    fScore.value = s.min_score;
    fSort.value = s.sort;
    if (fSearch.value !== s.q) fSearch.value = s.q;
    var min = parseFloat(s.min_score);
    if (isNaN(min)) min = -Infinity;
    var q = s.q.toLowerCase();
    var shown = 0;
    rows.forEach(function (r) {
      var ok = (!s.production || r.dataset.production === s.production) &&
               (!s.status || r.dataset.status === s.status) && parseFloat(r.dataset.score) >= min &&
               (!q || r.dataset.file.toLowerCase().indexOf(q) >= 0);
      r.hidden = !ok;
      if (ok) shown++;
    });
    var sorted = rows.slice().sort(sorts[s.sort]);
    sorted.forEach(function (r) { tbody.appendChild(r); });
    if (s.sort === 'production') groupHeadings(sorted);
    else Array.prototype.slice.call(tbody.querySelectorAll('tr.group-head')).forEach(function (h) { h.remove(); });
    count.textContent = shown + ' of ' + rows.length + ' files shown';
    count.setAttribute('data-visible', String(shown));
    document.body.setAttribute('data-ready', '1');
  }
  function onControl(e) {
    var p = new URLSearchParams();
    if (fProduction.value) p.set('production', fProduction.value);
    if (fStatus.value) p.set('status', fStatus.value);
    if (fScore.value) p.set('min_score', fScore.value);
    if (fSort.value !== 'file') p.set('sort', fSort.value);
    if (fSearch.value) p.set('q', fSearch.value);
    var h = p.toString();
    if (('#' + h) !== location.hash) {
      // Typing replaces the history entry instead of adding one per key.
      if (e && e.target === fSearch) history.replaceState(null, '', h ? '#' + h : location.pathname + location.search);
      else location.hash = h;
    }
    apply();
  }
  [fProduction, fStatus, fScore, fSort].forEach(function (c) { c.addEventListener('change', onControl); });
  fScore.addEventListener('input', onControl);
  fSearch.addEventListener('input', onControl);
  window.addEventListener('hashchange', apply);
  document.getElementById('controls').hidden = false;

  // The viewer: the reference frame large, the query over its matched region.
  var viewer = document.getElementById('viewer');
  var stage = document.getElementById('v-stage');
  var vRef = document.getElementById('v-ref');
  var vQuery = document.getElementById('v-query');
  var vRegion = document.getElementById('v-region');
  var vMix = document.getElementById('v-mix');
  var vFlicker = document.getElementById('v-flicker');
  var vCompare = document.getElementById('v-compare');
  var vCaption = document.getElementById('v-caption');
  var flickerTimer = null;
  function setMix(v) {
    vMix.value = String(v);
    vQuery.style.opacity = String(1 - v / 100);
    viewer.setAttribute('data-shown', v <= 0 ? 'query' : v >= 100 ? 'reference' : 'mix');
  }
  function stopFlicker() {
    if (flickerTimer !== null) clearInterval(flickerTimer);
    flickerTimer = null;
    vFlicker.setAttribute('aria-pressed', 'false');
  }
  function fit(w, h) {
    var k = Math.min(0.9 * window.innerWidth / w, 0.75 * window.innerHeight / h);
    stage.style.width = Math.round(w * k) + 'px';
    stage.style.height = Math.round(h * k) + 'px';
  }
  function place(el, g) {
    el.style.left = (100 * g[0]) + '%';
    el.style.top = (100 * g[1]) + '%';
    el.style.width = (100 * g[2]) + '%';
    el.style.height = (100 * g[3]) + '%';
  }
  function openViewer(row, which) {
    var q = row.querySelector('td.query img'), r = row.querySelector('td.reference img');
    stopFlicker();
    vQuery.hidden = !q;
    vRef.hidden = !r;
    vRegion.hidden = !(q && r);
    vCompare.hidden = !(q && r);
    if (q) vQuery.src = q.src;
    if (r) vRef.src = r.src;
    var g = [0, 0, 1, 1];
    if (q && r) {
      var f = row.querySelector('td.reference .frame');
      var parts = (f && f.dataset.region || '').split(' ').map(parseFloat);
      if (parts.length === 4 && parts.every(function (x) { return isFinite(x); })) g = parts;
      fit(r.naturalWidth || 4, r.naturalHeight || 3);
      place(vQuery, g);
      place(vRegion, g);
      setMix(which === 'reference' ? 100 : 0);
    } else {
      var one = q || r;
      fit(one.naturalWidth || 4, one.naturalHeight || 3);
      place(vQuery, g);
      vQuery.style.opacity = '1';
      viewer.setAttribute('data-shown', q ? 'query' : 'reference');
    }
    vCaption.textContent = row.dataset.file;
    viewer.hidden = false;
  }
  function closeViewer() {
    stopFlicker();
    viewer.hidden = true;
  }
  rows.forEach(function (row) {
    Array.prototype.slice.call(row.querySelectorAll('td.pic img')).forEach(function (img) {
      img.addEventListener('click', function () {
        openViewer(row, img.closest('td.reference') ? 'reference' : 'query');
      });
    });
  });
  vMix.addEventListener('input', function () { stopFlicker(); setMix(parseFloat(vMix.value)); });
  document.getElementById('v-show-query').addEventListener('click', function () { stopFlicker(); setMix(0); });
  document.getElementById('v-show-ref').addEventListener('click', function () { stopFlicker(); setMix(100); });
  vFlicker.addEventListener('click', function () {
    if (flickerTimer !== null) { stopFlicker(); return; }
    vFlicker.setAttribute('aria-pressed', 'true');
    setMix(parseFloat(vMix.value) >= 50 ? 0 : 100);
    flickerTimer = setInterval(function () { setMix(parseFloat(vMix.value) >= 50 ? 0 : 100); }, 500);
  });
  document.getElementById('v-close').addEventListener('click', closeViewer);
  viewer.addEventListener('click', function (e) {
    if (e.target === viewer || stage.contains(e.target)) closeViewer();
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && !viewer.hidden) closeViewer();
  });
  apply();
})();
)JS";

constexpr const char* kStyle = R"CSS(
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}
header .meta{margin:4px 0 0;color:#c4cad6;font-size:12px;word-break:break-all}
main{padding:16px 24px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:12px 16px;margin-bottom:16px}
h2{font-size:16px;margin:0 0 8px}
.counts a{display:inline-block;margin:0 8px 8px 0;padding:4px 10px;border-radius:12px;text-decoration:none;color:#1d2330;background:#eef0f4}
.counts a b{font-size:16px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid #eceef2}
th{font-size:12px;color:#5b6475;font-weight:600}
#productions td ul{margin:0;padding-left:16px}
#controls label{margin-right:16px}
#visible-count{color:#5b6475}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.s-match{background:#d7f2df;color:#17663a}.s-no_match{background:#eceef2;color:#4a5263}
.s-error{background:#fbdcdc;color:#9b1c1c}.s-skipped{background:#fdf0d5;color:#8a5a00}
.file{max-width:260px;word-break:break-all}
.file .name{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.small{font-size:12px;color:#5b6475}
.pic{width:200px}
.pic img{display:block;max-width:192px;max-height:160px;border:1px solid #cfd4dd}
.frame{position:relative;display:inline-block}
.frame .region{pointer-events:none;position:absolute;box-sizing:border-box;border:3px solid #e8323c;box-shadow:0 0 0 1px #fff}
.nopic{width:180px;height:100px;display:flex;align-items:center;justify-content:center;text-align:center;
 font-size:12px;color:#5b6475;background:repeating-linear-gradient(45deg,#f1f2f5,#f1f2f5 8px,#e8eaee 8px,#e8eaee 16px);border:1px dashed #c4cad6}
.where b{font-size:15px}
.tc{font-family:ui-monospace,Menlo,Consolas,monospace}
.score{font-size:18px;font-weight:700}
.bar{height:4px;background:#eceef2;border-radius:2px;width:120px;margin:2px 0 6px}
.bar i{display:block;height:4px;border-radius:2px;background:#2f8f57}
.reason{color:#9b1c1c}
.others{margin:4px 0 0;padding-left:16px;font-size:12px}
header dl{margin:6px 0 0;display:flex;flex-wrap:wrap;gap:2px 18px;font-size:12px;color:#c4cad6}
header dl div{display:flex;gap:4px}header dt{color:#8e97a8}header dd{margin:0;color:#fff}
#f-search{width:16em}
.pic img{cursor:zoom-in}
tr.group-head th{background:#eef0f4;color:#1d2330;font-size:13px;padding:6px 8px}
.timeline{position:relative;height:10px;background:#eceef2;border-radius:3px;margin:3px 0 6px;max-width:480px}
.timeline .mark{position:absolute;top:0;height:10px;min-width:3px;margin-left:-1px;background:#2f8f57;border-radius:1px;opacity:.8}
.timeline-scale{display:flex;justify-content:space-between;max-width:480px;font-size:11px;color:#5b6475}
#viewer{position:fixed;inset:0;background:rgba(15,18,26,.88);display:flex;align-items:center;justify-content:center;z-index:10}
#viewer[hidden]{display:none}
#v-stage{position:relative;cursor:zoom-out;background:#000}
#v-stage img{position:absolute;display:block}
#v-stage [hidden],#v-compare[hidden]{display:none}
#v-ref{left:0;top:0;width:100%;height:100%}
#v-region{position:absolute;box-sizing:border-box;border:2px solid #e8323c;pointer-events:none}
.v-controls{margin-top:10px;color:#fff;font-size:13px;display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center}
.v-controls button{font:inherit}
#v-caption{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all;color:#c4cad6}
)CSS";

// One file's place on its source's timeline: the best match's time, or for
// a clip the stretch of the source it covers; `page` holds its row.
struct TimelineMark {
  std::string file;
  size_t page = 0;
  double start_s = 0, end_s = 0;
};
struct SourceSummary {
  int64_t files = 0;
  bool is_still = false;
  std::optional<Match> match;  // one of the source's, to look up its duration
  double first_s = 1e300, last_s = -1, latest_s = 0;
  std::vector<TimelineMark> marks;  // the first kMaxMarks
  int64_t moments = 0;              // files with a place on the timeline
};
struct ProductionSummary {
  int64_t files = 0;
  std::map<std::string, SourceSummary> sources;
};

// Marks drawn on one source's timeline: more are counted, not drawn (a bar a
// few hundred pixels wide shows no more, and the page stays small).
constexpr size_t kMaxMarks = 500;

}  // namespace

// What the page header and summary show, counted as rows are added: the
// rows themselves are on disk.
struct HtmlReport::Totals {
  int64_t files = 0;
  int64_t counts[4] = {0, 0, 0, 0};
  int64_t ambiguous = 0;
  int64_t matched_or_not = 0, with_embedding = 0;
  std::map<std::string, ProductionSummary> productions;
  std::set<std::string> production_names;  // of every row's best match (the filter's choices)

  void Add(const FileResult& r, size_t page) {
    ++files;
    counts[int(r.status)]++;
    if (r.status == FileStatus::kMatch || r.status == FileStatus::kNoMatch) {
      ++matched_or_not;
      with_embedding += r.embedding;
    }
    if (!r.matches.empty()) production_names.insert(r.matches.front().production);
    if (r.status != FileStatus::kMatch || r.matches.empty()) return;
    if (r.tied_sources > 1) ++ambiguous;
    const Match& m = r.matches.front();
    ProductionSummary& p = productions[m.production];
    p.files++;
    SourceSummary& s = p.sources[m.source];
    s.files++;
    s.is_still = m.is_still;
    if (!s.match) s.match = m;
    if (m.is_still) return;
    s.first_s = std::min(s.first_s, m.span_start_s);
    s.last_s = std::max(s.last_s, std::max(m.span_end_s, m.time_s));
    // A clip covers the source from its time for its duration; a picture
    // is one moment.
    const bool clip = r.kind == MediaKind::kVideo;
    const double start = clip ? std::min(m.time_s, m.span_start_s) : m.time_s;
    const double end = clip ? std::max(m.time_s, m.span_end_s) : m.time_s;
    s.latest_s = std::max(s.latest_s, end);
    ++s.moments;
    if (s.marks.size() < kMaxMarks) s.marks.push_back(TimelineMark{r.file, page, start, end});
  }
};

namespace {

std::string TimeOrStill(const Match& m) {
  return m.is_still ? std::string("still image") : FormatTimecode(m.time_s);
}

// The link to file `file`'s row: on this page a filter of it, on another
// page that page with the filter.
std::string RowLink(const std::string& file, size_t page, size_t this_page, const std::string& report_path) {
  std::string href;
  if (page != this_page) href = HtmlEscape(std::filesystem::path(HtmlReport::PagePath(report_path, page)).filename().string());
  return href + "#q=" + FragmentValue(file);
}

// Where the matched times fall along the source: a bar for its duration
// (from the catalog, else up to the latest matched time) with one mark per
// file, each a link that shows that file's row.
void RenderTimeline(const SourceSummary& s, const ReportRunInfo& info, size_t this_page,
                    const std::string& report_path, std::string& html) {
  double duration = info.source_duration && s.match ? info.source_duration(*s.match) : 0;
  const bool known = duration > 0;
  duration = std::max(duration, s.latest_s);
  if (!(duration > 0)) return;
  html += "<div class=\"timeline\" data-marks=\"" + std::to_string(s.marks.size()) + "\" data-duration=\"" +
          Fixed(duration, 3) + "\">";
  for (const TimelineMark& m : s.marks) {
    const double left = std::clamp(m.start_s / duration, 0.0, 1.0);
    const double width = std::clamp((m.end_s - m.start_s) / duration, 0.0, 1.0 - left);
    html += "<a class=\"mark\" href=\"" + RowLink(m.file, m.page, this_page, report_path) + "\" title=\"" +
            HtmlEscape(m.file) + " @ " + FormatTimecode(m.start_s) + "\" data-time=\"" + Fixed(m.start_s, 3) +
            "\" style=\"left:" + Fixed(100 * left, 3) + "%;width:" + Fixed(100 * width, 3) + "%\"></a>";
  }
  html += "</div><div class=\"timeline-scale\"><span class=\"tc\">" + FormatTimecode(0) + "</span><span class=\"tc\">" +
          FormatTimecode(duration) + (known ? "" : " (latest match; source duration unknown)") + "</span></div>";
  if (s.moments > int64_t(s.marks.size()))
    html += "<div class=\"small\">the first " + std::to_string(s.marks.size()) + " of " + std::to_string(s.moments) +
            " matched moments are drawn</div>";
}

void RenderSummary(const HtmlReport::Totals& t, const ReportRunInfo& info, size_t this_page,
                   const std::string& report_path, std::string& html) {
  html += "<section id=\"summary\"><h2>Summary</h2><div class=\"counts\">";
  html += "<a href=\"#\" data-count=\"all\"><b>" + std::to_string(t.files) + "</b> files</a>";
  const char* labels[4] = {"matched", "not matched", "errors", "skipped"};
  for (int s = 0; s < 4; ++s) {
    const char* name = FileStatusName(FileStatus(s));
    html += std::string("<a href=\"#status=") + name + "\" class=\"s-" + name + "\" data-count=\"" + name + "\"><b>" +
            std::to_string(t.counts[s]) + "</b> " + labels[s] + "</a>";
  }
  if (t.ambiguous)
    html += "<a href=\"#status=match\" data-count=\"ambiguous\"><b>" + std::to_string(t.ambiguous) +
            "</b> ambiguous (source tied)</a>";
  html += "</div>";
  if (t.productions.empty()) {
    html += "<p class=\"small\">No file matched a production of the index.</p></section>";
    return;
  }
  html += "<table id=\"productions\"><thead><tr><th>Production</th><th>Files matched</th>"
          "<th>Sources (episodes): files, time range covered, and where the matches fall</th></tr></thead><tbody>";
  for (const auto& [name, p] : t.productions) {
    html += "<tr class=\"production\" data-production=\"" + HtmlEscape(name) + "\"><td><a href=\"#production=" +
            FragmentValue(name) + "\">" + HtmlEscape(name) + "</a></td><td class=\"production-files\">" +
            std::to_string(p.files) + "</td><td><ul>";
    for (const auto& [source, s] : p.sources) {
      html += "<li class=\"source\" data-source=\"" + HtmlEscape(source) + "\" data-files=\"" +
              std::to_string(s.files) + "\">" + HtmlEscape(source) + ": " + std::to_string(s.files) +
              (s.files == 1 ? " file" : " files");
      if (s.is_still) html += " (still)";
      else if (s.last_s >= 0)
        html += ", <span class=\"tc\">" + FormatTimecode(s.first_s) + "&ndash;" + FormatTimecode(s.last_s) + "</span>";
      if (!s.marks.empty()) RenderTimeline(s, info, this_page, report_path, html);
      html += "</li>";
    }
    html += "</ul></td></tr>";
  }
  html += "</tbody></table></section>";
}

// The run's settings under the title: the caller's, then what the records
// say about the learned-embedding step.
void RenderSettings(const HtmlReport::Totals& t, const ReportRunInfo& info, std::string& html) {
  const int64_t matched = t.matched_or_not, with_embedding = t.with_embedding;
  if (info.settings.empty() && matched == 0) return;
  html += "<dl id=\"settings\">";
  auto item = [&html](const std::string& name, const std::string& value) {
    html += "<div class=\"setting\" data-setting=\"" + HtmlEscape(name) + "\"><dt>" + HtmlEscape(name) + "</dt><dd>" +
            HtmlEscape(value) + "</dd></div>";
  };
  for (const auto& [name, value] : info.settings) item(name, value);
  if (matched > 0)
    item("learned embedding step ran", with_embedding == matched ? "yes, for all " + std::to_string(matched) + " files"
                                       : with_embedding == 0    ? "no"
                                                                : "for " + std::to_string(with_embedding) + " of " +
                                                                      std::to_string(matched) + " files");
  html += "</dl>";
}

// The larger view the script opens on a click on a picture.
constexpr const char* kViewer =
    "<div id=\"viewer\" hidden role=\"dialog\" aria-modal=\"true\" aria-label=\"Larger view\" data-shown=\"\"><div>"
    "<div id=\"v-stage\" title=\"Click or press Escape to close\"><img id=\"v-ref\" alt=\"reference frame\">"
    "<img id=\"v-query\" alt=\"query\"><div id=\"v-region\"></div></div>"
    "<div class=\"v-controls\"><span id=\"v-compare\"><button type=\"button\" id=\"v-show-query\">Query</button> "
    "<label>Query <input id=\"v-mix\" type=\"range\" min=\"0\" max=\"100\" step=\"1\" value=\"0\" "
    "aria-label=\"Blend between query and reference\"> Reference</label> "
    "<button type=\"button\" id=\"v-show-ref\">Reference</button> "
    "<button type=\"button\" id=\"v-flicker\" aria-pressed=\"false\">Flicker</button></span>"
    "<span id=\"v-caption\"></span><button type=\"button\" id=\"v-close\">Close (Esc)</button></div></div></div>\n";

void RenderControls(const std::set<std::string>& names, std::string& html) {
  // Hidden until the script runs: without JavaScript the controls do nothing.
  html += "<section id=\"controls\" hidden><label>Production <select id=\"f-production\"><option value=\"\">all</option>";
  for (const std::string& n : names) html += "<option value=\"" + HtmlEscape(n) + "\">" + HtmlEscape(n) + "</option>";
  html += "</select></label><label>Status <select id=\"f-status\"><option value=\"\">all</option>"
          "<option value=\"match\">match</option><option value=\"no_match\">no match</option>"
          "<option value=\"error\">error</option><option value=\"skipped\">skipped</option></select></label>"
          "<label>Score at least <input id=\"f-score\" type=\"number\" min=\"0\" max=\"1\" step=\"0.05\" "
          "placeholder=\"any\" size=\"5\"></label>"
          "<label>Sort by <select id=\"f-sort\"><option value=\"file\">file</option>"
          "<option value=\"score\">score (best first)</option><option value=\"production\">production, source, time</option>"
          "<option value=\"status\">status</option></select></label>"
          "<label>File name <input id=\"f-search\" type=\"search\" placeholder=\"part of the name\" "
          "autocomplete=\"off\"></label>"
          "<span id=\"visible-count\"></span></section>";
}

// The evidence that placed `m`, as a sentence: local-feature inliers, cel
// pixels, a line drawing's strokes, the edge layout of an embedding
// proposal, agreeing clip samples,
// or the PDQ distance.
std::string DecidingEvidence(const FileResult& r, const Match& m) {
  const MatchEvidence& e = m.evidence;
  std::string s;
  if (e.inliers > 0) {
    s = "local features: " + std::to_string(e.inliers) + " inliers on one homography (" +
        Fixed(100 * e.inlier_ratio, 0) + "% of the putative matches" +
        (e.feature_layer == "line" ? ", line drawing against line drawing" : "") + ")";
  } else if (e.pixel_correlation > 0) {
    s = "cel pixels: correlation " + Fixed(e.pixel_correlation, 3) + " of the visible pixels at their place";
  } else if (e.line_agreement > 0) {
    s = "line drawing: " + Fixed(100 * e.line_agreement, 0) +
        "% agreement of its strokes with the frame's edges (place and orientation)";
  } else if (e.edge_layout > 0) {
    s = "edge layout agreement " + Fixed(e.edge_layout, 3) + " with the frame the learned embedding proposed";
  } else {
    s = "PDQ: " + std::to_string(e.pdq_distance) + " of 256 bits differ";
  }
  if (e.found_by == "embedding" && e.edge_layout <= 0) s += " (frame proposed by the learned embedding)";
  if (m.has_panel)
    s = "the panel at " + Fixed(100 * m.panel[0], 0) + "%, " + Fixed(100 * m.panel[1], 0) + "% of the page (" +
        Fixed(100 * m.panel[2], 0) + "% x " + Fixed(100 * m.panel[3], 0) + "% of it): " + s;
  if (m.page > 0) s = "page " + std::to_string(m.page) + (m.has_panel ? ", " : ": ") + s;
  if (r.kind == MediaKind::kVideo && e.samples_total > 0)
    s += "; " + std::to_string(e.samples_matched) + " of " + std::to_string(e.samples_total) + " clip samples agree";
  return HtmlEscape(s);
}

void RenderRow(const FileResult& r, size_t index, const ReferencePictureFn& reference, std::string& html) {
  const Match* best = r.matches.empty() ? nullptr : &r.matches.front();
  const char* status = FileStatusName(r.status);
  html += "<tr class=\"row\" data-index=\"" + std::to_string(index) + "\" data-file=\"" + HtmlEscape(r.file) +
          "\" data-status=\"" + status + "\" data-production=\"" + HtmlEscape(best ? best->production : "") +
          "\" data-source=\"" + HtmlEscape(best ? best->source : "") + "\" data-time=\"" +
          Fixed(best && !best->is_still ? best->time_s : 0, 3) + "\" data-score=\"" +
          Fixed(best ? best->score : 0, 3) + "\">";
  // File.
  html += "<td class=\"file\"><div class=\"name\">" + HtmlEscape(r.file) + "</div><span class=\"badge s-" +
          std::string(status) + "\">" + status + "</span> <span class=\"small\">" + MediaKindName(r.kind);
  if (r.kind == MediaKind::kVideo && r.duration_s > 0) html += " of " + Fixed(r.duration_s, 1) + " s";
  html += " &middot; matched in " + Fixed(r.elapsed_s, 2) + " s</span>";
  if (r.status == FileStatus::kError || r.status == FileStatus::kSkipped)
    html += "<div class=\"reason\">" + HtmlEscape(r.error) + "</div>";
  if (!r.note.empty()) html += "<div class=\"small\">" + HtmlEscape(r.note) + "</div>";
  if (!r.sha256.empty()) html += "<div class=\"small sha\" title=\"SHA-256 of the file\">SHA-256 " + HtmlEscape(r.sha256) + "</div>";
  html += "</td>";
  // Query picture.
  html += "<td class=\"pic query\">";
  if (!r.query_thumbnail_jpeg.empty()) html += ImgTag(r.query_thumbnail_jpeg, "query: " + r.file);
  else html += "<div class=\"nopic\">no picture</div>";
  html += "</td>";
  // Reference picture.
  html += "<td class=\"pic reference\">";
  if (best) {
    ReferencePicture ref = reference ? reference(best->evidence.frame_id) : ReferencePicture{};
    if (!ref.jpeg.empty()) {
      const RegionFraction g = MatchedRegion(*best, ref);
      html += "<div class=\"frame\" data-region=\"" + Fixed(g.x, 4) + " " + Fixed(g.y, 4) + " " + Fixed(g.w, 4) + " " +
              Fixed(g.h, 4) + "\">" + ImgTag(ref.jpeg, "reference frame " + std::to_string(best->evidence.frame_id)) +
              "<div class=\"region\" style=\"left:" + Fixed(100 * g.x, 2) + "%;top:" + Fixed(100 * g.y, 2) +
              "%;width:" + Fixed(100 * g.w, 2) + "%;height:" + Fixed(100 * g.h, 2) + "%\"></div></div>";
    } else {
      html += "<div class=\"nopic\">No thumbnail available:<br>reference known by its hash only</div>";
    }
  }
  html += "</td>";
  // Where.
  html += "<td class=\"where\">";
  if (best) {
    html += "<b>" + HtmlEscape(best->production) + "</b><br>" + HtmlEscape(best->source) + "<br><span class=\"tc\">" +
            TimeOrStill(*best) + "</span>";
    if (!best->is_still) {
      if (r.kind == MediaKind::kVideo && !r.segments.empty()) {
        for (const Segment& seg : r.segments) {
          html += "<div class=\"small segment\">clip <span class=\"tc\">" + FormatTimecode(seg.query_start_s) +
                  "&ndash;" + FormatTimecode(seg.query_end_s) + "</span> &harr; ";
          if (seg.source_id != best->source_id) html += HtmlEscape(seg.source) + " ";
          html += seg.is_still ? std::string("(still)")
                               : "<span class=\"tc\">" + FormatTimecode(seg.source_start_s) + "&ndash;" +
                                     FormatTimecode(seg.source_end_s) + "</span>";
          html += "</div>";
        }
      } else if (r.kind == MediaKind::kVideo) {
        html += "<div class=\"small segment\">clip <span class=\"tc\">" + FormatTimecode(0) + "&ndash;" +
                FormatTimecode(r.duration_s) + "</span> &harr; source <span class=\"tc\">" +
                FormatTimecode(best->span_start_s) + "&ndash;" + FormatTimecode(best->span_end_s) + "</span></div>";
      } else {
        html += "<div class=\"small\">reference frame covers <span class=\"tc\">" + FormatTimecode(best->span_start_s) +
                "&ndash;" + FormatTimecode(best->span_end_s) + "</span></div>";
      }
    }
    if (r.tied_sources > 1)
      html += "<div class=\"small tie\">a tie: one of " + std::to_string(r.tied_sources) +
              " sources showing this picture equally well (a shared intro or a reused shot): the production is "
              "certain, the source is not</div>";
  }
  html += "</td>";
  // Evidence.
  html += "<td class=\"evidence\">";
  if (best) {
    const MatchEvidence& e = best->evidence;
    html += "<div class=\"score\">" + Fixed(best->score, 2) + "</div><div class=\"bar\"><i style=\"width:" +
            Fixed(100 * std::clamp(best->score, 0.0, 1.0), 0) + "%\"></i></div>";
    // What decided the match, first: the stage's own measure.
    html += "<div class=\"decided\">" + DecidingEvidence(r, *best) + "</div><div class=\"small\">PDQ distance " +
            std::to_string(e.pdq_distance) + " bits of 256; quality " + std::to_string(e.reference_quality) +
            " (reference) / " + std::to_string(e.query_quality) + " (query); transform " + HtmlEscape(e.transform) +
            "; frame #" + std::to_string(e.frame_id);
    if (r.kind == MediaKind::kVideo)
      html += "; " + std::to_string(e.samples_matched) + " of " + std::to_string(e.samples_total) +
              " samples agree on the offset";
    html += "</div>";
    if (r.matches.size() > 1) {
      html += "<ol class=\"others\" start=\"2\">";
      for (size_t i = 1; i < r.matches.size(); ++i) {
        const Match& m = r.matches[i];
        html += "<li>" + HtmlEscape(m.production) + " / " + HtmlEscape(m.source) + " @ <span class=\"tc\">" +
                TimeOrStill(m) + "</span> (score " + Fixed(m.score, 2) + ", PDQ " +
                std::to_string(m.evidence.pdq_distance) + ")" +
                (m.page > 0 ? " &middot; page " + std::to_string(m.page) : std::string()) +
                (m.has_panel ? " &middot; the panel at " + Fixed(100 * m.panel[0], 0) + "%, " +
                                   Fixed(100 * m.panel[1], 0) + "% of the page"
                             : std::string()) +
                "</li>";
      }
      html += "</ol>";
    }
  }
  html += "</td></tr>\n";
}

std::string CspHash(std::string_view script) {
  const std::string hex = Sha256Hex(script);
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(uint8_t(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return "'sha256-" + Base64(bytes.data(), bytes.size()) + "'";
}

// Links to the other pages of a report split over several (HtmlReport::Finish).
void RenderPageNav(size_t page, size_t pages, int64_t rows, size_t rows_per_page, const std::string& report_path,
                   std::string& html) {
  if (pages <= 1) return;
  auto link = [&](size_t p, const std::string& text) {
    return "<a href=\"" + HtmlEscape(std::filesystem::path(HtmlReport::PagePath(report_path, p)).filename().string()) +
           "\" data-page=\"" + std::to_string(p + 1) + "\">" + text + "</a>";
  };
  const int64_t first = int64_t(page * rows_per_page) + 1;
  const int64_t last = std::min(rows, int64_t((page + 1) * rows_per_page));
  html += "<nav class=\"pages\" data-page=\"" + std::to_string(page + 1) + "\" data-pages=\"" + std::to_string(pages) +
          "\">Page " + std::to_string(page + 1) + " of " + std::to_string(pages) + " (files " + std::to_string(first) +
          "&ndash;" + std::to_string(last) + " of " + std::to_string(rows) +
          "; the filters, sorting and search act on this page's files):";
  // The first, the last, and the pages near this one.
  size_t shown_up_to = 0;
  for (size_t p = 0; p < pages; ++p) {
    const bool near = p + 3 >= page && p <= page + 3;
    if (p != 0 && p + 1 != pages && !near) continue;
    if (p > shown_up_to) html += " &hellip;";
    html += " ";
    html += p == page ? "<b>" + std::to_string(p + 1) + "</b>" : link(p, std::to_string(p + 1));
    shown_up_to = p + 1;
  }
  if (page > 0) html += " " + link(page - 1, "&larr; previous");
  if (page + 1 < pages) html += " " + link(page + 1, "next &rarr;");
  html += "</nav>";
}

// The page up to the first row.
std::string PageHead(const HtmlReport::Totals& t, const ReportRunInfo& info, size_t page, size_t pages,
                     int64_t rows, size_t rows_per_page, const std::string& report_path) {
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
          "style-src 'unsafe-inline'; script-src " + CspHash(kScript) + "; base-uri 'none'; form-action 'none'\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta name=\"generator\" content=\"celmatch " + HtmlEscape(info.version) + "\">\n";
  html += std::string("<title>celmatch report") + (pages > 1 ? " (page " + std::to_string(page + 1) + " of " + std::to_string(pages) + ")" : "") +
          "</title><style>";
  html += kStyle;
  html += "</style></head>\n<body>\n<header><h1>celmatch report</h1><p class=\"meta\">";
  html += "index " + HtmlEscape(info.index_dir) + " &middot; input";
  for (const std::string& in : info.inputs) html += " " + HtmlEscape(in);
  html += " &middot; " + std::to_string(t.files) + " files in " + Fixed(info.elapsed_s, 1) + " s";
  if (!info.generated_at.empty()) html += " &middot; " + HtmlEscape(info.generated_at);
  html += " &middot; celmatch " + HtmlEscape(info.version) + "</p>";
  RenderSettings(t, info, html);
  html += "</header>\n<main>\n";
  RenderSummary(t, info, page, report_path, html);
  RenderControls(t.production_names, html);
  RenderPageNav(page, pages, rows, rows_per_page, report_path, html);
  html += "<section><table id=\"results\"><thead><tr><th>File</th><th>Query</th><th>Reference frame (matched region "
          "outlined)</th><th>Production / source / time</th><th>Score and evidence</th></tr></thead><tbody>\n";
  return html;
}

// The page after the last row.
std::string PageTail(size_t page, size_t pages, int64_t rows, size_t rows_per_page, const std::string& report_path) {
  std::string html = "</tbody></table></section>\n";
  RenderPageNav(page, pages, rows, rows_per_page, report_path, html);
  html += "</main>\n";
  html += kViewer;
  html += "<script>";
  html += kScript;
  html += "</script>\n</body></html>\n";
  return html;
}

Status WriteAll(std::FILE* f, const std::string& path, const std::string& text) {
  if (!text.empty() && std::fwrite(text.data(), 1, text.size(), f) != text.size())
    return Status::IoError(path + ": write failed: " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

std::string HtmlReport::PagePath(const std::string& path, size_t page) {
  if (page == 0) return path;
  const std::filesystem::path p(path);
  const std::string ext = p.extension().string();
  const std::string stem = ext.empty() ? path : path.substr(0, path.size() - ext.size());
  return stem + "-" + std::to_string(page + 1) + (ext.empty() ? ".html" : ext);
}

HtmlReport::HtmlReport(std::string path, ReferencePictureFn reference, size_t rows_per_page)
    : path_(std::move(path)),
      rows_path_(path_ + ".rows.tmp"),
      reference_(std::move(reference)),
      rows_per_page_(std::max<size_t>(1, rows_per_page)),
      totals_(std::make_unique<Totals>()) {}

HtmlReport::~HtmlReport() {
  if (rows_) std::fclose(rows_);
  std::remove(rows_path_.c_str());
}

Result<std::unique_ptr<HtmlReport>> HtmlReport::Create(const std::string& path, ReferencePictureFn reference,
                                                       size_t rows_per_page) {
  std::unique_ptr<HtmlReport> r(new HtmlReport(path, std::move(reference), rows_per_page));
  r->rows_ = std::fopen(r->rows_path_.c_str(), "w+b");
  if (!r->rows_) return Status::IoError(r->rows_path_ + ": cannot write the report's rows there: " + std::strerror(errno));
  return r;
}

Status HtmlReport::Add(const FileResult& result) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;
  const size_t index = size_t(totals_->files);
  if (index % rows_per_page_ == 0) page_start_.push_back(uint64_t(std::ftell(rows_)));
  totals_->Add(result, index / rows_per_page_);
  std::string html;
  RenderRow(result, index, reference_, html);
  error_ = WriteAll(rows_, rows_path_, html);
  return error_;
}

size_t HtmlReport::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return size_t(totals_->files);
}

Result<std::vector<std::string>> HtmlReport::Finish(const ReportRunInfo& info) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;
  if (std::fflush(rows_) != 0) return Status::IoError(rows_path_ + ": write failed: " + std::strerror(errno));
  const uint64_t rows_end = uint64_t(std::ftell(rows_));
  const int64_t rows = totals_->files;
  const size_t pages = std::max<size_t>(1, page_start_.size());
  std::vector<std::string> written;
  std::vector<char> buf(1 << 16);
  for (size_t page = 0; page < pages; ++page) {
    const std::string path = PagePath(path_, page);
    const std::string tmp = path + ".tmp";
    std::FILE* out = std::fopen(tmp.c_str(), "wb");
    if (!out) return Status::IoError(path + ": cannot open for writing: " + std::strerror(errno));
    Status st = WriteAll(out, path, PageHead(*totals_, info, page, pages, rows, rows_per_page_, path_));
    // The page's rows, copied from the rows file.
    const uint64_t begin = page < page_start_.size() ? page_start_[page] : rows_end;
    const uint64_t end = page + 1 < page_start_.size() ? page_start_[page + 1] : rows_end;
    if (st.ok() && std::fseek(rows_, long(begin), SEEK_SET) != 0)
      st = Status::IoError(rows_path_ + ": cannot read back: " + std::strerror(errno));
    for (uint64_t left = end - begin; st.ok() && left > 0;) {
      const size_t n = std::fread(buf.data(), 1, size_t(std::min<uint64_t>(left, buf.size())), rows_);
      if (n == 0) {
        st = Status::IoError(rows_path_ + ": cannot read back the report's rows");
        break;
      }
      st = WriteAll(out, path, std::string(buf.data(), n));
      left -= n;
    }
    if (st.ok()) st = WriteAll(out, path, PageTail(page, pages, rows, rows_per_page_, path_));
    if (std::fclose(out) != 0 && st.ok()) st = Status::IoError(path + ": write failed: " + std::strerror(errno));
    if (!st.ok()) {
      std::remove(tmp.c_str());
      return st;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) return Status::IoError(path + ": cannot rename " + tmp + ": " + ec.message());
    written.push_back(path);
  }
  std::fseek(rows_, 0, SEEK_END);  // further rows append
  return written;
}

}  // namespace celmatch
