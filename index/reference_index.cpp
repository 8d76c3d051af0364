// ReferenceIndex: ties the catalog (source of truth), the FAISS hash index (a
// cache of the catalog's PDQ codes) and the manifest together; see
// reference_index.h for the directory layout and the crash-safety argument.
#include "index/reference_index.h"

#include "index/durable_files.h"
#include "index/mapped_binary_flat.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <unordered_map>
#include <sstream>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>
#include <omp.h>

namespace celmatch {

namespace fs = std::filesystem;

namespace {

using faiss_idx_t = faiss::Index::idx_t;

constexpr int kBits = 256;
constexpr size_t kCodeSize = kBits / 8;
// IndexBinaryMultiHash reads each b-bit substring as an unaligned uint64 at
// its first byte, i.e. up to 7 bytes past the last code: every buffer handed
// to FAISS gets this much zero padding.
constexpr size_t kFaissPadding = 8;

// Multi-index hashing: 16 tables on disjoint 16-bit substrings, probed with up
// to 1 flipped bit. Two codes at distance <= 31 agree to within one bit on at
// least one of the 16 substrings (pigeonhole), so the search is exact up to
// kMultiHashExactRadius; beyond it Search scans the flat storage instead.
// Chosen with bench/bench_index_search.cpp.
constexpr int kMultiHashTables = 16;
constexpr int kMultiHashBits = 16;
constexpr int kMultiHashFlips = 1;
constexpr int kMultiHashExactRadius = kMultiHashTables * (kMultiHashFlips + 1) - 1;

// Read-only opens (the matcher's) search pdq.faissbin in place through a
// shared memory map (MappedBinaryFlat), whatever its size and kind (flat below
// multihash_min_frames, multihash above: the map covers the multihash file's
// flat storage): one copy of the codes per host, in the page cache, 32 bytes a
// frame however many matchers run, and nothing to load. Loading the multihash
// tables instead pays only near 1M frames. Measured with `celmatch bench
// throughput --scale` (CPU time per query, one thread; README "Big indexes on
// one machine"): mapped scan vs multihash 0.16 vs 0.19 ms at 100k frames,
// 5.6 vs 2.3 ms at 1M, 52 vs 54 ms at 10M, while the tables cost every process
// 275-800 bytes a frame and 13 s (1M) to 184 s (10M) to build at open.
// Writers keep loading the file as FAISS does.

const char kManifestName[] = "manifest.json";
const char kCatalogName[] = "catalog.sqlite";
const char kFaissName[] = "pdq.faissbin";
const char kLockName[] = "LOCK";
// Each feature layer's vocabulary of visual words (index/feature_index.h).
const char* const kFeatureFileNames[kFeatureLayers] = {"words_color.bin", "words_line.bin"};
// Written by celmatch before the feature layers were searched by visual
// words (FAISS multi-hash caches): no longer read, removed by the next writer.
const char* const kRetiredFeatureFileNames[kFeatureLayers] = {"features_color.faissbin", "features_line.faissbin"};
const char kParamsMetaKey[] = "index_params";

const FrameRecord kNoFrame{};
const SourceRecord kNoSource{};
const ProductionRecord kNoProduction{};
const std::vector<int64_t> kNoFrames{};

std::string Errno(int e) { return std::strerror(e); }

// The hashing parameters that differ, for error messages ("" when none).
std::string HashingDifference(const IndexParams& index, const IndexParams& run) {
  std::ostringstream out;
  auto add = [&](const char* name, const auto& a, const auto& b) {
    if (a == b) return;
    if (out.tellp() > 0) out << ", ";
    out << name << " " << a << " (this run: " << b << ")";
  };
  add("format_version", index.format_version, run.format_version);
  add("hash", index.hash, run.hash);
  add("sampler_change_distance", index.sampler_change_distance, run.sampler_change_distance);
  add("sampler_max_interval_s", index.sampler_max_interval_s, run.sampler_max_interval_s);
  add("features", index.features, run.features);
  add("feature_max_side", index.feature_max_side, run.feature_max_side);
  add("feature_max_per_frame", index.feature_max_per_frame, run.feature_max_per_frame);
  return out.str();
}

// The files of the index besides the catalog and the manifest, each ending
// in its seal (durable_files.h): the FAISS caches of the catalog, and the
// embedding files.
const char* const kSealedFiles[] = {kFaissName, kFeatureFileNames[0], kFeatureFileNames[1],
                                    "embeddings.f32", "embedding_whitening.bin", "embeddings.faiss",
                                    "embedding_regions.f32", "embedding_regions_whitening.bin",
                                    "embedding_regions.faiss"};

struct Manifest {
  IndexParams params;
  std::string hash_index_type;
  std::optional<EmbeddingModelIdentity> embedding;  // absent: built without an embedding model
  // False for an index written before seals (durable_files.h): its FAISS
  // caches are then rebuilt from the catalog (by its next writer on disk).
  bool sealed = false;
};

// Reads DIR/manifest.json. kNotFound when it does not exist.
Result<Manifest> ReadManifest(const std::string& dir) {
  const std::string path = dir + "/" + kManifestName;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return Status::NotFound(dir + " is not a celmatch index (no " + kManifestName + ")");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot open: " + Errno(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Status::IoError(path + ": read failed");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(buf.str());
  } catch (const nlohmann::json::exception& e) {
    return Status::Corrupt(path + ": malformed JSON: " + e.what());
  }
  auto params = IndexParams::FromJson(j);
  if (!params.ok()) return params.status().WithPrefix(path);
  Manifest m;
  m.params = *params;
  if (j.contains("hash_index") && j["hash_index"].is_string()) m.hash_index_type = j["hash_index"].get<std::string>();
  if (j.contains("embedding")) {
    auto e = EmbeddingModelIdentity::FromJson(j["embedding"]);
    if (!e.ok()) return e.status().WithPrefix(path);
    m.embedding = *e;
  }
  m.sealed = j.value("sealed_files", false);
  return m;
}

// Copies codes of `frames[first, end)` into a padded buffer for FAISS.
std::vector<uint8_t> PackCodes(const std::vector<FrameRecord>& frames, size_t first, size_t end) {
  std::vector<uint8_t> codes((end - first) * kCodeSize + kFaissPadding, 0);
  for (size_t i = first; i < end; ++i) {
    std::memcpy(codes.data() + (i - first) * kCodeSize, frames[i].pdq.bytes.data(), kCodeSize);
  }
  return codes;
}

// The stored codes of a FAISS index of ours (flat, or multihash's storage).
const std::vector<uint8_t>* StoredCodes(const faiss::IndexBinary* index) {
  if (auto* flat = dynamic_cast<const faiss::IndexBinaryFlat*>(index)) return &flat->xb;
  if (auto* mh = dynamic_cast<const faiss::IndexBinaryMultiHash*>(index)) {
    return mh->storage ? &mh->storage->xb : nullptr;
  }
  return nullptr;
}

}  // namespace

