// The media stage: content probing, the one image loader, the one video
// decoder, and file digests.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/file_digest.h"
#include "media/image_decoder.h"
#include "media/media_probe.h"
#include "media/pdf_document.h"
#include "media/video_decoder.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

double MeanAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE(a.type() == b.type());
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar m = cv::mean(d);
  return (m[0] + m[1] + m[2]) / 3.0;
}

// The ffmpeg command-line tool makes test media OpenCV cannot write (GIF,
// TGA, APNG, shifted timestamps). The library itself never runs it.
bool HaveFfmpegCli() {
  static const bool have = std::system("ffmpeg -version >/dev/null 2>&1") == 0;
  return have;
}

bool RunFfmpeg(const std::string& args) {
  return std::system(("ffmpeg -nostdin -hide_banner -loglevel error -y " + args).c_str()) == 0;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Decodes a whole video; fails the test on any error.
std::vector<VideoFrame> DecodeAll(const std::string& path, VideoInfo* info = nullptr,
                                  const MediaLimits& limits = {}) {
  auto dec = VideoDecoder::Open(path, limits);
  INFO(dec.status().message());
  REQUIRE(dec.ok());
  if (info) *info = (*dec)->info();
  std::vector<VideoFrame> frames;
  for (;;) {
    VideoFrame f;
    Result<bool> r = (*dec)->Next(&f);
    INFO(r.status().message());
    REQUIRE(r.ok());
    if (!*r) break;
    frames.push_back(std::move(f));
  }
  return frames;
}

}  // namespace

// ---------------------------------------------------------------------------
// Probing

TEST_CASE("ProbeMedia recognises content, not extensions", "[media][probe]") {
  TempDir dir;
  const cv::Mat img = SyntheticCartoonFrame(1, 0.0, 64, 48);

  const std::string png_as_jpg = (dir.path() / "really_a_png.jpg").string();
  REQUIRE(cv::imwrite(png_as_jpg + ".png", img));
  fs::rename(png_as_jpg + ".png", png_as_jpg);
  auto p = ProbeMedia(png_as_jpg);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kImage);
  CHECK(p->format == "png");

  const std::string text_as_png = (dir.path() / "notes.png").string();
  WriteFileBytes(text_as_png, std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '\n'});
  p = ProbeMedia(text_as_png);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kOther);
  CHECK(p->format.empty());
  CHECK(std::string(MediaKindName(p->kind)) == "other");

  const std::string zip = (dir.path() / "a.mp4").string();
  WriteFileBytes(zip, {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  p = ProbeMedia(zip);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kOther);

  for (const char* ext : {".jpg", ".bmp", ".tiff", ".webp"}) {
    const std::string path = (dir.path() / (std::string("img") + ext)).string();
    REQUIRE(cv::imwrite(path, img));
    const std::string renamed = (dir.path() / (std::string("img") + ext + ".bin")).string();
    fs::rename(path, renamed);
    p = ProbeMedia(renamed);
    REQUIRE(p.ok());
    CHECK(p->kind == MediaKind::kImage);
    const std::string expected = std::string(ext) == ".jpg" ? "jpeg" : std::string(ext).substr(1);
    CHECK(p->format == expected);
  }

  const std::string video = (dir.path() / "clip.mp4").string();
  REQUIRE(WriteSyntheticVideo(video, 3, 0.4, 25, 4.0, 64, 48));
  const std::string video_renamed = (dir.path() / "clip.png").string();
  fs::rename(video, video_renamed);
  p = ProbeMedia(video_renamed);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kVideo);
  CHECK(p->format == "mp4");

  const std::string avi = (dir.path() / "clip.avi").string();
  REQUIRE(WriteSyntheticVideo(avi, 3, 0.4, 25, 4.0, 64, 48));
  p = ProbeMedia(avi);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kVideo);
  CHECK(p->format == "avi");

  const std::string empty = (dir.path() / "empty.png").string();
  WriteFileBytes(empty, {});
  p = ProbeMedia(empty);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kOther);

  p = ProbeMedia((dir.path() / "missing.png").string());
  REQUIRE_FALSE(p.ok());
  CHECK(p.status().code() == Status::Code::kNotFound);
  CHECK(p.status().message().find("missing.png") != std::string::npos);
}

TEST_CASE("ProbeMedia tells animated GIF and APNG from single frames", "[media][probe]") {
  if (!HaveFfmpegCli()) CELMATCH_SKIP("the ffmpeg command-line tool is not installed");
  TempDir dir;
  const std::string png = (dir.path() / "frame.png").string();
  REQUIRE(cv::imwrite(png, SyntheticCartoonFrame(2, 0.0, 80, 60)));
  const std::string clip = (dir.path() / "clip.avi").string();
  REQUIRE(WriteSyntheticVideo(clip, 2, 0.2, 25, 4.0, 80, 60));  // 5 frames

  const std::string still_gif = (dir.path() / "still.dat").string();
  REQUIRE(RunFfmpeg("-i " + Quote(png) + " -f gif " + Quote(still_gif)));
  const std::string anim_gif = (dir.path() / "anim.dat").string();
  REQUIRE(RunFfmpeg("-i " + Quote(clip) + " -f gif " + Quote(anim_gif)));
  const std::string anim_png = (dir.path() / "anim_png.dat").string();
  REQUIRE(RunFfmpeg("-i " + Quote(clip) + " -f apng " + Quote(anim_png)));

  auto p = ProbeMedia(still_gif);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kImage);
  CHECK(p->format == "gif");
  p = ProbeMedia(anim_gif);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kVideo);
  CHECK(p->format == "gif");
  p = ProbeMedia(anim_png);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kVideo);
  CHECK(p->format == "apng");

  // Other containers by content: Matroska and MPEG-TS.
  const std::string mkv = (dir.path() / "clip.mkv.dat").string();
  REQUIRE(RunFfmpeg("-i " + Quote(clip) + " -c copy -f matroska " + Quote(mkv)));
  p = ProbeMedia(mkv);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kVideo);
  CHECK(p->format == "matroska");
  const std::string ts = (dir.path() / "clip.ts.dat").string();
  REQUIRE(RunFfmpeg("-i " + Quote(clip) + " -c:v mpeg2video -f mpegts " + Quote(ts)));
  p = ProbeMedia(ts);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kVideo);
  CHECK(p->format == "mpegts");
}

