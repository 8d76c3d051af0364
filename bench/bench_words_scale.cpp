// Local-feature retrieval (FeatureIndex::Vote through visual words) as the
// index grows, as a standalone program: for each size, a synthetic index of
// that many reference frames of 400 descriptors each, then queries made of
// one frame's descriptors with a few bits flipped among as many unrelated
// ones (1,500 in all, the query's budget), timed one at a time on one core.
// The index is built in memory as a writer builds it, written as the layer's
// file, then mapped as `celmatch match` maps it, and queried both ways.
//
//   ./build/bench/bench_words_scale 10000,100000 [--queries 50] [--dir /tmp]
//
// Columns: the vote's CPU time per query (median and 90th percentile) on
// the built and on the mapped index, the true frame among the 8 most voted,
// the private memory (the process's anonymous resident pages: heap, not the
// page cache a mapping shares) the index adds per reference frame, built and
// mapped, the file's bytes per frame, the time to write it and to map it
// (which reads it once to check its seal), and the vocabulary's size. Random
// descriptors are the hard case for the words (no structure to cluster on):
// the cost per query depends on the words' size, which stays near
// FeatureIndex::kDescriptorsPerWord at every index size.
// Not a Google Benchmark program: it measures memory per process.
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "index/feature_index.h"
#include "size_list.h"

namespace {

constexpr int kPerFrame = 400;
constexpr int kQueryDescriptors = 1500;

// A field of /proc/self/status in bytes ("RssAnon", "RssFile").
int64_t StatusBytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1) * 1024;
  }
  return 0;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
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
  std::string dir = "/tmp";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--queries" && i + 1 < argc) queries = std::atoi(argv[++i]);
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a[0] != '-') sizes = celmatch::ParseSizeList(a);
    else {
      std::fprintf(stderr, "usage: %s [SIZES] [--queries N] [--dir DIR]\n", argv[0]);
      return 2;
    }
  }
  std::printf("| reference frames | descriptors | words | vote CPU ms/query built / mapped (median, p90) | "
              "true frame in top 8 built / mapped | private bytes a frame built / mapped | file bytes a frame | "
              "write / map s |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int64_t n : sizes) {
    std::mt19937_64 rng{uint64_t(n)};
    const int64_t anon_before = StatusBytes("RssAnon");
    auto index = std::make_unique<celmatch::FeatureIndex>();
    std::vector<int64_t> probe_frames;
    for (int q = 0; q < queries; ++q) probe_frames.push_back(int64_t(rng() % uint64_t(n)));
    std::sort(probe_frames.begin(), probe_frames.end());
    probe_frames.erase(std::unique(probe_frames.begin(), probe_frames.end()), probe_frames.end());
    std::vector<std::vector<uint8_t>> probes;
    std::vector<celmatch::FrameFeatureCount> counts;
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
      counts.push_back({f, kPerFrame});
      if (!index->AddFrame(r).ok()) {
        std::fprintf(stderr, "adding frame %lld failed\n", (long long)f);
        return 1;
      }
    }
    const int words = index->words();  // trains and files the words now, outside the timing
    const int64_t anon_built = StatusBytes("RssAnon");
    // The queries: each probe frame's descriptors, each with 0-12 bits
    // flipped, among unrelated ones.
    std::vector<cv::Mat> query_set;
    for (size_t q = 0; q < probes.size(); ++q) {
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
      query_set.push_back(query);
    }
    auto run = [&](const celmatch::FeatureIndex& ix, std::vector<double>* ms) {
      int found = 0;
      for (size_t q = 0; q < query_set.size(); ++q) {
        const double t0 = CpuSeconds();
        const std::vector<celmatch::FrameVotes> votes = ix.Vote(query_set[q], 8, 64, 8, 2);
        ms->push_back(1000 * (CpuSeconds() - t0));
        for (const celmatch::FrameVotes& v : votes) found += v.frame_id == probe_frames[q];
      }
      std::sort(ms->begin(), ms->end());
      return found;
    };
    std::vector<double> built_ms, mapped_ms;
    const int built_found = run(*index, &built_ms);
    const int64_t descriptors = index->descriptor_count();

    const std::string path = dir + "/bench_words_scale_" + std::to_string(n) + ".bin";
    double t0 = WallSeconds();
    if (celmatch::Status st = index->Write(dir, path); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 1;
    }
    const double write_s = WallSeconds() - t0;
    index.reset();
    probes.clear();
    const int64_t anon_unmapped = StatusBytes("RssAnon");
    t0 = WallSeconds();
    std::unique_ptr<celmatch::FeatureIndex> mapped = celmatch::FeatureIndex::Map(path, counts);
    const double map_s = WallSeconds() - t0;
    counts = {};
    if (!mapped) {
      std::fprintf(stderr, "%s: not mapped\n", path.c_str());
      return 1;
    }
    const int mapped_found = run(*mapped, &mapped_ms);
    const int64_t anon_mapped = StatusBytes("RssAnon");
    struct stat st {};
    ::stat(path.c_str(), &st);
    std::printf("| %lld | %lld | %d | %.1f, %.1f / %.1f, %.1f | %d / %d of %zu | %.0f / %.0f | %.0f | %.1f / %.1f |\n",
                (long long)n, (long long)descriptors, words, built_ms[built_ms.size() / 2],
                built_ms[built_ms.size() * 9 / 10], mapped_ms[mapped_ms.size() / 2],
                mapped_ms[mapped_ms.size() * 9 / 10], built_found, mapped_found, query_set.size(),
                double(anon_built - anon_before) / double(n), double(anon_mapped - anon_unmapped) / double(n),
                double(st.st_size) / double(n), write_s, map_s);
    std::fflush(stdout);
    mapped.reset();
    std::remove(path.c_str());
  }
  return 0;
}
