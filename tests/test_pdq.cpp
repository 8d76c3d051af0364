// PDQ against Meta's reference output (shared/pdq-vectors), plus the hash's
// own contracts: hex form, Hamming distance, dihedral rules and robustness.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "match/matcher.h"
#include "media/image_decoder.h"
#include "signatures/pdq_hash.h"
#include "test_support.h"

using celmatch::Dihedral;
using celmatch::PdqHash;
using celmatch::PdqHasher;
using celmatch::PdqResult;

namespace {

std::vector<std::vector<std::string>> ReadCsv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, ',')) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

PdqHash Hex(const std::string& hex) {
  auto r = PdqHash::FromHex(hex);
  REQUIRE(r.ok());
  return *r;
}

PdqHash Flip(PdqHash h, int bit) {
  h.bytes[bit / 8] ^= uint8_t(1u << (bit % 8));
  return h;
}

}  // namespace

TEST_CASE("PDQ matches the reference vectors", "[pdq]") {
  const std::string dir = celmatch::testing::PdqVectorsDir();
  if (dir.empty()) CELMATCH_SKIP("no shared/pdq-vectors");
  const auto rows = ReadCsv(dir + "/hashes.csv");
  REQUIRE(rows.size() >= 10);

  PdqHasher hasher;
  std::map<int, int> distribution;  // distance -> images (quality >= 80)
  int checked = 0, equal = 0, max_distance = 0, max_quality_error = 0;
  for (const auto& row : rows) {
    REQUIRE(row.size() == 3);
    INFO(row[0]);
    const cv::Mat image = cv::imread(dir + "/images/" + row[0], cv::IMREAD_COLOR);
    REQUIRE(!image.empty());
    const PdqHash want = Hex(row[1]);
    const int want_quality = std::stoi(row[2]);
    const PdqResult got = hasher.Compute(image);
    const int d = got.hash.Distance(want);
    std::printf("  %-14s %4dx%-4d q=%3d (ref %3d) distance %d\n", row[0].c_str(), image.cols,
                image.rows, got.quality, want_quality, d);
    max_quality_error = std::max(max_quality_error, std::abs(got.quality - want_quality));
    CHECK(std::abs(got.quality - want_quality) <= 2);
    if (want_quality < 80) continue;
    ++checked;
    ++distribution[d];
    equal += d == 0;
    max_distance = std::max(max_distance, d);
    CHECK(d <= 10);
  }
  std::printf("PDQ reference vectors (quality >= 80): %d of %d equal, max distance %d, "
              "max quality error %d\n  distance distribution:",
              equal, checked, max_distance, max_quality_error);
  for (const auto& [d, n] : distribution) std::printf(" %d:%d", d, n);
  std::printf("\n");
  REQUIRE(checked >= 10);
  CHECK(2 * equal >= checked);
}

TEST_CASE("PDQ dihedral hashes match the reference", "[pdq]") {
  const std::string dir = celmatch::testing::PdqVectorsDir();
  if (dir.empty()) CELMATCH_SKIP("no shared/pdq-vectors");
  const auto rows = ReadCsv(dir + "/dihedral.csv");
  REQUIRE(rows.size() >= 4);
  const char* names[8] = {"original", "rotate90", "rotate180", "rotate270",
                          "flip_x",   "flip_y",   "flip_plus1", "flip_minus1"};
  PdqHasher hasher;
  int equal = 0, total = 0, max_distance = 0;
  for (const auto& row : rows) {
    REQUIRE(row.size() == 10);
    const cv::Mat image = cv::imread(dir + "/images/" + row[0], cv::IMREAD_COLOR);
    REQUIRE(!image.empty());
    const auto got = hasher.ComputeDihedral(image);
    CHECK(got[0].hash == hasher.Compute(image).hash);
    for (int k = 0; k < 8; ++k) {
      INFO(row[0] << " " << names[k]);
      const int d = got[k].hash.Distance(Hex(row[2 + k]));
      CHECK(d <= 10);
      CHECK(std::abs(got[k].quality - std::stoi(row[1])) <= 2);
      equal += d == 0;
      ++total;
      max_distance = std::max(max_distance, d);
    }
  }
  std::printf("PDQ dihedral vectors: %d of %d equal, max distance %d\n", equal, total,
              max_distance);
  CHECK(2 * equal >= total);
}