// ---------------------------------------------------------------------------
// Still images

TEST_CASE("DecodeImage reads the formats OpenCV writes", "[media][image]") {
  TempDir dir;
  const cv::Mat img = SyntheticCartoonFrame(7, 0.5, 160, 90);
  struct Case {
    const char* ext;
    double max_diff;
    std::vector<int> params;
  };
  const std::vector<Case> cases = {
      {".png", 0.0, {}},
      {".bmp", 0.0, {}},
      {".tiff", 0.0, {}},
      {".webp", 0.0, {cv::IMWRITE_WEBP_QUALITY, 101}},  // > 100: lossless
      {".jpg", 4.0, {cv::IMWRITE_JPEG_QUALITY, 95}},
  };
  for (const Case& c : cases) {
    SECTION(std::string("format ") + c.ext) {
      const std::string path = (dir.path() / (std::string("img") + c.ext)).string();
      REQUIRE(cv::imwrite(path, img, c.params));
      auto decoded = DecodeImage(path);
      INFO(decoded.status().message());
      REQUIRE(decoded.ok());
      CHECK(decoded->type() == CV_8UC3);
      CHECK(decoded->size() == img.size());
      CHECK(MeanAbsDiff(*decoded, img) <= c.max_diff);
    }
  }
}

// An EXIF APP1 segment with one Orientation entry, put right after a JPEG's
// SOI marker (6: the stored picture must be turned 90 degrees clockwise).
static std::vector<uint8_t> WithExifOrientation(const std::vector<uint8_t>& jpeg, uint8_t orientation) {
  const std::vector<uint8_t> app1 = {
      0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,      // marker, length 34, "Exif\0\0"
      'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,          // big-endian TIFF, IFD at 8
      0x00, 0x01,                                            // one entry
      0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,        // Orientation, SHORT, 1 value
      0x00, orientation, 0x00, 0x00,                         // the value
      0x00, 0x00, 0x00, 0x00};                               // no next IFD
  std::vector<uint8_t> out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), app1.begin(), app1.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

TEST_CASE("DecodeImageFromBuffer decodes a large JPEG reduced, upright, and other formats whole", "[media][image]") {
  const cv::Mat img = SyntheticCartoonFrame(9, 0.5, 1920, 1080);
  std::vector<uint8_t> jpeg, png;
  REQUIRE(cv::imencode(".jpg", img, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90}));
  REQUIRE(cv::imencode(".png", img, png));
  struct Case {
    int min_side;
    int width;  // of the result
  };
  for (const Case c : {Case{0, 1920}, Case{400, 480}, Case{200, 240}, Case{960, 960}, Case{961, 1920}, Case{1, 240}}) {
    INFO("min_long_side " << c.min_side);
    bool reduced = true;
    auto got = DecodeImageFromBuffer("x.jpg", jpeg, nullptr, {}, c.min_side, &reduced);
    REQUIRE(got.ok());
    CHECK(got->cols == c.width);
    CHECK(got->rows == c.width * 1080 / 1920);
    CHECK(reduced == (c.width < 1920));
    // The reduced picture is the whole one made smaller, not a part of it.
    cv::Mat small;
    cv::resize(img, small, got->size(), 0, 0, cv::INTER_AREA);
    CHECK(MeanAbsDiff(*got, small) <= 6.0);
  }
  bool reduced = true;
  auto whole_png = DecodeImageFromBuffer("x.png", png, nullptr, {}, 400, &reduced);
  REQUIRE(whole_png.ok());
  CHECK(whole_png->size() == img.size());
  CHECK_FALSE(reduced);
  // EXIF orientation 6 (turn 90 degrees clockwise) applies at every size.
  const std::vector<uint8_t> turned = WithExifOrientation(jpeg, 6);
  for (int min_side : {0, 400}) {
    INFO("min_long_side " << min_side);
    auto got = DecodeImageFromBuffer("turned.jpg", turned, nullptr, {}, min_side);
    REQUIRE(got.ok());
    REQUIRE(got->rows > got->cols);
    cv::Mat upright, small;
    cv::rotate(img, upright, cv::ROTATE_90_CLOCKWISE);
    cv::resize(upright, small, got->size(), 0, 0, cv::INTER_AREA);
    CHECK(MeanAbsDiff(*got, small) <= 6.0);
  }
}

