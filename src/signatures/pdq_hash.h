// PDQ: Meta's 256-bit perceptual hash with its quality score.
//
// Steps, as the published algorithm names them (pdq_hash.cpp follows this
// order): luminance -> Jarosz tent-filter downsampling to 64x64 -> 16x16 DCT
// (the 16 lowest non-DC frequencies) -> threshold at the median -> 256 bits.
// Quality (0..100) measures how much gradient the 64x64 image has; hashes of
// flat images (quality < ~50) are unreliable for matching.
//
// Compatible with Meta's reference implementation: images larger than 512 px
// on a side are first resized to 512x512 (nearest neighbour), as the
// reference does, so hashes agree with its output.
//
// Thread-safe: PdqHasher holds only constant tables.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

#include "core/status.h"

namespace celmatch {

// 256 bits in the byte order of the reference's hex form: bytes[0] is the
// first two hex digits of ToHex(). This is also the code layout stored in
// FAISS binary indexes.
struct PdqHash {
  std::array<uint8_t, 32> bytes{};

  std::string ToHex() const;                       // 64 lowercase hex digits
  static Result<PdqHash> FromHex(const std::string& hex);
  int Distance(const PdqHash& other) const;        // Hamming distance, 0..256
  bool operator==(const PdqHash& o) const { return bytes == o.bytes; }
};

struct PdqResult {
  PdqHash hash;
  int quality = 0;  // 0..100
};

// The hash of a video frame that was not kept as a reference frame, at its
// time: the kept frame before it stands for it (frames/keyframe_sampler.h).
struct SpanHash {
  double time_s = 0;
  PdqHash hash;
};

// The 8 dihedral transforms in the order Meta's reference prints them.
enum class Dihedral {
  kOriginal = 0, kRotate90, kRotate180, kRotate270,
  kFlipX, kFlipY, kFlipPlus1, kFlipMinus1,
};

class PdqHasher {
 public:
  PdqHasher();

  // `image`: CV_8UC3 BGR or CV_8UC1 luminance, any size >= 1x1.
  PdqResult Compute(const cv::Mat& image) const;

  // All 8 dihedral variants, indexed by Dihedral, computed from one DCT
  // (no image is rotated): result[0] equals Compute(image).
  std::array<PdqResult, 8> ComputeDihedral(const cv::Mat& image) const;

  // Steps, exposed for tests and for callers that already have luminance.
  // Luminance (0..255 floats, 0.299R + 0.587G + 0.114B) of a BGR image.
  static cv::Mat Luminance(const cv::Mat& image);

 private:
  std::array<float, 16 * 64> dct_;  // 16x64 DCT matrix, row-major
};

}  // namespace celmatch