struct ReferenceIndex::Impl {
  std::string dir;
  IndexParams params;
  bool writable = false;
  int lock_fd = -1;

  // One SQLite connection; const methods (Thumbnail, Stats, Check) may run
  // on several threads, so they take this mutex.
  mutable std::mutex catalog_mu;
  std::unique_ptr<Catalog> catalog;

  std::unique_ptr<faiss::IndexBinary> hash_index;  // id i = frame i
  // Read-only opens: pdq.faissbin's codes searched in place (hash_index is
  // then null; see MappedBinaryFlat above).
  std::unique_ptr<MappedBinaryFlat> mapped;
  bool multihash = false;
  bool faiss_dirty = false;     // the in-memory hash index differs from pdq.faissbin
  std::string manifest_type;    // hash_index of the manifest on disk
  bool manifest_dirty = false;  // parameters changed since the manifest was written

  std::vector<FrameRecord> frames;
  // The frames' span hashes (FrameRecord::span_hashes), searched beside the
  // frames' own codes: built in memory from the catalog at open (no file of
  // their own; reading them costs less than a cache's seal would).
  std::unique_ptr<faiss::IndexBinary> span_index;
  bool span_multihash = false;
  std::vector<int64_t> span_frame;  // row -> its frame's id
  std::vector<double> span_time;    // row -> its time
  std::vector<SourceRecord> sources;
  std::vector<ProductionRecord> productions;
  std::vector<std::vector<int64_t>> frames_of_source;

  std::array<std::unique_ptr<FeatureIndex>, kFeatureLayers> features;
  std::array<bool, kFeatureLayers> features_dirty{};  // differs from its file
  // Read-only opens load `features` at the first LoadFeatures call.
  std::once_flag features_once;
  Status features_status;

  std::optional<EmbeddingModelIdentity> embedding_model;  // the manifest's
  std::unique_ptr<EmbeddingIndex> embedding;              // set when embedding_model is
  std::unique_ptr<EmbeddingIndex> regions;                // likewise: the frames' regions

  // The manifest says every file ends in its seal (durable_files.h).
  bool sealed_manifest = false;

  // True when the FAISS cache `name` may be parsed: its seal holds. A file
  // that is missing, a symbolic link, unsealed or damaged is not read
  // (callers rebuild it from the catalog); `index check` names it. Loaders
  // that parse the file use ReadSealedBinaryIndex, which reads it once.
  bool Trusted(const char* name) const { return sealed_manifest && VerifySealedFile(PathOf(name)).ok(); }

  ~Impl() {
    catalog.reset();
    if (lock_fd >= 0) ::close(lock_fd);  // releases the flock
  }

  std::string PathOf(const char* name) const { return dir + "/" + name; }
  std::string TypeName() const { return multihash ? "multihash" : "flat"; }
  bool WantMultihash() const { return int64_t(frames.size()) >= params.multihash_min_frames; }

