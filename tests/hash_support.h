// Random PDQ codes for index tests: uniform ones, and copies with an exact
// number of bits flipped (a re-encoded leak of a stored frame).
#pragma once

#include <algorithm>
#include <random>
#include <vector>

#include "signatures/pdq_hash.h"

namespace celmatch::testing {

inline PdqHash RandomHash(std::mt19937& rng) {
  PdqHash h;
  for (auto& b : h.bytes) b = uint8_t(rng() & 0xff);
  return h;
}

// `h` with exactly `n` distinct bits flipped.
inline PdqHash FlipBits(PdqHash h, int n, std::mt19937& rng) {
  std::vector<int> bits(256);
  for (int i = 0; i < 256; ++i) bits[size_t(i)] = i;
  std::shuffle(bits.begin(), bits.end(), rng);
  for (int i = 0; i < n; ++i) h.bytes[size_t(bits[size_t(i)] / 8)] ^= uint8_t(1u << (bits[size_t(i)] % 8));
  return h;
}

}  // namespace celmatch::testing
