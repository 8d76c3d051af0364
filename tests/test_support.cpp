#include "test_support.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include "synthetic/synthetic_footage.h"

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
  return celmatch::SyntheticCartoonFrame(seed, t, width, height);
}

bool WriteSyntheticVideo(const std::string& path, uint32_t seed, double duration_s, double fps,
                         double shot_s, int width, int height) {
  return celmatch::WriteSyntheticVideo(path, seed, duration_s, fps, shot_s, width, height).ok();
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