  Status Lock() {
    const std::string path = PathOf(kLockName);
    lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) return Status::IoError(path + ": cannot open the lock file: " + Errno(errno));
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      ::close(lock_fd);
      lock_fd = -1;
      if (e == EWOULDBLOCK) {
        return Status::IoError(dir + " is being written by another celmatch process (" + path +
                               " is locked); wait for it to finish");
      }
      return Status::IoError(path + ": cannot lock: " + Errno(e));
    }
    return Status::Ok();
  }

  // Reads productions, sources and frames into memory.
  Status LoadMetadata() {
    auto all = catalog->ReadAll();
    if (!all.ok()) return all.status();
    productions = std::move(all->productions);
    sources = std::move(all->sources);
    frames = std::move(all->frames);
    const std::string cat = PathOf(kCatalogName);
    for (size_t i = 0; i < productions.size(); ++i) {
      if (productions[i].id != int64_t(i)) return Status::Corrupt(cat + ": production ids are not dense");
    }
    frames_of_source.assign(sources.size(), {});
    for (size_t i = 0; i < sources.size(); ++i) {
      if (sources[i].id != int64_t(i)) return Status::Corrupt(cat + ": source ids are not dense");
      if (sources[i].production_id < 0 || sources[i].production_id >= int64_t(productions.size())) {
        return Status::Corrupt(cat + ": source " + std::to_string(i) + " belongs to no production");
      }
    }
    for (size_t i = 0; i < frames.size(); ++i) {
      if (frames[i].id != int64_t(i)) return Status::Corrupt(cat + ": frame ids are not dense");
      if (frames[i].source_id < 0 || frames[i].source_id >= int64_t(sources.size())) {
        return Status::Corrupt(cat + ": frame " + std::to_string(i) + " belongs to no source");
      }
      frames_of_source[size_t(frames[i].source_id)].push_back(int64_t(i));
    }
    for (auto& list : frames_of_source) SortByTime(&list);
    span_index.reset();
    span_frame.clear();
    span_time.clear();
    return AddSpanHashes(0, frames.size());
  }

  // Adds the span hashes of frames [first, end) to span_index.
  Status AddSpanHashes(size_t first, size_t end) {
    std::vector<uint8_t> codes;
    for (size_t i = first; i < end; ++i) {
      for (const SpanHash& h : frames[i].span_hashes) {
        codes.insert(codes.end(), h.hash.bytes.begin(), h.hash.bytes.end());
        span_frame.push_back(int64_t(i));
        span_time.push_back(h.time_s);
      }
    }
    if (codes.empty()) return Status::Ok();
    const size_t n = codes.size() / kCodeSize;
    codes.resize(codes.size() + kFaissPadding, 0);
    try {
      if (!span_index) {
        span_multihash = int64_t(span_frame.size()) >= params.multihash_min_frames;
        span_index = NewHashIndex(span_multihash);
      }
      span_index->add(faiss_idx_t(n), codes.data());
    } catch (const std::exception& e) {
      return Status::Internal(PathOf(kCatalogName) + ": building the span hashes' index failed: " + e.what());
    }
    return Status::Ok();
  }

  void SortByTime(std::vector<int64_t>* list) const {
    std::stable_sort(list->begin(), list->end(), [&](int64_t a, int64_t b) {
      return frames[size_t(a)].time_s < frames[size_t(b)].time_s;
    });
  }

  // A new, empty hash index of the wanted type.
  std::unique_ptr<faiss::IndexBinary> NewHashIndex(bool want_multihash) const {
    if (want_multihash) {
      auto mh = std::make_unique<faiss::IndexBinaryMultiHash>(kBits, kMultiHashTables, kMultiHashBits);
      mh->nflip = kMultiHashFlips;
      return mh;
    }
    return std::make_unique<faiss::IndexBinaryFlat>(kBits);
  }

  // Adds frames [first, end) of the catalog to `index`.
  static void AddFrames(faiss::IndexBinary* index, const std::vector<FrameRecord>& frames, size_t first,
                        size_t end) {
    if (end <= first) return;
    std::vector<uint8_t> codes = PackCodes(frames, first, end);
    index->add(faiss_idx_t(end - first), codes.data());
  }

  Status RebuildHashIndex() {
    try {
      const bool want = WantMultihash();
      auto index = NewHashIndex(want);
      AddFrames(index.get(), frames, 0, frames.size());
      hash_index = std::move(index);
      multihash = want;
      faiss_dirty = true;
    } catch (const std::exception& e) {
      return Status::Internal(PathOf(kFaissName) + ": building the hash index failed: " + e.what());
    }
    return Status::Ok();
  }

  // The stored codes (n of kCodeSize bytes) of whichever index is open.
  const uint8_t* Codes(int64_t* n) const {
    if (mapped) {
      *n = mapped->size();
      return mapped->size() > 0 ? mapped->code(0) : nullptr;
    }
    const std::vector<uint8_t>* codes = hash_index ? StoredCodes(hash_index.get()) : nullptr;
    *n = hash_index ? int64_t(hash_index->ntotal) : 0;
    if (!codes || codes->size() < size_t(*n) * kCodeSize) return nullptr;
    return codes->data();
  }

  // Read-only opens: maps pdq.faissbin when it holds exactly the catalog's
  // codes. False (and nothing mapped) otherwise: the caller loads it,
  // repairing in memory what needs repair.
  bool MapHashIndex(HashIndexLoad load) {
    if (load == HashIndexLoad::kInMemory || !Trusted(kFaissName)) return false;
    auto m = MappedBinaryFlat::Open(PathOf(kFaissName), kCodeSize);
    if (!m.ok() || (*m)->size() != int64_t(frames.size())) return false;
    const bool is_multihash = std::strcmp((*m)->file_kind(), "multihash") == 0;
    for (size_t i = 0; i < frames.size(); ++i) {
      if (std::memcmp((*m)->code(int64_t(i)), frames[i].pdq.bytes.data(), kCodeSize) != 0) return false;
    }
    mapped = std::move(*m);
    multihash = is_multihash;
    return true;
  }

  // Loads pdq.faissbin, or repairs it from the catalog: a file with fewer
  // codes than the catalog (killed between commit and save) gets the missing
  // frames; a missing, unreadable or inconsistent one is rebuilt.
  Status LoadHashIndex() {
    const std::string path = PathOf(kFaissName);
    // Unsealed, damaged or unreadable: rebuilt below.
    std::unique_ptr<faiss::IndexBinary> loaded = sealed_manifest ? ReadSealedBinaryIndex(path) : nullptr;
    bool usable = loaded != nullptr && loaded->d == kBits && loaded->ntotal <= faiss_idx_t(frames.size());
    bool loaded_multihash = false;
    if (usable) {
      auto* mh = dynamic_cast<faiss::IndexBinaryMultiHash*>(loaded.get());
      loaded_multihash = mh != nullptr;
      if (mh && (mh->nhash != kMultiHashTables || mh->b != kMultiHashBits || mh->nflip != kMultiHashFlips)) {
        usable = false;
      }
      if (!mh && !dynamic_cast<faiss::IndexBinaryFlat*>(loaded.get())) usable = false;
      if (loaded_multihash != WantMultihash()) usable = false;  // crossed the threshold
    }
    if (usable) {
      const std::vector<uint8_t>* codes = StoredCodes(loaded.get());
      const size_t n = size_t(loaded->ntotal);
      usable = codes != nullptr && codes->size() >= n * kCodeSize;
      for (size_t i = 0; usable && i < n; ++i) {
        usable = std::memcmp(codes->data() + i * kCodeSize, frames[i].pdq.bytes.data(), kCodeSize) == 0;
      }
    }
    if (!usable) return RebuildHashIndex();
    const size_t have = size_t(loaded->ntotal);
    try {
      AddFrames(loaded.get(), frames, have, frames.size());
    } catch (const std::exception& e) {
      return Status::Internal(path + ": adding missing frames failed: " + e.what());
    }
    faiss_dirty = have != frames.size();
    hash_index = std::move(loaded);
    multihash = loaded_multihash;
    return Status::Ok();
  }

  Status WriteHashIndex() {
    return WriteBinaryIndexAtomically(dir, PathOf(kFaissName), *hash_index, "hash index");
  }

  // Loads each layer's feature index: readers (`map_files`) map its file
  // when it agrees with the catalog; otherwise, and for writers, it is built
  // from the catalog's rows with the file's vocabulary when that is current
  // (see feature_index.h). After a failure a layer not loaded is an empty
  // index.
  Status LoadFeatureIndexes(bool map_files) {
    for (auto& f : features) {
      if (!f) f = std::make_unique<FeatureIndex>();
    }
    for (int l = 0; l < kFeatureLayers; ++l) {
      if (map_files && sealed_manifest) {
        auto counts = catalog->FrameFeatureCounts(l, int64_t(frames.size()));
        if (!counts.ok()) return counts.status();
        if (std::unique_ptr<FeatureIndex> mapped = FeatureIndex::Map(PathOf(kFeatureFileNames[l]), *counts)) {
          features[size_t(l)] = std::move(mapped);
          features_dirty[size_t(l)] = false;
          continue;
        }
      }
      auto records = catalog->FrameFeatures(l, int64_t(frames.size()));
      if (!records.ok()) return records.status();
      bool stale = false;
      auto index = FeatureIndex::Load(PathOf(kFeatureFileNames[l]), *records, &stale, sealed_manifest);
      if (!index.ok()) return index.status();
      features[size_t(l)] = std::move(*index);
      features_dirty[size_t(l)] = stale;
    }
    return Status::Ok();
  }

  Status WriteManifest() {
    nlohmann::json j = params.ToJson();
    j["hash_index"] = TypeName();
    if (embedding_model) j["embedding"] = embedding_model->ToJson();
    j["sealed_files"] = true;
    CELMATCH_RETURN_IF_ERROR(WriteFileAtomically(dir, PathOf(kManifestName), j.dump(2) + "\n"));
    manifest_type = TypeName();
    manifest_dirty = false;
    sealed_manifest = true;
    return Status::Ok();
  }

  Status Save(bool feature_files = true) {
    // Catalog first (already committed by AddSource), then the FAISS file,
    // then the manifest: each step leaves a directory that opens.
    if (faiss_dirty) {
      CELMATCH_RETURN_IF_ERROR(WriteHashIndex());
      faiss_dirty = false;
    }
    for (int l = 0; l < kFeatureLayers; ++l) {
      if (!feature_files || !features_dirty[size_t(l)]) continue;
      CELMATCH_RETURN_IF_ERROR(features[size_t(l)]->Write(dir, PathOf(kFeatureFileNames[l])));
      features_dirty[size_t(l)] = false;
      std::error_code ec;
      fs::remove(PathOf(kRetiredFeatureFileNames[l]), ec);  // best effort: nothing reads it
    }
    if (embedding) CELMATCH_RETURN_IF_ERROR(embedding->Save(dir));
    if (regions) CELMATCH_RETURN_IF_ERROR(regions->Save(dir));
    if (!sealed_manifest || manifest_dirty || manifest_type != TypeName()) CELMATCH_RETURN_IF_ERROR(WriteManifest());
    return Status::Ok();
  }

  // Checks that the catalog's stored parameters (if any) agree with the
  // manifest's.
  Status CheckCatalogParams() {
    auto stored = catalog->GetMeta(kParamsMetaKey);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return Status::Ok();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(**stored);
    } catch (const nlohmann::json::exception& e) {
      return Status::Corrupt(PathOf(kCatalogName) + ": malformed parameters in meta: " + e.what());
    }
    auto p = IndexParams::FromJson(j);
    if (!p.ok()) return p.status().WithPrefix(PathOf(kCatalogName));
    if (!p->SameHashing(params)) {
      return Status::Incompatible(dir + ": " + kManifestName + " and " + kCatalogName +
                                  " disagree on hashing parameters: " + HashingDifference(*p, params));
    }
    return Status::Ok();
  }

  // Opens an existing catalog, loads everything, repairs the hash index.
  Status OpenExisting(bool read_only, HashIndexLoad load = HashIndexLoad::kInMemory) {
    auto cat = Catalog::Open(PathOf(kCatalogName), /*create=*/false, read_only);
    if (!cat.ok()) {
      if (cat.status().code() == Status::Code::kNotFound) {
        return Status::Corrupt(dir + ": has " + kManifestName + " but no readable " + kCatalogName);
      }
      return cat.status();
    }
    catalog = std::move(*cat);
    CELMATCH_RETURN_IF_ERROR(CheckCatalogParams());
    CELMATCH_RETURN_IF_ERROR(LoadMetadata());
    if (!read_only || !MapHashIndex(load)) CELMATCH_RETURN_IF_ERROR(LoadHashIndex());
    // Read-only opens load the features at the first LoadFeatures call;
    // features() goes through it, so no layer is read before it is made.
    if (!read_only) {
      std::call_once(features_once, [this] { features_status = LoadFeatureIndexes(/*map_files=*/false); });
      CELMATCH_RETURN_IF_ERROR(features_status);
    }
    return LoadEmbeddingIndex();
  }

  Status LoadEmbeddingIndex() {
    if (!embedding_model) return Status::Ok();
    bool stale = false;
    // A damaged embedding file is an error naming it (embeddings.f32 is not
    // a cache: its vectors are kept nowhere else).
    auto loaded = EmbeddingIndex::Load(dir, *embedding_model, &stale, sealed_manifest);
    if (!loaded.ok()) return loaded.status();
    embedding = std::move(*loaded);
    // An index from before region embeddings has none (its frames' crops
    // are proposed without them); its next writer adds the new frames' regions.
    auto loaded_regions =
        EmbeddingIndex::Load(dir, *embedding_model, &stale, sealed_manifest, EmbeddingIndex::Kind::kRegions);
    if (!loaded_regions.ok()) return loaded_regions.status();
    regions = std::move(*loaded_regions);
    // A writer of an index from before seals rewrites its files sealed.
    if (writable && !sealed_manifest) {
      embedding->MarkFilesStale();
      regions->MarkFilesStale();
    }
    return Status::Ok();
  }
};

