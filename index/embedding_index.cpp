// EmbeddingIndex: see embedding_index.h for the files, the whitening rule and
// the crash-safety argument.
#include "index/embedding_index.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <Eigen/Dense>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include "core/file_digest.h"
#include "index/durable_files.h"
#include "signatures/embedding.h"

namespace celmatch {

namespace fs = std::filesystem;

namespace {

const char kRawMagic[8] = {'C', 'M', 'E', 'M', 'B', '0', '0', '1'};
const char kWhiteningMagic[8] = {'C', 'M', 'W', 'H', 'T', '0', '0', '1'};

// Eigenvalues are shrunk by this share of their mean before whitening: with
// a few hundred reference frames in 256 dimensions the smallest eigenvalues
// are noise, and dividing by them would make noise the loudest direction.
constexpr double kShrinkage = 0.25;
// Below this many vectors a covariance says nothing: no whitening (identity).
constexpr int64_t kMinFitVectors = 64;
// HNSW: 32 links per node, efSearch 64, as `celmatch bench throughput
// --scale-embeddings` measures "emb hnsw" (bench/leaks/index_scale.h).
constexpr int kHnswLinks = 32;
constexpr int kHnswEfSearch = 64;

template <typename T>
void Put(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string ExecutableDir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

}  // namespace

std::string EmbeddingModelIdentity::ToString() const {
  const std::string digest =
      onnx_sha256.size() >= 12 ? onnx_sha256.substr(0, 8) + "..." + onnx_sha256.substr(onnx_sha256.size() - 4) : onnx_sha256;
  return name + " (sha256 " + digest + ", " + std::to_string(dim) + "-d)";
}

nlohmann::json EmbeddingModelIdentity::ToJson() const {
  return {{"model", name}, {"onnx_sha256", onnx_sha256}, {"dim", dim}};
}

Result<EmbeddingModelIdentity> EmbeddingModelIdentity::FromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("model") || !j["model"].is_string() || !j.contains("onnx_sha256") ||
      !j["onnx_sha256"].is_string() || !j.contains("dim") || !j["dim"].is_number_integer() ||
      j["dim"].get<int64_t>() < 1 || j["dim"].get<int64_t>() > 65536) {
    return Status::Corrupt("the \"embedding\" entry needs \"model\", \"onnx_sha256\" and a positive \"dim\"");
  }
  EmbeddingModelIdentity m;
  m.name = j["model"].get<std::string>();
  m.onnx_sha256 = j["onnx_sha256"].get<std::string>();
  m.dim = j["dim"].get<int>();
  return m;
}

Result<EmbeddingModelIdentity> IdentifyEmbeddingModel(const std::string& onnx_path, const EmbeddingManifest& manifest) {
  Result<std::string> digest = Sha256File(onnx_path);
  if (!digest.ok()) return digest.status();
  return EmbeddingModelIdentity{manifest.name, *digest, manifest.output_dim};
}

std::vector<std::string> EmbeddingModelSearchPath() {
  std::vector<std::string> dirs;
  // CELMATCH_MODEL: a folder of models, or a model file (FindEmbeddingModel
  // takes it; its folder is searched too).
  if (const char* env = std::getenv("CELMATCH_MODEL"); env && *env) {
    std::error_code ec;
    const fs::path p(env);
    dirs.push_back(fs::is_directory(p, ec) ? p.string() : p.parent_path().string());
  }
  const std::string exe = ExecutableDir();
  if (exe.empty()) return dirs;
  for (const char* rel : {"../share/celmatch/models", "../models", "models"}) {
    dirs.push_back((fs::path(exe) / rel).lexically_normal().string());
  }
  return dirs;
}

