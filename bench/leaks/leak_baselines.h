// Baselines for the leak benchmark: what a user would pick instead of
// celmatch, run on the same reference footage and the same dump so the
// scores sit side by side.
//
//   vPDQ  — PDQ as Meta's vPDQ uses it: one frame per second of each
//           reference video, each query hashed once (no dihedral variants),
//           a frame matches at Hamming distance <= 31, hashes of quality
//           < 50 ignored (vPDQ's quality tolerance), the best frame wins. A
//           video query is hashed at one frame per second too and matches a
//           source when at least half its usable frames match one of the
//           source's frames (vPDQ's query match percentage).
//   pHash — 64-bit DCT pHash (OpenCV img_hash::PHash) of a 32x32 INTER_AREA
//           downscale, on the same reference frames. Every (query, source)
//           pair is reported with its best distance; the operating threshold
//           is the one giving 99.9% precision on the run (chosen by the
//           scorer from the ranking).
//
// In memory, brute-force Hamming search: fine for a benchmark's few thousand
// reference frames, not a product. Lives in bench/, not src/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "index/reference_builder.h"
#include "leaks/leak_score.h"
#include "leaks/leak_simulator.h"
#include "media/media_limits.h"
#include "signatures/pdq_hash.h"

namespace celmatch {

struct BaselineOptions {
  double frame_interval_s = 1.0;    // reference and video-query sampling
  // Every frame of each reference video hashed, not one per frame_interval_s
  // (queries are still sampled at frame_interval_s): PDQ as a user would run
  // it with storage to spare, the strongest hash baseline.
  bool reference_every_frame = false;
  int vpdq_max_distance = 31;       // PDQ bits
  int vpdq_min_quality = 50;        // PDQ quality tolerance
  double vpdq_min_query_match = 0.5;  // share of a clip's frames that must match
  // Sources within this many bits of the best are reported as tied (as
  // celmatch does with MatchOptions::tie_margin, scaled for 64-bit pHash).
  int vpdq_tie_margin = 8;
  int phash_tie_margin = 2;
  int jobs = 1;                     // files in parallel (timings are per file, one core each)
  MediaLimits limits;
};

// 64-bit pHash of a BGR image: cv::resize INTER_AREA to 32x32, then
// img_hash::PHash (DCT of the 32x32 luminance, 8x8 low frequencies vs their
// median).
uint64_t PHash64(const cv::Mat& bgr);

struct BaselineFrame {
  int source_index = -1;
  double time_s = 0;
  PdqResult pdq;
  uint64_t phash = 0;
};

struct BaselineSource {
  std::string production;
  std::string source;
  bool is_still = false;
};

struct BaselineReferences {
  std::vector<BaselineSource> sources;
  std::vector<BaselineFrame> frames;
  double seconds = 0;  // wall time to decode and hash them
};

// Decodes every reference (skipped inputs are left out) and keeps one frame
// per `frame_interval_s` (the first frame at or after each multiple), or the
// still itself.
Result<BaselineReferences> HashBaselineReferences(const std::vector<ReferenceInput>& references,
                                                  const BaselineOptions& options);

struct BaselineRun {
  QueryOutcomes vpdq;
  QueryOutcomes phash;  // unthresholded: score it with the P99.9 threshold
};

// Runs both baselines on every file of `truth` under `dump_dir`. A file that
// cannot be decoded gets status "error" (and counts as not found).
// Each outcome's elapsed_s is the time of decoding plus that method's
// hashing and search on one core.
BaselineRun RunBaselines(const BaselineReferences& refs, const std::string& dump_dir,
                         const std::vector<LeakTruth>& truth, const BaselineOptions& options);

}  // namespace celmatch