TEST_CASE("DecodeImage expands gray and scales 16-bit to 8-bit BGR", "[media][image]") {
  TempDir dir;
  cv::Mat gray(20, 30, CV_8UC1);
  cv::randu(gray, 0, 256);
  const std::string gray_png = (dir.path() / "gray.png").string();
  REQUIRE(cv::imwrite(gray_png, gray));
  auto g = DecodeImage(gray_png);
  REQUIRE(g.ok());
  REQUIRE(g->type() == CV_8UC3);
  cv::Mat expected;
  cv::cvtColor(gray, expected, cv::COLOR_GRAY2BGR);
  CHECK(MeanAbsDiff(*g, expected) == 0.0);

  cv::Mat deep(20, 30, CV_16UC3, cv::Scalar(0, 32896, 65535));  // 32896 = 128 * 257
  const std::string deep_png = (dir.path() / "deep.png").string();
  REQUIRE(cv::imwrite(deep_png, deep));
  auto d = DecodeImage(deep_png);
  REQUIRE(d.ok());
  REQUIRE(d->type() == CV_8UC3);
  const cv::Vec3b px = d->at<cv::Vec3b>(5, 5);
  CHECK(int(px[0]) == 0);
  CHECK(int(px[1]) == 128);
  CHECK(int(px[2]) == 255);
}

TEST_CASE("DecodeImage composites alpha onto white", "[media][image]") {
  TempDir dir;
  cv::Mat bgra(40, 40, CV_8UC4, cv::Scalar(0, 0, 255, 255));         // opaque red
  bgra(cv::Rect(0, 0, 20, 40)).setTo(cv::Scalar(0, 0, 0, 0));        // transparent black
  bgra(cv::Rect(20, 0, 10, 40)).setTo(cv::Scalar(0, 0, 0, 128));     // half-transparent black
  const std::string path = (dir.path() / "cel.png").string();
  REQUIRE(cv::imwrite(path, bgra));

  cv::Mat alpha;
  auto img = DecodeImageWithAlpha(path, &alpha);
  INFO(img.status().message());
  REQUIRE(img.ok());
  REQUIRE(img->type() == CV_8UC3);
  CHECK(img->at<cv::Vec3b>(10, 5) == cv::Vec3b(255, 255, 255));
  CHECK(img->at<cv::Vec3b>(10, 35) == cv::Vec3b(0, 0, 255));
  const cv::Vec3b half = img->at<cv::Vec3b>(10, 25);
  CHECK(std::abs(int(half[0]) - 127) <= 1);
  REQUIRE(alpha.type() == CV_8UC1);
  CHECK(int(alpha.at<uint8_t>(10, 5)) == 0);
  CHECK(int(alpha.at<uint8_t>(10, 25)) == 128);
  CHECK(int(alpha.at<uint8_t>(10, 35)) == 255);

  // An image without alpha leaves `alpha` empty.
  const std::string opaque = (dir.path() / "opaque.png").string();
  REQUIRE(cv::imwrite(opaque, SyntheticCartoonFrame(1, 0, 32, 32)));
  REQUIRE(DecodeImageWithAlpha(opaque, &alpha).ok());
  CHECK(alpha.empty());
}

TEST_CASE("DecodeImage reads GIF and TGA through FFmpeg", "[media][image]") {
  if (!HaveFfmpegCli()) CELMATCH_SKIP("the ffmpeg command-line tool is not installed");
  TempDir dir;
  const cv::Mat img = SyntheticCartoonFrame(11, 0.0, 120, 80);
  const std::string png = (dir.path() / "src.png").string();
  REQUIRE(cv::imwrite(png, img));

  const std::string tga = (dir.path() / "frame.tga").string();
  REQUIRE(RunFfmpeg("-i " + Quote(png) + " " + Quote(tga)));
  auto p = ProbeMedia(tga);
  REQUIRE(p.ok());
  CHECK(p->kind == MediaKind::kImage);
  CHECK(p->format == "tga");
  auto t = DecodeImage(tga);
  INFO(t.status().message());
  REQUIRE(t.ok());
  CHECK(t->size() == img.size());
  CHECK(MeanAbsDiff(*t, img) == 0.0);

  // TGA with an alpha channel (bgra): transparent pixels become white.
  cv::Mat bgra(16, 16, CV_8UC4, cv::Scalar(255, 0, 0, 255));
  bgra(cv::Rect(0, 0, 8, 16)).setTo(cv::Scalar(0, 0, 0, 0));
  const std::string alpha_png = (dir.path() / "alpha.png").string();
  REQUIRE(cv::imwrite(alpha_png, bgra));
  const std::string alpha_tga = (dir.path() / "alpha.tga").string();
  REQUIRE(RunFfmpeg("-i " + Quote(alpha_png) + " -pix_fmt bgra " + Quote(alpha_tga)));
  cv::Mat alpha;
  auto ta = DecodeImageWithAlpha(alpha_tga, &alpha);
  REQUIRE(ta.ok());
  CHECK(ta->at<cv::Vec3b>(4, 2) == cv::Vec3b(255, 255, 255));
  CHECK(ta->at<cv::Vec3b>(4, 12) == cv::Vec3b(255, 0, 0));
  CHECK(!alpha.empty());

  const std::string gif = (dir.path() / "frame.gif").string();
  REQUIRE(RunFfmpeg("-i " + Quote(png) + " " + Quote(gif)));
  auto g = DecodeImage(gif);
  INFO(g.status().message());
  REQUIRE(g.ok());
  CHECK(g->type() == CV_8UC3);
  CHECK(g->size() == img.size());
  CHECK(MeanAbsDiff(*g, img) < 20.0);  // 256 colours, dithered
  // Exactly what FFmpeg's own tool decodes.
  const std::string gif_png = (dir.path() / "gif_decoded.png").string();
  REQUIRE(RunFfmpeg("-i " + Quote(gif) + " -pix_fmt bgr24 " + Quote(gif_png)));
  auto reference = DecodeImage(gif_png);
  REQUIRE(reference.ok());
  CHECK(MeanAbsDiff(*g, *reference) == 0.0);

  // An animated GIF decodes as its first frame.
  const std::string clip = (dir.path() / "clip.avi").string();
  REQUIRE(WriteSyntheticVideo(clip, 11, 0.2, 25, 4.0, 120, 80));
  const std::string anim = (dir.path() / "anim.gif").string();
  REQUIRE(RunFfmpeg("-i " + Quote(clip) + " " + Quote(anim)));
  auto a = DecodeImage(anim);
  INFO(a.status().message());
  REQUIRE(a.ok());
  CHECK(MeanAbsDiff(*a, SyntheticCartoonFrame(11 * 1000u, 0.0, 120, 80)) < 20.0);
}

