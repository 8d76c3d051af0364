#include "leaks/leak_score.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace celmatch {

namespace {

void Accumulate(TransformScore* into, const TransformScore& s) {
  into->queries += s.queries;
  into->positives += s.positives;
  into->correct += s.correct;
  into->wrong += s.wrong;
  into->ambiguous += s.ambiguous;
  into->distractor_matches += s.distractor_matches;
  into->time_checked += s.time_checked;
  into->time_within_1s += s.time_within_1s;
  into->time_in_span += s.time_in_span;
  into->time_error_sum_s += s.time_error_sum_s;
  into->time_error_max_s = std::max(into->time_error_max_s, s.time_error_max_s);
  into->errors += s.errors;
  into->missing += s.missing;
}

// A string field, or "" when absent or not a string (never throws).
std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<LeakScore> ScoreLeakRun(const std::vector<LeakTruth>& truth, const std::string& jsonl_path) {
  std::ifstream f(jsonl_path);
  if (!f) return Status::NotFound(jsonl_path + ": cannot open match output");
  std::unordered_map<std::string, nlohmann::json> by_file;
  std::string line;
  int lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("file") || !j["file"].is_string())
      return Status::Corrupt(jsonl_path + ":" + std::to_string(lineno) + ": not a celmatch record");
    std::string key = j["file"].get<std::string>();
    by_file[key] = std::move(j);
  }
  LeakScore score;
  for (const LeakTruth& t : truth) {
    TransformScore& s = score.per_transform[t.transform];
    ++s.queries;
    if (!t.distractor) ++s.positives;
    auto it = by_file.find(t.file);
    if (it == by_file.end()) {
      ++s.missing;
      continue;
    }
    const nlohmann::json& j = it->second;
    const std::string status = Str(j, "status");
    if (status == "error") ++s.errors;
    if (status != "match" || !j["matches"].is_array() || j["matches"].empty()) continue;
    const nlohmann::json& m = j["matches"][0];
    if (t.distractor) {
      ++s.distractor_matches;
      continue;
    }
    const nlohmann::json* hit = &m;
    if (Str(m, "production") == t.production && Str(m, "source") != t.source && j.value("ambiguous", false)) {
      // Tied sources: right when the truth is among the tied ones, or when
      // more sources tie than are listed and the production is right.
      const int tied = j.value("tied_sources", 1);
      bool listed = false;
      for (int i = 0; i < tied && i < int(j["matches"].size()); ++i) {
        if (Str(j["matches"][size_t(i)], "source") == t.source) {
          hit = &j["matches"][size_t(i)];
          listed = true;
        }
      }
      if (listed || tied > int(j["matches"].size())) {
        ++s.ambiguous;
        ++s.correct;
        if (!listed) continue;
      }
    }
    if (Str(*hit, "production") != t.production || Str(*hit, "source") != t.source) {
      ++s.wrong;
      continue;
    }
    if (hit == &m) ++s.correct;
    const nlohmann::json& mm = *hit;
    if (t.time_s >= 0 && mm["time"].is_number()) {
      const double err = std::fabs(mm["time"].get<double>() - t.time_s);
      ++s.time_checked;
      s.time_error_sum_s += err;
      s.time_error_max_s = std::max(s.time_error_max_s, err);
      if (err <= 1.0) ++s.time_within_1s;
      if (mm["time_span"].is_array() && mm["time_span"][0].get<double>() <= t.time_s + 1e-3 &&
          t.time_s <= mm["time_span"][1].get<double>() + 1e-3)
        ++s.time_in_span;
    }
  }
  for (auto& [name, s] : score.per_transform) Accumulate(&score.total, s);
  return score;
}

std::string FormatLeakScore(const LeakScore& score) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-12s %7s %9s %8s %9s %6s %11s %9s %9s %10s %7s\n", "transform", "queries",
                "positives", "recall", "ambiguous", "wrong", "distr.match", "time<=1s", "in_span", "mean_err_s", "errors");
  out += buf;
  auto row = [&](const std::string& name, const TransformScore& s) {
    std::snprintf(buf, sizeof buf, "%-12s %7d %9d %7.1f%% %9d %6d %11d %8.1f%% %8.1f%% %10.3f %7d\n", name.c_str(),
                  s.queries, s.positives, s.positives ? 100.0 * s.correct / s.positives : 0.0, s.ambiguous, s.wrong,
                  s.distractor_matches,
                  s.time_checked ? 100.0 * s.time_within_1s / s.time_checked : 100.0,
                  s.time_checked ? 100.0 * s.time_in_span / s.time_checked : 100.0,
                  s.time_checked ? s.time_error_sum_s / s.time_checked : 0.0, s.errors);
    out += buf;
  };
  for (const auto& [name, s] : score.per_transform) row(name, s);
  row("all", score.total);
  return out;
}

}  // namespace celmatch
