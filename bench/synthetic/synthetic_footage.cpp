#include "synthetic/synthetic_footage.h"

#include <filesystem>
#include <random>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

namespace fs = std::filesystem;

namespace celmatch {

cv::Mat SyntheticCartoonFrame(uint32_t seed, double t, int width, int height) {
  std::mt19937 rng(seed);
  auto uni = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  // Draws in a fixed order, so a seed gives the same frame whatever the
  // compiler (argument evaluation order is unspecified: GCC goes right to
  // left, clang left to right). The order is GCC's, which made the frames
  // the tests were tuned on.
  auto colour_between = [&](double a, double b) {
    const double c2 = uni(a, b), c1 = uni(a, b), c0 = uni(a, b);
    return cv::Scalar(c0, c1, c2);
  };
  cv::Mat img(height, width, CV_8UC3);
  const cv::Scalar top = colour_between(40, 255);
  const cv::Scalar bottom = colour_between(0, 200);
  for (int y = 0; y < height; ++y) {
    double a = double(y) / std::max(1, height - 1);
    img.row(y).setTo(top * (1 - a) + bottom * a);
  }
  const int shapes = 6 + int(uni(0, 6));
  const double s = std::min(width, height);
  const cv::Scalar ink(20, 20, 20);
  for (int i = 0; i < shapes; ++i) {
    const cv::Scalar colour = colour_between(0, 255);
    double cx = uni(0.1, 0.9) * width, cy = uni(0.1, 0.9) * height;
    double vx = uni(-0.08, 0.08) * width, vy = uni(-0.05, 0.05) * height;
    double r = uni(0.06, 0.22) * s;
    double spin = uni(-0.5, 0.5);
    double aspect = uni(0.5, 1.0), phase = uni(0, 90), jitter[3] = {uni(-0.3, 0.3), uni(-0.3, 0.3), uni(-0.3, 0.3)};
    cv::Point c(int(cx + vx * t), int(cy + vy * t));
    int kind = int(uni(0, 3));
    if (kind == 0) {
      cv::Size axes(int(r), int(r * aspect));
      cv::ellipse(img, c, axes, spin * t * 57.3, 0, 360, colour, cv::FILLED, cv::LINE_AA);
      cv::ellipse(img, c, axes, spin * t * 57.3, 0, 360, ink, 3, cv::LINE_AA);
    } else if (kind == 1) {
      cv::RotatedRect rr(c, cv::Size2f(float(r * 1.6), float(r)), float(spin * t * 57.3 + phase));
      cv::Point2f pts[4];
      rr.points(pts);
      std::vector<cv::Point> poly;
      for (auto& p : pts) poly.emplace_back(int(p.x), int(p.y));
      cv::fillConvexPoly(img, poly, colour, cv::LINE_AA);
      cv::polylines(img, poly, true, ink, 3, cv::LINE_AA);
    } else {
      std::vector<cv::Point> tri;
      for (int k = 0; k < 3; ++k) {
        double a = spin * t + k * 2.094 + jitter[k];
        tri.emplace_back(int(c.x + r * std::cos(a)), int(c.y + r * std::sin(a)));
      }
      cv::fillConvexPoly(img, tri, colour, cv::LINE_AA);
      cv::polylines(img, tri, true, ink, 3, cv::LINE_AA);
    }
  }
  return img;
}

Status WriteSyntheticVideo(const std::string& path, uint32_t seed, double duration_s, double fps, double shot_s,
                           int width, int height) {
  const bool avi = path.size() > 4 && path.substr(path.size() - 4) == ".avi";
  int fourcc = avi ? cv::VideoWriter::fourcc('M', 'J', 'P', 'G') : cv::VideoWriter::fourcc('m', 'p', '4', 'v');
  cv::VideoWriter writer(path, cv::CAP_FFMPEG, fourcc, fps, cv::Size(width, height));
  if (!writer.isOpened()) return Status::IoError(path + ": cannot open a video writer");
  const int n = int(duration_s * fps + 0.5);
  for (int i = 0; i < n; ++i) {
    double t = i / fps;
    int shot = int(t / shot_s);
    writer.write(SyntheticCartoonFrame(seed * 1000u + uint32_t(shot), t - shot * shot_s, width, height));
  }
  return Status::Ok();
}

Result<std::string> WriteSyntheticFootage(const std::string& dir, uint32_t seed, int productions, int episodes,
                                          double episode_s) {
  std::error_code ec;
  const char* names[] = {"Moonlit Harbour", "Paper Foxes", "Rocket Garden", "Tin Island", "Cloud Bakery"};
  for (int p = 0; p < productions; ++p) {
    fs::path pdir = fs::path(dir) / names[p % 5];
    fs::create_directories(pdir, ec);
    if (ec) return Status::IoError(pdir.string() + ": " + ec.message());
    for (int e = 0; e < episodes; ++e) {
      char name[32];
      std::snprintf(name, sizeof name, "episode_%02d.mp4", e + 1);
      CELMATCH_RETURN_IF_ERROR(
          WriteSyntheticVideo((pdir / name).string(), seed + 100u * uint32_t(p) + uint32_t(e), episode_s, 24, 3.0));
    }
  }
  fs::path ddir = fs::path(dir + "-distractors");
  fs::create_directories(ddir, ec);
  if (ec) return Status::IoError(ddir.string() + ": " + ec.message());
  for (int d = 0; d < 2; ++d) {
    CELMATCH_RETURN_IF_ERROR(WriteSyntheticVideo((ddir / ("unrelated_" + std::to_string(d) + ".mp4")).string(),
                                                 seed + 7777u + uint32_t(d), 6.0, 24, 3.0));
  }
  return ddir.string();
}

}  // namespace celmatch
