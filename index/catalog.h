// Catalog: the SQLite database of an index directory (catalog.sqlite).
//
// It is the source of truth of a ReferenceIndex: productions, sources and
// reference frames, each frame with its PDQ hash, so the FAISS files can
// always be rebuilt from it. Owned by ReferenceIndex; other code reaches it
// through ReferenceIndex.
//
// Thread-safety: one Catalog per thread (SQLite connection). Readers and
// one writer may use the same file from different processes (WAL mode).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "signatures/pdq_hash.h"

namespace celmatch {

struct ProductionRecord {
  int64_t id = -1;
  std::string name;
};

struct SourceRecord {
  int64_t id = -1;
  int64_t production_id = -1;
  std::string path;             // relative to its production folder
  std::string content_sha256;   // 64 hex digits; unique in the catalog
  int64_t size_bytes = 0;
  bool is_still = false;        // an image used as a reference
  double duration_s = 0;        // 0 for stills
  int width = 0;                // pixels
  int height = 0;
};

struct FrameRecord {
  int64_t id = -1;              // dense 0..N-1 in insertion order; also the FAISS id
  int64_t source_id = -1;
  double time_s = 0;            // from stream start; 0 for stills
  double span_end_s = 0;        // the footage [time_s, span_end_s) this frame stands for
  int64_t frame_number = 0;
  int quality = 0;              // PDQ quality 0..100
  PdqHash pdq;
  // Hashes of dropped frames of its span (frames/keyframe_sampler.h), in
  // time order; table span_hashes, absent in catalogs written before them.
  std::vector<SpanHash> span_hashes;
};

// One frame's local features of one layer (signatures/local_features.h):
// `xy` two floats per keypoint (reference pixels), `descriptors`
// kFeatureBytes per keypoint, in the same order.
struct FrameFeaturesRecord {
  int64_t frame_id = -1;        // in SourceToAdd: index into its frames; the catalog id once added
  int layer = 0;                // FeatureLayer
  std::vector<float> xy;
  std::vector<uint8_t> descriptors;
};

// How many keypoints one frame has in one layer.
struct FrameFeatureCount {
  int64_t frame_id = -1;
  int64_t count = 0;
};

// A source and its frames, to be added in one transaction.
struct SourceToAdd {
  std::string production;       // created when missing
  SourceRecord source;          // id and production_id are assigned
  std::vector<FrameRecord> frames;               // id and source_id are assigned
  std::vector<std::vector<uint8_t>> thumbnails;  // JPEG per frame (may be empty)
  std::vector<FrameFeaturesRecord> features;     // any frames, any layers (may be empty)
  // The embedding model's vector per frame (index into frames; an empty
  // vector: none). Not stored in the catalog: ReferenceIndex keeps them in
  // its embedding index (index/embedding_index.h).
  std::vector<std::vector<float>> embeddings;
  // Per frame likewise: kRegionsPerFrame vectors of its regions, one after
  // the other (EmbeddingIndex::Kind::kRegions), or none.
  std::vector<std::vector<float>> region_embeddings;
};

class Catalog {
 public:
  // Opens (and creates the schema of, when `create`) the database at `path`.
  static Result<std::unique_ptr<Catalog>> Open(const std::string& path, bool create, bool read_only);
  ~Catalog();

  // Adds one source with all its frames atomically (one transaction): after a
  // crash either all of it is in the catalog or none. Fills the ids.
  Status AddSource(SourceToAdd* item);

  Result<std::optional<SourceRecord>> FindSourceBySha256(const std::string& sha256);
  Result<std::vector<ProductionRecord>> Productions();
  Result<std::vector<SourceRecord>> Sources();
  // Frames with id in [first_id, end), in id order; end = -1 for all.
  Result<std::vector<FrameRecord>> Frames(int64_t first_id = 0, int64_t end = -1);
  Result<int64_t> FrameCount();

  // Productions, sources and frames (without thumbnails) read in one
  // transaction, so a writer in another process committing meanwhile cannot
  // make them disagree. What ReferenceIndex loads at open.
  struct Contents {
    std::vector<ProductionRecord> productions;
    std::vector<SourceRecord> sources;
    std::vector<FrameRecord> frames;
  };
  Result<Contents> ReadAll();
  Result<std::vector<uint8_t>> Thumbnail(int64_t frame_id);  // empty if none
  // Local features of one layer for frames with id < end_frame, by frame id.
  Result<std::vector<FrameFeaturesRecord>> FrameFeatures(int layer, int64_t end_frame);
  // The same frames' ids and keypoint counts, without reading the features
  // (a mapped feature file is checked against them); kCorrupt as FrameFeatures
  // when a frame's keypoints and descriptors disagree in number.
  Result<std::vector<FrameFeatureCount>> FrameFeatureCounts(int layer, int64_t end_frame);

  // Key/value metadata (e.g. the manifest's copy of parameters).
  Status SetMeta(const std::string& key, const std::string& value);
  Result<std::optional<std::string>> GetMeta(const std::string& key);

  // PRAGMA integrity_check plus celmatch's own invariants (dense frame ids,
  // every frame's source exists).
  Status Check();

 private:
  struct Impl;
  explicit Catalog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace celmatch
