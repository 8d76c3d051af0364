// Generated cartoon-like footage, for the demo and tests where the real
// footage (../shared/footage) is absent. Everything is a pure function of the
// seed, so runs are reproducible.
#pragma once

#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

#include "core/status.h"

namespace celmatch {

// Flat-coloured shapes with dark outlines on a gradient background, fully
// determined by (seed, t). Consecutive t values move the shapes a little,
// like animation; different seeds give unrelated pictures.
cv::Mat SyntheticCartoonFrame(uint32_t seed, double t, int width = 640, int height = 360);

// Writes a video of SyntheticCartoonFrame for t = i / fps, switching to
// another seed (a scene cut) every `shot_s` seconds. Uses OpenCV's FFmpeg
// writer: ".avi" gives MJPEG, anything else MPEG-4 Part 2.
Status WriteSyntheticVideo(const std::string& path, uint32_t seed, double duration_s, double fps,
                           double shot_s = 4.0, int width = 640, int height = 360);

// Writes a small footage tree: DIR/<production>/<episode>.mp4 for
// `productions` productions of `episodes` episodes each, plus
// DIR-distractors/ with unrelated clips (other seeds) that are not to be
// indexed. Returns the distractor folder.
Result<std::string> WriteSyntheticFootage(const std::string& dir, uint32_t seed, int productions, int episodes,
                                          double episode_s);

}  // namespace celmatch
