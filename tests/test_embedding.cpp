// The learned embedding (signatures/embedding.h) with the committed model
// models/celmatch-embed-v2.onnx: it loads, gives the vectors the export
// script computed, a copy lands nearer than an unrelated picture, and broken
// model files are refused with the right error. Tests needing the model skip
// when it is absent.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "signatures/embedding.h"
#include "test_support.h"

using celmatch::EmbeddingManifest;
using celmatch::EmbeddingModel;
using celmatch::Status;

namespace {

const std::string kModel = std::string(CELMATCH_SOURCE_DIR) + "/models/celmatch-embed-v2.onnx";
const std::string kManifest = std::string(CELMATCH_SOURCE_DIR) + "/models/celmatch-embed-v2.json";
const std::string kReference = std::string(CELMATCH_SOURCE_DIR) + "/tests/data/embedding_reference.txt";

bool ModelPresent() { return std::filesystem::exists(kModel) && std::filesystem::exists(kManifest); }

// Same picture as reference_image() in models/export_embedding.py: integer
// gradient and shapes drawn without anti-aliasing, so both sides get
// identical pixels from the same OpenCV.
cv::Mat ReferenceImage() {
  const int h = 120, w = 160;
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 255 / (w - 1), y * 255 / (h - 1), 128);
  cv::rectangle(img, cv::Point(20, 30), cv::Point(70, 90), cv::Scalar(0, 0, 255), -1);
  cv::circle(img, cv::Point(110, 60), 30, cv::Scalar(255, 255, 255), -1);
  cv::line(img, cv::Point(0, 119), cv::Point(159, 0), cv::Scalar(0, 0, 0), 3);
  return img;
}

std::vector<float> ReadReference() {
  std::ifstream in(kReference);
  std::string line;
  std::vector<float> v;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    float f;
    while (ss >> f) v.push_back(f);
  }
  return v;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double Cosine(const cv::Mat& a, const cv::Mat& b) { return a.dot(b); }

const std::string kGolden = std::string(CELMATCH_SOURCE_DIR) + "/tests/data/embedding_golden.txt";

// The pictures of pictures() in models/golden_vectors.py, pixel for pixel: a
// gray one, a BGRA one (alpha ignored) and a tall one, none of the model's
// input size.
std::map<std::string, cv::Mat> GoldenPictures() {
  std::map<std::string, cv::Mat> out;
  cv::Mat gray(100, 150, CV_8UC1);
  for (int y = 0; y < gray.rows; ++y)
    for (int x = 0; x < gray.cols; ++x) gray.at<uint8_t>(y, x) = uint8_t((x * 7 + y * 3) % 256);
  cv::Mat bgra(90, 200, CV_8UC4);
  for (int y = 0; y < bgra.rows; ++y)
    for (int x = 0; x < bgra.cols; ++x) bgra.at<cv::Vec4b>(y, x) = cv::Vec4b(x % 256, (y * 2) % 256, (x + y) % 256, 0);
  cv::Mat bands(240, 64, CV_8UC3);
  for (int y = 0; y < bands.rows; ++y)
    for (int x = 0; x < bands.cols; ++x)
      bands.at<cv::Vec3b>(y, x) = cv::Vec3b(((y / 16) * 40) % 256, ((x / 8) * 30) % 256, ((x * y) / 64) % 256);
  out["gray_100x150"] = gray;
  out["bgra_90x200"] = bgra;
  out["bands_240x64"] = bands;
  return out;
}

}  // namespace

TEST_CASE("embedding: the committed model gives the golden vectors of gray, BGRA and tall pictures") {
  if (!ModelPresent()) CELMATCH_SKIP("no " + kModel);
  auto model = EmbeddingModel::Load(kModel);
  REQUIRE(model.ok());
  const auto pictures = GoldenPictures();
  std::ifstream in(kGolden);
  REQUIRE(in);
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string name;
    ss >> name;
    std::vector<float> expected;
    float f;
    while (ss >> f) expected.push_back(f);
    INFO(name);
    REQUIRE(pictures.count(name) == 1);
    REQUIRE(int(expected.size()) == model->dim());
    auto e = model->Embed({pictures.at(name)});
    REQUIRE(e.ok());
    double max_diff = 0;
    for (int i = 0; i < e->cols; ++i) max_diff = std::max(max_diff, double(std::abs(e->at<float>(0, i) - expected[size_t(i)])));
    CHECK(max_diff < 1e-4);
    ++checked;
  }
  CHECK(checked == int(pictures.size()));
}

