#include "output/jsonl_reader.h"

namespace celmatch {
namespace {

// Reads the optional field `key` of `j` into `*out` when present and of the
// type of `*out`; a field of another type is an error, a null one is absent.
template <typename T>
bool Get(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  try {
    *out = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

bool ReadMatch(const nlohmann::json& mj, Match* m) {
  if (!mj.is_object()) return false;
  bool ok = Get(mj, "production", &m->production) && Get(mj, "source", &m->source) && Get(mj, "score", &m->score);
  auto t = mj.find("time");
  m->is_still = t == mj.end() || t->is_null();
  if (!m->is_still) {
    ok = ok && Get(mj, "time", &m->time_s);
    auto span = mj.find("time_span");
    if (span != mj.end() && span->is_array() && span->size() == 2 && (*span)[0].is_number() && (*span)[1].is_number()) {
      m->span_start_s = (*span)[0].get<double>();
      m->span_end_s = (*span)[1].get<double>();
    }
  }
  auto region = mj.find("region");
  if (region != mj.end() && region->is_array() && region->size() == 4) {
    m->has_region = true;
    for (size_t i = 0; i < 4; ++i) m->region[i] = (*region)[i].is_number() ? (*region)[i].get<double>() : 0.0;
  }
  if (auto page = mj.find("page"); page != mj.end() && page->is_number_integer()) m->page = page->get<int>();
  auto panel = mj.find("panel");
  if (panel != mj.end() && panel->is_array() && panel->size() == 4) {
    m->has_panel = true;
    for (size_t i = 0; i < 4; ++i) m->panel[i] = (*panel)[i].is_number() ? (*panel)[i].get<double>() : 0.0;
  }
  auto ev = mj.find("evidence");
  if (ev != mj.end() && ev->is_object()) {
    MatchEvidence& e = m->evidence;
    ok = ok && Get(*ev, "frame_id", &e.frame_id) && Get(*ev, "pdq_distance", &e.pdq_distance) &&
         Get(*ev, "quality", &e.reference_quality) && Get(*ev, "query_quality", &e.query_quality) &&
         Get(*ev, "transform", &e.transform) && Get(*ev, "inliers", &e.inliers) &&
         Get(*ev, "inlier_ratio", &e.inlier_ratio) && Get(*ev, "features", &e.feature_layer) &&
         Get(*ev, "found_by", &e.found_by) && Get(*ev, "pixel_correlation", &e.pixel_correlation) &&
         Get(*ev, "edge_layout", &e.edge_layout) &&
         Get(*ev, "line_agreement", &e.line_agreement) && Get(*ev, "samples_matched", &e.samples_matched) &&
         Get(*ev, "samples_total", &e.samples_total);
  }
  return ok;
}

bool ReadSegment(const nlohmann::json& sj, Segment* s) {
  if (!sj.is_object()) return false;
  auto start = sj.find("source_start");
  s->is_still = start == sj.end() || start->is_null();
  return Get(sj, "query_start", &s->query_start_s) && Get(sj, "query_end", &s->query_end_s) &&
         Get(sj, "production", &s->production) && Get(sj, "source", &s->source) &&
         Get(sj, "source_start", &s->source_start_s) && Get(sj, "source_end", &s->source_end_s) &&
         Get(sj, "score", &s->score) && Get(sj, "samples", &s->samples);
}

}  // namespace

Result<FileResult> FileResultFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("file") || !j["file"].is_string()) {
    return Status::Corrupt("not a celmatch record (no \"file\")");
  }
  FileResult r;
  r.file = j["file"].get<std::string>();
  std::string kind, status;
  bool ok = Get(j, "kind", &kind) && Get(j, "status", &status) && Get(j, "error", &r.error) &&
            Get(j, "note", &r.note) && Get(j, "tied_sources", &r.tied_sources) &&
            Get(j, "duration", &r.duration_s) && Get(j, "elapsed", &r.elapsed_s) &&
            Get(j, "embedding", &r.embedding) && Get(j, "sha256", &r.sha256);
  r.kind = kind == "image"      ? MediaKind::kImage
           : kind == "video"    ? MediaKind::kVideo
           : kind == "document" ? MediaKind::kDocument
                                : MediaKind::kOther;
  if (status == "match") r.status = FileStatus::kMatch;
  else if (status == "no_match") r.status = FileStatus::kNoMatch;
  else if (status == "error") r.status = FileStatus::kError;
  else if (status == "skipped") r.status = FileStatus::kSkipped;
  else ok = false;
  if (auto ms = j.find("matches"); ok && ms != j.end() && ms->is_array()) {
    for (const nlohmann::json& mj : *ms) {
      Match m;
      ok = ok && ReadMatch(mj, &m);
      r.matches.push_back(std::move(m));
    }
  }
  if (auto ss = j.find("segments"); ok && ss != j.end() && ss->is_array()) {
    for (const nlohmann::json& sj : *ss) {
      Segment s;
      ok = ok && ReadSegment(sj, &s);
      r.segments.push_back(std::move(s));
    }
  }
  if (!ok) return Status::Corrupt(r.file + ": a field of its record has the wrong type");
  return r;
}

}  // namespace celmatch
