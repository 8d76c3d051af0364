#include "signatures/embedding.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

namespace celmatch {

struct EmbeddingModel::Network {
  cv::dnn::Net net;
};

namespace {

Result<std::string> ReadText(const std::string& path, const char* what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound(path + ": " + what + " not found");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) return Status::IoError(path + ": cannot read " + what);
  return ss.str();
}

Result<cv::Scalar> ReadTriple(const nlohmann::json& j, const char* key, const std::string& origin) {
  if (!j.contains(key) || !j[key].is_array() || j[key].size() != 3) {
    return Status::InvalidArgument(origin + ": \"" + key + "\" must be an array of 3 numbers");
  }
  cv::Scalar s;
  for (int c = 0; c < 3; ++c) {
    if (!j[key][c].is_number()) {
      return Status::InvalidArgument(origin + ": \"" + key + "\" must be an array of 3 numbers");
    }
    s[c] = j[key][c].get<double>();
  }
  return s;
}

}  // namespace

Result<EmbeddingManifest> EmbeddingManifest::Parse(const std::string& json_text, const std::string& origin) {
  const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument(origin + ": embedding manifest is not a JSON object");
  }
  EmbeddingManifest m;
  auto positive_int = [&](const char* key, int max, int& out) -> Status {
    if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() < 1 ||
        j[key].get<int64_t>() > max) {
      return Status::InvalidArgument(origin + ": \"" + key + "\" must be an integer in 1.." + std::to_string(max));
    }
    out = j[key].get<int>();
    return Status::Ok();
  };
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty()) {
    return Status::InvalidArgument(origin + ": \"name\" must be a non-empty string");
  }
  m.name = j["name"].get<std::string>();
  CELMATCH_RETURN_IF_ERROR(positive_int("input_width", 4096, m.input_width));
  CELMATCH_RETURN_IF_ERROR(positive_int("input_height", 4096, m.input_height));
  CELMATCH_RETURN_IF_ERROR(positive_int("output_dim", 65536, m.output_dim));

  const std::string order = j.value("channel_order", std::string("RGB"));
  if (order != "RGB" && order != "BGR") {
    return Status::InvalidArgument(origin + ": \"channel_order\" must be \"RGB\" or \"BGR\", not \"" + order + "\"");
  }
  m.rgb = order == "RGB";
  if (j.contains("scale")) {
    if (!j["scale"].is_number() || !(j["scale"].get<double>() > 0)) {
      return Status::InvalidArgument(origin + ": \"scale\" must be a positive number");
    }
    m.scale = j["scale"].get<double>();
  }
  auto mean = ReadTriple(j, "mean", origin);
  if (!mean.ok()) return mean.status();
  auto std_dev = ReadTriple(j, "std", origin);
  if (!std_dev.ok()) return std_dev.status();
  m.mean = *mean;
  m.std = *std_dev;
  for (int c = 0; c < 3; ++c) {
    if (!(m.std[c] > 0)) return Status::InvalidArgument(origin + ": \"std\" values must be positive");
  }
  // Only what Embed implements; a manifest asking for something else would
  // silently give wrong vectors.
  if (j.value("resize", std::string("area")) != "area") {
    return Status::InvalidArgument(origin + ": \"resize\" must be \"area\"");
  }
  if (j.value("keep_aspect", false)) {
    return Status::InvalidArgument(origin + ": \"keep_aspect\": true is not supported");
  }
  if (j.value("normalize", std::string("l2")) != "l2") {
    return Status::InvalidArgument(origin + ": \"normalize\" must be \"l2\"");
  }
  return m;
}

std::string EmbeddingManifestPathFor(const std::string& onnx_path) {
  std::filesystem::path manifest = onnx_path;
  manifest.replace_extension(".json");
  return manifest.string();
}

Result<EmbeddingModel> EmbeddingModel::Load(const std::string& onnx_path) {
  return Load(onnx_path, EmbeddingManifestPathFor(onnx_path));
}

