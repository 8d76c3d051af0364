#include "output/html_report.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
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
            min_score: p.get('min_score') || '', sort: sorts[p.get('sort')] ? p.get('sort') : 'file'};
  }
  function apply() {
    var s = readState();
    fProduction.value = s.production;
    fStatus.value = s.status;
    fScore.value = s.min_score;
    fSort.value = s.sort;
    var min = parseFloat(s.min_score);
    if (isNaN(min)) min = -Infinity;
    var shown = 0;
    rows.forEach(function (r) {
      var ok = (!s.production || r.dataset.production === s.production) &&
               (!s.status || r.dataset.status === s.status) && parseFloat(r.dataset.score) >= min;
      r.hidden = !ok;
      if (ok) shown++;
    });
    rows.slice().sort(sorts[s.sort]).forEach(function (r) { tbody.appendChild(r); });
    count.textContent = shown + ' of ' + rows.length + ' files shown';
    count.setAttribute('data-visible', String(shown));
    document.body.setAttribute('data-ready', '1');
  }
  function onControl() {
    var p = new URLSearchParams();
    if (fProduction.value) p.set('production', fProduction.value);
    if (fStatus.value) p.set('status', fStatus.value);
    if (fScore.value) p.set('min_score', fScore.value);
    if (fSort.value !== 'file') p.set('sort', fSort.value);
    var h = p.toString();
    if (('#' + h) !== location.hash) location.hash = h;
    apply();
  }
  [fProduction, fStatus, fScore, fSort].forEach(function (c) { c.addEventListener('change', onControl); });
  fScore.addEventListener('input', onControl);
  window.addEventListener('hashchange', apply);
  document.getElementById('controls').hidden = false;
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
.frame .region{position:absolute;box-sizing:border-box;border:3px solid #e8323c;box-shadow:0 0 0 1px #fff}
.nopic{width:180px;height:100px;display:flex;align-items:center;justify-content:center;text-align:center;
 font-size:12px;color:#5b6475;background:repeating-linear-gradient(45deg,#f1f2f5,#f1f2f5 8px,#e8eaee 8px,#e8eaee 16px);border:1px dashed #c4cad6}
.where b{font-size:15px}
.tc{font-family:ui-monospace,Menlo,Consolas,monospace}
.score{font-size:18px;font-weight:700}
.bar{height:4px;background:#eceef2;border-radius:2px;width:120px;margin:2px 0 6px}
.bar i{display:block;height:4px;border-radius:2px;background:#2f8f57}
.reason{color:#9b1c1c}
.others{margin:4px 0 0;padding-left:16px;font-size:12px}
)CSS";

struct SourceSummary {
  int files = 0;
  bool is_still = false;
  double first_s = 1e300, last_s = -1;
};
struct ProductionSummary {
  int files = 0;
  std::map<std::string, SourceSummary> sources;
};

std::string TimeOrStill(const Match& m) {
  return m.is_still ? std::string("still image") : FormatTimecode(m.time_s);
}

void RenderSummary(const std::vector<FileResult>& results, std::string& html) {
  int counts[4] = {0, 0, 0, 0};
  int ambiguous = 0;
  std::map<std::string, ProductionSummary> productions;
  for (const FileResult& r : results) {
    counts[int(r.status)]++;
    if (r.status != FileStatus::kMatch || r.matches.empty()) continue;
    if (r.tied_sources > 1) ++ambiguous;
    const Match& m = r.matches.front();
    ProductionSummary& p = productions[m.production];
    p.files++;
    SourceSummary& s = p.sources[m.source];
    s.files++;
    s.is_still = m.is_still;
    if (!m.is_still) {
      s.first_s = std::min(s.first_s, m.span_start_s);
      s.last_s = std::max(s.last_s, std::max(m.span_end_s, m.time_s));
    }
  }
  html += "<section id=\"summary\"><h2>Summary</h2><div class=\"counts\">";
  html += "<a href=\"#\" data-count=\"all\"><b>" + std::to_string(results.size()) + "</b> files</a>";
  const char* labels[4] = {"matched", "not matched", "errors", "skipped"};
  for (int s = 0; s < 4; ++s) {
    const char* name = FileStatusName(FileStatus(s));
    html += std::string("<a href=\"#status=") + name + "\" class=\"s-" + name + "\" data-count=\"" + name + "\"><b>" +
            std::to_string(counts[s]) + "</b> " + labels[s] + "</a>";
  }
  if (ambiguous)
    html += "<a href=\"#status=match\" data-count=\"ambiguous\"><b>" + std::to_string(ambiguous) +
            "</b> ambiguous (source tied)</a>";
  html += "</div>";
  if (productions.empty()) {
    html += "<p class=\"small\">No file matched a production of the index.</p></section>";
    return;
  }
  html += "<table id=\"productions\"><thead><tr><th>Production</th><th>Files matched</th>"
          "<th>Sources (episodes): files, time range covered</th></tr></thead><tbody>";
  for (const auto& [name, p] : productions) {
    html += "<tr class=\"production\" data-production=\"" + HtmlEscape(name) + "\"><td><a href=\"#production=" +
            FragmentValue(name) + "\">" + HtmlEscape(name) + "</a></td><td>" + std::to_string(p.files) + "</td><td><ul>";
    for (const auto& [source, s] : p.sources) {
      html += "<li>" + HtmlEscape(source) + ": " + std::to_string(s.files) + (s.files == 1 ? " file" : " files");
      if (s.is_still) html += " (still)";
      else if (s.last_s >= 0)
        html += ", <span class=\"tc\">" + FormatTimecode(s.first_s) + "&ndash;" + FormatTimecode(s.last_s) + "</span>";
      html += "</li>";
    }
    html += "</ul></td></tr>";
  }
  html += "</tbody></table></section>";
}

void RenderControls(const std::vector<FileResult>& results, std::string& html) {
  std::set<std::string> names;
  for (const FileResult& r : results)
    if (!r.matches.empty()) names.insert(r.matches.front().production);
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
          "<span id=\"visible-count\"></span></section>";
}

// The evidence that placed `m`, as a sentence: local-feature inliers, cel
// pixels, the edge layout of an embedding proposal, agreeing clip samples,
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
  } else if (e.edge_layout > 0) {
    s = "edge layout agreement " + Fixed(e.edge_layout, 3) + " with the frame the learned embedding proposed";
  } else {
    s = "PDQ: " + std::to_string(e.pdq_distance) + " of 256 bits differ";
  }
  if (e.found_by == "embedding" && e.edge_layout <= 0) s += " (frame proposed by the learned embedding)";
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
      html += "<div class=\"frame\">" + ImgTag(ref.jpeg, "reference frame " + std::to_string(best->evidence.frame_id)) +
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
                std::to_string(m.evidence.pdq_distance) + ")</li>";
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

}  // namespace

void HtmlReport::Add(FileResult result) {
  std::lock_guard<std::mutex> lock(mu_);
  results_.push_back(std::move(result));
}

size_t HtmlReport::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return results_.size();
}

std::string HtmlReport::Render(const ReportRunInfo& info, const ReferencePictureFn& reference) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
          "style-src 'unsafe-inline'; script-src " + CspHash(kScript) + "; base-uri 'none'; form-action 'none'\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta name=\"generator\" content=\"celmatch " + HtmlEscape(info.version) + "\">\n";
  html += "<title>celmatch report</title><style>";
  html += kStyle;
  html += "</style></head>\n<body>\n<header><h1>celmatch report</h1><p class=\"meta\">";
  html += "index " + HtmlEscape(info.index_dir) + " &middot; input";
  for (const std::string& in : info.inputs) html += " " + HtmlEscape(in);
  html += " &middot; " + std::to_string(results_.size()) + " files in " + Fixed(info.elapsed_s, 1) + " s";
  if (!info.generated_at.empty()) html += " &middot; " + HtmlEscape(info.generated_at);
  html += " &middot; celmatch " + HtmlEscape(info.version) + "</p></header>\n<main>\n";
  RenderSummary(results_, html);
  RenderControls(results_, html);
  html += "<section><table id=\"results\"><thead><tr><th>File</th><th>Query</th><th>Reference frame (matched region "
          "outlined)</th><th>Production / source / time</th><th>Score and evidence</th></tr></thead><tbody>\n";
  for (size_t i = 0; i < results_.size(); ++i) RenderRow(results_[i], i, reference, html);
  html += "</tbody></table></section>\n</main>\n<script>";
  html += kScript;
  html += "</script>\n</body></html>\n";
  return html;
}

Status HtmlReport::Write(const std::string& path, const ReportRunInfo& info,
                         const ReferencePictureFn& reference) const {
  const std::string html = Render(info, reference);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Status::IoError(path + ": cannot open for writing: " + std::strerror(errno));
    f.write(html.data(), std::streamsize(html.size()));
    f.close();
    if (!f) return Status::IoError(path + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IoError(path + ": cannot rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

}  // namespace celmatch
