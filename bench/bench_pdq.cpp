// PDQ throughput on 1280x720 frames, with and without decoding, and OpenCV's
// img_hash PHash on the same images as a same-run baseline.
//
//   ./bench_pdq          (items_per_second = images/s of CPU time, one thread)

#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/img_hash.hpp>

#include "signatures/pdq_hash.h"

namespace {

// A cartoon-like frame: gradient background, flat shapes with dark outlines,
// plus mild noise so PNG and JPEG sizes resemble real decoded footage.
cv::Mat Frame(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(0, 255);
  cv::Mat img(720, 1280, CV_8UC3);
  for (int y = 0; y < img.rows; ++y)
    img.row(y).setTo(cv::Scalar(40 + y / 4, 90 + y / 8, 200 - y / 5));
  for (int i = 0; i < 12; ++i) {
    cv::Point c(u(rng) * 5, u(rng) * 3);
    cv::Scalar colour(u(rng), u(rng), u(rng));
    cv::circle(img, c, 30 + u(rng) / 2, colour, cv::FILLED, cv::LINE_AA);
    cv::circle(img, c, 30 + u(rng) / 2, cv::Scalar(20, 20, 20), 3, cv::LINE_AA);
  }
  cv::Mat noise(img.size(), CV_8UC3);
  cv::randn(noise, 0, 3);
  img += noise;
  return img;
}

const cv::Mat& TestFrame() {
  static const cv::Mat frame = Frame(42);
  return frame;
}

const std::vector<uint8_t>& Encoded(const char* ext) {
  static std::vector<uint8_t> png, jpg;
  std::vector<uint8_t>& buf = ext[1] == 'p' ? png : jpg;
  if (buf.empty()) cv::imencode(ext, TestFrame(), buf);
  return buf;
}

void BM_PdqHash(benchmark::State& state) {
  const celmatch::PdqHasher hasher;
  const cv::Mat& frame = TestFrame();
  for (auto _ : state) benchmark::DoNotOptimize(hasher.Compute(frame));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PdqHash);

void BM_PdqDihedral(benchmark::State& state) {
  const celmatch::PdqHasher hasher;
  const cv::Mat& frame = TestFrame();
  for (auto _ : state) benchmark::DoNotOptimize(hasher.ComputeDihedral(frame));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PdqDihedral);

void BM_PdqHashDecode(benchmark::State& state, const char* ext) {
  const celmatch::PdqHasher hasher;
  const std::vector<uint8_t>& bytes = Encoded(ext);
  for (auto _ : state) {
    const cv::Mat img = cv::imdecode(bytes, cv::IMREAD_COLOR);
    benchmark::DoNotOptimize(hasher.Compute(img));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["encoded_KiB"] = double(bytes.size()) / 1024.0;
}
BENCHMARK_CAPTURE(BM_PdqHashDecode, png, ".png");
BENCHMARK_CAPTURE(BM_PdqHashDecode, jpeg, ".jpg");

// --- Baseline: OpenCV img_hash PHash (64-bit DCT hash), same images. -------

void BM_PHash(benchmark::State& state) {
  auto phash = cv::img_hash::PHash::create();
  const cv::Mat& frame = TestFrame();
  cv::Mat out;
  for (auto _ : state) {
    phash->compute(frame, out);
    benchmark::DoNotOptimize(out.data);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PHash);

void BM_PHashDecode(benchmark::State& state, const char* ext) {
  auto phash = cv::img_hash::PHash::create();
  const std::vector<uint8_t>& bytes = Encoded(ext);
  cv::Mat out;
  for (auto _ : state) {
    const cv::Mat img = cv::imdecode(bytes, cv::IMREAD_COLOR);
    phash->compute(img, out);
    benchmark::DoNotOptimize(out.data);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_PHashDecode, png, ".png");
BENCHMARK_CAPTURE(BM_PHashDecode, jpeg, ".jpg");

// Decode alone, so the hash's share of the decode-included figures is visible.
void BM_DecodeOnly(benchmark::State& state, const char* ext) {
  const std::vector<uint8_t>& bytes = Encoded(ext);
  for (auto _ : state) benchmark::DoNotOptimize(cv::imdecode(bytes, cv::IMREAD_COLOR).data);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_DecodeOnly, png, ".png");
BENCHMARK_CAPTURE(BM_DecodeOnly, jpeg, ".jpg");

}  // namespace

int main(int argc, char** argv) {
  // One thread, as the pipeline hashes each frame on its worker.
  cv::setNumThreads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
