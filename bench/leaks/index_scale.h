// Index scale benchmark behind `celmatch bench throughput --scale` (and
// bench/bench_scale): for synthetic reference sets of a given size, each index
// type celmatch can use is built, searched one query at a time (as the
// matcher searches), and measured: build time, memory added per reference
// frame, query latency and recall@1 against exact search.
//
// PDQ hash indexes (256-bit codes):
//   flat            FAISS IndexBinaryFlat loaded into the process (exact)
//   flat mmap       the same file searched in place by MappedBinaryFlat, as
//                   ReferenceIndex::OpenForRead does (exact; shared per host)
//   flat FAISS mmap read_index_binary(IO_FLAG_MMAP) of the flat file: FAISS
//                   1.7.3 copies the codes anyway (shown for the record)
//   multihash       IndexBinaryMultiHash 16x16 nflip1 in the process's heap
//                   (what writers and small readers use; exact to 31 bits)
//   ivf             IndexBinaryIVF, nlist = sqrt(n), nprobe 16, inverted
//                   lists memory-mapped by FAISS (IO_FLAG_MMAP); approximate
// Embedding indexes (256-d float, L2-normalised, inner product):
//   emb flat        IndexFlatIP (exact)
//   emb hnsw        IndexHNSWFlat, M 32, efConstruction 40, efSearch 64
//   emb ivfpq       IndexIVFPQ, nlist = sqrt(n), 32 x 8-bit PQ, nprobe 16,
//                   lists memory-mapped by FAISS (IO_FLAG_MMAP)
//
// Synthetic data looks like reference frames: shots of 8 frames, each PDQ
// code 24 random bits from the previous one (KeyframeSampler keeps a frame
// when PDQ moved 20+ bits), shots unrelated (~128 bits apart, as unrelated
// real frames are: 84+ bits on ../shared/footage). Queries are stored frames
// with 16 bits flipped (a re-encoded, rescaled leak). Embeddings: per shot a
// random unit centre, frames = centre + Gaussian noise (cosine ~0.95 to the
// centre), renormalised; queries = a stored frame + noise (cosine ~0.97).
//
// recall@1: the index's first answer is as near as the exact nearest (equal
// Hamming distance, or a true inner product within 1e-5 of the best, computed
// from the stored vector since IVF-PQ reports approximate scores: ties count).
//
// Memory: each type is measured in forked children, so one type does not
// inherit another's freed heap. Types that map a file (flat mmap, ivf,
// emb ivfpq) run in two processes searching at once: "PSS" is what one
// process adds with shared pages split between the two, "RSS" counts them
// whole. Types that live in the heap run in one process (PSS = RSS; a second
// process would hold a second copy).
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace celmatch {

struct ScaleOptions {
  std::vector<int64_t> pdq_sizes;        // reference frames per PDQ run
  std::vector<int64_t> embedding_sizes;  // reference frames per embedding run
  // Types to run (names as above); empty: all.
  std::set<std::string> types;
  int queries = 200;
  std::string scratch_dir = "/tmp";      // index files are written here, then removed
  uint64_t seed = 12345;
};

struct ScaleRow {
  std::string index;           // type name as above
  int64_t frames = 0;
  int processes = 1;           // searching at once while memory was measured
  double build_s = 0;          // build (or train + add) time
  double load_s = 0;           // open/read time in a searching process (0: built there)
  double query_ms = 0;         // mean latency of one query, one thread (wall clock)
  double query_cpu_ms = 0;     // the same in CPU time of the searching thread (steadier on a busy machine)
  double recall_at_1 = 0;
  double pss_bytes_per_frame = 0;  // memory one process adds, shared pages split
  double rss_bytes_per_frame = 0;  // memory one process adds, shared pages whole
  double file_bytes = 0;           // index file size (0: none)
};

// Lists the type names this build knows, in run order.
std::vector<std::string> ScaleIndexTypes();

// Runs every selected type at every size, PDQ first, calling `on_row` as
// each row is measured (runs take minutes at 10M). kInvalidArgument for an
// unknown type or a size under 1,000.
Status RunScaleBenchmark(const ScaleOptions& options, const std::function<void(const ScaleRow&)>& on_row);

// The recall@1 of answers against exact answers, as defined above: the
// fraction of queries whose found nearest Hamming distance equals the exact
// one (a negative found distance: nothing found).
double HammingRecallAt1(const std::vector<int>& found, const std::vector<int>& exact);

// A header line and one row per measurement, fixed-width.
std::string FormatScaleHeader();
std::string FormatScaleRow(const ScaleRow& row);

// The shared library that provides BLAS in this process (FAISS's float
// searches use it), from /proc/self/maps; "" when none is mapped.
std::string LoadedBlasLibrary();

}  // namespace celmatch
