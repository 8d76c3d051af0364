// MergeIndexes: see index_merge.h for what it promises.
#include "index/index_merge.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <sstream>

#include "index/feature_index.h"
#include "index/reference_index.h"

namespace fs = std::filesystem;

namespace celmatch {

namespace {

// Rewriting the FAISS file costs its whole size, so saves are spaced
// geometrically (each once the frames added since the last save reach half
// the index), which keeps a merge's writes linear in its output. Crash
// safety does not depend on it: the catalog commits every source, and Open
// repairs a FAISS file that lags.
constexpr int64_t kMinFramesBetweenSaves = 200'000;

bool SameDirectory(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec);
}

}  // namespace

std::string IndexParamsDifference(const IndexParams& a, const IndexParams& b) {
  const nlohmann::json ja = a.ToJson();
  const nlohmann::json jb = b.ToJson();
  std::ostringstream out;
  for (auto it = ja.begin(); it != ja.end(); ++it) {
    const nlohmann::json other = jb.contains(it.key()) ? jb[it.key()] : nlohmann::json();
    if (it.value() == other) continue;
    if (out.tellp() > 0) out << ", ";
    out << it.key() << " " << it.value().dump() << " (other: " << other.dump() << ")";
  }
  for (auto it = jb.begin(); it != jb.end(); ++it) {
    if (ja.contains(it.key())) continue;
    if (out.tellp() > 0) out << ", ";
    out << it.key() << " missing (other: " << it.value().dump() << ")";
  }
  return out.str();
}