ReferenceIndex::ReferenceIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReferenceIndex::~ReferenceIndex() = default;

Result<std::unique_ptr<ReferenceIndex>> ReferenceIndex::OpenForWrite(const std::string& dir,
                                                                     const IndexParams& params) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->params = params;
  impl->writable = true;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(dir + ": cannot create the index directory: " + ec.message());
  CELMATCH_RETURN_IF_ERROR(impl->Lock());

  auto manifest = ReadManifest(dir);
  if (manifest.ok()) {
    if (!manifest->params.SameHashing(params)) {
      return Status::Incompatible(dir + " was built with other hashing parameters: " +
                                  HashingDifference(manifest->params, params) +
                                  "; use another index directory or the index's parameters");
    }
    // Non-hashing parameters (thumbnail size, multihash threshold) are the
    // caller's from now on.
    impl->manifest_type = manifest->hash_index_type;
    impl->embedding_model = manifest->embedding;
    impl->sealed_manifest = manifest->sealed;
    CELMATCH_RETURN_IF_ERROR(impl->OpenExisting(/*read_only=*/false));
    impl->manifest_dirty = manifest->params.ToJson() != params.ToJson();
  } else if (manifest.status().code() == Status::Code::kNotFound) {
    // A new index. Refuse a directory holding anything but the files of an
    // index whose creation was interrupted (the manifest is written last).
    static const std::set<std::string> kOurs = {
        kLockName, kCatalogName, "catalog.sqlite-wal", "catalog.sqlite-shm", "catalog.sqlite-journal",
        kFaissName, "pdq.faissbin.tmp", "manifest.json.tmp", kFeatureFileNames[0], kFeatureFileNames[1],
        std::string(kFeatureFileNames[0]) + ".tmp", std::string(kFeatureFileNames[1]) + ".tmp",
        kRetiredFeatureFileNames[0], kRetiredFeatureFileNames[1],
        "embeddings.f32", "embeddings.f32.tmp", "embedding_whitening.bin", "embedding_whitening.bin.tmp",
        "embeddings.faiss", "embeddings.faiss.tmp", "embedding_regions.f32", "embedding_regions.f32.tmp",
        "embedding_regions_whitening.bin", "embedding_regions_whitening.bin.tmp", "embedding_regions.faiss",
        "embedding_regions.faiss.tmp", "BUILD_INCOMPLETE"};
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (!kOurs.count(entry.path().filename().string())) {
        return Status::InvalidArgument(dir + " is not empty and is not a celmatch index (found " +
                                       entry.path().filename().string() + "); choose a new directory");
      }
    }
    if (ec) return Status::IoError(dir + ": cannot list: " + ec.message());
    auto cat = Catalog::Open(impl->PathOf(kCatalogName), /*create=*/true, /*read_only=*/false);
    if (!cat.ok()) return cat.status();
    impl->catalog = std::move(*cat);
    CELMATCH_RETURN_IF_ERROR(impl->LoadMetadata());
    CELMATCH_RETURN_IF_ERROR(impl->LoadHashIndex());
    CELMATCH_RETURN_IF_ERROR(impl->LoadFeatureIndexes(/*map_files=*/false));
    impl->faiss_dirty = true;
    impl->manifest_dirty = true;
  } else {
    return manifest.status();
  }
  CELMATCH_RETURN_IF_ERROR(impl->catalog->SetMeta(kParamsMetaKey, params.ToJson().dump()));
  // Persist any repair (and, for a new index, create the files).
  CELMATCH_RETURN_IF_ERROR(impl->Save());
  return std::unique_ptr<ReferenceIndex>(new ReferenceIndex(std::move(impl)));
}

