// Scale of the PDQ hash index on one machine: build time, memory per
// reference frame, query latency and recall@1 against exact search, for 1M to
// 10M synthetic frames, and whether memory-mapped indexes are shared between
// processes (measured resident memory of two searching processes).
//
// Index types:
//   flat            FAISS IndexBinaryFlat in each process's memory (exact)
//   flat mmap       the same file searched in place by MappedBinaryFlat
//                   (index/mapped_binary_flat.h): one copy per host
//   flat FAISS mmap read_index_binary(IO_FLAG_MMAP) of the flat file, to show
//                   what FAISS 1.7.3 does with the flag for flat binary indexes
//   multihash       IndexBinaryMultiHash 16x16 nflip1 (what ReferenceIndex
//                   uses above 10k frames; exact to distance 31)
//   ivf             IndexBinaryIVF (nlist = sqrt(n), nprobe 16), inverted
//                   lists memory-mapped by FAISS (IO_FLAG_MMAP)
//
// Synthetic codes look like reference frames: shots of 8 frames, each frame
// 24 random bits away from the previous (KeyframeSampler keeps a frame when
// PDQ moved 20+ bits), shots unrelated. Queries are stored frames with 16
// random bits flipped (a re-encoded, rescaled leak). recall@1: the index's
// first answer is at the exact nearest distance (ties count as found).
//
// Memory: "MiB/process" and "B/frame" are what one searching process adds
// (private + its share of mapped pages, i.e. PSS) while two processes search
// the same index at once; "RSS B/frame" is resident memory, shared pages
// counted whole. Each measurement runs in forked children, so one index type
// does not inherit another's freed heap.
//
//   ./build/bench/bench_scale                      # 1M frames, a few minutes on 2 cores
//   ./build/bench/bench_scale 100000 --ivf         # IVF: training takes minutes beyond 100k
//   ./build/bench/bench_scale 10000000 --queries 50 --no-multihash
// Not a Google Benchmark program: it compares memory across processes, which
// a benchmark::State loop cannot.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/index_io.h>
#include <omp.h>

#include "index/mapped_binary_flat.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kCode = 32;
constexpr size_t kPad = 8;  // multihash reads unaligned uint64s past a code
int g_query_count = 200;  // --queries
constexpr int kQueryFlips = 16;
constexpr int kK = 10;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

void FlipBits(uint8_t* code, int flips, std::mt19937_64& rng) {
  std::vector<int> bits(256);
  for (int i = 0; i < 256; ++i) bits[size_t(i)] = i;
  for (int i = 0; i < flips; ++i) {
    std::swap(bits[size_t(i)], bits[size_t(i) + rng() % size_t(256 - i)]);
    code[bits[size_t(i)] / 8] ^= uint8_t(1u << (bits[size_t(i)] % 8));
  }
}

struct Data {
  int64_t n = 0;
  std::vector<uint8_t> codes;    // n codes + padding
  std::vector<uint8_t> queries;  // g_query_count codes, each padded
  std::vector<int> exact;        // exact nearest distance per query
  const uint8_t* query(int i) const { return queries.data() + size_t(i) * (kCode + kPad); }
};

Data MakeData(int64_t n) {
  Data d;
  d.n = n;
  d.codes.assign(size_t(n) * kCode + kPad, 0);
  std::mt19937_64 rng(12345);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* c = d.codes.data() + size_t(i) * kCode;
    if (i % 8 == 0) {
      for (size_t b = 0; b < kCode; b += 8) {
        uint64_t v = rng();
        std::memcpy(c + b, &v, 8);
      }
    } else {
      std::memcpy(c, c - kCode, kCode);
      FlipBits(c, 24, rng);
    }
  }
  d.queries.assign(size_t(g_query_count) * (kCode + kPad), 0);
  for (int q = 0; q < g_query_count; ++q) {
    uint8_t* c = d.queries.data() + size_t(q) * (kCode + kPad);
    std::memcpy(c, d.codes.data() + size_t(rng() % uint64_t(n)) * kCode, kCode);
    FlipBits(c, kQueryFlips, rng);
  }
  return d;
}

