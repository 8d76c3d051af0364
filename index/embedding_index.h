// EmbeddingIndex: the learned embeddings (signatures/embedding.h) of the
// reference frames, PCA-whitened, in a FAISS inner-product index; and the
// identity of the model that made them, which queries must share.
//
//   DIR/embeddings.f32              the model's own vectors (L2-normalised), one
//                                   per embedded frame, with its frame id: the
//                                   truth the rest is derived from
//   DIR/embedding_whitening.bin     mean and whitening matrix, fitted on the
//                                   reference vectors
//   DIR/embeddings.faiss            FAISS float index of the whitened, re-
//                                   normalised vectors (row i = row i of
//                                   embeddings.f32): IndexFlatIP, or
//                                   IndexHNSWFlat from kHnswMinVectors on
//   manifest.json "embedding"       model name, SHA-256 of its ONNX file, dimension
//
// The same three files again for the frames' regions (Kind::kRegions:
// embedding_regions.f32, embedding_regions_whitening.bin,
// embedding_regions.faiss): the embedding of each of kRegionsPerFrame
// windows of half the frame's width and height (RegionWindow), so that a
// crop of a quarter of the frame lands near the window it overlaps most.
// Their rows are keyed RegionKey(frame, region); Search answers frames.
// An index built before regions has none: crops are then proposed by the
// whole-frame embedding and the feature vote only.
//
// Whitening: y = W (x - mean), then y / |y|, with W = D^-1/2 V^T from the
// eigen-decomposition of the reference vectors' covariance (eigenvalues
// shrunk towards their mean, so directions the reference set barely spans
// are not blown up). It is fitted when the index is saved and has no
// whitening yet or holds at least twice the vectors the current one was
// fitted on; otherwise new vectors are whitened with the stored matrix. So
// `index add` of a little footage keeps the build's whitening (queries of an
// index are always whitened with the matrix its vectors were), a merge into a
// new index fits on all its vectors, and refits (which rebuild the FAISS
// index) cost linear time over an index's life.
//
// Crash safety, as for the other caches of the index: each file is replaced
// by rename, the raw vectors first. Load adds whitened rows missing from
// embeddings.faiss (killed between the two writes) and rebuilds a file that
// does not agree. Frames committed to the catalog whose vectors were never
// saved (killed before the save) stay without an embedding: they are still
// found by PDQ and local features, and `index check` reports them.
//
// Thread-safety: const methods may run on many threads at once; Add and Save
// need exclusive access.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "core/status.h"

namespace faiss {
struct Index;
}

namespace celmatch {

struct EmbeddingManifest;
class EmbeddingModelPool;

// Which model made an index's vectors. Two models are the same only when
// their ONNX files are byte for byte the same (SHA-256).
struct EmbeddingModelIdentity {
  std::string name;          // the manifest's name
  std::string onnx_sha256;   // 64 hex digits
  int dim = 0;               // output dimension

  bool operator==(const EmbeddingModelIdentity& o) const {
    return name == o.name && onnx_sha256 == o.onnx_sha256 && dim == o.dim;
  }
  bool operator!=(const EmbeddingModelIdentity& o) const { return !(*this == o); }
  // "celmatch-embed-v2 (sha256 3f2a...c9d1, 256-d)"
  std::string ToString() const;
  nlohmann::json ToJson() const;
  static Result<EmbeddingModelIdentity> FromJson(const nlohmann::json& j);
};

// The identity of the model in `onnx_path` with `manifest` (SHA-256 of the file).
Result<EmbeddingModelIdentity> IdentifyEmbeddingModel(const std::string& onnx_path, const EmbeddingManifest& manifest);

// Where celmatch looks for a model given by name only (the committed one by
// default, or the one an index records), in this order:
//   DIR_OF_EXECUTABLE/../share/celmatch/models   (installed: PREFIX/bin/celmatch)
//   DIR_OF_EXECUTABLE/../models                  (a build folder inside the source tree)
//   DIR_OF_EXECUTABLE/models
std::vector<std::string> EmbeddingModelSearchPath();
// The model file to use for NAME: CELMATCH_MODEL when it names a file (its
// identity is checked by whoever loads it), else the first NAME.onnx on the
// search path; nullopt when none.
std::optional<std::string> FindEmbeddingModel(const std::string& name);
// The model an index is built with when none is named.
inline constexpr char kDefaultEmbeddingModel[] = "celmatch-embed-v2";

// The model to embed queries with for an index whose vectors `recorded`
// made: `explicit_onnx` (its manifest `explicit_manifest`, default beside it)
// when given, else the recorded name found by FindEmbeddingModel, loaded.
// kNotFound, naming the file and saying that --no-embedding proceeds
// without it, when there is no such file (matching without the embedding
// loses leaks only it places, so that is the user's choice, not a fallback);
// kIncompatible, naming both models, when the file found is another model
// than the index's; the model's load errors otherwise.
Result<std::shared_ptr<EmbeddingModelPool>> ChooseQueryEmbeddingModel(const std::string& index_dir,
                                                                      const EmbeddingModelIdentity& recorded,
                                                                      const std::string& explicit_onnx,
                                                                      const std::string& explicit_manifest);

// The windows a frame's region embeddings are made of: half the frame's
// width and height, at offsets 0, 1/4 and 1/2 of its width and height (a
// 3 x 3 grid); any crop of half the frame's width and height overlaps one of
// them by at least 3/4 of its width and of its height. Region r of a frame
// of `size`, r < kRegionsPerFrame, row by row.
inline constexpr int kRegionsPerFrame = 9;
cv::Rect RegionWindow(cv::Size size, int region);
inline int64_t RegionKey(int64_t frame_id, int region) { return frame_id * kRegionsPerFrame + region; }

struct EmbeddingNeighbor {
  int64_t frame_id = -1;
  float similarity = 0;   // cosine of the whitened vectors, -1..1
};

class EmbeddingIndex {
 public:
  // Above this many vectors the search index is HNSW (approximate) instead
  // of an exact flat scan (`celmatch bench throughput --scale-embeddings`;
  // models/README.md "Search index" has the figures behind the size).
  static constexpr int64_t kHnswMinVectors = 200'000;

