#include "index/hamming.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define CELMATCH_HAMMING_AVX512 1
#endif

namespace celmatch {

void HammingDistances32Portable(const uint8_t* query, const uint8_t* codes, size_t n, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = uint16_t(HammingDistance32(query, codes + i * 32));
}

namespace {

// Folds one distance into `t` (strictly nearer replaces, so the first of
// equals stays the nearest).
inline void Fold(NearestTwo* t, int d, int index) {
  if (d < t->best) {
    t->second = t->best;
    t->best = d;
    t->index = index;
  } else if (d < t->second) {
    t->second = d;
  }
}

}  // namespace

NearestTwo HammingNearestTwo32Portable(const uint8_t* query, const uint8_t* codes, size_t n) {
  NearestTwo t;
  for (size_t i = 0; i < n; ++i) Fold(&t, HammingDistance32(query, codes + i * 32), int(i));
  return t;
}

#ifdef CELMATCH_HAMMING_AVX512
namespace {

__attribute__((target("avx512f,avx512vpopcntdq"))) void DistancesAvx512(const uint8_t* query, const uint8_t* codes,
                                                                         size_t n, uint16_t* out) {
  // The query twice: one 64-byte register lines up with two descriptors.
  const __m256i q256 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(query));
  const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q256), q256, 1);
  // Lane order after the two summing steps below is descriptors
  // 0,2,1,3,4,6,5,7: this permutation puts them back.
  const __m512i order = _mm512_setr_epi64(0, 2, 1, 3, 4, 6, 5, 7);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint8_t* c = codes + i * 32;
    const __m512i p0 = _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(c)));        // 0 | 1
    const __m512i p1 = _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(c + 64)));   // 2 | 3
    const __m512i p2 = _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(c + 128)));  // 4 | 5
    const __m512i p3 = _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(c + 192)));  // 6 | 7
    // Per 128-bit lane, the sums of adjacent 64-bit counts of two registers:
    // t0 = [0.01 2.01 | 0.23 2.23 | 1.01 3.01 | 1.23 3.23], t1 the same for 4..7.
    const __m512i t0 = _mm512_add_epi64(_mm512_unpacklo_epi64(p0, p1), _mm512_unpackhi_epi64(p0, p1));
    const __m512i t1 = _mm512_add_epi64(_mm512_unpacklo_epi64(p2, p3), _mm512_unpackhi_epi64(p2, p3));
    // Lanes 0 and 2 of each hold the first halves, 1 and 3 the second ones.
    const __m512i lo = _mm512_shuffle_i64x2(t0, t1, _MM_SHUFFLE(2, 0, 2, 0));
    const __m512i hi = _mm512_shuffle_i64x2(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
    const __m512i sums = _mm512_permutexvar_epi64(order, _mm512_add_epi64(lo, hi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi64_epi16(sums));
  }
  for (; i < n; ++i) out[i] = uint16_t(HammingDistance32(query, codes + i * 32));
}

