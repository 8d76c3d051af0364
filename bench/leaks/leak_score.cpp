#include "leaks/leak_score.h"
#include "leaks/leak_transforms.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <unordered_set>

#include "output/run_record.h"

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
  into->pairs_reported += s.pairs_reported;
  into->pairs_correct += s.pairs_correct;
  into->pairs_ignored += s.pairs_ignored;
  into->elapsed_sum_s += s.elapsed_sum_s;
  into->elapsed_files += s.elapsed_files;
}

// A string field, or "" when absent or not a string (never throws).
std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

double Num(const nlohmann::json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

bool SameSource(const ReportedMatch& m, const LeakTruth& t) {
  return m.production == t.production && m.source == t.source;
}

// Scores one file's outcome into `s` and adds its pairs to `pairs`.
void ScoreOne(const LeakTruth& t, const QueryOutcome& full, double min_score, TransformScore* s,
              std::vector<ScoredPair>* pairs) {
  // The ranking sees every reported pair.
  for (size_t i = 0; i < full.matches.size(); ++i) {
    const ReportedMatch& m = full.matches[i];
    ++s->pairs_reported;
    if (!t.distractor && SameSource(m, t)) {
      ++s->pairs_correct;
      pairs->push_back({m.score, true});
    } else if (!t.distractor && m.production == t.production && full.tied_sources > 1 &&
               int(i) < full.tied_sources) {
      ++s->pairs_ignored;
    } else {
      pairs->push_back({m.score, false});
    }
  }
  if (full.elapsed_s >= 0) {
    s->elapsed_sum_s += full.elapsed_s;
    ++s->elapsed_files;
  }
  if (full.status == "error") ++s->errors;

  // The decision: matches at the operating threshold.
  std::vector<const ReportedMatch*> kept;
  for (const ReportedMatch& m : full.matches)
    if (m.score >= min_score) kept.push_back(&m);
  if (full.status != "match" || kept.empty()) return;
  // A tie cut by the threshold is only as wide as what is left of it.
  const int tied = kept.size() < full.matches.size() ? std::min(full.tied_sources, int(kept.size()))
                                                     : full.tied_sources;
  if (t.distractor) {
    ++s->distractor_matches;
    return;
  }
  const ReportedMatch* top = kept[0];
  const ReportedMatch* hit = top;
  if (top->production == t.production && top->source != t.source && tied > 1) {
    // Tied sources: right when the truth is among the tied ones, or when
    // more sources tie than are listed and the production is right.
    bool listed = false;
    for (int i = 0; i < tied && i < int(kept.size()); ++i) {
      if (SameSource(*kept[size_t(i)], t)) {
        hit = kept[size_t(i)];
        listed = true;
      }
    }
    if (listed || tied > int(kept.size())) {
      ++s->ambiguous;
      ++s->correct;
      if (!listed) return;
    }
  }
  if (!SameSource(*hit, t)) {
    ++s->wrong;
    return;
  }
  if (hit == top) ++s->correct;
  if (t.time_s >= 0 && hit->has_time) {
    const double err = std::fabs(hit->time_s - t.time_s);
    ++s->time_checked;
    s->time_error_sum_s += err;
    s->time_error_max_s = std::max(s->time_error_max_s, err);
    if (err <= 1.0) ++s->time_within_1s;
    if (hit->has_span && hit->span_start_s <= t.time_s + 1e-3 && t.time_s <= hit->span_end_s + 1e-3) ++s->time_in_span;
  }
}

}  // namespace