Result<std::unique_ptr<ReferenceIndex>> ReferenceIndex::OpenForRead(const std::string& dir, HashIndexLoad load) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (fs::exists(dir, ec)) return Status::InvalidArgument(dir + ": is a file, not an index directory");
    return Status::NotFound(dir + ": no such index directory");
  }
  auto manifest = ReadManifest(dir);
  if (!manifest.ok()) return manifest.status();
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->params = manifest->params;
  impl->manifest_type = manifest->hash_index_type;
  impl->embedding_model = manifest->embedding;
  impl->sealed_manifest = manifest->sealed;
  impl->writable = false;
  // Repairs stay in memory: a reader writes no file.
  CELMATCH_RETURN_IF_ERROR(impl->OpenExisting(/*read_only=*/true, load));
  return std::unique_ptr<ReferenceIndex>(new ReferenceIndex(std::move(impl)));
}

Result<IndexParams> ReferenceIndex::ReadParams(const std::string& dir) {
  auto manifest = ReadManifest(dir);
  if (!manifest.ok()) return manifest.status();
  return manifest->params;
}

Result<std::optional<EmbeddingModelIdentity>> ReferenceIndex::ReadEmbeddingModel(const std::string& dir) {
  auto manifest = ReadManifest(dir);
  if (!manifest.ok()) return manifest.status();
  return manifest->embedding;
}