// Proportional set size, resident size and private bytes of this process.
struct Memory {
  int64_t pss = 0, rss = 0, priv = 0;
};
Memory ReadMemory() {
  Memory m;
  std::ifstream f("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(f, line)) {  // "Pss:   1234 kB"; the first line names the range
    char key[64];
    long long kb;
    if (std::sscanf(line.c_str(), "%63s %lld", key, &kb) != 2) continue;
    const std::string k = key;
    if (k == "Pss:") m.pss = kb * 1024;
    if (k == "Rss:") m.rss = kb * 1024;
    if (k == "Private_Clean:" || k == "Private_Dirty:") m.priv += kb * 1024;
  }
  return m;
}

// What one index type reports, from a child process.
struct Figures {
  double build_s = 0;
  double load_s = 0;
  double query_ms = 0;
  double recall = 0;
  Memory added;  // memory the index added to the process, while two processes search it
};

using SearchFn = std::function<int(const uint8_t* query)>;  // nearest distance found, or 1000

// Runs `setup` (build or load; returns the search function and the build time)
// in two forked children at once, each searching all queries; returns the
// first child's figures. The children meet at a barrier before measuring, so
// each sees the other's mapped pages.
Figures InTwoProcesses(const Data& d, const std::function<SearchFn(Figures*)>& setup) {
  int to_parent[2], go[2], result[2];
  if (::pipe(to_parent) != 0 || ::pipe(go) != 0 || ::pipe(result) != 0) std::abort();
  pid_t kids[2];
  for (int c = 0; c < 2; ++c) {
    kids[c] = ::fork();
    if (kids[c] == 0) {
      ::malloc_trim(0);
      const Memory before = ReadMemory();
      Figures fig;
      SearchFn search = setup(&fig);
      omp_set_num_threads(1);  // one query at a time, as ReferenceIndex::Search
      int found = 0;
      auto start = Clock::now();
      for (int q = 0; q < g_query_count; ++q) found += search(d.query(q)) == d.exact[size_t(q)] ? 1 : 0;
      fig.query_ms = Seconds(start) * 1000.0 / g_query_count;
      fig.recall = double(found) / g_query_count;
      char b = 1;
      if (::write(to_parent[1], &b, 1) != 1 || ::read(go[0], &b, 1) != 1) std::_Exit(1);
      const Memory after = ReadMemory();
      fig.added = {after.pss - before.pss, after.rss - before.rss, after.priv - before.priv};
      if (c == 0 && ::write(result[1], &fig, sizeof fig) != sizeof fig) std::_Exit(1);
      std::_Exit(0);
    }
  }
  char b;
  for (int c = 0; c < 2; ++c)
    if (::read(to_parent[0], &b, 1) != 1) std::abort();
  b = 1;
  for (int c = 0; c < 2; ++c)
    if (::write(go[1], &b, 1) != 1) std::abort();
  Figures fig;
  if (::read(result[0], &fig, sizeof fig) != sizeof fig) std::abort();
  for (pid_t k : kids) ::waitpid(k, nullptr, 0);
  for (int fd : {to_parent[0], to_parent[1], go[0], go[1], result[0], result[1]}) ::close(fd);
  return fig;
}

int Nearest(faiss::IndexBinary& index, const uint8_t* q) {
  int32_t dist[kK];
  faiss::Index::idx_t ids[kK];
  index.search(1, q, kK, dist, ids);
  return ids[0] < 0 ? 1000 : dist[0];
}