std::optional<std::string> FindEmbeddingModel(const std::string& name) {
  if (const char* env = std::getenv("CELMATCH_MODEL"); env && *env) {
    std::error_code ec;
    if (fs::is_regular_file(env, ec)) return std::string(env);
  }
  for (const std::string& dir : EmbeddingModelSearchPath()) {
    std::error_code ec;
    const fs::path p = fs::path(dir) / (name + ".onnx");
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return std::nullopt;
}

Result<std::shared_ptr<EmbeddingModelPool>> ChooseQueryEmbeddingModel(const std::string& index_dir,
                                                                      const EmbeddingModelIdentity& recorded,
                                                                      const std::string& explicit_onnx,
                                                                      const std::string& explicit_manifest) {
  std::string path = explicit_onnx;
  if (path.empty()) {
    std::optional<std::string> found = FindEmbeddingModel(recorded.name);
    if (!found) {
      // An error, not a quiet fallback: without the embedding some leaks the
      // index can place (heavy grading, small line art) are not found.
      std::string where;
      for (const std::string& d : EmbeddingModelSearchPath()) where += (where.empty() ? "" : ", ") + d;
      return Status::NotFound(index_dir + " was built with embedding model " + recorded.name + ", and " +
                              recorded.name + ".onnx is not found (looked in " + where +
                              "): pass it with --model or CELMATCH_MODEL, or match without it with --no-embedding");
    }
    path = *found;
  } else {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      return Status::NotFound("embedding model " + path +
                              " not found: pass the model the index was built with, or --no-embedding");
    }
  }
  const std::string manifest = explicit_manifest.empty() ? EmbeddingManifestPathFor(path) : explicit_manifest;
  Result<std::shared_ptr<EmbeddingModelPool>> pool = EmbeddingModelPool::Create(path, manifest);
  if (!pool.ok()) return pool.status();
  Result<EmbeddingModelIdentity> have = IdentifyEmbeddingModel(path, (*pool)->manifest());
  if (!have.ok()) return have.status();
  if (*have != recorded) {
    return Status::Incompatible(index_dir + " was built with embedding model " + recorded.ToString() + " but " +
                                path + " is " + have->ToString() +
                                ": pass the model that built the index with --model, or --no-embedding");
  }
  return pool;
}

EmbeddingIndex::~EmbeddingIndex() = default;

cv::Rect RegionWindow(cv::Size size, int region) {
  const int w = size.width / 2, h = size.height / 2;
  const int col = region % 3, row = region / 3;
  return cv::Rect(col * size.width / 4, row * size.height / 4, w, h);
}

std::array<const char*, 3> EmbeddingIndex::FileNames(Kind kind) {
  if (kind == Kind::kRegions)
    return {"embedding_regions.f32", "embedding_regions_whitening.bin", "embedding_regions.faiss"};
  return {"embeddings.f32", "embedding_whitening.bin", "embeddings.faiss"};
}

std::unique_ptr<EmbeddingIndex> EmbeddingIndex::Create(const EmbeddingModelIdentity& model, Kind kind) {
  std::unique_ptr<EmbeddingIndex> e(new EmbeddingIndex());
  e->model_ = model;
  e->kind_ = kind;
  e->search_ = e->NewSearchIndex(0);
  e->raw_dirty_ = e->search_dirty_ = true;
  return e;
}

std::string EmbeddingIndex::search_index_type() const {
  return dynamic_cast<const faiss::IndexHNSW*>(search_.get()) ? "hnsw" : "flat";
}

std::unique_ptr<faiss::Index> EmbeddingIndex::NewSearchIndex(int64_t n) const {
  if (n >= kHnswMinVectors) {
    auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(model_.dim, kHnswLinks, faiss::METRIC_INNER_PRODUCT);
    hnsw->hnsw.efSearch = kHnswEfSearch;
    return hnsw;
  }
  return std::make_unique<faiss::IndexFlatIP>(model_.dim);
}

Status EmbeddingIndex::Add(int64_t key, const float* raw) {
  if (key < 0 || (!keys_.empty() && key <= keys_.back())) {
    return Status::Internal("embedding index: row keys must ascend (got " + std::to_string(key) + ")");
  }
  keys_.push_back(key);
  raw_.insert(raw_.end(), raw, raw + model_.dim);
  if (row_of_key_.size() <= size_t(key)) row_of_key_.resize(size_t(key) + 1, -1);
  row_of_key_[size_t(key)] = int64_t(keys_.size()) - 1;
  raw_dirty_ = true;
  return Status::Ok();
}

const float* EmbeddingIndex::raw(int64_t key) const {
  if (key < 0 || size_t(key) >= row_of_key_.size() || row_of_key_[size_t(key)] < 0) return nullptr;
  return raw_.data() + row_of_key_[size_t(key)] * model_.dim;
}

void EmbeddingIndex::WhitenInto(const float* raw, float* out) const {
  const int d = model_.dim;
  if (mean_.empty()) {
    std::memcpy(out, raw, sizeof(float) * size_t(d));
  } else {
    Eigen::Map<const Eigen::VectorXf> x(raw, d), mean(mean_.data(), d);
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> w(projection_.data(), d, d);
    Eigen::Map<Eigen::VectorXf> y(out, d);
    y.noalias() = w * (x - mean);
  }
  double norm = 0;
  for (int i = 0; i < d; ++i) norm += double(out[i]) * out[i];
  norm = std::sqrt(norm);
  if (norm > 0) for (int i = 0; i < d; ++i) out[i] = float(out[i] / norm);
}

