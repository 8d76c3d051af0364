// Hamming distances between 256-bit binary descriptors (ORB's, 32 bytes):
// one at a time, inline, and one query against a run of descriptors stored
// back to back, the loop of both the visual-word search and the verifier's
// descriptor matching.
//
// The run kernel picks its code once per process: AVX-512 with the
// VPOPCNTDQ extension where the CPU has it (8 descriptors per step: four
// 64-byte loads, XOR, a popcount per 64-bit lane, then the lanes of each
// descriptor summed), otherwise the portable loop of HammingDistance32.
// Both give the same numbers (tests/test_visual_words.cpp);
// bench/RESULTS.md has what each costs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace celmatch {

// Distance of two 32-byte descriptors; inline for the loops of the stages
// compiled with -mpopcnt (hardware popcount).
inline int HammingDistance32(const uint8_t* a, const uint8_t* b) {
  uint64_t x[4], y[4];
  std::memcpy(x, a, sizeof x);
  std::memcpy(y, b, sizeof y);
  return __builtin_popcountll(x[0] ^ y[0]) + __builtin_popcountll(x[1] ^ y[1]) +
         __builtin_popcountll(x[2] ^ y[2]) + __builtin_popcountll(x[3] ^ y[3]);
}

// out[i] = distance of `query` to descriptor i of `codes` (n x 32 bytes,
// back to back), for i < n.
void HammingDistances32(const uint8_t* query, const uint8_t* codes, size_t n, uint16_t* out);

// The same, always the portable loop (to compare the kernels).
void HammingDistances32Portable(const uint8_t* query, const uint8_t* codes, size_t n, uint16_t* out);

// The nearest and second-nearest descriptor of `codes` (n x 32 bytes) to
// `query`: the index of the nearest (the lowest index among equals; -1 when
// n is 0), its distance, and the second-smallest distance of all (equal to
// the nearest when two are at that distance; INT_MAX when n < 2).
struct NearestTwo {
  int index = -1;
  int best = 0x7fffffff;
  int second = 0x7fffffff;
};
NearestTwo HammingNearestTwo32(const uint8_t* query, const uint8_t* codes, size_t n);
NearestTwo HammingNearestTwo32Portable(const uint8_t* query, const uint8_t* codes, size_t n);

// The name of the kernel HammingDistances32 uses here: "avx512-vpopcntdq"
// or "portable".
const char* HammingKernelName();

}  // namespace celmatch