void Print(const char* name, int64_t n, const Figures& f, double file_mib) {
  std::printf("%-16s %10lld %8.1f %8.1f %9.2f %8.3f %11.1f %9.1f %9.1f %9.1f\n", name, (long long)n, f.build_s,
              f.load_s, f.query_ms, f.recall, f.added.pss / 1048576.0, double(f.added.pss) / double(n),
              double(f.added.rss) / double(n), file_mib);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 1'000'000;
  bool multihash = true, ivf = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--no-multihash") multihash = false;
    else if (a == "--ivf") ivf = true;
    else if (a == "--queries" && i + 1 < argc) g_query_count = std::max(1, std::atoi(argv[++i]));
    else if (a == "--help" || a == "-h") {
      std::printf("usage: %s [FRAMES] [--queries Q] [--no-multihash] [--ivf]\n", argv[0]);
      return 0;
    } else n = std::atoll(a.c_str());
  }
  if (n < 1000) {
    std::fprintf(stderr, "bench_scale: FRAMES must be at least 1000\n");
    return 2;
  }
  const fs::path dir = fs::temp_directory_path() / ("celmatch-bench-scale-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string flat_path = (dir / "flat.faissbin").string();
  const std::string ivf_path = (dir / "ivf.faissbin").string();

  auto start = Clock::now();
  Data d = MakeData(n);
  std::fprintf(stderr, "generated %lld codes in %.1f s\n", (long long)n, Seconds(start));
  double flat_build_s;
  {
    start = Clock::now();
    faiss::IndexBinaryFlat flat(256);
    flat.add(n, d.codes.data());
    flat_build_s = Seconds(start);
    omp_set_num_threads(1);
    for (int q = 0; q < g_query_count; ++q) d.exact.push_back(Nearest(flat, d.query(q)));
    faiss::write_index_binary(&flat, flat_path.c_str());
  }
  const double flat_mib = fs::file_size(flat_path) / 1048576.0;

  std::printf("%-16s %10s %8s %8s %9s %8s %11s %9s %9s %9s\n", "index", "frames", "build_s", "load_s", "query_ms",
              "recall@1", "MiB/process", "B/frame", "RSS B/fr", "file MiB");
  Print("flat", n, InTwoProcesses(d, [&](Figures* f) -> SearchFn {
          auto t = Clock::now();
          auto* ix = faiss::read_index_binary(flat_path.c_str());
          f->load_s = Seconds(t);
          f->build_s = flat_build_s;
          return [ix](const uint8_t* q) { return Nearest(*ix, q); };
        }), flat_mib);
  Print("flat mmap", n, InTwoProcesses(d, [&](Figures* f) -> SearchFn {
          auto t = Clock::now();
          auto mapped = celmatch::MappedBinaryFlat::Open(flat_path);
          if (!mapped.ok()) {
            std::fprintf(stderr, "%s\n", mapped.status().message().c_str());
            std::_Exit(1);
          }
          f->load_s = Seconds(t);
          f->build_s = flat_build_s;
          std::shared_ptr<celmatch::MappedBinaryFlat> m(std::move(*mapped));
          return [m](const uint8_t* q) {
            auto r = m->Search(q, kK);
            return r.empty() ? 1000 : r[0].distance;
          };
        }), flat_mib);
  Print("flat FAISS mmap", n, InTwoProcesses(d, [&](Figures* f) -> SearchFn {
          auto t = Clock::now();
          auto* ix = faiss::read_index_binary(flat_path.c_str(), faiss::IO_FLAG_MMAP);
          f->load_s = Seconds(t);
          f->build_s = flat_build_s;
          return [ix](const uint8_t* q) { return Nearest(*ix, q); };
        }), flat_mib);
  if (multihash) {
    Print("multihash", n, InTwoProcesses(d, [&](Figures* f) -> SearchFn {
            auto t = Clock::now();
            auto* ix = new faiss::IndexBinaryMultiHash(256, 16, 16);
            ix->nflip = 1;
            ix->add(n, d.codes.data());
            f->build_s = Seconds(t);
            return [ix](const uint8_t* q) { return Nearest(*ix, q); };
          }), 0);
  }
  if (ivf) {
    start = Clock::now();
    {
      const int nlist = int(std::sqrt(double(n)));
      faiss::IndexBinaryFlat quantizer(256);
      faiss::IndexBinaryIVF index(&quantizer, 256, size_t(nlist));
      const int64_t train_n = std::min<int64_t>(n, int64_t(nlist) * 30);
      omp_set_num_threads(2);
      index.train(train_n, d.codes.data());
      index.add(n, d.codes.data());
      faiss::write_index_binary(&index, ivf_path.c_str());
    }
    const double ivf_build_s = Seconds(start);
    Print("ivf mmap", n, InTwoProcesses(d, [&](Figures* f) -> SearchFn {
            auto t = Clock::now();
            auto* ix = dynamic_cast<faiss::IndexBinaryIVF*>(faiss::read_index_binary(ivf_path.c_str(), faiss::IO_FLAG_MMAP));
            f->load_s = Seconds(t);
            f->build_s = ivf_build_s;
            ix->nprobe = 16;
            return [ix](const uint8_t* q) { return Nearest(*ix, q); };
          }), fs::file_size(ivf_path) / 1048576.0);
  }
  fs::remove_all(dir);
  return 0;
}
