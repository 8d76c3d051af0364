// The damage a leaked still carries, as image transforms for the leak
// simulator: one named transform per family and strength ("crop50",
// "rotate5", "sheet", ...). Each takes a reference frame and returns the
// picture to write and how to encode it.
//
// Deterministic: the random choices (crop position, stroke places, text)
// come from the caller's generator, so a seeded run repeats exactly.
#pragma once

#include <random>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"

namespace celmatch {

struct LeakImage {
  cv::Mat pixels;              // CV_8UC3 BGR, or CV_8UC4 BGRA for "cel_alpha"
  std::string ext;             // ".png" or ".jpg"
  std::vector<int> params;     // cv::imwrite parameters (JPEG quality)
};

// Names of the still transforms, in the order of the families of issue 3.
// (The clip transforms, "clip_lowres" and "clip_crop_flip", are written by
// the simulator itself: they need the whole video, not one frame.)
const std::vector<std::string>& LeakImageTransforms();

// The generalisation families (issue 15): damage our first simulator never
// made, every parameter drawn per file from a range. Another release of the
// same footage ("release_*": a different scan or transfer, an anamorphic SD
// copy, other colour timing, film damage, interlacing, other bars, a
// broadcast copy), line art from other pipelines ("lines_*": Canny on a
// flattened picture, XDoG, adaptive threshold, coloured lines, sketchy
// strokes, a paper scan) and half-size crops ("crop_half*": anywhere, in the
// quietest place, scaled back up). Not in "all", so the leak benchmark's
// figures stay comparable; "generalisation" names them all.
const std::vector<std::string>& LeakGeneralisationTransforms();

// True for the generalisation families held back from tuning: they are only
// scored, never looked at while changing the matcher, so their recall
// predicts that of damage nobody here has written (bench/RESULTS.md states
// the split).
bool LeakTransformHeldBack(const std::string& name);

// `bgr`: CV_8UC3, any size. kInvalidArgument for an unknown name and for
// "release_ntsc" (NtscReleaseFrame: it needs the frames after this one).
Result<LeakImage> ApplyLeakTransform(const cv::Mat& bgr, const std::string& name, std::mt19937& rng);

// "release_ntsc": a frame of an NTSC DVD or broadcast copy of film footage,
// made from `film`, kNtscFilmFrames consecutive decoded frames (CV_8UC3, one
// size): the transfer's framing (1-4% of each side cut), 3:2 pulldown to
// 29.97 frames a second (two of every five video frames weave fields of two
// film frames), anamorphic 720x480 storage,
// MPEG-2 at 2.5-6 Mbit/s through libavcodec (GOP 15, B-frames), then one
// video frame deinterlaced as a player or ripper would (not at all, by
// blending its fields, or by doubling one field) and saved at its storage
// size or its display aspect (4:3 or 16:9), JPEG 75-92. `*shown`: the index
// in `film` of the frame its top field shows (the truth's time).
constexpr size_t kNtscFilmFrames = 4;
Result<LeakImage> NtscReleaseFrame(const std::vector<cv::Mat>& film, std::mt19937& rng, int* shown);

}  // namespace celmatch
