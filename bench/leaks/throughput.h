// Throughput measurements behind `celmatch bench throughput`: index build
// speed as a ratio to plain FFmpeg decoding of the same footage, and matching
// speed on a dump with a per-stage breakdown. Everything runs on one thread
// so the figures are per core, and each ratio compares runs made in the same
// process one after the other (the machines are shared and noisy).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace celmatch {

struct BuildThroughput {
  int64_t frames_decoded = 0;
  double video_seconds = 0;       // footage duration
  double decode_s = 0;            // decode only (FFmpeg + conversion to BGR), one thread
  double build_s = 0;             // full `index build` of the same footage, one job, one thread
  int64_t reference_frames = 0;
  std::string embedding;          // the model the builds used ("" none)
  // The same with every core: FFmpeg's own decoding threads over each file
  // in turn (what `ffmpeg -i FILE` does), and `index build --jobs cores`.
  int cores = 1;
  double decode_all_s = 0;
  double build_all_s = 0;
};

struct MatchThroughput {
  int files = 0;                  // images and videos matched
  double decode_s = 0;            // decoding the dump (images; videos sampled as the matcher does)
  double pdq_s = 0;               // PDQ + dihedral variants of the decoded pictures
  double match_s = 0;             // full Matcher::MatchFile (decode, hash, search, verify, decide)
  double search_s = 0;            // PDQ search alone (Matcher::MatchHashes on the hashes above)
  double output_s = 0;            // the results as JSON Lines, as `match --out` writes them
  int images = 0, videos = 0;     // files of each kind
  double image_match_s = 0, video_match_s = 0;  // match_s split by kind
  // The same files matched with every PDQ match verified by local features
  // (MatchOptions::early_pdq_distance = -1): the cascade before the early
  // PDQ decision, in the same run.
  double verify_all_match_s = 0;
  // The cascade built up one step at a time on the same files (the fastest
  // of `repeats` passes each): PDQ alone (what PDQ/vPDQ matching does), then
  // with local features, the cel pixel step, the embedding, and last the
  // line-drawing and located-pixel steps (the full match, match_s). A step's
  // cost is its row less the row before.
  struct Stage {
    std::string label;
    double match_s = 0;
  };
  std::vector<Stage> stages;
  std::string embedding;          // the query model the full match used ("" none: the index has no embeddings)
  int decided_early = 0;          // files whose best match carries no inliers at PDQ <= early distance
  int64_t peak_rss_bytes = 0;     // this process's peak resident memory at the end
  int repeats = 1;                // passes of decode and of match; the fastest counts
  double open_s = 0;              // ReferenceIndex::OpenForRead
  double features_load_s = 0;     // ReferenceIndex::LoadFeatures after it
};

// Decodes every video under `footage` once, then builds a temporary index
// of it in `scratch_dir` (removed afterwards) as `index build` does, with the
// default embedding model where it is found; first on one thread, then, when
// `cores` > 1, again on `cores`.
Result<BuildThroughput> MeasureBuildThroughput(const std::vector<std::string>& footage,
                                               const std::string& scratch_dir, int cores);

// Matches every file under `dump` against the index in `index_dir`, timing
// decode and hashing separately first; decode and match each run `repeats`
// times and the fastest pass counts.
Result<MatchThroughput> MeasureMatchThroughput(const std::string& index_dir, const std::vector<std::string>& dump,
                                               int repeats = 3);

std::string FormatThroughput(const BuildThroughput* build, const MatchThroughput* match);

}  // namespace celmatch
