// "10000,100000" -> {10000, 100000}: the index sizes the scale programs
// (bench_scale, bench_words_scale) take on their command line.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace celmatch {

inline std::vector<int64_t> ParseSizeList(const std::string& list) {
  std::vector<int64_t> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::atoll(item.c_str()));
  return out;
}

}  // namespace celmatch