// The matcher hashes a large JPEG decoded at 1/2, 1/4 or 1/8 of its size
// (DCT scaling, longer side at least Matcher::kEarlyDecodeMinSide) for its
// early PDQ decision. That hash must stay within the reference vectors'
// tolerance: of Meta's hash of the same frame, and of the hash of the same
// JPEG decoded whole. Each frame is tried at its own size and enlarged to
// 1920 and 3840 px wide (1080p and 4K stills), so every reduction is used.
TEST_CASE("PDQ of a reduced JPEG decode stays within the reference tolerance", "[pdq]") {
  const std::string dir = celmatch::testing::PdqVectorsDir();
  if (dir.empty()) CELMATCH_SKIP("no shared/pdq-vectors");
  const int min_side = celmatch::Matcher::kEarlyDecodeMinSide;
  PdqHasher hasher;
  std::map<int, int> used;                   // reduction -> decodes
  std::map<int, int> worst_vs_ref, worst_vs_whole;  // reduction -> max distance
  for (const auto& row : ReadCsv(dir + "/hashes.csv")) {
    if (row[0].rfind("full_", 0) != 0 || std::stoi(row[2]) < 80) continue;
    INFO(row[0]);
    const cv::Mat frame = cv::imread(dir + "/images/" + row[0], cv::IMREAD_COLOR);
    REQUIRE(!frame.empty());
    const PdqHash reference = Hex(row[1]);
    for (int width : {frame.cols, 1920, 3840}) {
      INFO("width " << width);
      cv::Mat sized = frame;
      if (width != frame.cols) {
        cv::resize(frame, sized, cv::Size(width, int(std::lround(double(frame.rows) * width / frame.cols))), 0, 0,
                   cv::INTER_CUBIC);
      }
      std::vector<uint8_t> jpeg;
      REQUIRE(cv::imencode(".jpg", sized, jpeg, {cv::IMWRITE_JPEG_QUALITY, 95}));
      bool reduced = false;
      auto small = celmatch::DecodeImageFromBuffer(row[0], jpeg, nullptr, {}, min_side, &reduced);
      auto whole = celmatch::DecodeImageFromBuffer(row[0], jpeg);
      REQUIRE(small.ok());
      REQUIRE(whole.ok());
      const int factor = whole->cols / small->cols;
      // The largest reduction that keeps the longer side at min_side.
      CHECK(reduced == (factor > 1));
      CHECK(small->cols >= min_side);
      CHECK((factor == 8 || small->cols / 2 < min_side));
      ++used[factor];
      if (factor == 1) continue;
      const PdqResult got = hasher.Compute(*small);
      const PdqResult full = hasher.Compute(*whole);
      const int vs_ref = got.hash.Distance(reference), vs_whole = got.hash.Distance(full.hash);
      CHECK(vs_ref <= 10);
      CHECK(vs_whole <= 10);
      // The smaller picture is smoother: its quality may be lower (a harder
      // bar for the early decision), never much higher.
      INFO("quality " << got.quality << " reduced, " << full.quality << " whole");
      CHECK(got.quality <= full.quality + 2);
      CHECK(got.quality >= full.quality - 10);
      worst_vs_ref[factor] = std::max(worst_vs_ref[factor], vs_ref);
      worst_vs_whole[factor] = std::max(worst_vs_whole[factor], vs_whole);
    }
  }
  for (const auto& [factor, n] : used) {
    std::printf("reduced JPEG decode 1/%d: %d pictures, max distance %d to the reference, %d to the whole decode\n",
                factor, n, worst_vs_ref[factor], worst_vs_whole[factor]);
  }
  CHECK(used.count(2) == 1);
  CHECK(used.count(4) == 1);
  CHECK(used.count(8) == 1);
}

// Independent of the reference data: each dihedral hash must describe the
// image actually rotated or flipped by OpenCV.
TEST_CASE("PDQ dihedral hashes agree with transformed images", "[pdq]") {
  PdqHasher hasher;
  const cv::Mat image = celmatch::testing::SyntheticCartoonFrame(7, 0.0, 320, 240);
  cv::Mat t;
  auto transformed = [&](Dihedral d) {
    switch (d) {
      case Dihedral::kOriginal: t = image.clone(); break;
      case Dihedral::kRotate90: cv::rotate(image, t, cv::ROTATE_90_COUNTERCLOCKWISE); break;
      case Dihedral::kRotate180: cv::rotate(image, t, cv::ROTATE_180); break;
      case Dihedral::kRotate270: cv::rotate(image, t, cv::ROTATE_90_CLOCKWISE); break;
      case Dihedral::kFlipX: cv::flip(image, t, 0); break;   // top <-> bottom
      case Dihedral::kFlipY: cv::flip(image, t, 1); break;   // left <-> right
      case Dihedral::kFlipPlus1: cv::transpose(image, t); break;
      case Dihedral::kFlipMinus1: cv::rotate(image, t, cv::ROTATE_180); cv::transpose(t, t); break;
    }
    return t;
  };
  const auto all = hasher.ComputeDihedral(image);
  REQUIRE(all[0].quality >= 80);
  for (int k = 0; k < 8; ++k) {
    INFO("dihedral " << k);
    const PdqHash direct = hasher.Compute(transformed(Dihedral(k))).hash;
    CHECK(direct.Distance(all[k].hash) <= 16);
    for (int other = 0; other < 8; ++other)
      if (other != k) CHECK(direct.Distance(all[other].hash) > 60);
  }
}