Result<QueryOutcomes> ReadMatchOutcomes(const std::string& jsonl_path) {
  std::ifstream f(jsonl_path);
  if (!f) return Status::NotFound(jsonl_path + ": cannot open match output");
  QueryOutcomes out;
  std::string line;
  int lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (IsRunRecord(j)) continue;  // what made the results, not a file's record
    if (j.is_discarded() || !j.is_object() || !j.contains("file") || !j["file"].is_string())
      return Status::Corrupt(jsonl_path + ":" + std::to_string(lineno) + ": not a celmatch record");
    QueryOutcome q;
    q.status = Str(j, "status");
    q.elapsed_s = Num(j, "elapsed", -1);
    if (j.value("ambiguous", false)) q.tied_sources = int(Num(j, "tied_sources", 1));
    auto ms = j.find("matches");
    if (ms != j.end() && ms->is_array()) {
      for (const nlohmann::json& mj : *ms) {
        if (!mj.is_object()) continue;
        ReportedMatch m;
        m.production = Str(mj, "production");
        m.source = Str(mj, "source");
        m.score = Num(mj, "score", 0);
        auto t = mj.find("time");
        if (t != mj.end() && t->is_number()) {
          m.has_time = true;
          m.time_s = t->get<double>();
        }
        auto sp = mj.find("time_span");
        if (sp != mj.end() && sp->is_array() && sp->size() == 2 && (*sp)[0].is_number() && (*sp)[1].is_number()) {
          m.has_span = true;
          m.span_start_s = (*sp)[0].get<double>();
          m.span_end_s = (*sp)[1].get<double>();
        }
        q.matches.push_back(std::move(m));
      }
    }
    out[j["file"].get<std::string>()] = std::move(q);
  }
  return out;
}

RankingScore RankPairs(std::vector<ScoredPair> pairs, int positives) {
  RankingScore r;
  r.positives = positives;
  r.ranked_pairs = int(pairs.size());
  std::sort(pairs.begin(), pairs.end(), [](const ScoredPair& a, const ScoredPair& b) { return a.score > b.score; });
  int tp = 0, fp = 0;
  double prev_recall = 0;
  for (size_t i = 0; i < pairs.size();) {
    // All pairs of one score are one threshold.
    size_t j = i;
    while (j < pairs.size() && pairs[j].score == pairs[i].score) {
      (pairs[j].positive ? tp : fp) += 1;
      ++j;
    }
    const double precision = double(tp) / (tp + fp);
    const double recall = positives ? double(tp) / positives : 0.0;
    r.micro_ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    if (precision >= 0.999 && recall >= r.recall_at_p999) {
      r.p999_reached = true;
      r.recall_at_p999 = recall;
      r.threshold_at_p999 = pairs[i].score;
    }
    i = j;
  }
  r.ranked_positives = tp;
  return r;
}

LeakScore ScoreLeakOutcomes(const std::vector<LeakTruth>& truth, const QueryOutcomes& outcomes, double min_score) {
  LeakScore score;
  std::vector<ScoredPair> pairs;
  int positives = 0;
  for (const LeakTruth& t : truth) {
    TransformScore& s = score.per_transform[t.transform];
    ++s.queries;
    if (!t.distractor) {
      ++s.positives;
      ++positives;
    }
    auto it = outcomes.find(t.file);
    if (it == outcomes.end()) {
      ++s.missing;
      continue;
    }
    ScoreOne(t, it->second, min_score, &s, &pairs);
  }
  for (auto& [name, s] : score.per_transform) Accumulate(&score.total, s);
  score.ranking = RankPairs(std::move(pairs), positives);
  return score;
}

QueryOutcomes KeyByDumpPath(const std::vector<LeakTruth>& truth, QueryOutcomes outcomes) {
  std::unordered_set<std::string> names;
  for (const LeakTruth& t : truth) names.insert(t.file);
  QueryOutcomes out;
  for (auto& [file, q] : outcomes) {
    // `match` names a file by the path it was given ("OUT/dump/x/y.png"); the
    // truth by its path inside the dump ("x/y.png"): the longest suffix at a
    // "/" that the truth holds.
    std::string key = file;
    for (size_t pos = 0; !names.count(key);) {
      pos = file.find('/', pos);
      if (pos == std::string::npos) {
        key = file;
        break;
      }
      key = file.substr(++pos);
    }
    out[key] = std::move(q);
  }
  return out;
}

Result<LeakScore> ScoreLeakRun(const std::vector<LeakTruth>& truth, const std::string& jsonl_path) {
  Result<QueryOutcomes> outcomes = ReadMatchOutcomes(jsonl_path);
  if (!outcomes.ok()) return outcomes.status();
  return ScoreLeakOutcomes(truth, KeyByDumpPath(truth, std::move(*outcomes)));
}