  // What the rows are: one per frame (keyed by frame id), or
  // kRegionsPerFrame per frame (keyed by RegionKey). Each kind has its files.
  enum class Kind { kFrames, kRegions };

  ~EmbeddingIndex();
  EmbeddingIndex(const EmbeddingIndex&) = delete;
  EmbeddingIndex& operator=(const EmbeddingIndex&) = delete;

  // An empty index for a new index directory.
  static std::unique_ptr<EmbeddingIndex> Create(const EmbeddingModelIdentity& model, Kind kind = Kind::kFrames);
  // Loads DIR's files for an index whose manifest records `model` (none yet
  // is an empty index); `*stale` is set when the files must be rewritten.
  // kCorrupt when embeddings.f32 is unreadable or of another dimension.
  // `require_seals`: every file must end in its seal (index/durable_files.h);
  // false for an index written before seals.
  static Result<std::unique_ptr<EmbeddingIndex>> Load(const std::string& dir, const EmbeddingModelIdentity& model,
                                                      bool* stale, bool require_seals = true,
                                                      Kind kind = Kind::kFrames);
  // The file names of a kind: raw vectors, whitening, search index.
  static std::array<const char*, 3> FileNames(Kind kind);
  // Every file is rewritten by the next Save (an index from before seals).
  void MarkFilesStale() { raw_dirty_ = whitening_dirty_ = search_dirty_ = true; }

  const EmbeddingModelIdentity& model() const { return model_; }
  Kind kind() const { return kind_; }
  int dim() const { return model_.dim; }
  int64_t size() const { return int64_t(keys_.size()); }
  // Vectors the current whitening was fitted on (0: not fitted yet).
  int64_t whitening_fitted_on() const { return fitted_on_; }
  std::string search_index_type() const;  // "flat" or "hnsw"

  // Appends the model's vector of row `key` (a frame id, or a RegionKey;
  // keys ascending, above every one added so far; `raw` holds dim() floats).
  // Whitened at the next Save.
  Status Add(int64_t key, const float* raw);
  // The model's vector of a row (dim() floats), nullptr when it has none.
  const float* raw(int64_t key) const;

  // Brings the whitening and search index up to date (see above) and writes
  // what changed: raw vectors, then whitening, then the search index.
  Status Save(const std::string& dir);

  // The `k` reference frames most similar to each of the `queries` (raw model
  // vectors, dim() floats each), merged: a frame keeps its best similarity
  // (over its regions too); most similar first. Runs on the calling thread only.
  std::vector<EmbeddingNeighbor> Search(const std::vector<const float*>& queries, int k) const;

  // Files agree with each other and with `frame_count` frames in the catalog.
  // `*missing` (optional) gets the number of frames without a vector (of
  // rows, for regions).
  Status Check(const std::string& dir, int64_t frame_count, int64_t* missing) const;

 private:
  EmbeddingIndex() = default;
  // Whitens rows [first, size()) into the search index.
  Status Whiten(int64_t first);
  Status Fit();  // fits the whitening on all vectors and rebuilds the search index
  void WhitenInto(const float* raw, float* out) const;
  std::unique_ptr<faiss::Index> NewSearchIndex(int64_t n) const;

  EmbeddingModelIdentity model_;
  Kind kind_ = Kind::kFrames;
  std::vector<int64_t> keys_;          // row keys, ascending
  std::vector<float> raw_;             // size() x dim
  std::vector<int64_t> row_of_key_;    // key -> row, -1 when none (dense up to the highest key)
  // Whitening: out = projection_ (dim x dim, row-major) * (x - mean_).
  std::vector<float> mean_, projection_;
  int64_t fitted_on_ = 0;
  std::unique_ptr<faiss::Index> search_;  // rows whitened so far
  bool raw_dirty_ = false, whitening_dirty_ = false, search_dirty_ = false;
};

}  // namespace celmatch