TEST_CASE("DecodeImage reads a PSD through FFmpeg", "[media][image]") {
  // A minimal uncompressed 8-bit RGB Photoshop file: header, three empty
  // sections, compression 0, then the planes R, G, B.
  TempDir dir;
  const int w = 6, h = 4;
  std::vector<uint8_t> psd = {'8', 'B', 'P', 'S', 0, 1, 0, 0, 0, 0, 0, 0, 0, 3,
                              0, 0, 0, h, 0, 0, 0, w, 0, 8, 0, 3};
  for (int section = 0; section < 3; ++section) psd.insert(psd.end(), {0, 0, 0, 0});
  psd.insert(psd.end(), {0, 0});
  const uint8_t rgb[3] = {200, 100, 50};
  for (uint8_t v : rgb) psd.insert(psd.end(), size_t(w * h), v);
  const std::string path = (dir.path() / "layered.psd").string();
  WriteFileBytes(path, psd);

  auto p = ProbeMedia(path);
  REQUIRE(p.ok());
  CHECK(p->format == "psd");
  auto img = DecodeImage(path);
  INFO(img.status().message());
  REQUIRE(img.ok());
  CHECK(img->size() == cv::Size(w, h));
  CHECK(img->at<cv::Vec3b>(2, 3) == cv::Vec3b(50, 100, 200));
}

TEST_CASE("DecodeImage reports broken files with the file name", "[media][image]") {
  TempDir dir;
  const std::string good = (dir.path() / "good.png").string();
  REQUIRE(cv::imwrite(good, SyntheticCartoonFrame(5, 0, 200, 120)));
  std::vector<uint8_t> bytes = ReadFileBytes(good);

  SECTION("truncated PNG") {
    const std::string path = (dir.path() / "truncated.png").string();
    WriteFileBytes(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
    auto r = DecodeImage(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kCorrupt);
    CHECK(r.status().message().find("truncated.png") != std::string::npos);
    CHECK(r.status().message().find("PNG") != std::string::npos);
  }
  SECTION("zero bytes") {
    const std::string path = (dir.path() / "empty.jpg").string();
    WriteFileBytes(path, {});
    auto r = DecodeImage(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kCorrupt);
    CHECK(r.status().message().find("empty.jpg") != std::string::npos);
  }
  SECTION("random bytes") {
    std::mt19937 rng(42);
    std::vector<uint8_t> noise(5000);
    for (auto& b : noise) b = uint8_t(rng());
    const std::string path = (dir.path() / "noise.png").string();
    WriteFileBytes(path, noise);
    auto r = DecodeImage(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("noise.png") != std::string::npos);
  }
  SECTION("missing file") {
    auto r = DecodeImage((dir.path() / "nowhere.png").string());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kNotFound);
    CHECK(r.status().message().find("nowhere.png") != std::string::npos);
  }
  SECTION("a video is not an image") {
    const std::string path = (dir.path() / "clip.mp4").string();
    REQUIRE(WriteSyntheticVideo(path, 1, 0.2, 25, 4.0, 64, 48));
    auto r = DecodeImage(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kUnsupported);
  }
}

TEST_CASE("DecodeImage enforces limits from the header", "[media][image][limits]") {
  TempDir dir;
  SECTION("a PNG declaring 100000x100000 pixels") {
    // A real IHDR followed by nothing: the limit must trip before any
    // attempt to allocate or decode 10^10 pixels.
    const std::vector<uint8_t> header = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',  // signature
        0, 0, 0, 13, 'I', 'H', 'D', 'R',             // IHDR, 13 bytes
        0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0,  // 100000 x 100000
        8, 2, 0, 0, 0,                               // 8-bit RGB
        0, 0, 0, 0};                                 // CRC (not checked)
    const std::string path = (dir.path() / "huge.png").string();
    WriteFileBytes(path, header);
    auto r = DecodeImage(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kLimitExceeded);
    CHECK(r.status().message() ==
          path + ": 100000x100000 = 1e10 pixels exceeds the limit of 1e8 (max_pixels)");
  }
  SECTION("a small custom pixel limit on each format") {
    const cv::Mat img = SyntheticCartoonFrame(3, 0, 100, 100);
    MediaLimits limits;
    limits.max_pixels = 9999;
    for (const char* ext : {".png", ".jpg", ".bmp", ".tiff", ".webp"}) {
      const std::string path = (dir.path() / (std::string("x") + ext)).string();
      REQUIRE(cv::imwrite(path, img));
      auto r = DecodeImage(path, limits);
      INFO(ext);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == Status::Code::kLimitExceeded);
      CHECK(r.status().message().find("max_pixels") != std::string::npos);
    }
  }
  SECTION("max_file_bytes") {
    const std::string path = (dir.path() / "x.png").string();
    REQUIRE(cv::imwrite(path, SyntheticCartoonFrame(3, 0, 100, 100)));
    MediaLimits limits;
    limits.max_file_bytes = 100;
    auto r = DecodeImage(path, limits);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kLimitExceeded);
    CHECK(r.status().message().find("max_file_bytes") != std::string::npos);
  }
}

