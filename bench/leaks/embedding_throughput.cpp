#include "leaks/embedding_throughput.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <opencv2/core.hpp>

#include "signatures/embedding.h"

namespace celmatch {

Result<EmbeddingThroughput> MeasureEmbeddingThroughput(const std::string& onnx_path, int images, int batch) {
  Result<EmbeddingModel> model = EmbeddingModel::Load(onnx_path);
  if (!model.ok()) return model.status();
  EmbeddingThroughput out;
  out.model = model->manifest().name;
  out.input_width = model->manifest().input_width;
  out.input_height = model->manifest().input_height;
  out.images = std::max(1, images);
  out.batch = std::max(1, batch);

  std::vector<cv::Mat> pictures;
  cv::RNG rng(20240501);
  for (int i = 0; i < out.images; ++i) {
    cv::Mat m(out.input_height, out.input_width, CV_8UC3);
    rng.fill(m, cv::RNG::UNIFORM, 0, 256);
    pictures.push_back(m);
  }
  const int saved_threads = cv::getNumThreads();
  cv::setNumThreads(1);
  using Clock = std::chrono::steady_clock;
  // One warm-up pass: the first forward allocates the network's buffers.
  (void)model->Embed({pictures.front()});
  auto t0 = Clock::now();
  for (const cv::Mat& p : pictures) {
    Result<cv::Mat> e = model->Embed({p});
    if (!e.ok()) {
      cv::setNumThreads(saved_threads);
      return e.status();
    }
  }
  out.batch1_s = std::chrono::duration<double>(Clock::now() - t0).count();
  model->set_max_batch(out.batch);
  t0 = Clock::now();
  Result<cv::Mat> all = model->Embed(pictures);
  out.batched_s = std::chrono::duration<double>(Clock::now() - t0).count();
  cv::setNumThreads(saved_threads);
  if (!all.ok()) return all.status();
  return out;
}

std::string FormatEmbeddingThroughput(const EmbeddingThroughput& t) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "embedding (one thread, %s at %dx%d, decode excluded, %d images)\n"
                "  batch 1            %.2f s  (%.0f images/s, %.1f ms per image)\n"
                "  batch %-3d          %.2f s  (%.0f images/s, %.1f ms per image)\n",
                t.model.c_str(), t.input_width, t.input_height, t.images, t.batch1_s,
                t.images / std::max(1e-9, t.batch1_s), 1000 * t.batch1_s / t.images, t.batch, t.batched_s,
                t.images / std::max(1e-9, t.batched_s), 1000 * t.batched_s / t.images);
  return buf;
}

}  // namespace celmatch
