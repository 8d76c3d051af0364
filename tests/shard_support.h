// Comparing the results of sharded runs with unsharded ones (test_shard,
// test_slurm): index contents independent of frame ids, and JSON Lines
// records as sets.
#pragma once

#include <fstream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/file_digest.h"
#include "index/feature_index.h"
#include "index/reference_index.h"

namespace celmatch::testing {

// Everything an index holds, by source (sorted by production and path), with
// no ids in it: two indexes holding the same footage compare equal whatever
// order their sources were added in. Thumbnails appear as digests. An index
// that cannot be opened gives {"error": message}.
inline nlohmann::json IndexContents(const std::string& dir) {
  auto opened = ReferenceIndex::OpenForRead(dir);
  if (!opened.ok()) return {{"error", opened.status().message()}};
  const ReferenceIndex& ix = **opened;
  auto stats = ix.Stats();
  if (!stats.ok()) return {{"error", stats.status().message()}};
  std::vector<std::tuple<std::string, std::string, nlohmann::json>> sources;
  for (int64_t sid = 0; sid < stats->sources; ++sid) {
    const SourceRecord& s = ix.source(sid);
    nlohmann::json j;
    j["production"] = ix.production(s.production_id).name;
    j["path"] = s.path;
    j["sha256"] = s.content_sha256;
    j["size_bytes"] = s.size_bytes;
    j["is_still"] = s.is_still;
    j["duration_s"] = s.duration_s;
    j["width"] = s.width;
    j["height"] = s.height;
    std::vector<int64_t> ids = ix.frames_of_source(sid);
    std::sort(ids.begin(), ids.end());
    nlohmann::json frames = nlohmann::json::array();
    for (int64_t fid : ids) {
      const FrameRecord& f = ix.frame(fid);
      auto thumb = ix.Thumbnail(fid);
      nlohmann::json features = nlohmann::json::array();
      for (int layer = 0; layer < kFeatureLayers; ++layer) {
        const FrameFeaturesView v = ix.features(FeatureLayer(layer)).frame(fid);
        std::string bytes;
        if (v.count > 0) {
          bytes.assign(reinterpret_cast<const char*>(v.points), v.count * sizeof(cv::Point2f));
          bytes.append(reinterpret_cast<const char*>(v.descriptors), v.count * kFeatureBytes);
        }
        features.push_back({{"count", v.count}, {"digest", Sha256Hex(bytes)}});
      }
      nlohmann::json spans = nlohmann::json::array();
      for (const SpanHash& h : f.span_hashes) spans.push_back({h.time_s, h.hash.ToHex()});
      frames.push_back({{"features", features},
                        {"span_hashes", spans},
                        {"time_s", f.time_s},
                        {"span_end_s", f.span_end_s},
                        {"frame_number", f.frame_number},
                        {"quality", f.quality},
                        {"pdq", f.pdq.ToHex()},
                        {"thumbnail", thumb.ok() ? Sha256Hex(std::string(thumb->begin(), thumb->end())) : "?"}});
    }
    j["frames"] = frames;
    sources.emplace_back(j["production"], s.path, j);
  }
  std::sort(sources.begin(), sources.end(),
            [](const auto& a, const auto& b) { return std::tie(std::get<0>(a), std::get<1>(a)) <
                                                     std::tie(std::get<0>(b), std::get<1>(b)); });
  nlohmann::json out = nlohmann::json::array();
  for (auto& s : sources) out.push_back(std::get<2>(s));
  return out;
}

// The records of one or more JSON Lines files as a multiset of canonical JSON
// texts, without "elapsed" (wall time differs between runs) and, with
// `drop_frame_ids`, without evidence.frame_id (ids differ between two
// indexes of the same footage built in another order).
inline std::multiset<std::string> JsonlRecordSet(const std::vector<std::string>& paths, bool drop_frame_ids) {
  std::multiset<std::string> out;
  for (const std::string& path : paths) {
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty()) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) {
        out.insert("unparsable: " + line);
        continue;
      }
      if (j.contains("celmatch_run")) continue;  // each run's own: its time, its shard
      j.erase("elapsed");
      if (drop_frame_ids && j.contains("matches")) {
        for (auto& m : j["matches"])
          if (m.contains("evidence")) m["evidence"].erase("frame_id");
      }
      out.insert(j.dump());
    }
  }
  return out;
}

}  // namespace celmatch::testing