// ---------------------------------------------------------------------------
// Video

TEST_CASE("VideoDecoder returns every frame with pts-based times", "[media][video]") {
  TempDir dir;
  const std::string path = (dir.path() / "clip.mp4").string();
  REQUIRE(WriteSyntheticVideo(path, 9, 2.0, 25, 4.0, 320, 180));
  VideoInfo info;
  const auto frames = DecodeAll(path, &info);
  REQUIRE(frames.size() == 50);
  CHECK(info.width == 320);
  CHECK(info.height == 180);
  CHECK(info.frame_rate == Approx(25.0));
  CHECK(info.codec == "mpeg4");
  CHECK(info.duration_s == Approx(2.0).margin(0.05));
  for (size_t i = 0; i < frames.size(); ++i) {
    INFO("frame " << i);
    CHECK(frames[i].frame_number == int64_t(i));
    CHECK(std::abs(frames[i].time_s - double(i) / 25.0) < 1e-3);
    CHECK(frames[i].bgr.type() == CV_8UC3);
    CHECK(frames[i].bgr.size() == cv::Size(320, 180));
  }
  // The pixels are the synthetic frames (MPEG-4 at OpenCV's default quality).
  CHECK(MeanAbsDiff(frames[10].bgr, SyntheticCartoonFrame(9 * 1000u, 10 / 25.0, 320, 180)) < 12.0);
}

TEST_CASE("VideoDecoder converts frames of any width and pixel format to continuous BGR", "[media][video]") {
  if (!HaveFfmpegCli()) {
    WARN("SKIPPED: no ffmpeg command-line tool to make the test clips");
    return;
  }
  TempDir dir;
  // Rows of 854 and 642 pixels are not 16-byte aligned (swscale then writes
  // padded rows that are copied out); 320 is; 321x181 is odd both ways.
  for (const cv::Size size : {cv::Size(854, 480), cv::Size(642, 362), cv::Size(320, 180), cv::Size(321, 181)}) {
    const cv::Mat picture = SyntheticCartoonFrame(77u, 0.5, size.width, size.height);
    const std::string png = (dir.path() / "frame.png").string();
    REQUIRE(cv::imwrite(png, picture));
    // Lossless FFV1, so what differs is the conversion (and 4:2:0's chroma).
    for (const auto& [pix_fmt, tolerance] : {std::pair{"yuv444p", 1.0}, std::pair{"yuv420p", 3.0},
                                              std::pair{"rgb24", 0.5}, std::pair{"bgr0", 0.5}}) {
      INFO(size << " " << pix_fmt);
      const std::string clip = (dir.path() / (std::string(pix_fmt) + ".mkv")).string();
      REQUIRE(RunFfmpeg("-loop 1 -i " + Quote(png) + " -frames:v 3 -c:v ffv1 -pix_fmt " + pix_fmt + " " + Quote(clip)));
      const auto frames = DecodeAll(clip);
      REQUIRE(frames.size() == 3);
      for (const VideoFrame& f : frames) {
        REQUIRE(f.bgr.size() == size);
        CHECK(f.bgr.isContinuous());
        CHECK(f.bgr.step[0] == size_t(size.width) * 3);
        CHECK(MeanAbsDiff(f.bgr, picture) < tolerance);
      }
    }
  }
}

TEST_CASE("VideoDecoder times start at zero whatever the container's start time", "[media][video]") {
  if (!HaveFfmpegCli()) CELMATCH_SKIP("the ffmpeg command-line tool is not installed");
  TempDir dir;
  const std::string src = (dir.path() / "src.avi").string();
  REQUIRE(WriteSyntheticVideo(src, 4, 1.0, 25, 4.0, 160, 90));
  for (const char* ext : {".mp4", ".mkv", ".ts"}) {
    SECTION(std::string("container ") + ext) {
      const std::string shifted = (dir.path() / (std::string("shifted") + ext)).string();
      REQUIRE(RunFfmpeg("-i " + Quote(src) + " -c:v mpeg4 -q:v 3 -output_ts_offset 10 " + Quote(shifted)));
      const auto frames = DecodeAll(shifted);
      REQUIRE(frames.size() == 25);
      CHECK(std::abs(frames.front().time_s) < 1e-3);
      for (size_t i = 0; i < frames.size(); ++i) {
        INFO("frame " << i);
        CHECK(std::abs(frames[i].time_s - double(i) / 25.0) < 1e-3);
      }
    }
  }
}

