// Limits applied while decoding untrusted files. A file over a limit fails
// with Status::kLimitExceeded and a message naming the limit; the caller
// reports it and moves on.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace celmatch {

struct MediaLimits {
  int64_t max_pixels = 100'000'000;     // width*height of one image or frame
  int64_t max_frames = 500'000;         // decoded frames per file
  double max_decode_wall_s = 600.0;     // wall time spent decoding one file
  int64_t max_file_bytes = 8LL << 30;   // size of the file itself
};

// The checks every decoder applies, so that the messages read alike:
// "x.png: 100000x100000 = 1e10 pixels exceeds the limit of 1e8 (max_pixels)".
// Both return OK or kLimitExceeded with `path` in the message.
Status CheckPixelLimit(const std::string& path, int64_t width, int64_t height,
                       const MediaLimits& limits);
Status CheckFileSizeLimit(const std::string& path, int64_t file_bytes, const MediaLimits& limits);

}  // namespace celmatch
