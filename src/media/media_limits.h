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
  int64_t max_pages = 1'000;            // pages of a document matched (later ones are named
                                        // in the record's note, not matched)
  double max_decode_wall_s = 600.0;     // wall time spent decoding one file
  int64_t max_file_bytes = 8LL << 30;   // size of the file itself
  // Memory one file's decoding may need, estimated before the pixels are
  // decoded (see EstimateImageMemory / EstimateVideoMemory): an estimate, not
  // an accounting of every allocation, so that a hostile header is refused
  // before it costs anything. The default admits a max_pixels image.
  int64_t max_memory_bytes = 2LL << 30;
};

// The checks every decoder applies, so that the messages read alike:
// "x.png: 100000x100000 = 1e10 pixels exceeds the limit of 1e8 (max_pixels)".
// Both return OK or kLimitExceeded with `path` in the message.
Status CheckPixelLimit(const std::string& path, int64_t width, int64_t height,
                       const MediaLimits& limits);
Status CheckFileSizeLimit(const std::string& path, int64_t file_bytes, const MediaLimits& limits);

// Bytes a still image of width x height needs while decoding: the encoded
// file, the decoder's raw output at up to 16-bit RGBA (8 bytes a pixel), the
// 8-bit BGR result and the alpha plane.
int64_t EstimateImageMemory(int64_t width, int64_t height, int64_t file_bytes);
// Bytes a video decoder holds: `frame_bytes` (one decoded frame in the
// codec's pixel format) times the frames it keeps (references, reordering
// delay, the frame being decoded and the one handed out), plus the BGR copy.
int64_t EstimateVideoMemory(int64_t width, int64_t height, int64_t frame_bytes, int buffered_frames);
// kLimitExceeded naming max_memory_bytes when `estimate_bytes` is over it.
Status CheckMemoryLimit(const std::string& path, int64_t estimate_bytes, const MediaLimits& limits);

}  // namespace celmatch
