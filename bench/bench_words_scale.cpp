// Local-feature retrieval (FeatureIndex::Vote through visual words) as the
// index grows, as a standalone program: for each size, a synthetic index of
// that many reference frames of 400 descriptors each, then queries made of
// one frame's descriptors with a few bits flipped among as many unrelated
// ones (1,500 in all, the query's budget), timed one at a time on one core.
// The index is built in memory as a writer builds it, written as the layer's
// file, then mapped as `celmatch match` maps it, and queried both ways.
//
//   ./build/bench/bench_words_scale 10000,100000 [--queries 50] [--dir /tmp] [--streamed]
//
// --streamed: the file is written by FeatureIndex::WriteStreamed from frames
// generated again on each pass (each frame from its own seed), never held
// in memory, so sizes past the machine's memory (1M frames: 400M
// descriptors, a 30 GB file) can be measured; the built columns are then
// empty. Both ways write the same file for the same frames (tested).
//
// Columns: the vote's CPU time per query (median and 90th percentile) on
// the built and on the mapped index, the true frame among the 8 most voted,
// the private memory (the process's anonymous resident pages: heap, not the
// page cache a mapping shares) the index adds per reference frame, built and
// mapped, the file's bytes per frame, the time to write it and to map it
// (which reads it once to check its seal), and the vocabulary's size. The
// mapped index is measured in a fresh process (this program run again with
// --mapped), so no heap the built index left behind hides what it costs. Random
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
#include <cinttypes>
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

struct QueryRun {
  double median_ms = 0, p90_ms = 0;
  int found = 0, queries = 0;
};

// `queries` frames drawn with `seed`, each queried as its descriptors with
// 0-12 bits flipped among unrelated ones, timed one at a time.
// Frame `f` of an index of `n`: 400 random descriptors from its own seed,
// keypoints on a grid.
celmatch::FrameFeaturesRecord SyntheticFrame(int64_t n, int64_t f) {
  std::mt19937_64 rng{uint64_t(n) * 0x9E3779B97F4A7C15ull + uint64_t(f)};
  celmatch::FrameFeaturesRecord r;
  r.frame_id = f;
  r.descriptors.resize(size_t(kPerFrame) * 32);
  for (size_t b = 0; b < r.descriptors.size(); b += 8) {
    const uint64_t v = rng();
    std::memcpy(r.descriptors.data() + b, &v, 8);
  }
  r.xy.resize(size_t(kPerFrame) * 2);
  for (size_t k = 0; k < r.xy.size(); ++k) r.xy[k] = float(k % 1000);
  return r;
}

QueryRun RunQueries(const celmatch::FeatureIndex& index, int64_t frames, int queries, uint64_t seed) {
  std::mt19937_64 rng{seed};
  QueryRun out;
  std::vector<double> ms;
  for (int q = 0; q < queries; ++q) {
    const int64_t target = int64_t(rng() % uint64_t(frames));
    const celmatch::FrameFeaturesView view = index.frame(target);
    cv::Mat query(kQueryDescriptors, 32, CV_8U);
    for (int row = 0; row < kQueryDescriptors; ++row) {
      uint8_t* d = query.ptr(row);
      if (size_t(row) < view.count) {
        std::memcpy(d, view.descriptors + size_t(row) * 32, 32);
        for (int flip = int(rng() % 13); flip > 0; --flip) d[rng() % 32] ^= uint8_t(1u << (rng() % 8));
      } else {
        for (int b = 0; b < 32; ++b) d[b] = uint8_t(rng());
      }
    }
    const double t0 = CpuSeconds();
    const std::vector<celmatch::FrameVotes> votes = index.Vote(query, 8, 64, 8, 2);
    ms.push_back(1000 * (CpuSeconds() - t0));
    for (const celmatch::FrameVotes& v : votes) out.found += v.frame_id == target;
  }
  std::sort(ms.begin(), ms.end());
  out.median_ms = ms[ms.size() / 2];
  out.p90_ms = ms[ms.size() * 9 / 10];
  out.queries = queries;
  return out;
}

