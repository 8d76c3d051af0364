// IndexParams <-> JSON, as stored in DIR/manifest.json and in the catalog's
// meta table. Unknown keys are ignored (the manifest also holds the hash
// index type and frame count); missing or mistyped keys are corruption.
#include "index/index_params.h"

#include <cmath>

namespace celmatch {

nlohmann::json IndexParams::ToJson() const {
  nlohmann::json j;
  j["format_version"] = format_version;
  j["hash"] = hash;
  j["sampler_change_distance"] = sampler_change_distance;
  j["sampler_max_interval_s"] = sampler_max_interval_s;
  j["sampler_span_hash_distance"] = sampler_span_hash_distance;
  j["thumbnail_max_side"] = thumbnail_max_side;
  j["multihash_min_frames"] = multihash_min_frames;
  j["features"] = features;
  j["feature_max_side"] = feature_max_side;
  j["feature_max_per_frame"] = feature_max_per_frame;
  return j;
}

Result<IndexParams> IndexParams::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::Corrupt("index parameters are not a JSON object");
  IndexParams p;
  try {
    // The version comes first: a newer format may have other fields, and the
    // person running the tool needs to hear about the version, not a field.
    const nlohmann::json& v = j.at("format_version");
    if (!v.is_number_integer()) return Status::Corrupt("format_version is not an integer");
    p.format_version = v.get<int>();
    if (p.format_version > kIndexFormatVersion) {
      return Status::Incompatible("index format " + std::to_string(p.format_version) +
                                  " is newer than this celmatch understands (" +
                                  std::to_string(kIndexFormatVersion) + ")");
    }
    if (p.format_version < kIndexFormatVersion) {
      return Status::Incompatible("index format " + std::to_string(p.format_version) +
                                  " is older than this celmatch understands (" +
                                  std::to_string(kIndexFormatVersion) + "); rebuild the index");
    }
    const nlohmann::json& h = j.at("hash");
    if (!h.is_string()) return Status::Corrupt("hash is not a string");
    p.hash = h.get<std::string>();
    if (p.hash != IndexParams().hash) {
      return Status::Incompatible("index hash '" + p.hash + "' is not supported by this celmatch (only '" +
                                  IndexParams().hash + "')");
    }
    const nlohmann::json& cd = j.at("sampler_change_distance");
    const nlohmann::json& mi = j.at("sampler_max_interval_s");
    const nlohmann::json& ts = j.at("thumbnail_max_side");
    const nlohmann::json& mh = j.at("multihash_min_frames");
    if (!cd.is_number_integer() || !mi.is_number() || !ts.is_number_integer() || !mh.is_number_integer()) {
      return Status::Corrupt("index parameters have a field of the wrong type");
    }
    p.sampler_change_distance = cd.get<int>();
    p.sampler_max_interval_s = mi.get<double>();
    p.thumbnail_max_side = ts.get<int>();
    p.multihash_min_frames = mh.get<long long>();
    // Optional: absent in indexes written before span hashes (none kept).
    p.sampler_span_hash_distance = 0;
    if (j.contains("sampler_span_hash_distance")) {
      const nlohmann::json& sh = j.at("sampler_span_hash_distance");
      if (!sh.is_number_integer()) return Status::Corrupt("sampler_span_hash_distance is not an integer");
      p.sampler_span_hash_distance = sh.get<int>();
    }
    const nlohmann::json& ft = j.at("features");
    const nlohmann::json& fs = j.at("feature_max_side");
    const nlohmann::json& fn = j.at("feature_max_per_frame");
    if (!ft.is_string() || !fs.is_number_integer() || !fn.is_number_integer()) {
      return Status::Corrupt("index parameters have a feature field of the wrong type");
    }
    p.features = ft.get<std::string>();
    if (p.features != IndexParams().features) {
      return Status::Incompatible("index features '" + p.features + "' are not supported by this celmatch (only '" +
                                  IndexParams().features + "')");
    }
    p.feature_max_side = fs.get<int>();
    p.feature_max_per_frame = fn.get<int>();
  } catch (const nlohmann::json::exception& e) {
    return Status::Corrupt(std::string("malformed index parameters: ") + e.what());
  }
  if (p.sampler_change_distance < 0 || p.sampler_change_distance > 256) {
    return Status::Corrupt("sampler_change_distance " + std::to_string(p.sampler_change_distance) +
                           " is outside 0..256");
  }
  if (p.sampler_span_hash_distance < 0 || p.sampler_span_hash_distance > 256) {
    return Status::Corrupt("sampler_span_hash_distance " + std::to_string(p.sampler_span_hash_distance) +
                           " is outside 0..256");
  }
  if (!std::isfinite(p.sampler_max_interval_s) || p.sampler_max_interval_s <= 0) {
    return Status::Corrupt("sampler_max_interval_s must be a positive number");
  }
  if (p.thumbnail_max_side <= 0) return Status::Corrupt("thumbnail_max_side must be positive");
  if (p.multihash_min_frames < 0) return Status::Corrupt("multihash_min_frames must not be negative");
  if (p.feature_max_side <= 0 || p.feature_max_per_frame < 0) {
    return Status::Corrupt("feature_max_side must be positive and feature_max_per_frame not negative");
  }
  return p;
}

bool IndexParams::SameHashing(const IndexParams& other) const {
  return format_version == other.format_version && hash == other.hash &&
         sampler_change_distance == other.sampler_change_distance &&
         sampler_max_interval_s == other.sampler_max_interval_s && features == other.features &&
         feature_max_side == other.feature_max_side && feature_max_per_frame == other.feature_max_per_frame;
}

}  // namespace celmatch