namespace {

double FilesPerSecond(const TransformScore& s) { return s.elapsed_sum_s > 0 ? s.elapsed_files / s.elapsed_sum_s : 0.0; }

const char* kUnrankedNote =
    "Pairs a method did not report count as never retrieved (unranked): µAP and recall are over all\n"
    "non-distractor queries. A pair is positive for the true source; another source of the true\n"
    "production inside a reported tie (shared intros) is left out of the ranking; all else is negative.\n";

}  // namespace

std::string FormatLeakScore(const LeakScore& score) {
  std::string out;
  char buf[320];
  std::snprintf(buf, sizeof buf, "%-18s %7s %9s %8s %7s %9s %6s %11s %9s %9s %10s %7s\n", "transform", "queries",
                "positives", "recall", "prec", "ambiguous", "wrong", "distr.match", "time<=1s", "in_span",
                "mean_err_s", "errors");
  out += buf;
  auto row = [&](const std::string& name, const TransformScore& s) {
    std::snprintf(buf, sizeof buf, "%-18s %7d %9d %7.1f%% %6.1f%% %9d %6d %11d %8.1f%% %8.1f%% %10.3f %7d\n",
                  name.c_str(), s.queries, s.positives, 100.0 * s.recall(), 100.0 * s.precision(), s.ambiguous,
                  s.wrong, s.distractor_matches, s.time_checked ? 100.0 * s.time_within_1s / s.time_checked : 100.0,
                  s.time_checked ? 100.0 * s.time_in_span / s.time_checked : 100.0, s.mean_time_error_s(), s.errors);
    out += buf;
  };
  for (const auto& [name, s] : score.per_transform) row(name, s);
  row("all", score.total);
  const RankingScore& r = score.ranking;
  std::snprintf(buf, sizeof buf, "\nµAP %.4f   recall at 99.9%% precision %s   (%d ranked pairs, %d positives)\n",
                r.micro_ap, r.p999_reached ? (std::to_string(100.0 * r.recall_at_p999).substr(0, 5) + "%").c_str() : "n/a",
                r.ranked_pairs, r.positives);
  out += buf;
  out += kUnrankedNote;
  return out;
}

TransformScore& TransformScore::operator+=(const TransformScore& o) {
  queries += o.queries;
  positives += o.positives;
  correct += o.correct;
  wrong += o.wrong;
  ambiguous += o.ambiguous;
  distractor_matches += o.distractor_matches;
  time_checked += o.time_checked;
  time_within_1s += o.time_within_1s;
  time_in_span += o.time_in_span;
  time_error_sum_s += o.time_error_sum_s;
  time_error_max_s = std::max(time_error_max_s, o.time_error_max_s);
  errors += o.errors;
  missing += o.missing;
  pairs_reported += o.pairs_reported;
  pairs_correct += o.pairs_correct;
  pairs_ignored += o.pairs_ignored;
  elapsed_sum_s += o.elapsed_sum_s;
  elapsed_files += o.elapsed_files;
  return *this;
}