TEST_CASE("VideoDecoder decodes animated GIF with transparency onto white", "[media][video]") {
  if (!HaveFfmpegCli()) CELMATCH_SKIP("the ffmpeg command-line tool is not installed");
  TempDir dir;
  // A GIF whose every frame is fully transparent: decoded frames are white.
  const std::string gif = (dir.path() / "ghost.gif").string();
  REQUIRE(RunFfmpeg("-f lavfi -i color=c=black@0.0:s=32x24:r=10:d=0.5,format=rgba "
                    "-vf 'split[a][b];[a]palettegen=reserve_transparent=1[p];"
                    "[b][p]paletteuse=alpha_threshold=128' -f gif " + Quote(gif)));
  const auto frames = DecodeAll(gif);
  REQUIRE(!frames.empty());
  for (const auto& f : frames) {
    CHECK(f.bgr.at<cv::Vec3b>(12, 16) == cv::Vec3b(255, 255, 255));
  }
}

TEST_CASE("VideoDecoder enforces limits", "[media][video][limits]") {
  TempDir dir;
  const std::string path = (dir.path() / "clip.avi").string();
  REQUIRE(WriteSyntheticVideo(path, 2, 1.0, 25, 4.0, 160, 90));

  SECTION("max_frames") {
    MediaLimits limits;
    limits.max_frames = 10;
    auto dec = VideoDecoder::Open(path, limits);
    REQUIRE(dec.ok());
    VideoFrame f;
    for (int i = 0; i < 10; ++i) {
      auto r = (*dec)->Next(&f);
      REQUIRE(r.ok());
      REQUIRE(*r);
    }
    auto r = (*dec)->Next(&f);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kLimitExceeded);
    CHECK(r.status().message().find("max_frames") != std::string::npos);
    CHECK(r.status().message().find("clip.avi") != std::string::npos);
  }
  SECTION("max_pixels") {
    MediaLimits limits;
    limits.max_pixels = 160 * 90 - 1;
    auto dec = VideoDecoder::Open(path, limits);
    REQUIRE_FALSE(dec.ok());
    CHECK(dec.status().code() == Status::Code::kLimitExceeded);
    CHECK(dec.status().message().find("max_pixels") != std::string::npos);
  }
  SECTION("max_decode_wall_s") {
    MediaLimits limits;
    limits.max_decode_wall_s = 1e-9;
    auto dec = VideoDecoder::Open(path, limits);
    Status st = dec.ok() ? Status::Ok() : dec.status();
    if (dec.ok()) {
      VideoFrame f;
      auto r = (*dec)->Next(&f);
      if (!r.ok()) st = r.status();
    }
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == Status::Code::kLimitExceeded);
    CHECK(st.message().find("max_decode_wall_s") != std::string::npos);
  }
  SECTION("max_file_bytes") {
    MediaLimits limits;
    limits.max_file_bytes = 1000;
    auto dec = VideoDecoder::Open(path, limits);
    REQUIRE_FALSE(dec.ok());
    CHECK(dec.status().code() == Status::Code::kLimitExceeded);
  }
}