TEST_CASE("embedding: a missing model file is kNotFound and names the file") {
  auto m = EmbeddingModel::Load("/nonexistent/celmatch-embed-v0.onnx");
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == Status::Code::kNotFound);
  CHECK(m.status().message().find("/nonexistent/celmatch-embed-v0.onnx") != std::string::npos);
}

TEST_CASE("embedding: manifests with missing or impossible fields are refused") {
  const std::string good = R"({"name": "m", "input_width": 128, "input_height": 128, "channel_order": "RGB",
      "scale": 0.0039, "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2], "output_dim": 256})";
  auto ok = EmbeddingManifest::Parse(good, "m.json");
  REQUIRE(ok.ok());
  CHECK(ok->input_width == 128);
  CHECK(ok->output_dim == 256);
  CHECK(ok->rgb);

  const std::vector<std::string> bad = {
      "not json",
      R"({"input_width": 128, "input_height": 128, "mean": [0,0,0], "std": [1,1,1], "output_dim": 8})",
      R"({"name": "m", "input_width": 0, "input_height": 128, "mean": [0,0,0], "std": [1,1,1], "output_dim": 8})",
      R"({"name": "m", "input_width": 128, "input_height": 128, "mean": [0,0], "std": [1,1,1], "output_dim": 8})",
      R"({"name": "m", "input_width": 128, "input_height": 128, "mean": [0,0,0], "std": [1,0,1], "output_dim": 8})",
      R"({"name": "m", "input_width": 128, "input_height": 128, "mean": [0,0,0], "std": [1,1,1]})",
      R"({"name": "m", "input_width": 128, "input_height": 128, "mean": [0,0,0], "std": [1,1,1], "output_dim": 8,
          "channel_order": "YUV"})",
      R"({"name": "m", "input_width": 128, "input_height": 128, "mean": [0,0,0], "std": [1,1,1], "output_dim": 8,
          "keep_aspect": true})",
  };
  for (const std::string& text : bad) {
    auto m = EmbeddingManifest::Parse(text, "bad.json");
    INFO(text);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == Status::Code::kInvalidArgument);
    CHECK(m.status().message().rfind("bad.json: ", 0) == 0);
  }
}

TEST_CASE("embedding: a manifest that does not describe the network is refused") {
  if (!ModelPresent()) CELMATCH_SKIP("no " + kModel);
  celmatch::testing::TempDir dir;
  std::string text = ReadText(kManifest);
  const size_t at = text.find("\"output_dim\": ");
  REQUIRE(at != std::string::npos);
  const size_t end = text.find_first_of(",\n}", at + 14);
  text.replace(at, end - at, "\"output_dim\": 64");
  const std::string wrong = (dir.path() / "wrong.json").string();
  std::ofstream(wrong) << text;

  auto m = EmbeddingModel::Load(kModel, wrong);
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == Status::Code::kInvalidArgument);
  CHECK(m.status().message().find("output_dim 64") != std::string::npos);

  auto missing = EmbeddingModel::Load(kModel, (dir.path() / "absent.json").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
}

