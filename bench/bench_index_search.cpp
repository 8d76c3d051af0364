// Hash-index search speed and recall: FAISS IndexBinaryFlat (exact scan) vs
// IndexBinaryMultiHash (multi-index hashing) on random 256-bit codes.
//
// Decides IndexParams::multihash_min_frames and the multihash settings in
// index/reference_index.cpp. Each benchmark searches one query at a time
// (k=10, results kept to distance <= 31, as ReferenceIndex::Search does);
// every query has a planted true neighbour at Hamming distance 10..31 (random
// 256-bit codes are ~128 apart, so the planted one is the nearest).
//
// The flat scan runs on one thread, as in ReferenceIndex::Search. Debian's
// FAISS is built for baseline x86-64 (no POPCNT), so its Hamming distance is
// a software popcount: ~14 ns per code scanned.
//
// Counters: items_per_second = queries/s; recall = fraction of queries whose
// planted neighbour is returned first, overall and by distance band; build_s
// = time to add all codes; load_s = time to read the serialized index back;
// MiB = serialized index size.
//
//   ./build/bench/bench_index_search --benchmark_counters_tabular=true
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>
#include <omp.h>
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

namespace {

using idx_t = faiss::Index::idx_t;
constexpr size_t kCode = 32;
constexpr int kMaxDistance = 31;
constexpr int kK = 10;
constexpr size_t kQueries = 2000;
// Multihash reads substrings as unaligned uint64s: pad every buffer.
constexpr size_t kPad = 8;

struct Config {
  const char* name;
  int nhash;  // 0: flat
  int b;
  int nflip;
};
// 16x16/1 is exact to distance 31 (some 16-bit substring differs in <= 1 bit);
// 16x16/0 is exact to 15; 8x32/2 to 23.
const Config kConfigs[] = {
    {"flat", 0, 0, 0},
    {"multihash 16x16 nflip1", 16, 16, 1},
    {"multihash 16x16 nflip0", 16, 16, 0},
    {"multihash 8x32 nflip2", 8, 32, 2},
};

struct Dataset {
  std::vector<uint8_t> codes;    // n codes + padding
  std::vector<uint8_t> queries;  // kQueries codes, each query padded on its own
  std::vector<idx_t> truth;      // planted neighbour of each query
  std::vector<int> distance;     // its distance
  const uint8_t* query(size_t i) const { return queries.data() + i * (kCode + kPad); }
};

const Dataset& GetDataset(int64_t n) {
  static std::map<int64_t, std::unique_ptr<Dataset>> cache;
  auto& slot = cache[n];
  if (slot) return *slot;
  slot = std::make_unique<Dataset>();
  Dataset& d = *slot;
  std::mt19937_64 rng(uint64_t(n) * 7919 + 1);
  d.codes.resize(size_t(n) * kCode + kPad, 0);
  for (size_t i = 0; i < size_t(n) * kCode; i += 8) {
    uint64_t v = rng();
    std::memcpy(d.codes.data() + i, &v, 8);
  }
  d.queries.resize(kQueries * (kCode + kPad), 0);
  std::uniform_int_distribution<int> dist(10, kMaxDistance);
  for (size_t q = 0; q < kQueries; ++q) {
    idx_t t = idx_t(rng() % uint64_t(n));
    uint8_t* out = d.queries.data() + q * (kCode + kPad);
    std::memcpy(out, d.codes.data() + size_t(t) * kCode, kCode);
    int flips = dist(rng);
    std::vector<int> bits(256);
    for (int i = 0; i < 256; ++i) bits[size_t(i)] = i;
    std::shuffle(bits.begin(), bits.end(), rng);
    for (int i = 0; i < flips; ++i) out[bits[size_t(i)] / 8] ^= uint8_t(1u << (bits[size_t(i)] % 8));
    d.truth.push_back(t);
    d.distance.push_back(flips);
  }
  return d;
}

struct Built {
  std::unique_ptr<faiss::IndexBinary> index;
  double build_s = 0;
  double load_s = 0;
  double mib = 0;
  double recall = 0, recall_10_15 = 0, recall_16_23 = 0, recall_24_31 = 0;
};

bool FoundFirst(const faiss::IndexBinary& index, const Dataset& d, size_t q) {
  int32_t dist[kK];
  idx_t labels[kK];
  index.search(1, d.query(q), kK, dist, labels);
  return labels[0] == d.truth[q] && dist[0] <= kMaxDistance;
}

const Built& GetIndex(int64_t n, int config) {
  static std::map<std::pair<int64_t, int>, std::unique_ptr<Built>> cache;
  auto& slot = cache[{n, config}];
  if (slot) return *slot;
  // Keep at most one size in memory: the 1M indexes are large.
  for (auto it = cache.begin(); it != cache.end();) {
    if (it->first.first != n && it->second) it = cache.erase(it); else ++it;
  }
  const Dataset& d = GetDataset(n);
  const Config& c = kConfigs[config];
  slot = std::make_unique<Built>();
  Built& b = *slot;
  auto start = std::chrono::steady_clock::now();
  if (c.nhash == 0) {
    b.index = std::make_unique<faiss::IndexBinaryFlat>(256);
  } else {
    auto mh = std::make_unique<faiss::IndexBinaryMultiHash>(256, c.nhash, c.b);
    mh->nflip = c.nflip;
    b.index = std::move(mh);
  }
  b.index->add(n, d.codes.data());
  b.build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  faiss::VectorIOWriter w;
  faiss::write_index_binary(b.index.get(), &w);
  b.mib = double(w.data.size()) / (1024.0 * 1024.0);
  // Time to load it back (what opening an index costs, disk aside).
  faiss::VectorIOReader r;
  r.data = std::move(w.data);
  start = std::chrono::steady_clock::now();
  std::unique_ptr<faiss::IndexBinary> reloaded(faiss::read_index_binary(&r));
  b.load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // The flat scan is exact; check it on a sample only (it is slow at 1M).
  const size_t nq = c.nhash == 0 ? 200 : kQueries;
  int hit = 0, band_hit[3] = {0, 0, 0}, band_n[3] = {0, 0, 0};
  for (size_t q = 0; q < nq; ++q) {
    bool ok = FoundFirst(*b.index, d, q);
    int band = d.distance[q] <= 15 ? 0 : d.distance[q] <= 23 ? 1 : 2;
    hit += ok;
    band_hit[band] += ok;
    band_n[band] += 1;
  }
  b.recall = double(hit) / double(nq);
  b.recall_10_15 = band_n[0] ? double(band_hit[0]) / band_n[0] : 0;
  b.recall_16_23 = band_n[1] ? double(band_hit[1]) / band_n[1] : 0;
  b.recall_24_31 = band_n[2] ? double(band_hit[2]) / band_n[2] : 0;
  return b;
}

void BM_SearchOne(benchmark::State& state) {
  // As ReferenceIndex::Search does: one query runs on the calling thread
  // (FAISS would open an OpenMP team per 64k-code block for nothing).
  omp_set_num_threads(1);
  const int64_t n = state.range(0);
  const int config = int(state.range(1));
  const Dataset& d = GetDataset(n);
  const Built& b = GetIndex(n, config);
  int32_t dist[kK];
  idx_t labels[kK];
  size_t q = 0;
  int64_t within = 0;
  for (auto _ : state) {
    b.index->search(1, d.query(q), kK, dist, labels);
    for (int i = 0; i < kK; ++i) within += labels[i] >= 0 && dist[i] <= kMaxDistance;
    benchmark::DoNotOptimize(within);
    q = (q + 1) % kQueries;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(kConfigs[config].name);
  state.counters["recall"] = b.recall;
  state.counters["r10_15"] = b.recall_10_15;
  state.counters["r16_23"] = b.recall_16_23;
  state.counters["r24_31"] = b.recall_24_31;
  state.counters["build_s"] = b.build_s;
  state.counters["load_s"] = b.load_s;
  state.counters["MiB"] = b.mib;
}

BENCHMARK(BM_SearchOne)
    ->ArgNames({"n", "cfg"})
    ->ArgsProduct({{5'000, 20'000, 100'000, 1'000'000}, {0, 1, 2, 3}})
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.5);

}  // namespace

BENCHMARK_MAIN();
