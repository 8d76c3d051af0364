#include "leaks/index_scale.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>
#include <omp.h>

#include "index/mapped_binary_flat.h"

namespace fs = std::filesystem;

namespace celmatch {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr size_t kCode = 32;
constexpr size_t kPad = 8;  // IndexBinaryMultiHash reads unaligned uint64s past a code
constexpr int kShotFrames = 8;
constexpr int kFramesStepBits = 24;
constexpr int kQueryFlips = 16;
constexpr int kDim = 256;
constexpr int kK = 10;
constexpr double kFrameNoise = 0.0205;  // per dimension: cosine ~0.95 to the shot centre
constexpr double kQueryNoise = 0.0157;  // cosine ~0.97 to the stored frame

const char* const kPdqTypes[] = {"flat", "flat mmap", "flat FAISS mmap", "multihash", "ivf"};
const char* const kEmbeddingTypes[] = {"emb flat", "emb hnsw", "emb ivfpq"};

// Flips `flips` distinct random bits of a 256-bit code.
void FlipBits(uint8_t* code, int flips, std::mt19937_64& rng) {
  uint64_t chosen[4] = {0, 0, 0, 0};
  for (int done = 0; done < flips;) {
    const unsigned bit = unsigned(rng() & 255u);
    if (chosen[bit / 64] >> (bit % 64) & 1u) continue;
    chosen[bit / 64] |= uint64_t(1) << (bit % 64);
    code[bit / 8] ^= uint8_t(1u << (bit % 8));
    ++done;
  }
}

struct PdqData {
  int64_t n = 0;
  std::vector<uint8_t> codes;    // n codes + padding
  std::vector<uint8_t> queries;  // each padded to kCode + kPad
  std::vector<int> exact;        // exact nearest distance per query
  const uint8_t* query(int q) const { return queries.data() + size_t(q) * (kCode + kPad); }
};

PdqData MakePdqData(int64_t n, int queries, uint64_t seed) {
  PdqData d;
  d.n = n;
  d.codes.assign(size_t(n) * kCode + kPad, 0);
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* c = d.codes.data() + size_t(i) * kCode;
    if (i % kShotFrames == 0) {
      for (size_t b = 0; b < kCode; b += 8) {
        const uint64_t v = rng();
        std::memcpy(c + b, &v, 8);
      }
    } else {
      std::memcpy(c, c - kCode, kCode);
      FlipBits(c, kFramesStepBits, rng);
    }
  }
  d.queries.assign(size_t(queries) * (kCode + kPad), 0);
  for (int q = 0; q < queries; ++q) {
    uint8_t* c = d.queries.data() + size_t(q) * (kCode + kPad);
    std::memcpy(c, d.codes.data() + size_t(rng() % uint64_t(n)) * kCode, kCode);
    FlipBits(c, kQueryFlips, rng);
  }
  return d;
}

struct EmbeddingData {
  int64_t n = 0;
  std::vector<float> vectors;  // n x kDim, unit length
  std::vector<float> queries;  // nq x kDim, unit length
  std::vector<float> exact;    // exact best inner product per query
  const float* query(int q) const { return queries.data() + size_t(q) * kDim; }
};

void Normalize(float* v) {
  double s = 0;
  for (int i = 0; i < kDim; ++i) s += double(v[i]) * v[i];
  const float inv = float(1.0 / std::sqrt(std::max(s, 1e-30)));
  for (int i = 0; i < kDim; ++i) v[i] *= inv;
}

