// Parameters fixed when an index is created and stored in its manifest.
// Queries must be hashed and sampled the same way, so opening an index whose
// parameters differ from what this build understands fails (kIncompatible).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace celmatch {

// 2: local features (ORB, colour and line layers) per reference frame.
inline constexpr int kIndexFormatVersion = 2;

struct IndexParams {
  int format_version = kIndexFormatVersion;
  std::string hash = "pdq256";          // the only hash of format 1
  // Reference frame selection (see frames/keyframe_sampler.h).
  int sampler_change_distance = 20;     // keep a frame when PDQ moved this far since the last kept one
  double sampler_max_interval_s = 1.0;  // and at least this often
  // Between kept frames, the PDQ hash of a dropped frame is kept too (as a
  // span hash of the kept frame before it) when it moved more than this
  // many bits from the last hash kept; 0 keeps none. Not a hashing
  // parameter: sources added with another value search the same way. An
  // index written before span hashes reads as 0.
  int sampler_span_hash_distance = 8;
  int thumbnail_max_side = 192;         // pixels
  // Above this many frames the hash index is a FAISS IndexBinaryMultiHash,
  // below it an exact flat scan (see bench/bench_index_search.cpp: multihash
  // 16x16/nflip1 is exact to distance 31 and 4-12x faster from 5k frames on;
  // below 10k a flat scan costs < 0.2 ms a query and keeps the file small).
  long long multihash_min_frames = 10'000;
  // Local features of reference frames (signatures/local_features.h): ORB
  // on a copy at most feature_max_side pixels on its longer side, at most
  // feature_max_per_frame keypoints per frame and layer. Queries are
  // described the same way, so these are hashing parameters.
  std::string features = "orb256";      // the only local feature of format 2
  int feature_max_side = 640;
  int feature_max_per_frame = 400;

  nlohmann::json ToJson() const;
  // Fails with kIncompatible for an unknown format_version or hash, kCorrupt
  // for a malformed manifest.
  static Result<IndexParams> FromJson(const nlohmann::json& j);
  // The fields that must agree between an index and a query run.
  bool SameHashing(const IndexParams& other) const;
};

}  // namespace celmatch