// The child's side: map the file of `frames` frames, query it, print one
// line: median and p90 ms, found, private bytes added, seconds to map, words.
int RunMapped(const std::string& path, int64_t frames, int queries, uint64_t seed) {
  const int64_t anon_before = StatusBytes("RssAnon");
  std::vector<celmatch::FrameFeatureCount> counts;
  for (int64_t f = 0; f < frames; ++f) counts.push_back({f, kPerFrame});
  const double t0 = WallSeconds();
  std::unique_ptr<celmatch::FeatureIndex> mapped = celmatch::FeatureIndex::Map(path, counts);
  const double map_s = WallSeconds() - t0;
  counts = {};
  if (!mapped) {
    std::fprintf(stderr, "%s: not mapped\n", path.c_str());
    return 1;
  }
  const QueryRun run = RunQueries(*mapped, frames, queries, seed);
  const int64_t anon_after = StatusBytes("RssAnon");
  std::printf("%f %f %d %" PRId64 " %f %d\n", run.median_ms, run.p90_ms, run.found, anon_after - anon_before, map_s,
              mapped->words());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {10000, 100000};
  int queries = 50;
  std::string dir = "/tmp";
  bool streamed = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--queries" && i + 1 < argc) queries = std::atoi(argv[++i]);
    else if (a == "--streamed") streamed = true;
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--mapped" && i + 2 < argc) {
      const std::string path = argv[++i];
      const int64_t frames = std::atoll(argv[++i]);
      return RunMapped(path, frames, queries, uint64_t(frames) + 1);
    } else if (a[0] != '-') sizes = celmatch::ParseSizeList(a);
    else {
      std::fprintf(stderr, "usage: %s [SIZES] [--queries N] [--dir DIR] [--streamed]\n", argv[0]);
      return 2;
    }
  }
  std::printf("| reference frames | descriptors | words | vote CPU ms/query built / mapped (median, p90) | "
              "true frame in top 8 built / mapped | private bytes a frame built / mapped | file bytes a frame | "
              "write / map s |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int64_t n : sizes) {
    const std::string path = dir + "/bench_words_scale_" + std::to_string(n) + ".bin";
    int words = 0;
    int64_t descriptors = n * kPerFrame, anon_built = 0, anon_before = StatusBytes("RssAnon");
    QueryRun built;
    double write_s = 0;
    if (streamed) {
      std::vector<celmatch::FrameFeatureCount> counts;
      for (int64_t f = 0; f < n; ++f) counts.push_back({f, kPerFrame});
      const celmatch::FeatureIndex::FramePass pass =
          [n](const std::function<celmatch::Status(const celmatch::FrameFeaturesRecord&)>& visit) {
            for (int64_t f = 0; f < n; ++f) CELMATCH_RETURN_IF_ERROR(visit(SyntheticFrame(n, f)));
            return celmatch::Status::Ok();
          };
      const double t0 = WallSeconds();
      if (celmatch::Status st = celmatch::FeatureIndex::WriteStreamed(dir, path, counts, pass); !st.ok()) {
        std::fprintf(stderr, "%s\n", st.message().c_str());
        return 1;
      }
      write_s = WallSeconds() - t0;  // training and filing included
    } else {
      auto index = std::make_unique<celmatch::FeatureIndex>();
      for (int64_t f = 0; f < n; ++f) {
        if (!index->AddFrame(SyntheticFrame(n, f)).ok()) {
          std::fprintf(stderr, "adding frame %lld failed\n", (long long)f);
          return 1;
        }
      }
      words = index->words();  // trains and files the words now, outside the timing
      anon_built = StatusBytes("RssAnon");
      built = RunQueries(*index, n, queries, uint64_t(n) + 1);
      descriptors = index->descriptor_count();
      const double t0 = WallSeconds();
      if (celmatch::Status st = index->Write(dir, path); !st.ok()) {
        std::fprintf(stderr, "%s\n", st.message().c_str());
        return 1;
      }
      write_s = WallSeconds() - t0;
    }
    // The mapped index in a fresh process.
    const std::string child = std::string("'") + argv[0] + "' --queries " + std::to_string(queries) + " --mapped '" +
                              path + "' " + std::to_string(n);
    FILE* p = ::popen(child.c_str(), "r");
    double median = 0, p90 = 0, map_s = 0;
    int found = 0, mapped_words = 0;
    long long anon = 0;
    const bool ok =
        p && std::fscanf(p, "%lf %lf %d %lld %lf %d", &median, &p90, &found, &anon, &map_s, &mapped_words) == 6;
    if (p) ::pclose(p);
    struct stat st {};
    ::stat(path.c_str(), &st);
    std::remove(path.c_str());
    if (!ok) {
      std::fprintf(stderr, "the mapped run failed: %s\n", child.c_str());
      return 1;
    }
    char built_ms[64] = "-", built_found[32] = "-", built_bytes[32] = "-";
    if (!streamed) {
      std::snprintf(built_ms, sizeof built_ms, "%.1f, %.1f", built.median_ms, built.p90_ms);
      std::snprintf(built_found, sizeof built_found, "%d", built.found);
      std::snprintf(built_bytes, sizeof built_bytes, "%.0f", double(anon_built - anon_before) / double(n));
    }
    std::printf("| %lld | %lld | %d | %s / %.1f, %.1f | %s / %d of %d | %s / %.0f | %.0f | %.1f / %.1f |\n",
                (long long)n, (long long)descriptors, streamed ? mapped_words : words, built_ms, median, p90,
                built_found, found, queries, built_bytes, double(anon) / double(n), double(st.st_size) / double(n),
                write_s, map_s);
    std::fflush(stdout);
  }
  return 0;
}
