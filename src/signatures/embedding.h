// Learned copy-detection embedding: a small network (ONNX, run by OpenCV's
// DNN module) that maps a picture to a unit vector; copies of a picture (crop,
// line art, colour change, blur, annotations, a missing layer) land near it,
// unrelated pictures far. Cosine similarity = dot product of two rows.
//
// A model is a pair of files: NAME.onnx and its manifest NAME.json, which says
// how pixels become the network's input:
//   {"name": "celmatch-embed-v2", "input_width": 128, "input_height": 128,
//    "channel_order": "RGB", "scale": 0.00392156862745098,
//    "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
//    "resize": "area", "keep_aspect": false, "output_dim": 256, "normalize": "l2"}
// i.e. each image is resized (INTER_AREA, aspect not kept) to the input size,
// put in channel_order, multiplied by scale, then (x - mean) / std per
// channel (mean and std in channel_order). models/README.md documents the
// committed model; models/export_embedding.py writes both files.
//
// Thread-safety: one EmbeddingModel must not run Embed on two threads at once
// (cv::dnn::Net keeps per-call state); load one model per worker thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"

namespace celmatch {

struct EmbeddingManifest {
  std::string name;               // identifies the model (recorded by an index it built)
  int input_width = 0, input_height = 0;  // pixels
  bool rgb = true;                // channel_order "RGB" (else "BGR")
  double scale = 1.0 / 255.0;     // applied to 0..255 pixel values before mean/std
  cv::Scalar mean{0, 0, 0};       // per channel, in channel order
  cv::Scalar std{1, 1, 1};
  int output_dim = 0;

  // Parses and checks a manifest's JSON text; `origin` (the file name) goes
  // into error messages. kInvalidArgument for malformed JSON, a missing or
  // out-of-range field, or a resize / normalisation this code does not do.
  static Result<EmbeddingManifest> Parse(const std::string& json_text, const std::string& origin);
};

class EmbeddingModel {
 public:
  // Loads `onnx_path` and the manifest beside it (same path, .json).
  // kNotFound when either file is missing; kInvalidArgument when the manifest
  // is wrong or does not describe the network (its output size differs);
  // kCorrupt when OpenCV cannot read the ONNX file.
  static Result<EmbeddingModel> Load(const std::string& onnx_path);
  static Result<EmbeddingModel> Load(const std::string& onnx_path, const std::string& manifest_path);

  EmbeddingModel(EmbeddingModel&&) noexcept;
  EmbeddingModel& operator=(EmbeddingModel&&) noexcept;
  ~EmbeddingModel();

  // One L2-normalised CV_32F row of manifest().output_dim values per image,
  // in input order. Images: CV_8UC3 BGR, CV_8UC1 gray or CV_8UC4 BGRA (alpha
  // ignored), any size. Runs the network on batches of `max_batch` images.
  // kInvalidArgument for an empty or non-8-bit image (the message gives its
  // index). An empty input gives a 0 x output_dim matrix.
  Result<cv::Mat> Embed(const std::vector<cv::Mat>& bgr);
  // Two rows: `bgr` as Embed gives it, and its mirror image (flipped left to
  // right). The mirror is flipped after the resize to the network's input,
  // not before: area resizing commutes with the flip (each output pixel
  // averages the mirrored cell), so the network sees the same pixels for a
  // fraction of the cost on a large picture (the resize of a 1080p frame
  // costs more than the network).
  Result<cv::Mat> EmbedWithMirror(const cv::Mat& bgr);

  const EmbeddingManifest& manifest() const { return manifest_; }
  int dim() const { return manifest_.output_dim; }
  void set_max_batch(int n) { max_batch_ = n < 1 ? 1 : n; }

 private:
  EmbeddingModel() = default;
  // `images` already checked; fills rows [first, first + images.size()) of `out`.
  Status EmbedBatch(const std::vector<cv::Mat>& images, size_t first, cv::Mat& out);

  struct Network;  // the cv::dnn::Net, kept out of this header (opencv2/dnn.hpp is large)

  EmbeddingManifest manifest_;
  std::string path_;
  std::unique_ptr<Network> net_;
  int max_batch_ = 32;
};

// Models for many threads: each Lease holds one EmbeddingModel to itself
// (models are not thread-safe); a model is loaded the first time no free one
// is left, so N threads load at most N copies, each ~10 MB. The files are
// checked once by Create.
//
// Thread-safety: Acquire and the Leases may be used from any thread.
class EmbeddingModelPool {
 public:
  // Loads the model once (same errors as EmbeddingModel::Load).
  static Result<std::shared_ptr<EmbeddingModelPool>> Create(const std::string& onnx_path,
                                                            const std::string& manifest_path);

  class Lease {
   public:
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    EmbeddingModel& model() { return *model_; }

   private:
    friend class EmbeddingModelPool;
    Lease(EmbeddingModelPool* pool, std::unique_ptr<EmbeddingModel> model) : pool_(pool), model_(std::move(model)) {}
    EmbeddingModelPool* pool_;
    std::unique_ptr<EmbeddingModel> model_;
  };
  // A model for the caller alone, until the Lease is destroyed. kCorrupt or
  // kIoError only if the files changed since Create.
  Result<Lease> Acquire();

  const EmbeddingManifest& manifest() const { return manifest_; }
  const std::string& onnx_path() const { return onnx_path_; }
  const std::string& manifest_path() const { return manifest_path_; }

 private:
  EmbeddingModelPool() = default;
  std::string onnx_path_, manifest_path_;
  EmbeddingManifest manifest_;
  std::mutex mu_;
  std::vector<std::unique_ptr<EmbeddingModel>> free_;
};

// The manifest path that belongs to an ONNX file: same name, .json.
std::string EmbeddingManifestPathFor(const std::string& onnx_path);

}  // namespace celmatch