Result<EmbeddingModel> EmbeddingModel::Load(const std::string& onnx_path, const std::string& manifest_path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(onnx_path, ec)) {
    return Status::NotFound(onnx_path + ": embedding model not found");
  }
  auto text = ReadText(manifest_path, "embedding manifest");
  if (!text.ok()) return text.status();
  auto manifest = EmbeddingManifest::Parse(*text, manifest_path);
  if (!manifest.ok()) return manifest.status();

  EmbeddingModel model;
  model.manifest_ = *manifest;
  model.path_ = onnx_path;
  model.net_ = std::make_unique<Network>();
  try {
    model.net_->net = cv::dnn::readNetFromONNX(onnx_path);
  } catch (const cv::Exception& e) {
    return Status::Corrupt(onnx_path + ": OpenCV cannot read the ONNX model: " + e.what());
  }
  if (model.net_->net.empty()) return Status::Corrupt(onnx_path + ": OpenCV read an empty network");
  model.net_->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  model.net_->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);

  // One forward pass on a blank picture: the manifest must describe this
  // network (input size accepted, output size as stated), or every vector
  // it produced would be compared against vectors of another shape.
  const int sizes[] = {1, 3, model.manifest_.input_height, model.manifest_.input_width};
  cv::Mat probe(4, sizes, CV_32F, cv::Scalar(0));
  cv::Mat out;
  try {
    model.net_->net.setInput(probe);
    out = model.net_->net.forward();
  } catch (const cv::Exception& e) {
    return Status::InvalidArgument(manifest_path + ": the model does not accept a " +
                                   std::to_string(model.manifest_.input_width) + "x" +
                                   std::to_string(model.manifest_.input_height) + " input: " + e.what());
  }
  if (out.total() != size_t(model.manifest_.output_dim)) {
    return Status::InvalidArgument(manifest_path + ": manifest says output_dim " +
                                   std::to_string(model.manifest_.output_dim) + " but " + onnx_path + " outputs " +
                                   std::to_string(out.total()) + " values per image");
  }
  return model;
}

EmbeddingModel::EmbeddingModel(EmbeddingModel&&) noexcept = default;
EmbeddingModel& EmbeddingModel::operator=(EmbeddingModel&&) noexcept = default;
EmbeddingModel::~EmbeddingModel() = default;

Result<cv::Mat> EmbeddingModel::Embed(const std::vector<cv::Mat>& bgr) {
  for (size_t i = 0; i < bgr.size(); ++i) {
    const cv::Mat& im = bgr[i];
    if (im.empty() || im.depth() != CV_8U || (im.channels() != 1 && im.channels() != 3 && im.channels() != 4)) {
      return Status::InvalidArgument("embedding: image " + std::to_string(i) +
                                     " is empty or not 8-bit gray, BGR or BGRA");
    }
  }
  cv::Mat out(int(bgr.size()), manifest_.output_dim, CV_32F);
  for (size_t first = 0; first < bgr.size(); first += size_t(max_batch_)) {
    const size_t n = std::min(bgr.size() - first, size_t(max_batch_));
    std::vector<cv::Mat> batch(bgr.begin() + first, bgr.begin() + first + n);
    CELMATCH_RETURN_IF_ERROR(EmbedBatch(batch, first, out));
  }
  return out;
}

Result<cv::Mat> EmbeddingModel::EmbedWithMirror(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.depth() != CV_8U || (bgr.channels() != 1 && bgr.channels() != 3 && bgr.channels() != 4))
    return Embed({bgr});  // the same error
  cv::Mat color, small, mirrored;
  if (bgr.channels() == 1) cv::cvtColor(bgr, color, cv::COLOR_GRAY2BGR);
  else if (bgr.channels() == 4) cv::cvtColor(bgr, color, cv::COLOR_BGRA2BGR);
  else color = bgr;
  cv::resize(color, small, cv::Size(manifest_.input_width, manifest_.input_height), 0, 0, cv::INTER_AREA);
  cv::flip(small, mirrored, 1);
  return Embed({small, mirrored});  // already at the input size: EmbedBatch's resize copies
}

