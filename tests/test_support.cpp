#include "test_support.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include <opencv2/imgcodecs.hpp>

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

std::vector<uint8_t> MakePdf(const std::vector<std::vector<PdfPicture>>& pages, double width, double height) {
  std::string pdf = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
  std::vector<size_t> offsets;  // of objects 1, 2, ...
  auto object = [&](const std::string& body) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(offsets.size()) + " 0 obj\n" + body + "\nendobj\n";
  };
  auto stream = [](const std::string& dict, const std::string& data) {
    return "<< " + dict + " /Length " + std::to_string(data.size()) + " >>\nstream\n" + data + "\nendstream";
  };
  auto number = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return std::string(buf);
  };
  // 1: catalog, 2: page tree, 3: font; then each page, its content, its pictures.
  std::string kids;
  int next = 4;
  std::vector<int> page_ids;
  for (const auto& page : pages) {
    page_ids.push_back(next);
    kids += std::to_string(next) + " 0 R ";
    next += 2 + int(page.size());
  }
  object("<< /Type /Catalog /Pages 2 0 R >>");
  object("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) + " >>");
  object("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  for (size_t p = 0; p < pages.size(); ++p) {
    const int id = page_ids[p];
    std::string xobjects, content = "BT /F1 18 Tf 40 " + number(height - 40) + " Td (RETAKE NOTES  page " +
                                    std::to_string(p + 1) + ") Tj ET\n";
    for (size_t i = 0; i < pages[p].size(); ++i) {
      const PdfPicture& pic = pages[p][i];
      xobjects += "/Im" + std::to_string(i) + " " + std::to_string(id + 2 + int(i)) + " 0 R ";
      content += "q " + number(pic.width) + " 0 0 " + number(pic.height) + " " + number(pic.x) + " " +
                 number(height - pic.y - pic.height) + " cm /Im" + std::to_string(i) + " Do Q\n";
    }
    object("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 " + number(width) + " " + number(height) +
           "] /Resources << /Font << /F1 3 0 R >> /XObject << " + xobjects + ">> >> /Contents " +
           std::to_string(id + 1) + " 0 R >>");
    object(stream("", content));
    for (const PdfPicture& pic : pages[p]) {
      std::vector<uint8_t> jpeg = pic.jpeg;
      if (jpeg.empty()) cv::imencode(".jpg", pic.bgr, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
      const cv::Size size = pic.declared.width > 0 ? pic.declared : pic.bgr.size();
      object(stream("/Type /XObject /Subtype /Image /Width " + std::to_string(size.width) + " /Height " +
                        std::to_string(size.height) +
                        " /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode",
                    std::string(jpeg.begin(), jpeg.end())));
    }
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(offsets.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char line[24];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", off);
    pdf += line;
  }
  pdf += "trailer\n<< /Size " + std::to_string(offsets.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  return std::vector<uint8_t>(pdf.begin(), pdf.end());
}

}  // namespace celmatch::testing