TEST_CASE("VideoDecoder gets past corrupt packets and names broken files", "[media][video]") {
  TempDir dir;
  const std::string good = (dir.path() / "good.avi").string();
  REQUIRE(WriteSyntheticVideo(good, 6, 2.0, 25, 4.0, 160, 90));  // MJPEG: every frame a keyframe
  std::vector<uint8_t> bytes = ReadFileBytes(good);

  SECTION("garbage in the middle of the file") {
    std::mt19937 rng(1);
    for (size_t i = bytes.size() * 2 / 5; i < bytes.size() * 3 / 5; ++i) bytes[i] = uint8_t(rng());
    const std::string path = (dir.path() / "damaged.avi").string();
    WriteFileBytes(path, bytes);
    auto dec = VideoDecoder::Open(path);
    REQUIRE(dec.ok());
    int frames = 0;
    VideoFrame f;
    for (;;) {
      auto r = (*dec)->Next(&f);
      REQUIRE(r.ok());
      if (!*r) break;
      ++frames;
    }
    CHECK(frames >= 20);  // the first 40% at least
    CHECK(frames <= 50);
  }
  SECTION("truncated file") {
    const std::string path = (dir.path() / "truncated.avi").string();
    WriteFileBytes(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
    const auto frames = DecodeAll(path);
    CHECK(frames.size() >= 15);
    CHECK(frames.size() < 50);
  }
  SECTION("random bytes") {
    std::mt19937 rng(3);
    std::vector<uint8_t> noise(20000);
    for (auto& b : noise) b = uint8_t(rng());
    const std::string path = (dir.path() / "noise.mp4").string();
    WriteFileBytes(path, noise);
    auto dec = VideoDecoder::Open(path);
    REQUIRE_FALSE(dec.ok());
    CHECK(dec.status().message().find("noise.mp4") != std::string::npos);
  }
  SECTION("missing file") {
    auto dec = VideoDecoder::Open((dir.path() / "gone.mp4").string());
    REQUIRE_FALSE(dec.ok());
    CHECK(dec.status().code() == Status::Code::kNotFound);
    CHECK(dec.status().message().find("gone.mp4") != std::string::npos);
  }
}

// ---------------------------------------------------------------------------
// Real footage (read-only, shared; skipped when absent)

namespace {

void CheckWholeVideo(const std::string& path, double min_duration_s) {
  VideoInfo info;
  const auto frames = DecodeAll(path, &info);
  INFO(path << ": " << frames.size() << " frames, duration " << info.duration_s << " s, "
            << info.frame_rate << " fps, codec " << info.codec);
  REQUIRE(frames.size() > 10);
  CHECK(frames.front().time_s == Approx(0.0).margin(0.05));
  for (size_t i = 1; i < frames.size(); ++i) {
    if (!(frames[i].time_s > frames[i - 1].time_s)) {
      FAIL("time does not increase at frame " << i << ": " << frames[i - 1].time_s << " -> "
                                              << frames[i].time_s);
    }
  }
  REQUIRE(info.duration_s > min_duration_s);
  // The last frame starts one frame duration before the end.
  const double frame_s = info.frame_rate > 0 ? 1.0 / info.frame_rate : 0.04;
  CHECK(frames.back().time_s == Approx(info.duration_s - frame_s).margin(2 * frame_s + 0.05));
  CHECK(frames.front().bgr.cols == info.width);
  CHECK(frames.front().bgr.rows == info.height);
}

}  // namespace

TEST_CASE("VideoDecoder decodes Big Buck Bunny (VP8 in WebM)", "[media][video][footage]") {
  const std::string footage = FootageDir();
  if (footage.empty()) CELMATCH_SKIP("no shared footage");
  const std::string path = footage + "/big_buck_bunny/moviepy_bbb_0_30.webm";
  if (!fs::exists(path)) CELMATCH_SKIP(path + " is missing");
  auto probe = ProbeMedia(path);
  REQUIRE(probe.ok());
  CHECK(probe->kind == MediaKind::kVideo);
  auto dec = VideoDecoder::Open(path);
  REQUIRE(dec.ok());
  CHECK((*dec)->info().codec == "vp8");
  CheckWholeVideo(path, 20.0);
}

TEST_CASE("VideoDecoder decodes Steamboat Willie", "[media][video][footage]") {
  const std::string footage = FootageDir();
  if (footage.empty()) CELMATCH_SKIP("no shared footage");
  const fs::path dir = fs::path(footage) / "steamboat_willie";
  if (!fs::is_directory(dir)) CELMATCH_SKIP(dir.string() + " is missing");
  int videos = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    auto probe = ProbeMedia(entry.path().string());
    REQUIRE(probe.ok());
    if (probe->kind != MediaKind::kVideo) continue;
    ++videos;
    CheckWholeVideo(entry.path().string(), 1.0);
  }
  CHECK(videos > 0);
}

TEST_CASE("DecodeImage reads AVIF like the PNG it came from", "[media][image][footage]") {
  const std::string footage = FootageDir();
  if (footage.empty()) CELMATCH_SKIP("no shared footage");
  const fs::path dir = fs::path(footage) / "cosmos_laundromat_frames";
  if (!fs::is_directory(dir)) CELMATCH_SKIP(dir.string() + " is missing");
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".avif") continue;
    // sdr_cosmos01000_yuv420_qp40.avif <-> original_sdr_cosmos01000.png
    const std::string stem = name.substr(0, name.find("_yuv"));
    const fs::path png = dir / ("original_" + stem + ".png");
    auto probe = ProbeMedia(entry.path().string());
    REQUIRE(probe.ok());
    CHECK(probe->kind == MediaKind::kImage);
    CHECK(probe->format == "avif");
    auto avif = DecodeImage(entry.path().string());
    INFO(avif.status().message());
    REQUIRE(avif.ok());
    CHECK(avif->size() == cv::Size(2048, 858));
    CHECK(avif->type() == CV_8UC3);
    if (!fs::exists(png)) continue;
    auto ref = DecodeImage(png.string());
    REQUIRE(ref.ok());
    const double diff = MeanAbsDiff(*avif, *ref);
    INFO(name << ": mean abs difference " << diff);
    CHECK(diff < 6.0);
    ++compared;
  }
  CHECK(compared > 0);
}

TEST_CASE("DecodeImage reads the Pepper&Carrot JPEGs and PNGs", "[media][image][footage]") {
  const std::string footage = FootageDir();
  if (footage.empty()) CELMATCH_SKIP("no shared footage");
  const fs::path dir = fs::path(footage) / "peppercarrot_revoy";
  if (!fs::is_directory(dir)) CELMATCH_SKIP(dir.string() + " is missing");
  for (const auto& entry : fs::directory_iterator(dir)) {
    auto img = DecodeImage(entry.path().string());
    INFO(img.status().message());
    REQUIRE(img.ok());
    CHECK(img->type() == CV_8UC3);
    CHECK(img->total() > 0);
  }
}

// ---------------------------------------------------------------------------
// Digests