Status EmbeddingIndex::Whiten(int64_t first) {
  const int64_t n = size() - first;
  if (n <= 0) return Status::Ok();
  std::vector<float> white(size_t(n) * size_t(model_.dim));
  for (int64_t i = 0; i < n; ++i) WhitenInto(raw_.data() + (first + i) * model_.dim, white.data() + i * model_.dim);
  try {
    SingleThreadedOpenMp one_thread;  // HNSW insertion is OpenMP-parallel; the builder's threads are busy
    search_->add(n, white.data());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("embedding index: adding vectors failed: ") + e.what());
  }
  search_dirty_ = true;
  return Status::Ok();
}

Status EmbeddingIndex::Fit() {
  const int d = model_.dim;
  const int64_t n = size();
  if (n < kMinFitVectors) {
    mean_.clear();
    projection_.clear();
  } else {
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> x(raw_.data(), n, d);
    const Eigen::RowVectorXd mean = x.cast<double>().colwise().mean();
    Eigen::MatrixXd centered = x.cast<double>().rowwise() - mean;
    const Eigen::MatrixXd cov = (centered.transpose() * centered) / double(n - 1);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
    if (eig.info() != Eigen::Success) return Status::Internal("embedding index: PCA did not converge");
    const Eigen::VectorXd lambda = eig.eigenvalues().cwiseMax(0.0);
    const double shrink = kShrinkage * lambda.mean();
    if (!(shrink > 0)) {
      mean_.clear();
      projection_.clear();
    } else {
      // Rows: eigenvectors, largest eigenvalue first, scaled by 1/sqrt(lambda + shrink).
      mean_.assign(size_t(d), 0.f);
      projection_.assign(size_t(d) * size_t(d), 0.f);
      for (int c = 0; c < d; ++c) mean_[size_t(c)] = float(mean(c));
      for (int r = 0; r < d; ++r) {
        const int src = d - 1 - r;
        const double s = 1.0 / std::sqrt(lambda(src) + shrink);
        for (int c = 0; c < d; ++c) projection_[size_t(r) * d + size_t(c)] = float(eig.eigenvectors()(c, src) * s);
      }
    }
  }
  fitted_on_ = n;
  whitening_dirty_ = true;
  search_ = NewSearchIndex(n);
  return Whiten(0);
}

Status EmbeddingIndex::Save(const std::string& dir) {
  const auto [raw_name, whitening_name, search_name] = FileNames(kind_);
  if (fitted_on_ == 0 ? size() > 0 : size() >= 2 * fitted_on_) {
    CELMATCH_RETURN_IF_ERROR(Fit());
  } else {
    CELMATCH_RETURN_IF_ERROR(Whiten(int64_t(search_->ntotal)));
  }
  const std::string raw_path = dir + "/" + raw_name;
  if (raw_dirty_) {
    std::string bytes(kRawMagic, sizeof kRawMagic);
    Put(&bytes, int32_t(model_.dim));
    Put(&bytes, int32_t(0));
    Put(&bytes, int64_t(size()));
    bytes.append(reinterpret_cast<const char*>(keys_.data()), keys_.size() * sizeof(int64_t));
    bytes.append(reinterpret_cast<const char*>(raw_.data()), raw_.size() * sizeof(float));
    CELMATCH_RETURN_IF_ERROR(WriteSealedFileAtomically(dir, raw_path, std::move(bytes)));
    raw_dirty_ = false;
  }
  if (whitening_dirty_) {
    std::string bytes(kWhiteningMagic, sizeof kWhiteningMagic);
    Put(&bytes, int32_t(model_.dim));
    Put(&bytes, int32_t(mean_.empty() ? 0 : 1));
    Put(&bytes, int64_t(fitted_on_));
    bytes.append(reinterpret_cast<const char*>(mean_.data()), mean_.size() * sizeof(float));
    bytes.append(reinterpret_cast<const char*>(projection_.data()), projection_.size() * sizeof(float));
    CELMATCH_RETURN_IF_ERROR(WriteSealedFileAtomically(dir, dir + "/" + whitening_name, std::move(bytes)));
    whitening_dirty_ = false;
    search_dirty_ = true;  // its rows belong to the new whitening
  }
  if (search_dirty_) {
    faiss::VectorIOWriter writer;
    try {
      faiss::write_index(search_.get(), &writer);
    } catch (const std::exception& e) {
      return Status::Internal(std::string("embedding index: serialising failed: ") + e.what());
    }
    CELMATCH_RETURN_IF_ERROR(WriteSealedFileAtomically(
        dir, dir + "/" + search_name, std::string(reinterpret_cast<const char*>(writer.data.data()), writer.data.size())));
    search_dirty_ = false;
  }
  return Status::Ok();
}