const IndexParams& ReferenceIndex::params() const { return impl_->params; }

Result<bool> ReferenceIndex::HasSource(const std::string& content_sha256) {
  std::lock_guard<std::mutex> lock(impl_->catalog_mu);
  auto found = impl_->catalog->FindSourceBySha256(content_sha256);
  if (!found.ok()) return found.status();
  return found->has_value();
}

Status ReferenceIndex::AddSource(SourceToAdd item) {
  Impl& d = *impl_;
  if (!d.writable) return Status::InvalidArgument(d.dir + ": index is open read-only");
  {
    std::lock_guard<std::mutex> lock(d.catalog_mu);
    CELMATCH_RETURN_IF_ERROR(d.catalog->AddSource(&item));
  }
  // Committed. Mirror it in memory; we are the only writer (LOCK), so the
  // catalog's ids continue ours.
  if (item.source.id != int64_t(d.sources.size()) ||
      (!item.frames.empty() && item.frames.front().id != int64_t(d.frames.size()))) {
    return Status::Internal(d.dir + ": catalog ids do not continue the loaded index; reopen it");
  }
  if (item.source.production_id == int64_t(d.productions.size())) {
    d.productions.push_back(ProductionRecord{item.source.production_id, item.production});
  }
  const size_t first = d.frames.size();
  d.sources.push_back(item.source);
  d.frames_of_source.emplace_back();
  for (FrameRecord& f : item.frames) {
    d.frames_of_source.back().push_back(f.id);
    d.frames.push_back(f);
  }
  d.SortByTime(&d.frames_of_source.back());
  if (Status st = d.AddSpanHashes(first, d.frames.size()); !st.ok())
    return st.WithPrefix(d.dir + " (the catalog has the source; reopen the index)");
  std::sort(item.features.begin(), item.features.end(), [](const FrameFeaturesRecord& a, const FrameFeaturesRecord& b) {
    return a.frame_id < b.frame_id;
  });
  for (const FrameFeaturesRecord& f : item.features) {
    if (f.layer < 0 || f.layer >= kFeatureLayers) continue;
    Status st = d.features[size_t(f.layer)]->AddFrame(f);
    if (!st.ok()) return st.WithPrefix(d.dir + " (the catalog has the source; reopen the index)");
    d.features_dirty[size_t(f.layer)] = true;
  }
  if (d.embedding) {
    for (size_t i = 0; i < item.embeddings.size() && i < item.frames.size(); ++i) {
      if (item.embeddings[i].size() != size_t(d.embedding->dim())) continue;  // none for this frame
      Status st = d.embedding->Add(item.frames[i].id, item.embeddings[i].data());
      if (!st.ok()) return st.WithPrefix(d.dir + " (the catalog has the source; reopen the index)");
    }
  }
  if (d.regions) {
    const size_t dim = size_t(d.regions->dim());
    for (size_t i = 0; i < item.region_embeddings.size() && i < item.frames.size(); ++i) {
      const std::vector<float>& rows = item.region_embeddings[i];
      if (rows.size() != kRegionsPerFrame * dim) continue;  // none for this frame
      for (int r = 0; r < kRegionsPerFrame; ++r) {
        Status st = d.regions->Add(RegionKey(item.frames[i].id, r), rows.data() + size_t(r) * dim);
        if (!st.ok()) return st.WithPrefix(d.dir + " (the catalog has the source; reopen the index)");
      }
    }
  }
  if (!d.multihash && d.WantMultihash()) return d.RebuildHashIndex();
  try {
    Impl::AddFrames(d.hash_index.get(), d.frames, first, d.frames.size());
  } catch (const std::exception& e) {
    return Status::Internal(d.dir + ": adding to the hash index failed (the catalog has the source; "
                            "reopen the index): " + e.what());
  }
  if (d.frames.size() > first) d.faiss_dirty = true;
  return Status::Ok();
}

Status ReferenceIndex::Save() {
  if (!impl_->writable) return Status::InvalidArgument(impl_->dir + ": index is open read-only");
  return impl_->Save(/*feature_files=*/true);
}

Status ReferenceIndex::Checkpoint() {
  if (!impl_->writable) return Status::InvalidArgument(impl_->dir + ": index is open read-only");
  return impl_->Save(/*feature_files=*/false);
}

namespace {

// The k nearest codes of `index` within max_distance, as (row, distance).
std::vector<std::pair<int64_t, int>> SearchCodes(const faiss::IndexBinary* index, bool multihash,
                                                 const PdqHash& query, int max_distance, int k) {
  std::vector<std::pair<int64_t, int>> out;
  const faiss_idx_t n = index ? index->ntotal : 0;
  if (k <= 0 || max_distance < 0 || n == 0) return out;
  const faiss_idx_t kk = std::min<faiss_idx_t>(k, n);
  // Beyond the radius where multi-index hashing is exact, scan its storage.
  if (multihash && max_distance > kMultiHashExactRadius) {
    index = static_cast<const faiss::IndexBinaryMultiHash*>(index)->storage;
  }
  uint8_t q[kCodeSize + kFaissPadding] = {};
  std::memcpy(q, query.bytes.data(), kCodeSize);
  std::vector<int32_t> distances(size_t(kk), 0);
  std::vector<faiss_idx_t> labels(size_t(kk), -1);
  try {
    SingleThreadedOpenMp one_thread;
    index->search(1, q, kk, distances.data(), labels.data());
  } catch (const std::exception&) {
    return out;  // cannot happen with valid arguments; Search has no error channel
  }
  for (faiss_idx_t i = 0; i < kk; ++i) {
    if (labels[size_t(i)] < 0 || distances[size_t(i)] > max_distance) continue;
    out.emplace_back(int64_t(labels[size_t(i)]), int(distances[size_t(i)]));
  }
  return out;
}

}  // namespace

