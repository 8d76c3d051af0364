// Leak simulator: writes a labelled dump of frames cut from reference footage
// at random times (not at keyframes), each under an opaque name in nested
// folders, with a ground-truth CSV. Distractor footage (not indexed) goes in
// too and must not match.
//
// Seeded: the same inputs and seed give the same dump.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "index/reference_builder.h"
#include "media/media_limits.h"

namespace celmatch {

struct LeakTruth {
  std::string file;         // relative to the dump folder
  std::string production;   // empty for distractors
  std::string source;
  double time_s = -1;       // true time in the source (a clip's: its first frame's);
                            // -1 for stills and distractors
  std::string transform;    // "png", "jpeg75", "crop50", ..., "clip_lowres", "clip_crop_flip"; "clip" for a
                            // distractor video copied whole
  bool distractor = false;
};

struct LeakDumpOptions {
  uint32_t seed = 1;
  int frames_per_source = 3;              // random times per reference video (one per still)
  std::vector<std::string> transforms = {"png", "jpeg75", "half"};
  int frames_per_distractor = 3;
  bool include_distractor_clips = true;   // the distractor videos themselves
  // A frame this uniform (PDQ quality below it: black, mid-fade) identifies
  // nothing, so the next frame with a picture is cut instead. Matches
  // MatchOptions::min_quality.
  int min_quality = 10;
  MediaLimits limits;
};

// The transforms WriteLeakDump knows: the still transforms of
// leak_transforms.h, "clip_lowres" (3 s re-encoded at 320 px, 8 fps) and
// "clip_crop_flip" (5 s, 64% of the picture, mirrored, 480 px, 8 fps).
const std::vector<std::string>& KnownLeakTransforms();

// Names as given on the command line, with "all" expanded to every known
// transform; kInvalidArgument names an unknown one.
Result<std::vector<std::string>> ExpandLeakTransforms(const std::vector<std::string>& names);

Result<std::vector<LeakTruth>> WriteLeakDump(const std::vector<ReferenceInput>& references,
                                             const std::vector<std::string>& distractor_files,
                                             const std::string& out_dir, const LeakDumpOptions& options);

Status WriteTruthCsv(const std::string& path, const std::vector<LeakTruth>& truth);
Result<std::vector<LeakTruth>> ReadTruthCsv(const std::string& path);

}  // namespace celmatch
