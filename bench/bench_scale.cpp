// Scale of celmatch's indexes on one machine, as a standalone program: the
// same measurement as `celmatch bench throughput --scale` (see
// bench/leaks/index_scale.h for the index types, the synthetic data and what
// each column means).
//
//   ./build/bench/bench_scale 100000,1000000            # PDQ indexes, all types
//   ./build/bench/bench_scale 10000000 --types "flat,flat mmap,multihash,ivf"
//   ./build/bench/bench_scale --embeddings 100000 --queries 100
// Not a Google Benchmark program: it compares memory across processes, which
// a benchmark::State loop cannot.
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "leaks/index_scale.h"
#include "size_list.h"

int main(int argc, char** argv) {
  celmatch::ScaleOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--queries" && i + 1 < argc) {
      options.queries = std::atoi(argv[++i]);
    } else if (a == "--embeddings" && i + 1 < argc) {
      options.embedding_sizes = celmatch::ParseSizeList(argv[++i]);
    } else if (a == "--types" && i + 1 < argc) {
      std::stringstream in(argv[++i]);
      std::string t;
      while (std::getline(in, t, ',')) options.types.insert(t);
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: %s [FRAMES,...] [--embeddings FRAMES,...] [--types T,...] [--queries Q]\n", argv[0]);
      return 0;
    } else {
      options.pdq_sizes = celmatch::ParseSizeList(a);
    }
  }
  if (options.pdq_sizes.empty() && options.embedding_sizes.empty()) options.pdq_sizes = {1'000'000};
  std::printf("BLAS: %s\n%s", celmatch::LoadedBlasLibrary().c_str(), celmatch::FormatScaleHeader().c_str());
  celmatch::Status st = celmatch::RunScaleBenchmark(options, [](const celmatch::ScaleRow& row) {
    std::fputs(celmatch::FormatScaleRow(row).c_str(), stdout);
    std::fflush(stdout);
  });
  if (!st.ok()) {
    std::fprintf(stderr, "bench_scale: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}