std::string FormatSideBySide(const std::vector<MethodScore>& methods) {
  std::string out;
  char buf[128];
  auto pct = [&](double x) {
    std::snprintf(buf, sizeof buf, "%.1f", 100.0 * x);
    return std::string(buf);
  };
  // Per transform: one group of columns per metric, one column per method.
  out += "| transform | files | pos |";
  for (const char* metric : {"recall %", "precision %", "distractor FP", "time err s"})
    for (const MethodScore& m : methods) out += " " + std::string(metric) + " " + m.name + " |";
  out += "\n|---|---:|---:|";
  for (size_t i = 0; i < 4 * methods.size(); ++i) out += "---:|";
  out += "\n";
  std::vector<std::string> names;
  for (const auto& [name, s] : methods.front().score.per_transform) names.push_back(name);
  // The generalisation families' split (leak_transforms.h): one row for the
  // families tuned on, one for those held back.
  const std::vector<std::string>& general = LeakGeneralisationTransforms();
  auto in_group = [&](const std::string& name, bool held_back) {
    return std::find(general.begin(), general.end(), name) != general.end() && LeakTransformHeldBack(name) == held_back;
  };
  bool any_general = false;
  for (const std::string& n : names) any_general |= in_group(n, false) || in_group(n, true);
  if (any_general) {
    names.push_back("tuned on");
    names.push_back("held back");
  }
  names.push_back("all");
  for (const std::string& name : names) {
    auto get = [&](const MethodScore& m) -> TransformScore {
      if (name == "all") return m.score.total;
      if (name == "tuned on" || name == "held back") {
        TransformScore sum;
        for (const auto& [n, s] : m.score.per_transform)
          if (in_group(n, name == "held back")) sum += s;
        return sum;
      }
      auto it = m.score.per_transform.find(name);
      return it == m.score.per_transform.end() ? TransformScore() : it->second;
    };
    const TransformScore first = get(methods.front());
    const bool summary = name == "all" || name == "tuned on" || name == "held back";
    out += "| " + (summary ? "**" + name + "**" : name) + " | " + std::to_string(first.queries) + " | " +
           std::to_string(first.positives) + " |";
    for (const MethodScore& m : methods) out += " " + (get(m).positives ? pct(get(m).recall()) : "-") + " |";
    for (const MethodScore& m : methods) out += " " + pct(get(m).precision()) + " |";
    for (const MethodScore& m : methods) {
      const TransformScore s = get(m);
      out += " " + (s.queries > s.positives ? std::to_string(s.distractor_matches) + "/" +
                                                  std::to_string(s.queries - s.positives)
                                            : std::string("-")) + " |";
    }
    for (const MethodScore& m : methods) {
      const TransformScore s = get(m);
      std::snprintf(buf, sizeof buf, "%.2f", s.mean_time_error_s());
      out += " " + (s.time_checked ? std::string(buf) : std::string("-")) + " |";
    }
    out += "\n";
  }
  out += "\n| method | operating point | µAP | recall @ P99.9 | score at P99.9 | ranked pairs | pair precision % | files/s per core |\n";
  out += "|---|---|---:|---:|---:|---:|---:|---:|\n";
  for (const MethodScore& m : methods) {
    const RankingScore& r = m.score.ranking;
    char row[512];
    std::snprintf(row, sizeof row, "| %s | %s | %.4f | %s | %s | %d | %.1f | %.1f |\n", m.name.c_str(),
                  m.operating_point.c_str(), r.micro_ap, r.p999_reached ? pct(r.recall_at_p999).c_str() : "n/a",
                  r.p999_reached ? std::to_string(r.threshold_at_p999).substr(0, 5).c_str() : "n/a", r.ranked_pairs,
                  100.0 * m.score.total.pair_precision(), FilesPerSecond(m.score.total));
    out += row;
  }
  out += "\n";
  out += kUnrankedNote;
  return out;
}

nlohmann::json LeakScoreToJson(const LeakScore& score) {
  auto ts = [](const TransformScore& s) {
    nlohmann::json j;
    j["queries"] = s.queries;
    j["positives"] = s.positives;
    j["correct"] = s.correct;
    j["recall"] = s.recall();
    j["precision"] = s.precision();
    j["pair_precision"] = s.pair_precision();
    j["ambiguous"] = s.ambiguous;
    j["wrong"] = s.wrong;
    j["distractor_matches"] = s.distractor_matches;
    j["time_checked"] = s.time_checked;
    j["time_within_1s"] = s.time_within_1s;
    j["time_in_span"] = s.time_in_span;
    j["mean_time_error_s"] = s.mean_time_error_s();
    j["max_time_error_s"] = s.time_error_max_s;
    j["errors"] = s.errors;
    j["missing"] = s.missing;
    j["files_per_s_per_core"] = FilesPerSecond(s);
    return j;
  };
  nlohmann::json j;
  for (const auto& [name, s] : score.per_transform) j["per_transform"][name] = ts(s);
  j["all"] = ts(score.total);
  const RankingScore& r = score.ranking;
  j["micro_ap"] = r.micro_ap;
  j["positives"] = r.positives;
  j["ranked_pairs"] = r.ranked_pairs;
  j["recall_at_p999"] = r.p999_reached ? nlohmann::json(r.recall_at_p999) : nlohmann::json(nullptr);
  j["score_at_p999"] = r.p999_reached ? nlohmann::json(r.threshold_at_p999) : nlohmann::json(nullptr);
  return j;
}

}  // namespace celmatch
