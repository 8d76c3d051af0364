// Embedding speed behind `celmatch bench throughput --embedding`: images per
// second through the learned embedding (signatures/embedding.h) on one
// thread, at the model's input size, decode excluded (the pictures are made
// in memory), as the index build and the matcher call it.
#pragma once

#include <string>

#include "core/status.h"

namespace celmatch {

struct EmbeddingThroughput {
  std::string model;        // the manifest's name
  int input_width = 0, input_height = 0;
  int images = 0;
  double batch1_s = 0;      // one picture per forward pass (what build and match do)
  double batched_s = 0;     // `batch` pictures per forward pass
  int batch = 0;
};

// Embeds `images` synthetic pictures of the model's input size, one by one
// and in batches of `batch`, with OpenCV limited to one thread.
Result<EmbeddingThroughput> MeasureEmbeddingThroughput(const std::string& onnx_path, int images, int batch);

std::string FormatEmbeddingThroughput(const EmbeddingThroughput& t);

}  // namespace celmatch