// Eight distances a step as in DistancesAvx512, each lane keeping the
// nearest and second-nearest of the descriptors it saw (i = lane mod 8);
// the lanes are folded together at the end, nearest first, so equals keep
// the lowest index.
__attribute__((target("avx512f,avx512vpopcntdq"))) NearestTwo NearestTwoAvx512(const uint8_t* query,
                                                                                const uint8_t* codes, size_t n) {
  const __m256i q256 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(query));
  const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q256), q256, 1);
  const __m512i order = _mm512_setr_epi64(0, 2, 1, 3, 4, 6, 5, 7);
  const __m512i far = _mm512_set1_epi64(0x7fffffff);
  __m512i best = far, second = far, index = _mm512_set1_epi64(-1);
  __m512i at = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  const __m512i step = _mm512_set1_epi64(8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint8_t* c = codes + i * 32;
    const __m512i p0 = _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(c)));
    const __m512i p1 = _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(c + 64)));
    const __m512i p2 = _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(c + 128)));
    const __m512i p3 = _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(c + 192)));
    const __m512i t0 = _mm512_add_epi64(_mm512_unpacklo_epi64(p0, p1), _mm512_unpackhi_epi64(p0, p1));
    const __m512i t1 = _mm512_add_epi64(_mm512_unpacklo_epi64(p2, p3), _mm512_unpackhi_epi64(p2, p3));
    const __m512i lo = _mm512_shuffle_i64x2(t0, t1, _MM_SHUFFLE(2, 0, 2, 0));
    const __m512i hi = _mm512_shuffle_i64x2(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
    const __m512i d = _mm512_permutexvar_epi64(order, _mm512_add_epi64(lo, hi));
    const __mmask8 nearer = _mm512_cmplt_epi64_mask(d, best);
    // Nearer: the old best becomes second; otherwise second = min(second, d).
    second = _mm512_mask_blend_epi64(nearer, _mm512_min_epi64(second, d), best);
    best = _mm512_mask_blend_epi64(nearer, best, d);
    index = _mm512_mask_blend_epi64(nearer, index, at);
    at = _mm512_add_epi64(at, step);
  }
  alignas(64) int64_t b[8], s[8], x[8];
  _mm512_store_si512(b, best);
  _mm512_store_si512(s, second);
  _mm512_store_si512(x, index);
  NearestTwo t;
  for (int lane = 0; lane < 8; ++lane) {
    if (x[lane] < 0) continue;
    // A lane's nearest, then its second (whose index no longer matters).
    if (b[lane] < t.best || (b[lane] == t.best && x[lane] < t.index)) {
      t.second = t.best;
      t.best = int(b[lane]);
      t.index = int(x[lane]);
    } else if (b[lane] < t.second) {
      t.second = int(b[lane]);
    }
    if (s[lane] < t.second) t.second = int(s[lane]);
  }
  for (; i < n; ++i) Fold(&t, HammingDistance32(query, codes + i * 32), int(i));
  return t;
}

using Kernel = void (*)(const uint8_t*, const uint8_t*, size_t, uint16_t*);

// CPUID and XGETBV directly (GCC's and Clang's __builtin_cpu_supports do
// not both know VPOPCNTDQ): the CPU has AVX-512F and VPOPCNTDQ, and the
// operating system saves the 512-bit registers.
bool HasAvx512Popcount() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
  uint32_t xcr0_lo = 0, xcr0_hi = 0;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 0xE6) != 0xE6) return false;  // SSE, AVX, opmask and ZMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (b & (1u << 16)) && (c & (1u << 14));  // AVX512F, AVX512_VPOPCNTDQ
}

Kernel Choose() { return HasAvx512Popcount() ? DistancesAvx512 : HammingDistances32Portable; }

const Kernel kKernel = Choose();
using NearestTwoKernel = NearestTwo (*)(const uint8_t*, const uint8_t*, size_t);
const NearestTwoKernel kNearestTwo = kKernel == HammingDistances32Portable ? HammingNearestTwo32Portable : NearestTwoAvx512;

}  // namespace

void HammingDistances32(const uint8_t* query, const uint8_t* codes, size_t n, uint16_t* out) {
  kKernel(query, codes, n, out);
}

NearestTwo HammingNearestTwo32(const uint8_t* query, const uint8_t* codes, size_t n) {
  return kNearestTwo(query, codes, n);
}

const char* HammingKernelName() { return kKernel == HammingDistances32Portable ? "portable" : "avx512-vpopcntdq"; }

#else

void HammingDistances32(const uint8_t* query, const uint8_t* codes, size_t n, uint16_t* out) {
  HammingDistances32Portable(query, codes, n, out);
}

NearestTwo HammingNearestTwo32(const uint8_t* query, const uint8_t* codes, size_t n) {
  return HammingNearestTwo32Portable(query, codes, n);
}

const char* HammingKernelName() { return "portable"; }

#endif

}  // namespace celmatch