// The reference stretches images over 512 px to 512x512 with CImg's default
// (nearest neighbour, source index floor(i * old / 512)); the hasher fuses that
// into its luminance step. Rebuild the 512x512 image explicitly and compare.
TEST_CASE("PDQ pre-shrink is CImg's nearest-neighbour resize", "[pdq]") {
  PdqHasher hasher;
  for (const cv::Size size : {cv::Size(1280, 720), cv::Size(848, 480), cv::Size(600, 300)}) {
    INFO(size.width << "x" << size.height);
    const cv::Mat big = celmatch::testing::SyntheticCartoonFrame(21, 0.0, size.width, size.height);
    cv::Mat square(512, 512, CV_8UC3);
    for (int y = 0; y < 512; ++y)
      for (int x = 0; x < 512; ++x)
        square.at<cv::Vec3b>(y, x) =
            big.at<cv::Vec3b>(y * big.rows / 512, x * big.cols / 512);
    const PdqResult fused = hasher.Compute(big), explicit_resize = hasher.Compute(square);
    CHECK(fused.hash == explicit_resize.hash);
    CHECK(fused.quality == explicit_resize.quality);
  }
}

TEST_CASE("PDQ hex round trip", "[pdq]") {
  const std::string hex = "d05228edd2b5ef4a9ba344a5eb5a34a45931ae4a4db2a64d6b5ad3a426d9d962";
  const PdqHash h = Hex(hex);
  CHECK(h.bytes[0] == 0xd0);
  CHECK(h.bytes[1] == 0x52);
  CHECK(h.bytes[31] == 0x62);
  CHECK(h.ToHex() == hex);

  std::string upper = hex;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  auto from_upper = PdqHash::FromHex(upper);
  REQUIRE(from_upper.ok());
  CHECK(*from_upper == h);

  PdqHasher hasher;
  const PdqHash computed = hasher.Compute(celmatch::testing::SyntheticCartoonFrame(3, 0.0)).hash;
  CHECK(Hex(computed.ToHex()) == computed);

  CHECK_FALSE(PdqHash::FromHex(hex.substr(1)).ok());
  CHECK_FALSE(PdqHash::FromHex(hex + "0").ok());
  CHECK_FALSE(PdqHash::FromHex("").ok());
  std::string bad = hex;
  bad[17] = 'g';
  auto r = PdqHash::FromHex(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == celmatch::Status::Code::kInvalidArgument);
  CHECK(r.status().message().find("17") != std::string::npos);
}

TEST_CASE("PDQ Hamming distance", "[pdq]") {
  const PdqHash a = Hex("d05228edd2b5ef4a9ba344a5eb5a34a45931ae4a4db2a64d6b5ad3a426d9d962");
  const PdqHash b = Hex("69409f7b4bc669294357dc8693f83106d6e346dce90059b1db269b67b4acb48d");
  PdqHash zero, ones;
  ones.bytes.fill(0xff);
  CHECK(a.Distance(a) == 0);
  CHECK(zero.Distance(ones) == 256);
  CHECK(a.Distance(b) == b.Distance(a));
  CHECK(a.Distance(b) > 0);
  PdqHash not_a = a;
  for (auto& byte : not_a.bytes) byte = uint8_t(~byte);
  CHECK(a.Distance(not_a) == 256);
  CHECK(a.Distance(zero) + a.Distance(ones) == 256);
  // Each bit position counts once, in every byte and 64-bit word.
  for (int bit : {0, 7, 8, 63, 64, 127, 128, 200, 255}) CHECK(Flip(a, bit).Distance(a) == 1);
  CHECK(Flip(Flip(Flip(a, 0), 100), 255).Distance(a) == 3);
  CHECK(Flip(Flip(a, 5), 5) == a);
  const PdqHash c = Flip(Flip(b, 1), 2);
  CHECK(a.Distance(c) <= a.Distance(b) + b.Distance(c));
}

TEST_CASE("PDQ hash has median-balanced bits", "[pdq]") {
  PdqHasher hasher;
  PdqHash zero;
  for (uint32_t seed : {1u, 2u, 3u}) {
    const PdqResult r = hasher.Compute(celmatch::testing::SyntheticCartoonFrame(seed, 0.0));
    // Strictly above the lower median of 256 distinct values: exactly 128.
    CHECK(r.hash.Distance(zero) == 128);
  }
}

