// The located-pixels step's place search (LocatePicture): a crop searched
// at every width and place of several frames' thumbnails, as the step runs
// it, against OpenCV's matchTemplate at the same widths in the same run
// (what LocatePicture called before it correlated through spectra).
//
//   ./bench_locate       (items_per_second = thumbnails searched/s, one thread)

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "match/cel_pixels.h"

namespace {

// Half-size catalog thumbnails (160x90, as the step searches them) of
// smooth random frames, and a picture of 128x72 (the step's coarse query).
std::vector<cv::Mat> Thumbnails(int n) {
  std::vector<cv::Mat> out;
  cv::RNG rng(7);
  for (int i = 0; i < n; ++i) {
    cv::Mat t(90, 160, CV_8U);
    rng.fill(t, cv::RNG::UNIFORM, 0, 255);
    cv::GaussianBlur(t, t, cv::Size(0, 0), 2);
    out.push_back(t);
  }
  return out;
}

cv::Mat Picture() {
  cv::Mat p(72, 128, CV_8U);
  cv::RNG(11).fill(p, cv::RNG::UNIFORM, 0, 255);
  cv::GaussianBlur(p, p, cv::Size(0, 0), 2);
  return p;
}

// 12 frames a query, as kLocatedFramesCompared.
constexpr int kFrames = 12;

void BM_LocatePicture(benchmark::State& state) {
  const std::vector<cv::Mat> thumbs = Thumbnails(kFrames);
  const cv::Mat picture = Picture();
  for (auto _ : state) {
    const celmatch::ScaledGray scaled(picture);  // one query: its widths made once
    for (const cv::Mat& t : thumbs) {
      double ncc = 0;
      benchmark::DoNotOptimize(celmatch::LocatePicture(scaled, cv::Size(1280, 720), t, &ncc));
    }
  }
  state.SetItemsProcessed(state.iterations() * kFrames);
}
BENCHMARK(BM_LocatePicture);

void BM_MatchTemplateSameWidths(benchmark::State& state) {
  const std::vector<cv::Mat> thumbs = Thumbnails(kFrames);
  const cv::Mat picture = Picture();
  for (auto _ : state) {
    const celmatch::ScaledGray scaled(picture);
    for (const cv::Mat& t : thumbs) {
      double best = -1;
      for (double share = celmatch::kLocateMinShare; share <= 1.0 + 1e-9; share *= celmatch::kLocateStep) {
        const int w = int(std::lround(share * t.cols));
        const cv::Size size = scaled.SizeAtWidth(w);
        if (w < 8 || size.height < 8 || w > t.cols || size.height > t.rows) continue;
        cv::Mat scores;
        cv::matchTemplate(t, scaled.AtWidth(w), scores, cv::TM_CCOEFF_NORMED);
        double max_value = 0;
        cv::minMaxLoc(scores, nullptr, &max_value);
        best = std::max(best, max_value);
      }
      benchmark::DoNotOptimize(best);
    }
  }
  state.SetItemsProcessed(state.iterations() * kFrames);
}
BENCHMARK(BM_MatchTemplateSameWidths);

}  // namespace

BENCHMARK_MAIN();