EmbeddingData MakeEmbeddingData(int64_t n, int queries, uint64_t seed) {
  EmbeddingData d;
  d.n = n;
  d.vectors.resize(size_t(n) * kDim);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> centre(kDim);
  for (int64_t i = 0; i < n; ++i) {
    if (i % kShotFrames == 0) {
      for (float& x : centre) x = gauss(rng);
      Normalize(centre.data());
    }
    float* v = d.vectors.data() + size_t(i) * kDim;
    for (int j = 0; j < kDim; ++j) v[j] = centre[size_t(j)] + float(kFrameNoise) * gauss(rng);
    Normalize(v);
  }
  d.queries.resize(size_t(queries) * kDim);
  for (int q = 0; q < queries; ++q) {
    const float* src = d.vectors.data() + size_t(rng() % uint64_t(n)) * kDim;
    float* v = d.queries.data() + size_t(q) * kDim;
    for (int j = 0; j < kDim; ++j) v[j] = src[j] + float(kQueryNoise) * gauss(rng);
    Normalize(v);
  }
  // Exact answers: one blocked BLAS product over all queries.
  std::vector<float> best(static_cast<size_t>(queries));
  std::vector<int64_t> ids(static_cast<size_t>(queries));
  faiss::float_minheap_array_t heap = {size_t(queries), 1, ids.data(), best.data()};
  faiss::knn_inner_product(d.queries.data(), d.vectors.data(), kDim, size_t(queries), size_t(n), &heap);
  d.exact = best;
  return d;
}

double ThreadCpuSeconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Memory of this process from /proc/self/smaps_rollup, in bytes.
struct Memory {
  int64_t pss = 0, rss = 0;
};
// The memory an index costs a process: its anonymous pages (heap, mmap) and
// the data files it maps, not the program's code and shared libraries. Their
// pages are split among every process that maps them, so a test or program
// starting or ending beside the measurement would move a whole-process PSS
// by megabytes.
bool CountedMapping(const std::string& path, const std::string& exe) {
  if (path.empty()) return true;
  if (path[0] == '[') return path != "[vdso]" && path != "[vvar]" && path != "[vsyscall]";
  return path != exe && path.find(".so") == std::string::npos;
}

Memory ReadMemory() {
  Memory m;
  std::error_code ec;
  const std::string exe = fs::read_symlink("/proc/self/exe", ec).string();
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool counted = false;
  while (std::getline(f, line)) {
    unsigned long long lo, hi;
    int path_at = -1;
    // "7f00-7f10 r--p 00000000 08:01 1234   /path" opens a mapping.
    if (std::sscanf(line.c_str(), "%llx-%llx %*s %*s %*s %*s %n", &lo, &hi, &path_at) == 2 && path_at > 0) {
      std::string path = line.substr(size_t(path_at));
      while (!path.empty() && path.back() == ' ') path.pop_back();
      counted = CountedMapping(path, exe);
      continue;
    }
    if (!counted) continue;
    char key[64];  // "Pss:   1234 kB"
    long long kb;
    if (std::sscanf(line.c_str(), "%63s %lld", key, &kb) != 2) continue;
    if (std::strcmp(key, "Pss:") == 0) m.pss += kb * 1024;
    if (std::strcmp(key, "Rss:") == 0) m.rss += kb * 1024;
  }
  return m;
}

// What a searching child reports.
struct ChildFigures {
  double build_s = 0, load_s = 0, query_ms = 0, query_cpu_ms = 0, recall = 0;
  int64_t pss = 0, rss = 0;
  bool ok = false;
};

// Builds or loads the index in a child; fills build_s/load_s; returns the
// per-query search, true when it found an answer as near as the exact one.
using QueryFn = std::function<bool(int query)>;
using SetupFn = std::function<QueryFn(ChildFigures*)>;

bool ReadAll(int fd, void* p, size_t n) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, b, n);
    if (r <= 0) return false;
    b += r;
    n -= size_t(r);
  }
  return true;
}

