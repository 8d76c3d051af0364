// PDQ, in the order of the published algorithm: (0) the reference's 512x512
// pre-shrink, (1) luminance, (2) Jarosz tent filter and decimation to 64x64,
// (3) quality metric, (4) 16x16 DCT, (5) median threshold to 256 bits, and
// the dihedral variants derived from the DCT.
//
// Bit-compatibility with Meta's reference is the main design constraint: a
// DCT coefficient lying close to the median flips a bit after the smallest
// rounding change, so every float expression below is evaluated in the same
// order and precision as the reference's (running box sums, division by the
// window count, k-ascending DCT accumulation). Speed comes from vectorising
// *across* independent lines rather than reordering arithmetic within one.
// Note: a build that contracts the DCT's multiply-adds into FMAs (-march with
// FMA and GCC's default -ffp-contract=fast) rounds differently and can cost
// exact equality, not closeness.

#include "signatures/pdq_hash.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

namespace celmatch {
namespace {

// The reference's I/O shrinks anything larger than this on either side to
// exactly this square (aspect ratio is not kept), before any filtering.
constexpr int kPreshrinkDim = 512;
// The reference returns an all-zero hash of quality 0 below this size.
constexpr int kMinHashableDim = 5;
constexpr int kDownsampleDim = 64;
constexpr int kDctDim = 16;
constexpr int kJaroszPasses = 2;

// Explicit SIMD through the GCC/Clang vector extension: it is lowered to
// whatever the target has (4 SSE registers on baseline x86-64), and does not
// depend on the auto-vectoriser, which at -O2 skips loops of runtime length.
// Element-wise IEEE operations, so results are identical to scalar code.
typedef float F16 __attribute__((vector_size(64)));
typedef float F4 __attribute__((vector_size(16)));
constexpr int kLanes = 16;

// Vectors are passed by reference: a 64-byte vector by value would have an
// ABI that depends on the target flags (GCC warns), even in internal helpers.
template <typename T>
inline void LoadTo(T& v, const void* p) {
  std::memcpy(&v, p, sizeof v);
}
template <typename T>
inline void Store(float* p, const T& v) {
  std::memcpy(p, &v, sizeof v);
}

#if defined(__clang__)
#define CELMATCH_SHUFFLE4(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
typedef int I4 __attribute__((vector_size(16)));
#define CELMATCH_SHUFFLE4(a, b, i, j, k, l) __builtin_shuffle(a, b, I4{i, j, k, l})
#endif

// Transposes the 4x4 block at src (row stride ss) into dst (row stride ds).
inline void Transpose4x4(const float* src, size_t ss, float* dst, size_t ds) {
  F4 a, b, c, d;
  LoadTo(a, src), LoadTo(b, src + ss), LoadTo(c, src + 2 * ss), LoadTo(d, src + 3 * ss);
  const F4 ab_lo = CELMATCH_SHUFFLE4(a, b, 0, 4, 1, 5), ab_hi = CELMATCH_SHUFFLE4(a, b, 2, 6, 3, 7);
  const F4 cd_lo = CELMATCH_SHUFFLE4(c, d, 0, 4, 1, 5), cd_hi = CELMATCH_SHUFFLE4(c, d, 2, 6, 3, 7);
  Store(dst, CELMATCH_SHUFFLE4(ab_lo, cd_lo, 0, 1, 4, 5));
  Store(dst + ds, CELMATCH_SHUFFLE4(ab_lo, cd_lo, 2, 3, 6, 7));
  Store(dst + 2 * ds, CELMATCH_SHUFFLE4(ab_hi, cd_hi, 0, 1, 4, 5));
  Store(dst + 3 * ds, CELMATCH_SHUFFLE4(ab_hi, cd_hi, 2, 3, 6, 7));
}

// Per-thread scratch, so that hashing every decoded frame does not allocate.
struct Scratch {
  std::vector<float> a, b, compact, sums;
  std::vector<int> col_index, row_index;    // pre-shrink sources
  std::vector<int> keep_cols, keep_rows;    // decimation sources
  alignas(64) float strip_in[kPreshrinkDim * kLanes];
  alignas(64) float strip_out[kPreshrinkDim * kLanes];
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// ---------------------------------------------------------------------------
// (0)+(1) Pre-shrink and luminance, fused: only the pixels that nearest
// neighbour keeps are converted.

// CImg's nearest-neighbour resize (the reference's default) reads source
// index floor(i * old / new); computed in integers so it is exact.
void NearestIndex(int old_dim, int new_dim, std::vector<int>& index) {
  index.resize(new_dim);
  for (int i = 0; i < new_dim; ++i) index[i] = int(int64_t(i) * old_dim / new_dim);
}

// The reference's luminance is 0.299f*R + 0.587f*G + 0.114f*B in float,
// summed in that order (cv::cvtColor sums B first and rounds differently).
// Each product depends on one byte, so it comes from a table holding exactly
// the float the reference computes; only the two additions remain per pixel.
struct LumaTables {
  float r[256], g[256], b[256], grey[256];
  constexpr LumaTables() : r(), g(), b(), grey() {
    for (int v = 0; v < 256; ++v) {
      r[v] = 0.299f * float(v);
      g[v] = 0.587f * float(v);
      b[v] = 0.114f * float(v);
      grey[v] = float(v);
    }
  }
};
constexpr LumaTables kLuma;

// Writes rows x cols luminance into `out`; false for unsupported Mat types.
// `channels` is a template argument so the pixel stride is a constant.
template <int kChannels>
void FillLumaRows(const cv::Mat& image, int rows, int cols, const int* row_index,
                  const int* col_index, float* out) {
  for (int y = 0; y < rows; ++y) {
    const uint8_t* src = image.ptr<uint8_t>(row_index ? row_index[y] : y);
    float* dst = out + size_t(y) * cols;
    for (int x = 0; x < cols; ++x) {
      const uint8_t* px = src + size_t(col_index ? col_index[x] : x) * kChannels;
      if constexpr (kChannels == 1) {
        dst[x] = kLuma.grey[px[0]];
      } else {  // BGR(A)
        dst[x] = kLuma.r[px[2]] + kLuma.g[px[1]] + kLuma.b[px[0]];
      }
    }
  }
}

bool FillLuma(const cv::Mat& image, int rows, int cols, Scratch& s, float* out) {
  if (image.depth() != CV_8U) return false;
  const bool resized = rows != image.rows || cols != image.cols;
  if (resized) {
    NearestIndex(image.cols, cols, s.col_index);
    NearestIndex(image.rows, rows, s.row_index);
  }
  const int* ri = resized ? s.row_index.data() : nullptr;
  const int* ci = resized ? s.col_index.data() : nullptr;
  switch (image.channels()) {
    case 1: FillLumaRows<1>(image, rows, cols, ri, ci, out); return true;
    case 3: FillLumaRows<3>(image, rows, cols, ri, ci, out); return true;
    case 4: FillLumaRows<4>(image, rows, cols, ri, ci, out); return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// (2) Jarosz tent filter: two rounds of (box along rows, box along columns),
// each box a running mean over a window of about old/(2*64) pixels, then
// point decimation at the 64 block centres.

int JaroszWindow(int old_dim, int new_dim) {
  return (old_dim + 2 * new_dim - 1) / (2 * new_dim);
}

// Box-filters 16 independent lines side by side, one per lane. Element t of
// the lines starts at in + t * stride. The window is clipped at the ends and
// the mean taken over what remains; the running sum adds the entering sample
// before subtracting the leaving one, as the reference does, so the rounding
// matches it bit for bit.
void BoxLines(const float* in, float* out, int length, ptrdiff_t stride, int window) {
  const int half = (window + 2) / 2;
  F16 sum{}, x;
  int count = 0;
  const float* ri = in;
  const float* li = in;
  float* oi = out;
  for (int p = 0; p < half - 1; ++p, ri += stride, ++count) {
    LoadTo(x, ri);
    sum += x;
  }
  for (int p = 0; p < window - half + 1; ++p, ri += stride, oi += stride) {
    ++count;
    LoadTo(x, ri);
    sum += x;
    Store(oi, sum / float(count));
  }
  for (int p = 0; p < length - window; ++p, ri += stride, li += stride, oi += stride) {
    LoadTo(x, ri);
    sum += x;
    LoadTo(x, li);
    sum -= x;
    Store(oi, sum / float(count));
  }
  for (int p = 0; p < half - 1; ++p, li += stride, oi += stride) {
    --count;
    LoadTo(x, li);
    sum -= x;
    Store(oi, sum / float(count));
  }
}

// One step of the running sums of all columns at once: add row `add`,
// subtract row `sub` and write the means to `out` (each optional). Walking
// whole rows keeps memory access sequential, which matters more here than
// the extra load and store of the sums.
template <bool kAdd, bool kSub, bool kOut>
void ColumnStep(float* sum, int cols, const float* add, const float* sub, float* out, int count) {
  const float n = float(count);
  int c = 0;
  for (; c + kLanes <= cols; c += kLanes) {
    F16 v, x;
    LoadTo(v, sum + c);
    if (kAdd) LoadTo(x, add + c), v += x;
    if (kSub) LoadTo(x, sub + c), v -= x;
    Store(sum + c, v);
    if (kOut) Store(out + c, v / n);
  }
  for (; c < cols; ++c) {
    if (kAdd) sum[c] += add[c];
    if (kSub) sum[c] -= sub[c];
    if (kOut) out[c] = sum[c] / n;
  }
}

// Box along each column of a rows x cols image: the phases of BoxLines, with
// every column a lane.
void BoxAlongCols(const float* in, float* out, int rows, int cols, int window, Scratch& s) {
  s.sums.assign(cols, 0.0f);
  float* sum = s.sums.data();
  const int half = (window + 2) / 2;
  const size_t stride = cols;
  int ri = 0, li = 0, oi = 0, count = 0;
  for (int p = 0; p < half - 1; ++p, ++ri)
    ColumnStep<true, false, false>(sum, cols, in + ri * stride, nullptr, nullptr, ++count);
  for (int p = 0; p < window - half + 1; ++p, ++ri, ++oi)
    ColumnStep<true, false, true>(sum, cols, in + ri * stride, nullptr, out + oi * stride, ++count);
  for (int p = 0; p < rows - window; ++p, ++ri, ++li, ++oi)
    ColumnStep<true, true, true>(sum, cols, in + ri * stride, in + li * stride, out + oi * stride,
                                 count);
  for (int p = 0; p < half - 1; ++p, ++li, ++oi)
    ColumnStep<false, true, true>(sum, cols, nullptr, in + li * stride, out + oi * stride, --count);
}

// Box along each row of a rows x cols image: kLanes rows at a time are
// transposed into a strip so that their running sums advance in SIMD lanes.
// `keep` (optional) lists the only output columns the caller needs; they are
// written densely, rows x keep.size().
void BoxAlongRows(const float* in, float* out, int rows, int cols, int window,
                  const std::vector<int>* keep, Scratch& s) {
  for (int r0 = 0; r0 < rows; r0 += kLanes) {
    const int n = std::min(kLanes, rows - r0);
    const int c4 = n == kLanes ? cols / 4 * 4 : 0;  // columns moved as 4x4 blocks
    for (int c = 0; c < c4; c += 4)
      for (int l = 0; l < kLanes; l += 4)
        Transpose4x4(in + size_t(r0 + l) * cols + c, cols, s.strip_in + c * kLanes + l, kLanes);
    for (int l = 0; l < n; ++l) {
      const float* src = in + size_t(r0 + l) * cols;
      for (int c = c4; c < cols; ++c) s.strip_in[c * kLanes + l] = src[c];
    }
    // Lanes past the last row are zero-filled (their results are dropped) so
    // that no lane computes on uninitialised memory.
    for (int c = 0; n < kLanes && c < cols; ++c)
      for (int l = n; l < kLanes; ++l) s.strip_in[c * kLanes + l] = 0.0f;
    BoxLines(s.strip_in, s.strip_out, cols, kLanes, window);
    if (keep == nullptr) {
      for (int c = 0; c < c4; c += 4)
        for (int l = 0; l < kLanes; l += 4)
          Transpose4x4(s.strip_out + c * kLanes + l, kLanes, out + size_t(r0 + l) * cols + c, cols);
      for (int l = 0; l < n; ++l) {
        float* dst = out + size_t(r0 + l) * cols;
        for (int c = c4; c < cols; ++c) dst[c] = s.strip_out[c * kLanes + l];
      }
    } else {
      const int k = int(keep->size());
      for (int l = 0; l < n; ++l) {
        float* dst = out + size_t(r0 + l) * k;
        for (int c = 0; c < k; ++c) dst[c] = s.strip_out[(*keep)[c] * kLanes + l];
      }
    }
  }
}

// The reference decimates at block centres: index floor((i + 0.5) * old / 64)
// in double.
void DecimationIndex(int old_dim, std::vector<int>& index) {
  index.resize(kDownsampleDim);
  for (int i = 0; i < kDownsampleDim; ++i)
    index[i] = int(((i + 0.5) * old_dim) / kDownsampleDim);
}

// Luminance (rows x cols, in s.a) to the 64x64 buffer.
void JaroszDownsample(int rows, int cols, Scratch& s, float* out64) {
  if (rows == kDownsampleDim && cols == kDownsampleDim) {
    // The reference hashes an already-64x64 luma as is (video pipelines
    // downscale with ffmpeg first); filtering would change its rounding.
    std::memcpy(out64, s.a.data(), sizeof(float) * kDownsampleDim * kDownsampleDim);
    return;
  }
  const int window_along_rows = JaroszWindow(cols, kDownsampleDim);
  const int window_along_cols = JaroszWindow(rows, kDownsampleDim);
  DecimationIndex(cols, s.keep_cols);
  DecimationIndex(rows, s.keep_rows);

  for (int pass = 0; pass + 1 < kJaroszPasses; ++pass) {
    BoxAlongRows(s.a.data(), s.b.data(), rows, cols, window_along_rows, nullptr, s);
    BoxAlongCols(s.b.data(), s.a.data(), rows, cols, window_along_cols, s);
  }
  // The last pass only for the 64 columns that decimation keeps: boxing
  // along the columns treats each column on its own, so the others are dead.
  s.compact.resize(size_t(rows) * kDownsampleDim * 2);
  float* c1 = s.compact.data();
  float* c2 = c1 + size_t(rows) * kDownsampleDim;
  BoxAlongRows(s.a.data(), c1, rows, cols, window_along_rows, &s.keep_cols, s);
  BoxAlongCols(c1, c2, rows, kDownsampleDim, window_along_cols, s);
  for (int i = 0; i < kDownsampleDim; ++i)
    std::memcpy(out64 + i * kDownsampleDim, c2 + size_t(s.keep_rows[i]) * kDownsampleDim,
                sizeof(float) * kDownsampleDim);
}

// ---------------------------------------------------------------------------
// (3) Quality: how many significant gradients the 64x64 image has. The
// truncations to int are part of the metric (they ignore small steps).
int ImageDomainQuality(const float* b64) {
  int gradient_sum = 0;
  for (int i = 0; i + 1 < kDownsampleDim; ++i)
    for (int j = 0; j < kDownsampleDim; ++j) {
      const float u = b64[i * kDownsampleDim + j], v = b64[(i + 1) * kDownsampleDim + j];
      gradient_sum += std::abs(int(((u - v) * 100) / 255));
    }
  for (int i = 0; i < kDownsampleDim; ++i)
    for (int j = 0; j + 1 < kDownsampleDim; ++j) {
      const float u = b64[i * kDownsampleDim + j], v = b64[i * kDownsampleDim + j + 1];
      gradient_sum += std::abs(int(((u - v) * 100) / 255));
    }
  return std::min(gradient_sum / 90, 100);
}

// ---------------------------------------------------------------------------
// (4) DCT: B = D A D^t with D the 16x64 matrix of DCT-II rows 1..16 (DC is
// skipped). Both products accumulate k = 0..63 in order, one lane per output,
// like the reference's single-accumulator loops.
using Dct16 = std::array<float, kDctDim * kDctDim>;

void Dct64To16(const std::array<float, 16 * 64>& d, const float* a, Dct16& out) {
  alignas(64) float t[kDctDim][kDownsampleDim];  // T = D A
  for (int i = 0; i < kDctDim; ++i) {
    float* row = t[i];
    std::fill(row, row + kDownsampleDim, 0.0f);
    for (int k = 0; k < kDownsampleDim; ++k) {
      const float dik = d[i * kDownsampleDim + k];
      const float* ak = a + k * kDownsampleDim;
      for (int j = 0; j < kDownsampleDim; ++j) row[j] += dik * ak[j];
    }
  }
  alignas(64) float dt[kDownsampleDim][kDctDim];  // D^t, for unit-stride lanes
  for (int j = 0; j < kDctDim; ++j)
    for (int k = 0; k < kDownsampleDim; ++k) dt[k][j] = d[j * kDownsampleDim + k];
  for (int i = 0; i < kDctDim; ++i) {
    float acc[kDctDim] = {};
    for (int k = 0; k < kDownsampleDim; ++k) {
      const float tik = t[i][k];
      for (int j = 0; j < kDctDim; ++j) acc[j] += tik * dt[k][j];
    }
    std::copy(acc, acc + kDctDim, out.begin() + i * kDctDim);
  }
}

// ---------------------------------------------------------------------------
// (5) Threshold at the median. The reference's Torben median of 256 values is
// the lower one, the 128th smallest; strictly greater sets the bit, so about
// half the bits are set.
//
// Bit k = 16 i + j (DCT row i, column j) is bit j of 16-bit word i; the hex
// form prints word 15 first, high byte first.
PdqHash BitsFromDct(const Dct16& dct) {
  Dct16 sorted = dct;
  std::nth_element(sorted.begin(), sorted.begin() + 127, sorted.end());
  const float median = sorted[127];
  PdqHash h;
  for (int i = 0; i < kDctDim; ++i) {
    uint16_t word = 0;
    for (int j = 0; j < kDctDim; ++j)
      if (dct[i * kDctDim + j] > median) word |= uint16_t(1u << j);
    h.bytes[2 * (15 - i)] = uint8_t(word >> 8);
    h.bytes[2 * (15 - i) + 1] = uint8_t(word & 0xff);
  }
  return h;
}

// Dihedral transforms need no new image: mirroring an axis multiplies the
// coefficient of frequency u along it by (-1)^u, and index i holds frequency
// i + 1, so even indices change sign; the quarter turns and diagonal flips
// add a transpose. `keep_sign` gets the parities of the source (i, j). The
// median is taken again afterwards, since the signs moved it.
template <typename Sign>
Dct16 Transform(const Dct16& a, bool transpose, Sign keep_sign) {
  Dct16 b;
  for (int i = 0; i < kDctDim; ++i)
    for (int j = 0; j < kDctDim; ++j) {
      const float v = keep_sign(i & 1, j & 1) ? a[i * kDctDim + j] : -a[i * kDctDim + j];
      (transpose ? b[j * kDctDim + i] : b[i * kDctDim + j]) = v;
    }
  return b;
}

Dct16 DihedralDct(const Dct16& a, Dihedral d) {
  switch (d) {
    case Dihedral::kOriginal: return a;
    case Dihedral::kRotate90: return Transform(a, true, [](int, int jo) { return jo == 1; });
    case Dihedral::kRotate180: return Transform(a, false, [](int io, int jo) { return io == jo; });
    case Dihedral::kRotate270: return Transform(a, true, [](int io, int) { return io == 1; });
    case Dihedral::kFlipX: return Transform(a, false, [](int io, int) { return io == 1; });
    case Dihedral::kFlipY: return Transform(a, false, [](int, int jo) { return jo == 1; });
    case Dihedral::kFlipPlus1: return Transform(a, true, [](int, int) { return true; });
    case Dihedral::kFlipMinus1: return Transform(a, true, [](int io, int jo) { return io == jo; });
  }
  return a;
}

// Steps (0)..(4). False (and quality 0) when the image cannot be hashed.
bool ComputeDct(const std::array<float, 16 * 64>& d, const cv::Mat& image, Dct16& dct,
                int& quality) {
  quality = 0;
  if (image.empty() || image.dims != 2) return false;
  int rows = image.rows, cols = image.cols;
  if (rows > kPreshrinkDim || cols > kPreshrinkDim) rows = cols = kPreshrinkDim;
  if (rows < kMinHashableDim || cols < kMinHashableDim) return false;

  Scratch& s = ThreadScratch();
  const size_t n = size_t(rows) * cols;
  if (s.a.size() < n) {
    s.a.resize(n);
    s.b.resize(n);
  }
  if (!FillLuma(image, rows, cols, s, s.a.data())) return false;
  alignas(64) float b64[kDownsampleDim * kDownsampleDim];
  JaroszDownsample(rows, cols, s, b64);
  quality = ImageDomainQuality(b64);
  Dct64To16(d, b64, dct);
  return true;
}

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// ---------------------------------------------------------------------------
// PdqHash

std::string PdqHash::ToHex() const {
  std::string hex(64, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    hex[2 * i] = kHexDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return hex;
}

Result<PdqHash> PdqHash::FromHex(const std::string& hex) {
  if (hex.size() != 64)
    return Status::InvalidArgument("PDQ hash \"" + hex + "\": expected 64 hex digits, got " +
                                   std::to_string(hex.size()) + " characters");
  PdqHash h;
  for (size_t i = 0; i < h.bytes.size(); ++i) {
    const int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return Status::InvalidArgument("PDQ hash \"" + hex + "\": not a hex digit at position " +
                                     std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    h.bytes[i] = uint8_t(hi << 4 | lo);
  }
  return h;
}

int PdqHash::Distance(const PdqHash& other) const {
  int d = 0;
  for (size_t i = 0; i < bytes.size(); i += 8) {
    uint64_t x, y;
    std::memcpy(&x, &bytes[i], 8);
    std::memcpy(&y, &other.bytes[i], 8);
    d += std::popcount(x ^ y);
  }
  return d;
}

// ---------------------------------------------------------------------------
// PdqHasher

PdqHasher::PdqHasher() {
  // Evaluated as the reference does: a float scale times a double cosine,
  // rounded once to float.
  constexpr double kPi = 3.14159265358979323846;
  const float scale = float(std::sqrt(2.0 / double(kDownsampleDim)));
  for (int i = 0; i < kDctDim; ++i)
    for (int j = 0; j < kDownsampleDim; ++j)
      dct_[i * kDownsampleDim + j] = float(
          scale * std::cos((kPi / 2.0 / double(kDownsampleDim)) * (i + 1) * (2 * j + 1)));
}

cv::Mat PdqHasher::Luminance(const cv::Mat& image) {
  if (image.empty() || image.dims != 2) return cv::Mat();
  cv::Mat out(image.rows, image.cols, CV_32FC1);
  if (!FillLuma(image, image.rows, image.cols, ThreadScratch(), out.ptr<float>())) return cv::Mat();
  return out;
}

PdqResult PdqHasher::Compute(const cv::Mat& image) const {
  PdqResult r;
  Dct16 dct;
  if (ComputeDct(dct_, image, dct, r.quality)) r.hash = BitsFromDct(dct);
  return r;
}

std::array<PdqResult, 8> PdqHasher::ComputeDihedral(const cv::Mat& image) const {
  std::array<PdqResult, 8> out;
  Dct16 dct;
  int quality = 0;
  const bool ok = ComputeDct(dct_, image, dct, quality);
  for (int k = 0; k < 8; ++k) {
    out[k].quality = quality;
    if (ok) out[k].hash = BitsFromDct(DihedralDct(dct, Dihedral(k)));
  }
  return out;
}

}  // namespace celmatch