Status EmbeddingModel::EmbedBatch(const std::vector<cv::Mat>& images, size_t first, cv::Mat& out) {
  const int w = manifest_.input_width, h = manifest_.input_height;
  const int sizes[] = {int(images.size()), 3, h, w};
  cv::Mat blob(4, sizes, CV_32F);
  cv::Mat resized, color;
  for (size_t i = 0; i < images.size(); ++i) {
    const cv::Mat& im = images[i];
    if (im.channels() == 1) cv::cvtColor(im, color, cv::COLOR_GRAY2BGR);
    else if (im.channels() == 4) cv::cvtColor(im, color, cv::COLOR_BGRA2BGR);
    else color = im;
    // INTER_AREA as in training (models/train_embedding.py): it averages
    // when shrinking, so thin lines of line art survive the downscale.
    cv::resize(color, resized, cv::Size(w, h), 0, 0, cv::INTER_AREA);
    // Planes of the blob, in the manifest's channel order; OpenCV's pixels
    // are BGR, so plane c of an RGB model reads pixel channel 2 - c.
    for (int c = 0; c < 3; ++c) {
      const int src_channel = manifest_.rgb ? 2 - c : c;
      const float a = float(manifest_.scale / manifest_.std[c]);
      const float b = float(-manifest_.mean[c] / manifest_.std[c]);
      float* plane = blob.ptr<float>(int(i), c);
      for (int y = 0; y < h; ++y) {
        const uint8_t* row = resized.ptr<uint8_t>(y);
        for (int x = 0; x < w; ++x) plane[y * w + x] = a * row[3 * x + src_channel] + b;
      }
    }
  }
  cv::Mat result;
  try {
    net_->net.setInput(blob);
    result = net_->net.forward();
  } catch (const cv::Exception& e) {
    return Status::Internal(path_ + ": embedding forward pass failed: " + e.what());
  }
  if (result.total() != images.size() * size_t(manifest_.output_dim)) {
    return Status::Internal(path_ + ": the network returned " + std::to_string(result.total()) + " values for " +
                            std::to_string(images.size()) + " images");
  }
  result = result.reshape(1, int(images.size()));
  for (int i = 0; i < result.rows; ++i) {
    cv::Mat row = out.row(int(first) + i);
    result.row(i).copyTo(row);
    const double norm = cv::norm(row, cv::NORM_L2);
    // An all-zero descriptor stays zero: it matches nothing rather than
    // pointing in an arbitrary direction.
    if (norm > 0) row /= norm;
  }
  return Status::Ok();
}

Result<std::shared_ptr<EmbeddingModelPool>> EmbeddingModelPool::Create(const std::string& onnx_path,
                                                                       const std::string& manifest_path) {
  auto first = EmbeddingModel::Load(onnx_path, manifest_path);
  if (!first.ok()) return first.status();
  std::shared_ptr<EmbeddingModelPool> pool(new EmbeddingModelPool());
  pool->onnx_path_ = onnx_path;
  pool->manifest_path_ = manifest_path;
  pool->manifest_ = first->manifest();
  pool->free_.push_back(std::make_unique<EmbeddingModel>(std::move(*first)));
  return pool;
}

Result<EmbeddingModelPool::Lease> EmbeddingModelPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      std::unique_ptr<EmbeddingModel> m = std::move(free_.back());
      free_.pop_back();
      return Lease(this, std::move(m));
    }
  }
  auto loaded = EmbeddingModel::Load(onnx_path_, manifest_path_);  // outside the lock: ~50 ms
  if (!loaded.ok()) return loaded.status();
  return Lease(this, std::make_unique<EmbeddingModel>(std::move(*loaded)));
}

EmbeddingModelPool::Lease::~Lease() {
  if (!model_ || !pool_) return;
  std::lock_guard<std::mutex> lock(pool_->mu_);
  pool_->free_.push_back(std::move(model_));
}

}  // namespace celmatch