TEST_CASE("PDQ survives JPEG and downscaling, separates unrelated frames", "[pdq]") {
  PdqHasher hasher;
  const cv::Mat original = celmatch::testing::SyntheticCartoonFrame(11, 0.0, 1280, 720);
  std::vector<uint8_t> jpeg;
  REQUIRE(cv::imencode(".jpg", original, jpeg, {cv::IMWRITE_JPEG_QUALITY, 60}));
  cv::Mat degraded = cv::imdecode(jpeg, cv::IMREAD_COLOR);
  REQUIRE(!degraded.empty());
  cv::resize(degraded, degraded, cv::Size(480, 270), 0, 0, cv::INTER_AREA);

  const PdqResult a = hasher.Compute(original);
  const PdqResult b = hasher.Compute(degraded);
  const int near = a.hash.Distance(b.hash);
  REQUIRE(a.quality >= 80);
  CHECK(near < 20);

  int min_far = 256;
  for (uint32_t seed : {12u, 13u, 14u, 15u}) {
    const PdqResult other =
        hasher.Compute(celmatch::testing::SyntheticCartoonFrame(seed, 0.0, 1280, 720));
    min_far = std::min(min_far, a.hash.Distance(other.hash));
  }
  std::printf("PDQ robustness: JPEG q60 + downscale distance %d; unrelated min distance %d\n",
              near, min_far);
  CHECK(min_far > 60);
}

TEST_CASE("PDQ input handling", "[pdq]") {
  PdqHasher hasher;
  const cv::Mat bgr = celmatch::testing::SyntheticCartoonFrame(5, 0.0, 400, 300);

  SECTION("too small or unsupported images give quality 0 and a zero hash") {
    for (const cv::Mat& m : {cv::Mat(), cv::Mat(4, 100, CV_8UC3, cv::Scalar(9, 99, 199)),
                             cv::Mat(100, 4, CV_8UC1, cv::Scalar(50))}) {
      const PdqResult r = hasher.Compute(m);
      CHECK(r.quality == 0);
      CHECK(r.hash == PdqHash{});
    }
    cv::Mat f;
    bgr.convertTo(f, CV_32FC3);
    CHECK(hasher.Compute(f).quality == 0);
  }

  SECTION("a thin image larger than 512 is stretched to 512x512 like the reference") {
    // 600x4 would be unhashable as is; the reference's pre-shrink makes it 512x512.
    cv::Mat thin;
    cv::resize(bgr, thin, cv::Size(600, 4), 0, 0, cv::INTER_AREA);
    CHECK(hasher.Compute(thin).hash != PdqHash{});
  }

  SECTION("greyscale and BGRA inputs agree with BGR") {
    cv::Mat grey, grey_bgr, bgra;
    cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
    cv::cvtColor(grey, grey_bgr, cv::COLOR_GRAY2BGR);
    CHECK(hasher.Compute(grey).hash.Distance(hasher.Compute(grey_bgr).hash) <= 4);
    cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
    CHECK(hasher.Compute(bgra).hash == hasher.Compute(bgr).hash);
  }

  SECTION("a region of interest hashes like its copy") {
    const cv::Mat big = celmatch::testing::SyntheticCartoonFrame(6, 0.0, 1400, 900);
    const cv::Mat roi = big(cv::Rect(100, 50, 1000, 700));
    REQUIRE_FALSE(roi.isContinuous());
    CHECK(hasher.Compute(roi).hash == hasher.Compute(roi.clone()).hash);
    const cv::Mat small_roi = big(cv::Rect(10, 10, 300, 200));
    CHECK(hasher.Compute(small_roi).hash == hasher.Compute(small_roi.clone()).hash);
  }

  SECTION("luminance uses 0.299 R + 0.587 G + 0.114 B") {
    cv::Mat px(1, 2, CV_8UC3);
    px.at<cv::Vec3b>(0, 0) = cv::Vec3b(10, 20, 30);  // B, G, R
    px.at<cv::Vec3b>(0, 1) = cv::Vec3b(255, 0, 0);
    const cv::Mat y = PdqHasher::Luminance(px);
    REQUIRE(y.type() == CV_32FC1);
    CHECK(y.at<float>(0, 0) == Approx(0.299 * 30 + 0.587 * 20 + 0.114 * 10).epsilon(1e-6));
    CHECK(y.at<float>(0, 1) == Approx(0.114 * 255).epsilon(1e-6));
  }

  SECTION("reusing the per-thread scratch does not change results") {
    const PdqResult first = hasher.Compute(bgr);
    hasher.Compute(celmatch::testing::SyntheticCartoonFrame(8, 0.0, 1280, 720));
    hasher.Compute(cv::Mat(64, 64, CV_8UC1, cv::Scalar(3)));
    const PdqResult again = hasher.Compute(bgr);
    CHECK(first.hash == again.hash);
    CHECK(first.quality == again.quality);
  }
}