// Runs `setup` and all queries in `processes` forked children at once. The
// children start measuring once all exist (pages inherited from this process
// are then split the same way before and after) and meet at a barrier before
// reading their memory again, so each sees the others' mapped pages. Returns
// the first child's figures.
Result<ChildFigures> InChildren(int processes, int queries, const SetupFn& setup) {
  int start[2], ready[2], go[2], result[2], done[2];
  if (::pipe(start) != 0 || ::pipe(ready) != 0 || ::pipe(go) != 0 || ::pipe(result) != 0 || ::pipe(done) != 0) {
    return Status::IoError("pipe failed");
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> kids;
  for (int c = 0; c < processes; ++c) {
    const pid_t pid = ::fork();
    if (pid < 0) break;
    if (pid == 0) {
      ::close(done[1]);  // so that the parent's close is seen as end of file
      ::malloc_trim(0);
      omp_set_num_threads(1);  // one query at a time, as ReferenceIndex::Search
      char s = 0;
      if (::read(start[0], &s, 1) != 1) std::_Exit(1);
      const Memory before = ReadMemory();
      ChildFigures fig;
      QueryFn search = setup(&fig);
      int found = 0;
      const auto t = Clock::now();
      const double cpu0 = ThreadCpuSeconds();
      for (int q = 0; q < queries; ++q) found += search(q) ? 1 : 0;
      fig.query_ms = Since(t) * 1000.0 / queries;
      fig.query_cpu_ms = (ThreadCpuSeconds() - cpu0) * 1000.0 / queries;
      fig.recall = double(found) / queries;
      char b = 1;
      if (::write(ready[1], &b, 1) != 1 || ::read(go[0], &b, 1) != 1) std::_Exit(1);
      const Memory after = ReadMemory();
      fig.pss = after.pss - before.pss;
      fig.rss = after.rss - before.rss;
      fig.ok = true;
      if (c == 0 && ::write(result[1], &fig, sizeof fig) != ssize_t(sizeof fig)) std::_Exit(1);
      // Stay until every process has measured: one that exits early would
      // leave the others charged for all of the pages they shared.
      if (::write(ready[1], &b, 1) != 1) std::_Exit(1);
      while (::read(done[0], &b, 1) > 0) {
      }
      std::_Exit(0);
    }
    kids.push_back(pid);
  }
  for (int fd : {start[0], ready[1], go[0], result[1], done[0]}) ::close(fd);
  bool all_ready = int(kids.size()) == processes;
  char b = 1;
  for (size_t c = 0; c < kids.size(); ++c) (void)!::write(start[1], &b, 1);
  ::close(start[1]);
  for (size_t c = 0; all_ready && c < kids.size(); ++c) all_ready = ::read(ready[0], &b, 1) == 1;
  for (size_t c = 0; c < kids.size(); ++c) (void)!::write(go[1], &b, 1);
  ChildFigures fig;
  const bool got = all_ready && ReadAll(result[0], &fig, sizeof fig) && fig.ok;
  bool all_measured = got;
  for (size_t c = 0; all_measured && c < kids.size(); ++c) all_measured = ::read(ready[0], &b, 1) == 1;
  ::close(done[1]);  // lets the children exit
  int failed = 0;
  for (pid_t k : kids) {
    int status = 0;
    ::waitpid(k, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  for (int fd : {ready[0], go[1], result[0]}) ::close(fd);
  if (!got || failed > 0) {
    return Status::Internal("a measuring process failed (" + std::to_string(failed) +
                            " did not exit cleanly; out of memory?)");
  }
  return fig;
}

ScaleRow RowOf(const std::string& name, int64_t n, int processes, const ChildFigures& f, double build_s,
               const std::string& file) {
  ScaleRow r;
  r.index = name;
  r.frames = n;
  r.processes = processes;
  r.build_s = build_s > 0 ? build_s : f.build_s;
  r.load_s = f.load_s;
  r.query_ms = f.query_ms;
  r.query_cpu_ms = f.query_cpu_ms;
  r.recall_at_1 = f.recall;
  r.pss_bytes_per_frame = double(f.pss) / double(n);
  r.rss_bytes_per_frame = double(f.rss) / double(n);
  std::error_code ec;
  r.file_bytes = file.empty() ? 0 : double(fs::file_size(file, ec));
  return r;
}

// One row: `setup` runs in `processes` children at once, each answering
// `queries` queries; the row goes to `on_row`.
Status MeasureRow(const char* name, int64_t n, int processes, int queries, const SetupFn& setup, double build_s,
                  const std::string& file, const std::function<void(const ScaleRow&)>& on_row) {
  Result<ChildFigures> f = InChildren(processes, queries, setup);
  if (!f.ok()) return f.status().WithPrefix(std::string(name) + " at " + std::to_string(n) + " frames");
  on_row(RowOf(name, n, processes, *f, build_s, file));
  return Status::Ok();
}

int NearestDistance(const faiss::IndexBinary& index, const uint8_t* q) {
  int32_t dist[kK];
  faiss::Index::idx_t ids[kK];
  index.search(1, q, kK, dist, ids);
  return ids[0] < 0 ? -1 : dist[0];
}

// The first answer's id (-1: none).
int64_t FirstAnswer(const faiss::Index& index, const float* q) {
  float sim[kK];
  faiss::Index::idx_t ids[kK];
  index.search(1, q, kK, sim, ids);
  return ids[0];
}

bool Wanted(const ScaleOptions& o, const char* type) { return o.types.empty() || o.types.count(type) > 0; }

// FAISS throws; a benchmark row that fails reports why and the run goes on.
template <typename F>
Status Guarded(const std::string& what, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Status::Internal(what + ": " + e.what());
  }
}

// assign[i] = the centroid nearest to code i, on all cores.
void AssignNearest(const MappedBinaryFlat& centroids, const uint8_t* codes, int64_t n, faiss::Index::idx_t* assign) {
#pragma omp parallel for schedule(dynamic, 4096)
  for (int64_t i = 0; i < n; ++i) {
    auto r = centroids.Search(codes + size_t(i) * kCode, 1);
    assign[i] = r.empty() ? 0 : r[0].id;
  }
}

// IndexBinaryIVF with nlist = sqrt(n), trained on 40 codes a list, written
// to `path`.
Status BuildBinaryIvf(const PdqData& d, const std::string& path, const std::string& centroids_path,
                      double* build_s) {
  const int64_t n = d.n;
  return Guarded("ivf", [&] {
    const auto t = Clock::now();
    const int nlist = std::max(1, int(std::sqrt(double(n))));
    faiss::IndexBinaryFlat quantizer(kDim);
    faiss::IndexBinaryIVF index(&quantizer, kDim, size_t(nlist));
    omp_set_num_threads(2);
    index.train(std::min<int64_t>(n, int64_t(nlist) * 40), d.codes.data());
    // Assignment with the POPCNT scan: FAISS's own (built without it) takes
    // minutes at 10M codes.
    faiss::write_index_binary(&quantizer, centroids_path.c_str());
    auto centroids = MappedBinaryFlat::Open(centroids_path, kCode);
    if (!centroids.ok()) return centroids.status();
    const MappedBinaryFlat& c = **centroids;
    std::vector<faiss::Index::idx_t> assign(static_cast<size_t>(n));
    AssignNearest(c, d.codes.data(), n, assign.data());
    index.add_core(n, d.codes.data(), nullptr, assign.data());
    *build_s = Since(t);
    faiss::write_index_binary(&index, path.c_str());
    return Status::Ok();
  });
}

Status RunPdq(const ScaleOptions& o, int64_t n, const std::string& dir,
              const std::function<void(const ScaleRow&)>& on_row) {
  auto t = Clock::now();
  PdqData d = MakePdqData(n, o.queries, o.seed);
  std::fprintf(stderr, "scale: %lld PDQ codes generated in %.1f s\n", (long long)n, Since(t));
  const std::string flat_path = dir + "/flat.faissbin";
  double flat_build_s = 0;
  CELMATCH_RETURN_IF_ERROR(Guarded("flat", [&] {
    t = Clock::now();
    faiss::IndexBinaryFlat flat(kDim);
    flat.add(n, d.codes.data());
    flat_build_s = Since(t);
    faiss::write_index_binary(&flat, flat_path.c_str());
    return Status::Ok();
  }));
  // Exact answers by the mapped scan (the fastest exact search here).
  {
    auto mapped = MappedBinaryFlat::Open(flat_path, kCode);
    if (!mapped.ok()) return mapped.status();
    for (int q = 0; q < o.queries; ++q) {
      auto r = (*mapped)->Search(d.query(q), 1);
      d.exact.push_back(r.empty() ? -1 : r[0].distance);
    }
  }
  auto found = [&](int q, int distance) { return distance >= 0 && distance == d.exact[size_t(q)]; };
  auto emit = [&](const char* name, int processes, const SetupFn& setup, double build_s,
                  const std::string& file) {
    return MeasureRow(name, n, processes, o.queries, setup, build_s, file, on_row);
  };

  if (Wanted(o, "flat")) {
    CELMATCH_RETURN_IF_ERROR(emit("flat", 1, [&](ChildFigures* f) -> QueryFn {
      const auto t0 = Clock::now();
      std::shared_ptr<faiss::IndexBinary> ix(faiss::read_index_binary(flat_path.c_str()));
      f->load_s = Since(t0);
      return [&, ix](int q) { return found(q, NearestDistance(*ix, d.query(q))); };
    }, flat_build_s, flat_path));
  }
  if (Wanted(o, "flat mmap")) {
    CELMATCH_RETURN_IF_ERROR(emit("flat mmap", 2, [&](ChildFigures* f) -> QueryFn {
      const auto t0 = Clock::now();
      auto m = MappedBinaryFlat::Open(flat_path, kCode);
      if (!m.ok()) std::_Exit(1);
      f->load_s = Since(t0);
      std::shared_ptr<MappedBinaryFlat> ix(std::move(*m));
      return [&, ix](int q) {
        auto r = ix->Search(d.query(q), kK);
        return found(q, r.empty() ? -1 : r[0].distance);
      };
    }, flat_build_s, flat_path));
  }
  if (Wanted(o, "flat FAISS mmap")) {
    CELMATCH_RETURN_IF_ERROR(emit("flat FAISS mmap", 2, [&](ChildFigures* f) -> QueryFn {
      const auto t0 = Clock::now();
      std::shared_ptr<faiss::IndexBinary> ix(faiss::read_index_binary(flat_path.c_str(), faiss::IO_FLAG_MMAP));
      f->load_s = Since(t0);
      return [&, ix](int q) { return found(q, NearestDistance(*ix, d.query(q))); };
    }, flat_build_s, flat_path));
  }
  if (Wanted(o, "multihash")) {
    // Built in the measuring process: loading the file rebuilds the same
    // hash tables in the heap anyway.
    CELMATCH_RETURN_IF_ERROR(emit("multihash", 1, [&](ChildFigures* f) -> QueryFn {
      const auto t0 = Clock::now();
      auto ix = std::make_shared<faiss::IndexBinaryMultiHash>(kDim, 16, 16);
      ix->nflip = 1;
      ix->add(n, d.codes.data());
      f->build_s = Since(t0);
      return [&, ix](int q) { return found(q, NearestDistance(*ix, d.query(q))); };
    }, 0, ""));
  }
  if (Wanted(o, "ivf")) {
    const std::string ivf_path = dir + "/ivf.faissbin";
    const std::string centroids_path = dir + "/centroids.faissbin";
    double build_s = 0;
    CELMATCH_RETURN_IF_ERROR(BuildBinaryIvf(d, ivf_path, centroids_path, &build_s));
    ::malloc_trim(0);
    CELMATCH_RETURN_IF_ERROR(emit("ivf", 2, [&](ChildFigures* f) -> QueryFn {
      const auto t0 = Clock::now();
      std::shared_ptr<faiss::IndexBinary> ix(faiss::read_index_binary(ivf_path.c_str(), faiss::IO_FLAG_MMAP));
      f->load_s = Since(t0);
      if (auto* ivf = dynamic_cast<faiss::IndexBinaryIVF*>(ix.get())) ivf->nprobe = 16;
      return [&, ix](int q) { return found(q, NearestDistance(*ix, d.query(q))); };
    }, build_s, ivf_path));
  }
  std::error_code ec;
  for (const char* f : {"flat.faissbin", "ivf.faissbin", "centroids.faissbin"}) fs::remove(dir + "/" + f, ec);
  return Status::Ok();
}

Status RunEmbeddings(const ScaleOptions& o, int64_t n, const std::string& dir,
                     const std::function<void(const ScaleRow&)>& on_row) {
  auto t = Clock::now();
  omp_set_num_threads(2);
  EmbeddingData d = MakeEmbeddingData(n, o.queries, o.seed + 1);
  std::fprintf(stderr, "scale: %lld embeddings generated with exact answers in %.1f s\n", (long long)n, Since(t));
  // The answer's true inner product (IVF-PQ reports an approximate one).
  auto found = [&](int q, int64_t id) {
    if (id < 0 || id >= n) return false;
    const float* v = d.vectors.data() + size_t(id) * kDim;
    float sim = 0;
    for (int j = 0; j < kDim; ++j) sim += v[j] * d.query(q)[j];
    return sim >= d.exact[size_t(q)] - 1e-5f;
  };
  auto emit = [&](const char* name, int processes, const SetupFn& setup, double build_s,
                  const std::string& file) {
    return MeasureRow(name, n, processes, o.queries, setup, build_s, file, on_row);
  };
  if (Wanted(o, "emb flat")) {
    CELMATCH_RETURN_IF_ERROR(emit("emb flat", 1, [&](ChildFigures* f) -> QueryFn {
      const auto t0 = Clock::now();
      auto ix = std::make_shared<faiss::IndexFlatIP>(kDim);
      ix->add(n, d.vectors.data());
      f->build_s = Since(t0);
      return [&, ix](int q) { return found(q, FirstAnswer(*ix, d.query(q))); };
    }, 0, ""));
  }
  if (Wanted(o, "emb hnsw")) {
    const std::string path = dir + "/hnsw.faiss";
    double build_s = 0;
    CELMATCH_RETURN_IF_ERROR(Guarded("emb hnsw", [&] {
      t = Clock::now();
      faiss::IndexHNSWFlat index(kDim, 32, faiss::METRIC_INNER_PRODUCT);
      index.hnsw.efConstruction = 40;
      omp_set_num_threads(2);
      index.add(n, d.vectors.data());
      build_s = Since(t);
      faiss::write_index(&index, path.c_str());
      return Status::Ok();
    }));
    ::malloc_trim(0);
    CELMATCH_RETURN_IF_ERROR(emit("emb hnsw", 1, [&](ChildFigures* f) -> QueryFn {
      const auto t0 = Clock::now();
      std::shared_ptr<faiss::Index> ix(faiss::read_index(path.c_str()));
      f->load_s = Since(t0);
      if (auto* h = dynamic_cast<faiss::IndexHNSW*>(ix.get())) h->hnsw.efSearch = 64;
      return [&, ix](int q) { return found(q, FirstAnswer(*ix, d.query(q))); };
    }, build_s, path));
    std::error_code ec;
    fs::remove(path, ec);
  }
  if (Wanted(o, "emb ivfpq")) {
    const std::string path = dir + "/ivfpq.faiss";
    double build_s = 0;
    CELMATCH_RETURN_IF_ERROR(Guarded("emb ivfpq", [&] {
      t = Clock::now();
      const int nlist = std::max(1, int(std::sqrt(double(n))));
      faiss::IndexFlatIP quantizer(kDim);
      faiss::IndexIVFPQ index(&quantizer, kDim, size_t(nlist), 32, 8, faiss::METRIC_INNER_PRODUCT);
      // Small runs (the test's 5,000) train the 256 codes of each of 32
      // sub-quantizers on fewer than FAISS's 39 points a code, which it warns
      // about 32 times; the answers are judged by recall.
      index.pq.cp.min_points_per_centroid = 16;
      omp_set_num_threads(2);
      index.train(std::min<int64_t>(n, std::max<int64_t>(int64_t(nlist) * 50, 10'000)), d.vectors.data());
      index.add(n, d.vectors.data());
      build_s = Since(t);
      faiss::write_index(&index, path.c_str());
      return Status::Ok();
    }));
    ::malloc_trim(0);
    CELMATCH_RETURN_IF_ERROR(emit("emb ivfpq", 2, [&](ChildFigures* f) -> QueryFn {
      const auto t0 = Clock::now();
      std::shared_ptr<faiss::Index> ix(faiss::read_index(path.c_str(), faiss::IO_FLAG_MMAP));
      f->load_s = Since(t0);
      if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(ix.get())) ivf->nprobe = 16;
      return [&, ix](int q) { return found(q, FirstAnswer(*ix, d.query(q))); };
    }, build_s, path));
    std::error_code ec;
    fs::remove(path, ec);
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string> ScaleIndexTypes() {
  std::vector<std::string> out(std::begin(kPdqTypes), std::end(kPdqTypes));
  out.insert(out.end(), std::begin(kEmbeddingTypes), std::end(kEmbeddingTypes));
  return out;
}

double HammingRecallAt1(const std::vector<int>& found, const std::vector<int>& exact) {
  if (exact.empty() || found.size() != exact.size()) return 0;
  size_t hits = 0;
  for (size_t i = 0; i < exact.size(); ++i) hits += found[i] >= 0 && found[i] == exact[i] ? 1 : 0;
  return double(hits) / double(exact.size());
}

Status RunScaleBenchmark(const ScaleOptions& o, const std::function<void(const ScaleRow&)>& on_row) {
  const std::vector<std::string> known = ScaleIndexTypes();
  for (const std::string& t : o.types) {
    if (std::find(known.begin(), known.end(), t) == known.end()) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      return Status::InvalidArgument("unknown index type '" + t + "' (known: " + list + ")");
    }
  }
  for (int64_t n : o.pdq_sizes)
    if (n < 1000) return Status::InvalidArgument("scale sizes must be at least 1,000 frames");
  for (int64_t n : o.embedding_sizes)
    if (n < 1000) return Status::InvalidArgument("scale sizes must be at least 1,000 frames");
  if (o.queries < 1) return Status::InvalidArgument("--queries must be at least 1");
  const std::string dir = o.scratch_dir + "/celmatch-scale-" + std::to_string(::getpid());
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(dir + ": cannot create: " + ec.message());
  Status st = Status::Ok();
  for (int64_t n : o.pdq_sizes) {
    bool any = false;
    for (const char* t : kPdqTypes) any = any || Wanted(o, t);
    if (!any) break;
    st = RunPdq(o, n, dir, on_row);
    if (!st.ok()) break;
  }
  for (int64_t n : o.embedding_sizes) {
    if (!st.ok()) break;
    bool any = false;
    for (const char* t : kEmbeddingTypes) any = any || Wanted(o, t);
    if (!any) break;
    st = RunEmbeddings(o, n, dir, on_row);
  }
  fs::remove_all(dir, ec);
  return st;
}

std::string FormatScaleHeader() {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-16s %10s %5s %9s %8s %9s %8s %8s %9s %9s %9s\n", "index", "frames", "procs",
                "build_s", "load_s", "query_ms", "cpu_ms", "recall@1", "PSS B/fr", "RSS B/fr", "file MiB");
  return buf;
}

std::string FormatScaleRow(const ScaleRow& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-16s %10lld %5d %9.1f %8.2f %9.3f %8.3f %8.3f %9.1f %9.1f %9.1f\n",
                r.index.c_str(), (long long)r.frames, r.processes, r.build_s, r.load_s, r.query_ms, r.query_cpu_ms,
                r.recall_at_1,
                r.pss_bytes_per_frame, r.rss_bytes_per_frame, r.file_bytes / 1048576.0);
  return buf;
}

std::string LoadedBlasLibrary() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (path.find("blas") != std::string::npos) {
      std::error_code ec;
      const fs::path real = fs::canonical(path, ec);
      return ec ? path : real.string();
    }
  }
  return "";
}

}  // namespace celmatch