std::vector<HashNeighbor> ReferenceIndex::Search(const PdqHash& query, int max_distance, int k) const {
  const Impl& d = *impl_;
  std::vector<HashNeighbor> out;
  if (k <= 0 || max_distance < 0) return out;
  if (d.mapped) {
    for (const MappedBinaryFlat::Neighbor& nb : d.mapped->Search(query.bytes.data(), k, max_distance))
      out.push_back(HashNeighbor{nb.id, nb.distance, d.frames[size_t(nb.id)].time_s});
  } else {
    for (const auto& [id, distance] : SearchCodes(d.hash_index.get(), d.multihash, query, max_distance, k))
      out.push_back(HashNeighbor{id, distance, d.frames[size_t(id)].time_s});
  }
  if (d.span_index) {
    // A frame is as near as the nearest of its hashes; several span hashes
    // of one frame may be among the nearest rows, so more rows are asked for.
    std::unordered_map<int64_t, size_t> at;
    for (size_t i = 0; i < out.size(); ++i) at[out[i].frame_id] = i;
    for (const auto& [row, distance] :
         SearchCodes(d.span_index.get(), d.span_multihash, query, max_distance, 4 * k)) {
      const HashNeighbor nb{d.span_frame[size_t(row)], distance, d.span_time[size_t(row)]};
      auto [it, inserted] = at.try_emplace(nb.frame_id, out.size());
      if (inserted) out.push_back(nb);
      else if (nb.distance < out[it->second].distance) out[it->second] = nb;
    }
  }
  std::sort(out.begin(), out.end(), [](const HashNeighbor& a, const HashNeighbor& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.frame_id < b.frame_id;
  });
  if (out.size() > size_t(k)) out.resize(size_t(k));
  return out;
}

int64_t ReferenceIndex::span_hash_count() const { return int64_t(impl_->span_frame.size()); }

int64_t ReferenceIndex::frame_count() const { return int64_t(impl_->frames.size()); }

const FrameRecord& ReferenceIndex::frame(int64_t frame_id) const {
  if (frame_id < 0 || frame_id >= int64_t(impl_->frames.size())) return kNoFrame;
  return impl_->frames[size_t(frame_id)];
}

const SourceRecord& ReferenceIndex::source(int64_t source_id) const {
  if (source_id < 0 || source_id >= int64_t(impl_->sources.size())) return kNoSource;
  return impl_->sources[size_t(source_id)];
}

const ProductionRecord& ReferenceIndex::production(int64_t production_id) const {
  if (production_id < 0 || production_id >= int64_t(impl_->productions.size())) return kNoProduction;
  return impl_->productions[size_t(production_id)];
}

const std::vector<int64_t>& ReferenceIndex::frames_of_source(int64_t source_id) const {
  if (source_id < 0 || source_id >= int64_t(impl_->frames_of_source.size())) return kNoFrames;
  return impl_->frames_of_source[size_t(source_id)];
}

Status ReferenceIndex::LoadFeatures() const {
  Impl& d = *impl_;
  std::call_once(d.features_once, [&d] {
    std::lock_guard<std::mutex> lock(d.catalog_mu);  // the catalog is read
    d.features_status = d.LoadFeatureIndexes(/*map_files=*/true);
  });
  return d.features_status;
}

const FeatureIndex& ReferenceIndex::features(FeatureLayer layer) const {
  (void)LoadFeatures();  // an empty index when it failed
  return *impl_->features[size_t(layer)];
}

const EmbeddingIndex* ReferenceIndex::embedding() const { return impl_->embedding.get(); }
const EmbeddingIndex* ReferenceIndex::embedding_regions() const { return impl_->regions.get(); }

Status ReferenceIndex::SetEmbeddingModel(const EmbeddingModelIdentity& model) {
  Impl& d = *impl_;
  if (!d.writable) return Status::InvalidArgument(d.dir + ": index is open read-only");
  if (d.embedding_model) {
    if (*d.embedding_model == model) return Status::Ok();
    return Status::Incompatible(d.dir + " was built with embedding model " + d.embedding_model->ToString() +
                                ", not " + model.ToString() +
                                ": use the model that built it (--model) or a new index directory");
  }
  if (!d.frames.empty()) {
    return Status::Incompatible(d.dir + " was built without an embedding model (its " +
                                std::to_string(d.frames.size()) + " frames have no embedding); add to it with "
                                "--no-embedding, or build a new index with " + model.ToString());
  }
  d.embedding_model = model;
  d.embedding = EmbeddingIndex::Create(model);
  d.regions = EmbeddingIndex::Create(model, EmbeddingIndex::Kind::kRegions);
  d.manifest_dirty = true;
  return d.Save();
}

Result<std::vector<uint8_t>> ReferenceIndex::Thumbnail(int64_t frame_id) const {
  std::lock_guard<std::mutex> lock(impl_->catalog_mu);
  return impl_->catalog->Thumbnail(frame_id);
}

Result<IndexStats> ReferenceIndex::Stats() const {
  const Impl& d = *impl_;
  IndexStats s;
  s.productions = int64_t(d.productions.size());
  s.sources = int64_t(d.sources.size());
  s.frames = int64_t(d.frames.size());
  s.hash_index_type = d.TypeName();
  s.hash_index_mapped = d.mapped != nullptr;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(d.dir, ec)) {
    std::error_code size_ec;
    if (entry.is_regular_file(size_ec)) {
      auto size = entry.file_size(size_ec);
      if (!size_ec) s.bytes_on_disk += int64_t(size);
    }
  }
  if (ec) return Status::IoError(d.dir + ": cannot list: " + ec.message());
  return s;
}