TEST_CASE("Sha256File hashes file content", "[core][digest]") {
  TempDir dir;
  const std::string abc = (dir.path() / "abc.txt").string();
  WriteFileBytes(abc, {'a', 'b', 'c'});
  auto h = Sha256File(abc);
  REQUIRE(h.ok());
  CHECK(*h == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  const std::string empty = (dir.path() / "empty").string();
  WriteFileBytes(empty, {});
  h = Sha256File(empty);
  REQUIRE(h.ok());
  CHECK(*h == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  // More than one 1 MiB block, and the same bytes under another name.
  std::vector<uint8_t> big(3 * (1 << 20) + 17);
  for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 131 + (i >> 12));
  const std::string a = (dir.path() / "a.bin").string(), b = (dir.path() / "b.bin").string();
  WriteFileBytes(a, big);
  WriteFileBytes(b, big);
  auto ha = Sha256File(a), hb = Sha256File(b);
  REQUIRE(ha.ok());
  REQUIRE(hb.ok());
  CHECK(*ha == *hb);
  CHECK(ha->size() == 64);
  big.back() ^= 1;
  WriteFileBytes(b, big);
  hb = Sha256File(b);
  REQUIRE(hb.ok());
  CHECK(*ha != *hb);

  auto missing = Sha256File((dir.path() / "nope.bin").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(missing.status().message().find("nope.bin") != std::string::npos);
}

TEST_CASE("a PDF is a document: each page renders at its size, its pictures in place", "[media][pdf]") {
  TempDir tmp;
  const cv::Mat frame = SyntheticCartoonFrame(5, 0.0, 640, 360);
  // A4 in points; the frame 495 x 278.4 points at (50, 100) on page 1, page 2 text only.
  const std::vector<uint8_t> pdf = MakePdf({{{frame, 50, 100, 495, 278.4}}, {}});
  const std::string path = tmp.str() + "/notes.pdf";
  WriteFileBytes(path, pdf);

  Result<MediaProbe> probe = ProbeMedia(path);
  REQUIRE(probe.ok());
  CHECK(probe->kind == MediaKind::kDocument);
  CHECK(probe->format == "pdf");
  CHECK(std::string(MediaKindName(probe->kind)) == "document");
  // Readers accept a header after up to 1,024 bytes of other data; text that
  // merely mentions the header further in is no PDF.
  std::vector<uint8_t> prefixed(600, ' ');
  prefixed.insert(prefixed.end(), pdf.begin(), pdf.end());
  probe = ProbeMediaBuffer("prefixed.pdf", prefixed.data(), prefixed.size());
  REQUIRE(probe.ok());
  CHECK(probe->kind == MediaKind::kDocument);
  std::string text(3000, 'a');
  text += "%PDF-1.4";
  probe = ProbeMediaBuffer("notes.txt", reinterpret_cast<const uint8_t*>(text.data()), text.size());
  REQUIRE(probe.ok());
  CHECK(probe->kind == MediaKind::kOther);
  // The image decoder refuses a document by name.
  Result<cv::Mat> as_image = DecodeImage(path);
  REQUIRE_FALSE(as_image.ok());
  CHECK(as_image.status().message().find("notes.pdf: a PDF document") != std::string::npos);

  auto bytes = std::make_shared<const std::vector<uint8_t>>(pdf);
  for (bool from_memory : {false, true}) {
    INFO((from_memory ? "from memory" : "from the file"));
    Result<std::unique_ptr<PdfDocument>> doc = PdfDocument::Open("notes.pdf", path, from_memory ? bytes : nullptr);
    REQUIRE(doc.ok());
    REQUIRE((*doc)->pages() == 2);
    Result<cv::Mat> page = (*doc)->RenderPage(0, MediaLimits());
    REQUIRE(page.ok());
    // 150 dpi: 595 x 842 points are 1239.6 x 1754.2 pixels (rounded by poppler).
    CHECK(std::abs(page->cols - 1240) <= 1);
    CHECK(std::abs(page->rows - 1754) <= 1);
    REQUIRE(page->type() == CV_8UC3);
    const double s = kPdfPageDpi / 72.0;
    const cv::Rect box(int(std::ceil(50 * s)) + 2, int(std::ceil(100 * s)) + 2, int(495 * s) - 4, int(278.4 * s) - 4);
    cv::Mat expected, diff;
    cv::resize(frame, expected, box.size(), 0, 0, cv::INTER_AREA);
    cv::absdiff((*page)(box), expected, diff);
    CHECK(cv::mean(diff)[0] < 10);  // the picture, in place, colours the right way round
    cv::Mat shifted;
    cv::absdiff((*page)(box + cv::Point(40, 0)), expected, shifted);
    CHECK(cv::mean(shifted)[0] > cv::mean(diff)[0] + 10);  // and not anywhere else
    CHECK(cv::mean((*page)(cv::Rect(0, 1500, 1200, 250)))[0] > 250);  // white paper
    Result<cv::Mat> second = (*doc)->RenderPage(1, MediaLimits());
    REQUIRE(second.ok());
    CHECK(cv::mean(*second)[0] > 250);  // a line of text on white
    MediaLimits small;
    small.max_pixels = 1'000'000;
    Result<cv::Mat> limited = (*doc)->RenderPage(0, small);
    REQUIRE_FALSE(limited.ok());
    CHECK(limited.status().message().find("notes.pdf: page 1") != std::string::npos);
    CHECK(limited.status().message().find("max_pixels") != std::string::npos);
    Result<cv::Mat> missing = (*doc)->RenderPage(7, MediaLimits());
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().message().find("notes.pdf: page 8") != std::string::npos);
  }

  // A damaged document is an error naming it.
  const std::string junk = "%PDF-1.7\nthis is not a document\n";
  auto junk_bytes = std::make_shared<const std::vector<uint8_t>>(junk.begin(), junk.end());
  Result<std::unique_ptr<PdfDocument>> damaged = PdfDocument::Open("broken.pdf", "", junk_bytes);
  REQUIRE_FALSE(damaged.ok());
  CHECK(damaged.status().message().rfind("broken.pdf: ", 0) == 0);
}
