// Limits applied while decoding untrusted files. A file over a limit fails
// with Status::kLimitExceeded and a message naming the limit; the caller
// reports it and moves on.
#pragma once

#include <cstdint>

namespace celmatch {

struct MediaLimits {
  int64_t max_pixels = 100'000'000;     // width*height of one image or frame
  int64_t max_frames = 500'000;         // decoded frames per file
  double max_decode_wall_s = 600.0;     // wall time spent decoding one file
  int64_t max_file_bytes = 8LL << 30;   // size of the file itself
};

}  // namespace celmatch
