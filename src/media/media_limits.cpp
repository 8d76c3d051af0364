#include "media/media_limits.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

namespace celmatch {
namespace {

// Large counts in the short scientific form people read at a glance
// ("1e10", "1.5e8"); small ones exactly.
std::string ShortCount(double n) {
  if (n < 1e6 && n > -1e6) return std::to_string(int64_t(n));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", n);
  // printf writes "1e+10"; drop the '+' and leading exponent zeros.
  std::string s(buf);
  auto e = s.find('e');
  if (e == std::string::npos) return s;
  std::string mant = s.substr(0, e), exp = s.substr(e + 1);
  if (!exp.empty() && exp[0] == '+') exp.erase(0, 1);
  while (exp.size() > 1 && exp[0] == '0') exp.erase(0, 1);
  return mant + "e" + exp;
}

}  // namespace

Status CheckPixelLimit(const std::string& path, int64_t width, int64_t height,
                       const MediaLimits& limits) {
  if (width <= 0 || height <= 0) {
    return Status::Corrupt(path + ": invalid image size " + std::to_string(width) + "x" +
                           std::to_string(height));
  }
  // w*h > M  <=>  w > floor(M/h) for positive integers; no overflow even
  // for the 2^32-sided images some headers can declare.
  if (limits.max_pixels > 0 && width > limits.max_pixels / height) {
    const double pixels = double(width) * double(height);
    return Status::LimitExceeded(path + ": " + std::to_string(width) + "x" +
                                 std::to_string(height) + " = " + ShortCount(pixels) +
                                 " pixels exceeds the limit of " + ShortCount(double(limits.max_pixels)) +
                                 " (max_pixels)");
  }
  return Status::Ok();
}

Status CheckFileSizeLimit(const std::string& path, int64_t file_bytes, const MediaLimits& limits) {
  if (limits.max_file_bytes > 0 && file_bytes > limits.max_file_bytes) {
    return Status::LimitExceeded(path + ": file of " + ShortCount(double(file_bytes)) +
                                 " bytes exceeds the limit of " + ShortCount(double(limits.max_file_bytes)) +
                                 " (max_file_bytes)");
  }
  return Status::Ok();
}

int64_t EstimateImageMemory(int64_t width, int64_t height, int64_t file_bytes) {
  const double px = double(std::max<int64_t>(width, 0)) * double(std::max<int64_t>(height, 0));
  const double bytes = double(std::max<int64_t>(file_bytes, 0)) + px * (8 + 3 + 1);
  return bytes >= 9e18 ? INT64_MAX : int64_t(bytes);
}

int64_t EstimateVideoMemory(int64_t width, int64_t height, int64_t frame_bytes, int buffered_frames) {
  const double px = double(std::max<int64_t>(width, 0)) * double(std::max<int64_t>(height, 0));
  const double bytes = double(std::max<int64_t>(frame_bytes, 0)) * std::max(buffered_frames, 1) + px * 3;
  return bytes >= 9e18 ? INT64_MAX : int64_t(bytes);
}

Status CheckMemoryLimit(const std::string& path, int64_t estimate_bytes, const MediaLimits& limits) {
  if (limits.max_memory_bytes > 0 && estimate_bytes > limits.max_memory_bytes) {
    return Status::LimitExceeded(path + ": decoding needs about " + ShortCount(double(estimate_bytes)) +
                                 " bytes of memory, over the limit of " +
                                 ShortCount(double(limits.max_memory_bytes)) + " (max_memory_bytes)");
  }
  return Status::Ok();
}

}  // namespace celmatch
