// ReferenceIndex: an index directory, the persistent state of celmatch.
//
//   DIR/manifest.json    format version, hashing and sampling parameters, index type
//   DIR/catalog.sqlite   productions, sources, frames (+ PDQ hashes, thumbnails,
//                        span hashes of the frames between them)
//   DIR/pdq.faissbin     FAISS binary index of the frames' PDQ hashes (a cache
//                        of the catalog: id i is frame i)
//   DIR/words_color.bin, words_line.bin
//                        vocabularies of visual words over the frames' local-
//                        feature descriptors, one per layer (caches trained on
//                        the catalog's frame_features, index/feature_index.h;
//                        features_*.faissbin, written by earlier versions, are
//                        no longer read and the next writer removes them)
//   DIR/embeddings.f32, embedding_whitening.bin, embeddings.faiss
//                        learned embeddings of the frames (index/embedding_index.h),
//                        when the index was built with a model (manifest "embedding")
//   DIR/embedding_regions.f32, embedding_regions_whitening.bin, embedding_regions.faiss
//                        likewise, of kRegionsPerFrame regions of each frame
//   DIR/LOCK             held (flock) by the one writer
//
// Crash safety: the catalog commits each source in one SQLite transaction and
// is written first; the FAISS file is written to a temporary name and renamed
// over the old one afterwards. If the process dies in between, the FAISS file
// holds fewer frames than the catalog; Open notices (ntotal != frame count) and
// adds the missing frames from the catalog. manifest.json is likewise replaced
// by rename. So a build killed at any moment leaves an index that opens.
//
// Seals: manifest.json records the size and CRC-32 of every file besides the
// catalog ("files"; durable_files.h). A file is parsed only when it matches
// its seal: a damaged, truncated, missing or symlinked FAISS cache is rebuilt
// from the catalog (in memory by readers, on disk by the next writer), and a
// damaged embedding file is an error naming it. FAISS never sees bytes we did
// not write. Check() verifies the files on disk against their seals.
//
// Thread-safety: after Open, the const methods (Search, frame/source lookups)
// may be called from many threads at once. AddSource/Save need exclusive access.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "index/catalog.h"
#include "index/embedding_index.h"
#include "index/feature_index.h"
#include "index/index_params.h"
#include "signatures/pdq_hash.h"

namespace celmatch {

struct HashNeighbor {
  int64_t frame_id = -1;
  int distance = 0;   // Hamming, 0..256
  double time_s = 0;  // the time of the frame's nearest hash: its own or a span hash's
};

struct IndexStats {
  int64_t productions = 0;
  int64_t sources = 0;
  int64_t frames = 0;
  int64_t bytes_on_disk = 0;
  std::string hash_index_type;   // "flat" or "multihash" (the kind of pdq.faissbin)
  bool hash_index_mapped = false; // searched in place through a shared memory map (read-only opens)
};

// How a read-only open searches the PDQ codes.
enum class HashIndexLoad {
  kMapped,    // in place through a shared memory map whenever the file is
              // complete (the default: measured in reference_index.cpp)
  kInMemory,  // loaded into the process (FAISS), as writers do
};

class ReferenceIndex {
 public:
  // Creates a new index directory (or opens an existing one for writing when
  // it was written with the same parameters). Fails with kIncompatible when
  // DIR holds an index with other parameters.
  static Result<std::unique_ptr<ReferenceIndex>> OpenForWrite(const std::string& dir,
                                                              const IndexParams& params);
  // Opens an existing index to search it. The PDQ codes are searched in place
  // through a shared memory map when the file is complete, so concurrent
  // matchers on one host share one copy. kNotFound when DIR holds no index;
  // kIncompatible (naming the format version or parameter) when it was
  // written by another format version or with other hashing parameters.
  static Result<std::unique_ptr<ReferenceIndex>> OpenForRead(const std::string& dir,
                                                             HashIndexLoad load = HashIndexLoad::kMapped);
  // The parameters in DIR's manifest, without opening the index (no lock, no
  // loading). kNotFound when DIR holds no index.
  static Result<IndexParams> ReadParams(const std::string& dir);
  // The embedding model DIR's manifest records (nullopt: none), likewise.
  static Result<std::optional<EmbeddingModelIdentity>> ReadEmbeddingModel(const std::string& dir);
  ~ReferenceIndex();

  const IndexParams& params() const;

  // True when a source with this content digest is already present.
  Result<bool> HasSource(const std::string& content_sha256);

  // Adds a source and its frames: committed to the catalog at once (crash
  // safe), added to the in-memory hash index. Call Save() to persist the
  // FAISS file (done in batches: it is rewritten whole).
  Status AddSource(SourceToAdd item);

  // Writes the FAISS file, the feature layers' files and the embedding's
  // (temp + rename each), and the manifest.
  Status Save();
  // Save during a long build: the same but the feature layers' files, whose
  // writing grows with the index (all of their descriptors each time). A
  // build killed after a checkpoint leaves them stale: readers then build the
  // layers from the catalog, and the next writer's Save rewrites them.
  Status Checkpoint();

  // The `k` nearest frames to `query` with distance <= max_distance, nearest
  // first. A frame's distance is that of the nearest of its hashes: its own
  // and its span hashes (FrameRecord::span_hashes). Thread-safe.
  std::vector<HashNeighbor> Search(const PdqHash& query, int max_distance, int k) const;
  // How many span hashes the index holds (searched in memory beside the
  // frames' codes; built from the catalog at open).
  int64_t span_hash_count() const;

  // In-memory lookups, loaded at open. Ids are those of the catalog.
  int64_t frame_count() const;
  const FrameRecord& frame(int64_t frame_id) const;
  const SourceRecord& source(int64_t source_id) const;
  const ProductionRecord& production(int64_t production_id) const;
  // The frames of one source in time order (ids).
  const std::vector<int64_t>& frames_of_source(int64_t source_id) const;

  // The local-feature indexes. Writers load them at open; a read-only open
  // loads them at the first call of LoadFeatures (or features()), so that a
  // query PDQ settles alone never pays for them (they are most of an open's
  // time and memory). LoadFeatures is thread-safe and idempotent: it returns
  // the one load's status, an error naming the file or catalog when that
  // failed. Call it before features() where an error must be reported.
  Status LoadFeatures() const;
  // The local-feature index of one layer; empty when LoadFeatures failed.
  const FeatureIndex& features(FeatureLayer layer) const;

  // The learned-embedding index (index/embedding_index.h); null when the
  // index was built without one.
  const EmbeddingIndex* embedding() const;
  // The embeddings of the frames' regions (EmbeddingIndex::Kind::kRegions);
  // null when the index was built without a model.
  const EmbeddingIndex* embedding_regions() const;
  // Writers: the model whose vectors SourceToAdd::embeddings will carry. A
  // new (empty) index records it; an index that records the same model
  // accepts it; kIncompatible, naming both, for another model or for an
  // index that already holds frames without embeddings.
  Status SetEmbeddingModel(const EmbeddingModelIdentity& model);

  // JPEG thumbnail of a frame (empty when none). Reads the catalog.
  Result<std::vector<uint8_t>> Thumbnail(int64_t frame_id) const;

  Result<IndexStats> Stats() const;

  // The files on disk against their seals (naming each one that fails),
  // catalog integrity, and catalog/FAISS agreement (same count, same codes).
  Status Check() const;

 private:
  struct Impl;
  explicit ReferenceIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace celmatch
