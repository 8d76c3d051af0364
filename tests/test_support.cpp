#include "test_support.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

namespace fs = std::filesystem;

namespace celmatch::testing {

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p = fs::temp_directory_path() / ("celmatch-test-" + std::to_string(rd()));
    std::error_code ec;
    if (fs::create_directory(p, ec)) {
      path_ = p;
      return;
    }
  }
  std::fprintf(stderr, "TempDir: could not create a temporary directory\n");
  std::abort();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

static std::string ExistingDir(const char* env, const char* relative) {
  if (const char* e = std::getenv(env); e && *e) return fs::is_directory(e) ? std::string(e) : "";
  fs::path p = fs::path(CELMATCH_SOURCE_DIR) / relative;
  std::error_code ec;
  return fs::is_directory(p, ec) ? fs::canonical(p).string() : "";
}

std::string FootageDir() { return ExistingDir("CELMATCH_FOOTAGE", "../shared/footage"); }
std::string PdqVectorsDir() { return ExistingDir("CELMATCH_PDQ_VECTORS", "../shared/pdq-vectors"); }

cv::Mat SyntheticCartoonFrame(uint32_t seed, double t, int width, int height) {
  std::mt19937 rng(seed);
  auto uni = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  cv::Mat img(height, width, CV_8UC3);
  cv::Scalar top(uni(40, 255), uni(40, 255), uni(40, 255));
  cv::Scalar bottom(uni(0, 200), uni(0, 200), uni(0, 200));
  for (int y = 0; y < height; ++y) {
    double a = double(y) / std::max(1, height - 1);
    img.row(y).setTo(top * (1 - a) + bottom * a);
  }
  const int shapes = 6 + int(uni(0, 6));
  const double s = std::min(width, height);
  for (int i = 0; i < shapes; ++i) {
    cv::Scalar colour(uni(0, 255), uni(0, 255), uni(0, 255));
    double cx = uni(0.1, 0.9) * width, cy = uni(0.1, 0.9) * height;
    double vx = uni(-0.08, 0.08) * width, vy = uni(-0.05, 0.05) * height;
    double r = uni(0.06, 0.22) * s;
    double spin = uni(-0.5, 0.5);
    cv::Point c(int(cx + vx * t), int(cy + vy * t));
    int kind = int(uni(0, 3));
    if (kind == 0) {
      cv::ellipse(img, c, cv::Size(int(r), int(r * uni(0.5, 1.0))), spin * t * 57.3, 0, 360, colour, cv::FILLED, cv::LINE_AA);
      cv::ellipse(img, c, cv::Size(int(r), int(r * 0.75)), spin * t * 57.3, 0, 360, cv::Scalar(20, 20, 20), 3, cv::LINE_AA);
    } else if (kind == 1) {
      cv::RotatedRect rr(c, cv::Size2f(float(r * 1.6), float(r)), float(spin * t * 57.3 + uni(0, 90)));
      cv::Point2f pts[4];
      rr.points(pts);
      std::vector<cv::Point> poly(pts, pts + 4);
      cv::fillConvexPoly(img, poly, colour, cv::LINE_AA);
      cv::polylines(img, poly, true, cv::Scalar(20, 20, 20), 3, cv::LINE_AA);
    } else {
      std::vector<cv::Point> tri;
      for (int k = 0; k < 3; ++k) {
        double a = spin * t + k * 2.094 + uni(-0.3, 0.3);
        tri.emplace_back(int(c.x + r * std::cos(a)), int(c.y + r * std::sin(a)));
      }
      cv::fillConvexPoly(img, tri, colour, cv::LINE_AA);
      cv::polylines(img, tri, true, cv::Scalar(20, 20, 20), 3, cv::LINE_AA);
    }
  }
  return img;
}

bool WriteSyntheticVideo(const std::string& path, uint32_t seed, double duration_s, double fps,
                         double shot_s, int width, int height) {
  const bool avi = path.size() > 4 && path.substr(path.size() - 4) == ".avi";
  int fourcc = avi ? cv::VideoWriter::fourcc('M', 'J', 'P', 'G') : cv::VideoWriter::fourcc('m', 'p', '4', 'v');
  cv::VideoWriter writer(path, cv::CAP_FFMPEG, fourcc, fps, cv::Size(width, height));
  if (!writer.isOpened()) return false;
  const int n = int(duration_s * fps + 0.5);
  for (int i = 0; i < n; ++i) {
    double t = i / fps;
    int shot = int(t / shot_s);
    writer.write(SyntheticCartoonFrame(seed * 1000u + uint32_t(shot), t - shot * shot_s, width, height));
  }
  return true;
}

std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

}  // namespace celmatch::testing
