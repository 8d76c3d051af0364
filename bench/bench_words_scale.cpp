// Local-feature retrieval (FeatureIndex::Vote through visual words) as the
// index grows, as a standalone program: for each size, a synthetic index of
// that many reference frames of 400 descriptors each, then queries made of
// one frame's descriptors with a few bits flipped among as many unrelated
// ones (1,500 in all, the query's budget), timed one at a time on one core.
//
//   ./build/bench/bench_words_scale 10000,100000 [--queries 50]
//
// Columns: the vote's CPU time per query (median and 90th percentile), the
// true frame among the 8 most voted, the process's resident memory added by
// the index per reference frame, and the vocabulary's size. Random
// descriptors are the hard case for the words (no structure to cluster on):
// the cost per query depends on the words' size, which stays near
// FeatureIndex::kDescriptorsPerWord at every index size.
// Not a Google Benchmark program: it measures memory per process.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "index/feature_index.h"
#include "size_list.h"

namespace {

constexpr int kPerFrame = 400;
constexpr int kQueryDescriptors = 1500;

int64_t ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * 4096;
}

double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}


}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {10000, 100000};
  int queries = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--queries" && i + 1 < argc) queries = std::atoi(argv[++i]);
    else if (a[0] != '-') sizes = celmatch::ParseSizeList(a);
    else {
      std::fprintf(stderr, "usage: %s [SIZES] [--queries N]\n", argv[0]);
      return 2;
    }
  }
  std::printf("| reference frames | descriptors | words | vote CPU ms/query (median / p90) | true frame in top 8 | "
              "resident bytes per frame |\n|---:|---:|---:|---:|---:|---:|\n");
  for (int64_t n : sizes) {
    std::mt19937_64 rng{uint64_t(n)};
    const int64_t rss_before = ResidentBytes();
    celmatch::FeatureIndex index;
    std::vector<uint8_t> first_descriptors;  // kept to make queries from
    std::vector<int64_t> probe_frames;
    for (int q = 0; q < queries; ++q) probe_frames.push_back(int64_t(rng() % uint64_t(n)));
    std::sort(probe_frames.begin(), probe_frames.end());
    probe_frames.erase(std::unique(probe_frames.begin(), probe_frames.end()), probe_frames.end());
    std::vector<std::vector<uint8_t>> probes;
    for (int64_t f = 0; f < n; ++f) {
      celmatch::FrameFeaturesRecord r;
      r.frame_id = f;
      r.descriptors.resize(size_t(kPerFrame) * 32);
      for (size_t b = 0; b < r.descriptors.size(); b += 8) {
        const uint64_t v = rng();
        std::memcpy(r.descriptors.data() + b, &v, 8);
      }
      r.xy.resize(size_t(kPerFrame) * 2);
      for (size_t k = 0; k < r.xy.size(); ++k) r.xy[k] = float(k % 1000);
      if (std::binary_search(probe_frames.begin(), probe_frames.end(), f)) probes.push_back(r.descriptors);
      if (!index.AddFrame(r).ok()) {
        std::fprintf(stderr, "adding frame %lld failed\n", (long long)f);
        return 1;
      }
    }
    const int words = index.words();  // trains and files the words now, outside the timing
    const int64_t rss_after = ResidentBytes();
    std::vector<double> ms;
    int found = 0;
    for (size_t q = 0; q < probes.size(); ++q) {
      // The frame's descriptors, each with 0-12 bits flipped, among unrelated ones.
      cv::Mat query(kQueryDescriptors, 32, CV_8U);
      for (int row = 0; row < kQueryDescriptors; ++row) {
        uint8_t* d = query.ptr(row);
        if (row < kPerFrame) {
          std::memcpy(d, probes[q].data() + size_t(row) * 32, 32);
          for (int flip = int(rng() % 13); flip > 0; --flip) d[rng() % 32] ^= uint8_t(1u << (rng() % 8));
        } else {
          for (int b = 0; b < 32; ++b) d[b] = uint8_t(rng());
        }
      }
      const double t0 = CpuSeconds();
      const std::vector<celmatch::FrameVotes> votes = index.Vote(query, 8, 64, 8, 2);
      ms.push_back(1000 * (CpuSeconds() - t0));
      for (const celmatch::FrameVotes& v : votes) found += v.frame_id == probe_frames[q];
    }
    std::sort(ms.begin(), ms.end());
    std::printf("| %lld | %lld | %d | %.1f / %.1f | %d of %zu | %.0f |\n", (long long)n,
                (long long)index.descriptor_count(), words, ms[ms.size() / 2], ms[ms.size() * 9 / 10], found,
                probes.size(), double(rss_after - rss_before) / double(n));
    std::fflush(stdout);
  }
  return 0;
}
