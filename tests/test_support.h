// Shared helpers for celmatch's tests: temporary folders, the shared footage,
// and small generated media (seeded, so every run sees the same pixels).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace celmatch::testing {

// A fresh directory under the system temp dir, removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// ../shared/footage beside the source tree (or $CELMATCH_FOOTAGE); empty when
// absent.
std::string FootageDir();
// ../shared/pdq-vectors (or $CELMATCH_PDQ_VECTORS); empty when absent.
std::string PdqVectorsDir();

// A cartoon-like synthetic frame: flat-coloured shapes with dark outlines on a
// gradient background, fully determined by (seed, t). Consecutive t values
// move the shapes a little, like animation; different seeds give unrelated
// pictures.
cv::Mat SyntheticCartoonFrame(uint32_t seed, double t, int width = 640, int height = 360);

// Writes a video of SyntheticCartoonFrame(seed, i / fps) for i in [0, n).
// Scene cuts every `shot_s` seconds switch to another seed. Uses OpenCV's
// FFmpeg writer; `path` ending in .mp4 gives MPEG-4 Part 2, .avi MJPEG.
// Returns false when the writer could not be opened.
bool WriteSyntheticVideo(const std::string& path, uint32_t seed, double duration_s, double fps,
                         double shot_s = 4.0, int width = 640, int height = 360);

std::vector<uint8_t> ReadFileBytes(const std::string& path);
void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes);

// A picture on a PDF page: its pixels (stored as a JPEG of quality 90) and
// its box on the page, in points from the page's top-left corner. `jpeg`,
// when set, is stored instead, declared `bgr`'s size unless `declared` is
// set (a hostile file's lie).
struct PdfPicture {
  cv::Mat bgr;
  double x = 0, y = 0, width = 0, height = 0;
  std::vector<uint8_t> jpeg;
  cv::Size declared;
};
// A PDF of one page per entry of `pages` (each `width` x `height` points;
// A4 is 595 x 842), each with a line of text at its top and its pictures:
// what a retake note or a storyboard exported as PDF holds.
std::vector<uint8_t> MakePdf(const std::vector<std::vector<PdfPicture>>& pages, double width = 595,
                             double height = 842);

}  // namespace celmatch::testing

// Catch2 v2 has no SKIP: print a line CTest recognises and leave the test.
#define CELMATCH_SKIP(msg)                          \
  do {                                              \
    WARN("SKIPPED: " << msg);                       \
    std::printf("SKIPPED: %s\n", std::string(msg).c_str()); \
    return;                                         \
  } while (0)
