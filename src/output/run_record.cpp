#include "output/run_record.h"

#include <cstdio>

#include "index/embedding_index.h"

namespace celmatch {

nlohmann::json RunRecordToJson(const RunDescription& run, const ReferenceIndex& index, const MatchOptions& options) {
  nlohmann::json r;
  r["schema"] = kResultsSchemaVersion;
  r["celmatch"] = run.version;
  r["started"] = run.started;
  r["inputs"] = run.inputs;
  if (run.resumed) r["resumed"] = true;
  if (!run.shard.empty()) r["shard"] = run.shard;
  r["index"] = {{"path", run.index_dir}, {"frames", index.frame_count()}};
  // The model of the index's vectors, and whether this run used it.
  const EmbeddingIndex* embedding = index.embedding();
  r["embedding"] = {{"model", embedding ? embedding->model().ToJson() : nlohmann::json(nullptr)},
                    {"used", embedding != nullptr && options.embedding != nullptr}};
  r["options"] = {
      {"score_threshold", 0.5},
      {"max_distance", options.max_distance},
      {"min_quality", options.min_quality},
      {"tie_margin", options.tie_margin},
      {"dihedral", options.dihedral},
      {"max_matches", options.max_matches},
      {"early_pdq_distance", options.early_pdq_distance},
      {"early_pdq_min_quality", options.early_pdq_min_quality},
      {"local_features", options.local_features},
      {"panels", options.panels},
      {"min_inliers", options.features.min_inliers},
      {"embedding_min_layout", options.embedding_min_layout},
      {"video_sample_interval_s", options.video_sample_interval_s},
      {"min_video_support", options.min_video_support},
  };
  return {{"celmatch_run", std::move(r)}};
}

bool IsRunRecord(const nlohmann::json& j) {
  return j.is_object() && j.size() == 1 && j.contains("celmatch_run") && j["celmatch_run"].is_object();
}

std::vector<std::pair<std::string, std::string>> RunSettings(const nlohmann::json& run_record) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!IsRunRecord(run_record)) return out;
  const nlohmann::json& r = run_record["celmatch_run"];
  const nlohmann::json o = r.value("options", nlohmann::json::object());
  // A field of another type than written (a hand-edited file) shows as "?".
  auto text = [&](const char* key) -> std::string {
    auto it = o.find(key);
    if (it == o.end() || !it->is_number()) return "?";
    return it->is_number_integer() ? std::to_string(it->get<int64_t>()) : it->dump();
  };
  auto flag = [&](const char* key) { return o.contains(key) && o[key].is_boolean() && o[key].get<bool>(); };
  out.emplace_back("celmatch", r.value("celmatch", std::string("?")));
  out.emplace_back("score threshold", text("score_threshold"));
  out.emplace_back("PDQ distance threshold", text("max_distance") + " of 256 bits");
  out.emplace_back("PDQ minimum quality", text("min_quality"));
  out.emplace_back("tie margin", text("tie_margin") + " bits");
  out.emplace_back("local features",
                   flag("local_features") ? "on, at least " + text("min_inliers") + " inliers" : std::string("off"));
  if (o.contains("panels")) out.emplace_back("panels of a page", flag("panels") ? "matched one by one" : "off");
  const nlohmann::json e = r.value("embedding", nlohmann::json::object());
  Result<EmbeddingModelIdentity> model =
      e.contains("model") ? EmbeddingModelIdentity::FromJson(e["model"]) : Result<EmbeddingModelIdentity>(Status::NotFound(""));
  out.emplace_back("embedding model", model.ok() ? model->ToString() : std::string("none (index built without embeddings)"));
  if (model.ok()) {
    char layout[32];
    const double min_layout = o.contains("embedding_min_layout") && o["embedding_min_layout"].is_number()
                                  ? o["embedding_min_layout"].get<double>()
                                  : 0;
    std::snprintf(layout, sizeof layout, "%.2f", min_layout);
    out.emplace_back("learned embedding", e.value("used", false)
                                              ? "used, edge layout at least " + std::string(layout)
                                              : std::string("not used (--no-embedding)"));
  }
  return out;
}

}  // namespace celmatch
