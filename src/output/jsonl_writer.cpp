#include "output/jsonl_writer.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace celmatch {

namespace {

double Round3(double x) { return std::round(x * 1000.0) / 1000.0; }

}  // namespace

nlohmann::json FileResultToJson(const FileResult& r) {
  nlohmann::json j;
  j["file"] = r.file;
  j["kind"] = MediaKindName(r.kind);
  j["status"] = FileStatusName(r.status);
  if (r.status == FileStatus::kError || r.status == FileStatus::kSkipped) j["error"] = r.error;
  if (!r.note.empty()) j["note"] = r.note;
  nlohmann::json matches = nlohmann::json::array();
  for (const Match& m : r.matches) {
    nlohmann::json mj;
    mj["production"] = m.production;
    mj["source"] = m.source;
    if (m.is_still) {
      mj["time"] = nullptr;
      mj["time_span"] = nullptr;
      mj["timecode"] = nullptr;
    } else {
      mj["time"] = Round3(m.time_s);
      mj["time_span"] = {Round3(m.span_start_s), Round3(m.span_end_s)};
      mj["timecode"] = FormatTimecode(m.time_s);
    }
    mj["score"] = Round3(m.score);
    if (m.has_region) {
      mj["region"] = {int(std::lround(m.region[0])), int(std::lround(m.region[1])), int(std::lround(m.region[2])),
                      int(std::lround(m.region[3]))};
    }
    if (m.page > 0) mj["page"] = m.page;
    if (m.has_panel) {
      auto frac = [](double v) { return std::round(v * 1000) / 1000; };
      mj["panel"] = {frac(m.panel[0]), frac(m.panel[1]), frac(m.panel[2]), frac(m.panel[3])};
    }
    nlohmann::json ev;
    ev["frame_id"] = m.evidence.frame_id;
    ev["pdq_distance"] = m.evidence.pdq_distance;
    ev["quality"] = m.evidence.reference_quality;
    ev["query_quality"] = m.evidence.query_quality;
    ev["transform"] = m.evidence.transform;
    if (m.evidence.inliers > 0) {
      ev["inliers"] = m.evidence.inliers;
      ev["inlier_ratio"] = Round3(m.evidence.inlier_ratio);
      ev["features"] = m.evidence.feature_layer;
    }
    if (!m.evidence.found_by.empty()) ev["found_by"] = m.evidence.found_by;
    if (m.evidence.pixel_correlation > 0) ev["pixel_correlation"] = Round3(m.evidence.pixel_correlation);
    if (m.evidence.edge_layout > 0) ev["edge_layout"] = Round3(m.evidence.edge_layout);
    if (m.evidence.line_agreement > 0) ev["line_agreement"] = Round3(m.evidence.line_agreement);
    if (r.kind == MediaKind::kVideo) {
      ev["samples_matched"] = m.evidence.samples_matched;
      ev["samples_total"] = m.evidence.samples_total;
    }
    mj["evidence"] = ev;
    matches.push_back(std::move(mj));
  }
  j["matches"] = std::move(matches);
  if (r.tied_sources > 1) {
    j["ambiguous"] = true;
    j["tied_sources"] = r.tied_sources;
  }
  if (r.kind == MediaKind::kVideo) {
    nlohmann::json segments = nlohmann::json::array();
    for (const Segment& seg : r.segments) {
      nlohmann::json sj;
      sj["query_start"] = Round3(seg.query_start_s);
      sj["query_end"] = Round3(seg.query_end_s);
      sj["production"] = seg.production;
      sj["source"] = seg.source;
      if (seg.is_still) {
        sj["source_start"] = nullptr;
        sj["source_end"] = nullptr;
      } else {
        sj["source_start"] = Round3(seg.source_start_s);
        sj["source_end"] = Round3(seg.source_end_s);
      }
      sj["score"] = Round3(seg.score);
      sj["samples"] = seg.samples;
      segments.push_back(std::move(sj));
    }
    j["segments"] = std::move(segments);
    j["duration"] = Round3(r.duration_s);
  }
  if (!r.sha256.empty()) j["sha256"] = r.sha256;
  j["embedding"] = r.embedding;
  j["elapsed"] = Round3(r.elapsed_s);
  return j;
}

Result<std::unique_ptr<JsonlWriter>> JsonlWriter::Open(const std::string& path, bool append) {
  if (path.empty() || path == "-") return std::unique_ptr<JsonlWriter>(new JsonlWriter(STDOUT_FILENO, false, "stdout"));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (append ? 0 : O_TRUNC), 0644);
  if (fd < 0) return Status::IoError(path + ": cannot open for writing: " + std::strerror(errno));
  return std::unique_ptr<JsonlWriter>(new JsonlWriter(fd, true, path));
}

JsonlWriter::~JsonlWriter() {
  if (owned_) ::close(fd_);
}

Status JsonlWriter::Write(const nlohmann::json& record) {
  // Invalid UTF-8 in file names is replaced, never a reason to lose a line.
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(path_ + ": write failed: " + std::strerror(errno));
    }
    done += size_t(n);
  }
  return Status::Ok();
}

std::string FormatTimecode(double time_s) {
  if (!std::isfinite(time_s) || time_s < 0) time_s = 0;
  long long ms = std::llround(time_s * 1000.0);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%03lld", ms / 3600000, (ms / 60000) % 60, (ms / 1000) % 60,
                ms % 1000);
  return buf;
}

std::string SummaryLine(const FileResult& r) {
  std::string s = FileStatusName(r.status);
  s.resize(9, ' ');
  s += r.file;
  if (r.status == FileStatus::kMatch && !r.matches.empty()) {
    const Match& m = r.matches.front();
    if (m.page > 0) s += " page " + std::to_string(m.page);
    s += " -> " + m.production + " / " + m.source;
    if (!m.is_still) s += " @ " + FormatTimecode(m.time_s);
    char buf[48];
    std::snprintf(buf, sizeof buf, " (score %.2f, pdq %d)", m.score, m.evidence.pdq_distance);
    s += buf;
    if (r.tied_sources > 1) s += " [tied with " + std::to_string(r.tied_sources - 1) + " other sources]";
  } else if (r.status == FileStatus::kError || r.status == FileStatus::kSkipped) {
    s += ": " + r.error;
  } else if (!r.note.empty()) {
    s += " (" + r.note + ")";
  }
  return s;
}

}  // namespace celmatch