Result<std::unique_ptr<EmbeddingIndex>> EmbeddingIndex::Load(const std::string& dir,
                                                             const EmbeddingModelIdentity& model, bool* stale,
                                                             bool require_seals, Kind kind) {
  const auto [raw_name, whitening_name, search_name] = FileNames(kind);
  // Every file is sealed (index/durable_files.h): a whitening or search file
  // that fails its seal is refitted or rebuilt, as when it is missing; the
  // vectors, kept nowhere else, are an error.
  auto Slurp = [require_seals](const std::string& path) { return ReadMaybeSealedFile(path, require_seals); };
  std::unique_ptr<EmbeddingIndex> e = Create(model, kind);
  *stale = false;
  e->raw_dirty_ = e->search_dirty_ = false;
  const int d = model.dim;
  const std::string raw_path = dir + "/" + raw_name;
  Result<std::string> raw = Slurp(raw_path);
  if (!raw.ok()) {
    if (raw.status().code() != Status::Code::kNotFound) return raw.status();
    *stale = true;  // no vector saved yet
    e->raw_dirty_ = e->search_dirty_ = true;
    return e;
  }
  const size_t header = sizeof kRawMagic + 4 + 4 + 8;
  if (raw->size() < header || std::memcmp(raw->data(), kRawMagic, sizeof kRawMagic) != 0) {
    return Status::Corrupt(raw_path + ": not a celmatch embedding file");
  }
  int32_t file_dim = 0;
  int64_t count = 0;
  std::memcpy(&file_dim, raw->data() + 8, 4);
  std::memcpy(&count, raw->data() + 16, 8);
  if (file_dim != d) {
    return Status::Corrupt(raw_path + ": holds " + std::to_string(file_dim) + "-d vectors, the manifest's model " +
                           std::to_string(d) + "-d");
  }
  if (count < 0 || raw->size() != header + size_t(count) * (8 + 4 * size_t(d))) {
    return Status::Corrupt(raw_path + ": size does not match its vector count");
  }
  const char* p = raw->data() + header;
  for (int64_t i = 0; i < count; ++i) {
    int64_t id = 0;
    std::memcpy(&id, p + i * 8, 8);
    const float* v = reinterpret_cast<const float*>(p + count * 8) + i * d;
    std::vector<float> row(v, v + d);  // the buffer is not float-aligned in general
    Status st = e->Add(id, row.data());
    if (!st.ok()) return Status::Corrupt(raw_path + ": row keys do not ascend");
  }
  e->raw_dirty_ = false;

  // Whitening: when unreadable, refit (and rebuild the search index).
  Result<std::string> white = Slurp(dir + "/" + whitening_name);
  bool have_whitening = false;
  if (white.ok() && white->size() >= header && std::memcmp(white->data(), kWhiteningMagic, 8) == 0) {
    int32_t wdim = 0, fitted = 0;
    int64_t fitted_on = 0;
    std::memcpy(&wdim, white->data() + 8, 4);
    std::memcpy(&fitted, white->data() + 12, 4);
    std::memcpy(&fitted_on, white->data() + 16, 8);
    const size_t want = header + (fitted ? (size_t(d) + size_t(d) * d) * 4 : 0);
    if (wdim == d && white->size() == want && fitted_on > 0 && fitted_on <= count) {
      const float* f = reinterpret_cast<const float*>(white->data() + header);
      if (fitted) {
        e->mean_.assign(f, f + d);
        e->projection_.assign(f + d, f + d + size_t(d) * d);
      }
      e->fitted_on_ = fitted_on;
      have_whitening = true;
    }
  }
  if (!have_whitening) {
    if (count > 0) {
      CELMATCH_RETURN_IF_ERROR(e->Fit());
      *stale = true;
    }
    return e;
  }

  // The search index: used when it holds a prefix of the rows, whitened with
  // this whitening (its last row is checked), of the type its size calls for.
  std::unique_ptr<faiss::Index> loaded;
  Result<std::string> search = Slurp(dir + "/" + search_name);
  if (search.ok()) {
    try {
      faiss::VectorIOReader reader;
      reader.data.assign(search->begin(), search->end());
      loaded.reset(faiss::read_index(&reader));
    } catch (const std::exception&) {
      loaded.reset();
    }
  }
  bool usable = loaded && loaded->d == d && loaded->ntotal <= count &&
                loaded->metric_type == faiss::METRIC_INNER_PRODUCT &&
                (dynamic_cast<faiss::IndexHNSWFlat*>(loaded.get()) != nullptr) ==
                    (e->fitted_on_ >= kHnswMinVectors) &&
                (dynamic_cast<faiss::IndexHNSWFlat*>(loaded.get()) || dynamic_cast<faiss::IndexFlatIP*>(loaded.get()));
  if (usable && loaded->ntotal > 0) {
    std::vector<float> stored(static_cast<size_t>(d)), expect(static_cast<size_t>(d));
    try {
      loaded->reconstruct(loaded->ntotal - 1, stored.data());
    } catch (const std::exception&) {
      usable = false;
    }
    e->WhitenInto(e->raw_.data() + (loaded->ntotal - 1) * d, expect.data());
    for (int i = 0; usable && i < d; ++i) usable = std::fabs(stored[size_t(i)] - expect[size_t(i)]) < 1e-4f;
  }
  if (!usable) {
    e->search_ = e->NewSearchIndex(e->fitted_on_);
    *stale = true;
  } else {
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSWFlat*>(loaded.get())) hnsw->hnsw.efSearch = kHnswEfSearch;
    e->search_ = std::move(loaded);
  }
  const int64_t have = e->search_->ntotal;
  CELMATCH_RETURN_IF_ERROR(e->Whiten(have));
  e->search_dirty_ = have != count;
  if (e->search_dirty_) *stale = true;
  return e;
}

