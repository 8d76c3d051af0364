// libFuzzer target: any bytes as a video, sampled as a query is.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "frames/keyframe_sampler.h"
#include "media/video_decoder.h"
#include "signatures/pdq_hash.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const celmatch::PdqHasher hasher;
  celmatch::MediaLimits limits;
  limits.max_pixels = 1'000'000;
  limits.max_frames = 300;
  limits.max_decode_wall_s = 5;
  limits.max_memory_bytes = 256 << 20;
  auto bytes = std::make_shared<const std::vector<uint8_t>>(data, data + size);
  auto dec = celmatch::VideoDecoder::OpenBuffer("fuzz-input", bytes, limits);
  if (!dec.ok()) return 0;
  (void)celmatch::SampleQueryFrames(**dec, hasher, 0.5, 16, 0);
  return 0;
}
