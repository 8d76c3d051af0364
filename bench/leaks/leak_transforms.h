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

// `bgr`: CV_8UC3, any size. kInvalidArgument for an unknown name.
Result<LeakImage> ApplyLeakTransform(const cv::Mat& bgr, const std::string& name, std::mt19937& rng);

}  // namespace celmatch