Result<MergeReport> MergeIndexes(const std::string& out_dir, const std::vector<std::string>& parts,
                                 const std::function<void(const MergePartReport&)>& on_part) {
  if (parts.empty()) return Status::InvalidArgument("index merge: no part indexes given");

  // Every parameter check happens before the output is touched.
  std::vector<IndexParams> part_params;
  std::vector<std::optional<EmbeddingModelIdentity>> part_models;
  for (const std::string& part : parts) {
    Result<IndexParams> p = ReferenceIndex::ReadParams(part);
    if (!p.ok()) return p.status().WithPrefix("part " + part);
    Result<std::optional<EmbeddingModelIdentity>> m = ReferenceIndex::ReadEmbeddingModel(part);
    if (!m.ok()) return m.status().WithPrefix("part " + part);
    part_models.push_back(*m);
    if (SameDirectory(part, out_dir)) {
      return Status::InvalidArgument("part " + part + " is the output index " + out_dir + " itself");
    }
    part_params.push_back(*p);
  }
  IndexParams params = part_params.front();
  std::optional<EmbeddingModelIdentity> model = part_models.front();
  Result<IndexParams> existing = ReferenceIndex::ReadParams(out_dir);
  if (existing.ok()) {
    params = *existing;
    Result<std::optional<EmbeddingModelIdentity>> m = ReferenceIndex::ReadEmbeddingModel(out_dir);
    if (!m.ok()) return m.status();
    model = *m;
  } else if (existing.status().code() != Status::Code::kNotFound) {
    return existing.status();
  }
  // Embeddings of different models (or none beside some) cannot share one
  // index: the whitening and the queries' model are the index's.
  auto model_name = [](const std::optional<EmbeddingModelIdentity>& m) {
    return m ? "embedding model " + m->ToString() : std::string("no embedding model");
  };
  for (size_t i = 0; i < parts.size(); ++i) {
    if (part_models[i] != model) {
      return Status::Incompatible("part " + parts[i] + " was built with " + model_name(part_models[i]) + ", " +
                                  (existing.ok() ? out_dir : parts.front()) + " with " + model_name(model) +
                                  "; rebuild it with the same model");
    }
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string diff = IndexParamsDifference(part_params[i], params);
    if (!diff.empty()) {
      return Status::Incompatible("part " + parts[i] + " was built with other parameters than " +
                                  (existing.ok() ? out_dir : parts.front()) + ": " + diff +
                                  "; rebuild it with the same celmatch settings");
    }
  }

  Result<std::unique_ptr<ReferenceIndex>> out = ReferenceIndex::OpenForWrite(out_dir, params);
  if (!out.ok()) return out.status();
  ReferenceIndex& index = **out;
  if (model) CELMATCH_RETURN_IF_ERROR(index.SetEmbeddingModel(*model));
  MergeReport report;
  int64_t frames_since_save = 0;

  for (const std::string& part_dir : parts) {
    Result<std::unique_ptr<ReferenceIndex>> opened = ReferenceIndex::OpenForRead(part_dir);
    if (!opened.ok()) return opened.status().WithPrefix("part " + part_dir);
    const ReferenceIndex& part = **opened;
    CELMATCH_RETURN_IF_ERROR(part.LoadFeatures().WithPrefix("part " + part_dir));
    Result<IndexStats> stats = part.Stats();
    if (!stats.ok()) return stats.status();

    std::vector<int64_t> order(size_t(stats->sources));
    for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
    auto key = [&](int64_t id) {
      const SourceRecord& s = part.source(id);
      return std::tie(part.production(s.production_id).name, s.path);
    };
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key(a) < key(b); });

    MergePartReport pr;
    pr.part = part_dir;
    for (int64_t source_id : order) {
      const SourceRecord& s = part.source(source_id);
      Result<bool> present = index.HasSource(s.content_sha256);
      if (!present.ok()) return present.status();
      if (*present) {
        ++pr.sources_present;
        continue;
      }
      SourceToAdd item;
      item.production = part.production(s.production_id).name;
      item.source = s;
      item.source.id = -1;
      item.source.production_id = -1;
      // Catalog (insertion) order, which is what a build of this source
      // would have produced; frames_of_source is sorted by time instead.
      std::vector<int64_t> frame_ids = part.frames_of_source(source_id);
      std::sort(frame_ids.begin(), frame_ids.end());
      for (int64_t fid : frame_ids) {
        FrameRecord f = part.frame(fid);
        f.id = -1;
        f.source_id = -1;
        item.frames.push_back(f);
        const float* embedding = part.embedding() ? part.embedding()->raw(fid) : nullptr;
        item.embeddings.emplace_back();
        if (embedding) item.embeddings.back().assign(embedding, embedding + part.embedding()->dim());
        // The regions' vectors, when the part has all of them.
        item.region_embeddings.emplace_back();
        if (const EmbeddingIndex* regions = part.embedding_regions()) {
          std::vector<float>& rows = item.region_embeddings.back();
          for (int r = 0; r < kRegionsPerFrame; ++r) {
            const float* v = regions->raw(RegionKey(fid, r));
            if (!v) {
              rows.clear();
              break;
            }
            rows.insert(rows.end(), v, v + regions->dim());
          }
        }
        Result<std::vector<uint8_t>> thumb = part.Thumbnail(fid);
        if (!thumb.ok()) return thumb.status().WithPrefix("part " + part_dir);
        item.thumbnails.push_back(std::move(*thumb));
        // Local features travel with their frame, in the same transaction.
        for (int layer = 0; layer < kFeatureLayers; ++layer) {
          const FrameFeaturesView view = part.features(FeatureLayer(layer)).frame(fid);
          if (view.count == 0) continue;
          FrameFeaturesRecord rec;
          rec.frame_id = int64_t(item.frames.size()) - 1;
          rec.layer = layer;
          for (size_t i = 0; i < view.count; ++i) {
            rec.xy.push_back(view.points[i].x);
            rec.xy.push_back(view.points[i].y);
          }
          rec.descriptors.assign(view.descriptors, view.descriptors + view.count * kFeatureBytes);
          item.features.push_back(std::move(rec));
        }
      }
      const int64_t frames = int64_t(item.frames.size());
      CELMATCH_RETURN_IF_ERROR(index.AddSource(std::move(item)));
      ++pr.sources_added;
      pr.frames_added += frames;
      frames_since_save += frames;
      if (frames_since_save >= std::max(kMinFramesBetweenSaves, index.frame_count() / 2)) {
        CELMATCH_RETURN_IF_ERROR(index.Checkpoint());
        frames_since_save = 0;
      }
    }
    report.sources_added += pr.sources_added;
    report.sources_present += pr.sources_present;
    report.frames_added += pr.frames_added;
    report.parts.push_back(pr);
    if (on_part) on_part(pr);
  }
  CELMATCH_RETURN_IF_ERROR(index.Save());
  report.frames_total = index.frame_count();
  return report;
}

}  // namespace celmatch