std::vector<EmbeddingNeighbor> EmbeddingIndex::Search(const std::vector<const float*>& queries, int k) const {
  std::vector<EmbeddingNeighbor> out;
  const int64_t n = search_ ? int64_t(search_->ntotal) : 0;
  if (k <= 0 || n == 0 || queries.empty()) return out;
  const int64_t kk = std::min<int64_t>(k, n);
  const int d = model_.dim;
  std::vector<float> white(queries.size() * size_t(d));
  for (size_t q = 0; q < queries.size(); ++q) WhitenInto(queries[q], white.data() + q * d);
  std::vector<float> sims(queries.size() * size_t(kk));
  std::vector<faiss::Index::idx_t> labels(queries.size() * size_t(kk), -1);
  try {
    SingleThreadedOpenMp one_thread;
    search_->search(faiss::Index::idx_t(queries.size()), white.data(), kk, sims.data(), labels.data());
  } catch (const std::exception&) {
    return out;  // cannot happen with valid arguments; Search has no error channel
  }
  std::unordered_map<int64_t, float> best;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= size()) continue;
    const int64_t key = keys_[size_t(labels[i])];
    const int64_t frame = kind_ == Kind::kRegions ? key / kRegionsPerFrame : key;
    auto [it, inserted] = best.try_emplace(frame, sims[i]);
    if (!inserted) it->second = std::max(it->second, sims[i]);
  }
  for (const auto& [frame, sim] : best) out.push_back({frame, sim});
  std::sort(out.begin(), out.end(), [](const EmbeddingNeighbor& a, const EmbeddingNeighbor& b) {
    return a.similarity != b.similarity ? a.similarity > b.similarity : a.frame_id < b.frame_id;
  });
  if (int64_t(out.size()) > kk) out.resize(size_t(kk));
  return out;
}

Status EmbeddingIndex::Check(const std::string& dir, int64_t frame_count, int64_t* missing) const {
  const auto [raw_name, whitening_name, search_name] = FileNames(kind_);
  const int64_t per_frame = kind_ == Kind::kRegions ? kRegionsPerFrame : 1;
  if (!keys_.empty() && keys_.back() / per_frame >= frame_count) {
    return Status::Corrupt(dir + "/" + raw_name + ": has a vector for frame " +
                           std::to_string(keys_.back() / per_frame) + " but the catalog has " +
                           std::to_string(frame_count) + " frames");
  }
  if (!search_ || search_->ntotal != size()) {
    return Status::Corrupt(dir + "/" + search_name + ": holds " + std::to_string(search_ ? search_->ntotal : 0) +
                           " vectors, " + raw_name + " " + std::to_string(size()));
  }
  std::vector<float> stored(static_cast<size_t>(dim())), expect(static_cast<size_t>(dim()));
  for (int64_t i = 0; i < size(); ++i) {
    search_->reconstruct(i, stored.data());
    WhitenInto(raw_.data() + i * dim(), expect.data());
    for (int c = 0; c < dim(); ++c) {
      if (std::fabs(stored[size_t(c)] - expect[size_t(c)]) > 1e-4f) {
        return Status::Corrupt(dir + "/" + search_name + ": row " + std::to_string(i) +
                               " is not the whitened vector of its frame");
      }
    }
  }
  if (missing) *missing = frame_count * per_frame - size();
  return Status::Ok();
}

}  // namespace celmatch