Status ReferenceIndex::Check() const {
  CELMATCH_RETURN_IF_ERROR(LoadFeatures());
  const Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.catalog_mu);
  CELMATCH_RETURN_IF_ERROR(d.catalog->Check());
  // The files on disk, each against its seal in the manifest (what a reader
  // would use), before the copies loaded here (repaired in memory when a
  // file was not usable).
  {
    auto manifest = ReadManifest(d.dir);
    if (!manifest.ok()) return manifest.status();
    if (!manifest->sealed) {
      return Status::Corrupt(d.PathOf(kManifestName) + ": written before the index's files were sealed; "
                             "`celmatch index add --index " + d.dir + " PATH` with footage it already holds (nothing is "
                             "added twice) rewrites them sealed");
    }
    std::vector<std::string> wrong;
    for (const char* name : kSealedFiles) {
      const bool embedding_file = std::strncmp(name, "embedding", 9) == 0;
      if (embedding_file && !d.embedding_model) continue;
      Status st = VerifySealedFile(d.PathOf(name));
      // Frames without vectors are allowed (a writer killed before saving
      // them; see EmbeddingIndex::Check), and the whitening and search files
      // are refitted from the vectors: a missing embedding file is no error.
      if (st.code() == Status::Code::kNotFound && embedding_file) continue;
      if (!st.ok()) {
        wrong.push_back(st.message());
      } else if (name == std::string(kFaissName)) {
        // Sealed, so parsed: its codes must be the catalog's as it is now
        // (a prefix of them after a writer was killed between commit and
        // save; a writer may have added frames since this reader opened).
        auto m = MappedBinaryFlat::Open(d.PathOf(name), kCodeSize);
        auto now = d.catalog->FrameCount();
        bool agrees = m.ok() && now.ok() && (*m)->size() <= *now;
        if (agrees) {
          auto frames = d.catalog->Frames(0, (*m)->size());
          agrees = frames.ok() && int64_t(frames->size()) == (*m)->size();
          for (int64_t i = 0; agrees && i < (*m)->size(); ++i) {
            agrees = std::memcmp((*m)->code(i), (*frames)[size_t(i)].pdq.bytes.data(), kCodeSize) == 0;
          }
        }
        if (!agrees) {
          wrong.push_back(d.PathOf(name) + ": " + (m.ok() ? "holds codes that are not the catalog's (" +
                                                                std::to_string((*m)->size()) + " codes)"
                                                          : m.status().message()));
        }
      }
    }
    if (!wrong.empty()) {
      std::string msg;
      for (const std::string& w : wrong) msg += (msg.empty() ? "" : "; ") + w;
      // Readers rebuild the caches in memory; a writer rewrites them.
      msg += " (" + std::string(kFaissName) + " and " + kFeatureFileNames[0] + "/" + kFeatureFileNames[1] +
             " are caches of the catalog: `celmatch index add --index " + d.dir +
             " PATH` with footage it already holds rewrites them)";
      return Status::Corrupt(msg);
    }
  }
  auto count = d.catalog->FrameCount();
  if (!count.ok()) return count.status();
  const int64_t loaded = int64_t(d.frames.size());
  // A reader's snapshot may trail a writer in another process; the writer
  // holds LOCK, so for it the counts must agree exactly.
  if (*count < loaded || (d.writable && *count != loaded)) {
    return Status::Corrupt(d.PathOf(kCatalogName) + ": holds " + std::to_string(*count) +
                           " frames but the index loaded " + std::to_string(loaded));
  }
  const std::string faiss_path = d.PathOf(kFaissName);
  int64_t stored = 0;
  const uint8_t* codes = d.Codes(&stored);
  if (stored != loaded) {
    return Status::Corrupt(faiss_path + ": hash index holds " + std::to_string(stored) + " codes, catalog " +
                           std::to_string(loaded) + " frames");
  }
  if (!codes && loaded > 0) return Status::Corrupt(faiss_path + ": hash index has no code storage");
  auto frames = d.catalog->Frames(0, loaded);
  if (!frames.ok()) return frames.status();
  if (int64_t(frames->size()) != loaded) {
    return Status::Corrupt(d.PathOf(kCatalogName) + ": frames 0.." + std::to_string(loaded - 1) + " are not all present");
  }
  for (size_t i = 0; i < frames->size(); ++i) {
    const auto& bytes = (*frames)[i].pdq.bytes;
    if (std::memcmp(codes + i * kCodeSize, bytes.data(), kCodeSize) != 0 ||
        d.frames[i].pdq.bytes != bytes) {
      return Status::Corrupt(faiss_path + ": code of frame " + std::to_string(i) + " differs from the catalog's");
    }
  }
  for (int l = 0; l < kFeatureLayers; ++l) {
    auto records = d.catalog->FrameFeatures(l, loaded);
    if (!records.ok()) return records.status();
    CELMATCH_RETURN_IF_ERROR(d.features[size_t(l)]->CheckAgainst(*records, d.PathOf(kFeatureFileNames[l])));
  }
  if (d.embedding) CELMATCH_RETURN_IF_ERROR(d.embedding->Check(d.dir, loaded, nullptr));
  if (d.regions) CELMATCH_RETURN_IF_ERROR(d.regions->Check(d.dir, loaded, nullptr));
  if (d.multihash && d.hash_index) {
    const auto* mh = static_cast<const faiss::IndexBinaryMultiHash*>(d.hash_index.get());
    for (const auto& map : mh->maps) {
      size_t ids = 0;
      for (const auto& bucket : map) ids += bucket.second.size();
      if (ids != size_t(loaded)) {
        return Status::Corrupt(faiss_path + ": a multihash table holds " + std::to_string(ids) + " ids, expected " +
                               std::to_string(loaded));
      }
    }
  }
  return Status::Ok();
}

}  // namespace celmatch