TEST_CASE("embedding: the committed model gives the export script's vector for the reference picture") {
  if (!ModelPresent()) CELMATCH_SKIP("no " + kModel);
  auto model = EmbeddingModel::Load(kModel);
  REQUIRE(model.ok());
  const std::vector<float> expected = ReadReference();
  REQUIRE(int(expected.size()) == model->dim());

  auto e = model->Embed({ReferenceImage()});
  REQUIRE(e.ok());
  REQUIRE(e->rows == 1);
  REQUIRE(e->cols == model->dim());
  REQUIRE(e->type() == CV_32F);
  double max_diff = 0;
  for (int i = 0; i < e->cols; ++i) max_diff = std::max(max_diff, double(std::abs(e->at<float>(0, i) - expected[i])));
  CHECK(max_diff < 1e-4);
  CHECK(cv::norm(*e) == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("embedding: batches give the same rows as single images, all unit length") {
  if (!ModelPresent()) CELMATCH_SKIP("no " + kModel);
  auto model = EmbeddingModel::Load(kModel);
  REQUIRE(model.ok());
  model->set_max_batch(2);  // three images: two forward passes, one of them partial
  cv::Mat gray;
  cv::cvtColor(celmatch::testing::SyntheticCartoonFrame(5, 0.0), gray, cv::COLOR_BGR2GRAY);
  const std::vector<cv::Mat> images = {celmatch::testing::SyntheticCartoonFrame(3, 0.0), ReferenceImage(), gray};
  auto all = model->Embed(images);
  REQUIRE(all.ok());
  REQUIRE(all->rows == 3);
  for (int i = 0; i < 3; ++i) {
    auto one = model->Embed({images[i]});
    REQUIRE(one.ok());
    CHECK(cv::norm(all->row(i), one->row(0), cv::NORM_INF) < 1e-5);
    CHECK(cv::norm(all->row(i)) == Approx(1.0).epsilon(1e-5));
  }

  auto none = model->Embed({});
  REQUIRE(none.ok());
  CHECK(none->rows == 0);
  auto bad = model->Embed({ReferenceImage(), cv::Mat()});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Status::Code::kInvalidArgument);
}

// EmbedWithMirror flips after the resize to the network's input: on a 1080p
// frame, a 4:3 picture and a gray one (sizes the area resize divides
// unevenly), the two rows are the picture's and its flipped copy's vectors.
TEST_CASE("embedding: the mirror embedded after the resize gives the flipped picture's vector") {
  if (!ModelPresent()) CELMATCH_SKIP("no " + kModel);
  auto model = EmbeddingModel::Load(kModel);
  REQUIRE(model.ok());
  cv::Mat gray;
  cv::cvtColor(celmatch::testing::SyntheticCartoonFrame(5, 0.0), gray, cv::COLOR_BGR2GRAY);
  cv::Mat big;
  cv::resize(ReferenceImage(), big, cv::Size(1920, 1080), 0, 0, cv::INTER_CUBIC);
  for (const cv::Mat& picture : {big, celmatch::testing::SyntheticCartoonFrame(3, 0.0), gray}) {
    INFO(picture.cols << "x" << picture.rows << ", " << picture.channels() << " channels");
    cv::Mat flipped;
    cv::flip(picture, flipped, 1);
    auto both = model->EmbedWithMirror(picture);
    auto want = model->Embed({picture, flipped});
    REQUIRE(both.ok());
    REQUIRE(want.ok());
    REQUIRE(both->rows == 2);
    CHECK(cv::norm(both->row(0), want->row(0), cv::NORM_INF) < 1e-5);
    // Rounding of the averaged pixels may differ by one level here and there.
    CHECK(both->row(1).dot(want->row(1)) > 0.9995);
    CHECK(both->row(0).dot(both->row(1)) < 0.9995);  // the mirror is another picture to the network
  }
  CHECK_FALSE(model->EmbedWithMirror(cv::Mat()).ok());
}

TEST_CASE("embedding: a damaged copy is closer than an unrelated picture") {
  if (!ModelPresent()) CELMATCH_SKIP("no " + kModel);
  auto model = EmbeddingModel::Load(kModel);
  REQUIRE(model.ok());
  const cv::Mat original = celmatch::testing::SyntheticCartoonFrame(11, 0.0);
  // The copy: JPEG at quality 50, 60% of the area kept, grayscale.
  std::vector<uint8_t> jpeg;
  cv::imencode(".jpg", original, jpeg, {cv::IMWRITE_JPEG_QUALITY, 50});
  cv::Mat copy = cv::imdecode(jpeg, cv::IMREAD_COLOR);
  const double s = std::sqrt(0.6);
  const cv::Rect keep(int(copy.cols * (1 - s) / 2), int(copy.rows * (1 - s) / 3), int(copy.cols * s),
                      int(copy.rows * s));
  cv::cvtColor(copy(keep), copy, cv::COLOR_BGR2GRAY);

  const std::vector<cv::Mat> unrelated = {celmatch::testing::SyntheticCartoonFrame(12, 0.0),
                                          celmatch::testing::SyntheticCartoonFrame(901, 0.0), ReferenceImage()};
  std::vector<cv::Mat> batch = {original, copy};
  batch.insert(batch.end(), unrelated.begin(), unrelated.end());
  auto e = model->Embed(batch);
  REQUIRE(e.ok());
  const double to_copy = Cosine(e->row(0), e->row(1));
  for (int i = 2; i < e->rows; ++i) {
    INFO("unrelated picture " << i - 2);
    CHECK(to_copy > Cosine(e->row(0), e->row(i)));
  }
}
