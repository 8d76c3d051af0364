// libFuzzer target: any bytes through the one image loader and PDQ.
// Limits are lowered so that a declared-huge image is refused, not decoded
// (the fuzzer's memory limit would otherwise report it as a leak or OOM).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "media/image_decoder.h"
#include "signatures/pdq_hash.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const celmatch::PdqHasher hasher;
  celmatch::MediaLimits limits;
  limits.max_pixels = 4'000'000;
  limits.max_memory_bytes = 256 << 20;
  const std::vector<uint8_t> bytes(data, data + size);
  cv::Mat alpha;
  celmatch::Result<cv::Mat> img = celmatch::DecodeImageFromBuffer("fuzz-input", bytes, &alpha, limits);
  if (img.ok()) (void)hasher.ComputeDihedral(*img);
  return 0;
}
