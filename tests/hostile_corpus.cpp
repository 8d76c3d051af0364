#include "hostile_corpus.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "media/video_decoder.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace celmatch::testing {
namespace {

using Expect = HostileEntry::Expect;

uint32_t Crc32(const uint8_t* p, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

void PutBe16(std::vector<uint8_t>* b, uint32_t v) {
  b->push_back(uint8_t(v >> 8));
  b->push_back(uint8_t(v));
}
void PutBe32(std::vector<uint8_t>* b, uint32_t v) {
  PutBe16(b, v >> 16);
  PutBe16(b, v & 0xFFFF);
}
void PutLe16(std::vector<uint8_t>* b, uint32_t v) {
  b->push_back(uint8_t(v));
  b->push_back(uint8_t(v >> 8));
}
void PutBytes(std::vector<uint8_t>* b, const char* s, size_t n) { b->insert(b->end(), s, s + n); }

void PngChunk(std::vector<uint8_t>* b, const char* type, const std::vector<uint8_t>& data) {
  PutBe32(b, uint32_t(data.size()));
  const size_t start = b->size();
  PutBytes(b, type, 4);
  b->insert(b->end(), data.begin(), data.end());
  PutBe32(b, Crc32(b->data() + start, b->size() - start));
}

// The offsets of every box of `type` (the 4 type bytes) in an ISO file; a
// byte search suffices for the files OpenCV writes.
std::vector<size_t> FindBoxes(const std::vector<uint8_t>& b, const char* type) {
  std::vector<size_t> at;
  for (size_t i = 4; i + 4 <= b.size(); ++i)
    if (std::memcmp(&b[i], type, 4) == 0) at.push_back(i);
  return at;
}
uint32_t GetBe32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}
void SetBe32(std::vector<uint8_t>* b, size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) (*b)[at + size_t(k)] = uint8_t(v >> (24 - 8 * k));
}

std::vector<uint8_t> Encode(const cv::Mat& img, const std::string& ext) {
  std::vector<uint8_t> out;
  cv::imencode(ext, img, out);
  return out;
}

std::vector<uint8_t> BitFlipped(std::vector<uint8_t> b, uint32_t seed) {
  std::mt19937 rng(seed);
  if (b.size() <= 64) return b;
  // About one bit in 2000 past the first bytes, so headers usually parse
  // and the damage reaches the decoders.
  const size_t flips = std::max<size_t>(8, b.size() / 2000);
  for (size_t i = 0; i < flips; ++i) b[32 + rng() % (b.size() - 32)] ^= uint8_t(1u << (rng() % 8));
  return b;
}

}  // namespace

std::vector<uint8_t> PngDeclaring(uint32_t width, uint32_t height) {
  std::vector<uint8_t> b;
  PutBytes(&b, "\x89PNG\r\n\x1a\n", 8);
  std::vector<uint8_t> ihdr;
  PutBe32(&ihdr, width);
  PutBe32(&ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, deflate, no interlace
  PngChunk(&b, "IHDR", ihdr);
  // A stored (uncompressed) deflate block of one row's worth of zeros: valid
  // data for a decoder that does not check the size first.
  std::vector<uint8_t> idat = {0x78, 0x01, 0x01, 0x10, 0x00, 0xEF, 0xFF};
  idat.insert(idat.end(), 16, 0);
  PutBe32(&idat, 0x00100001);  // adler32 of 16 zeros
  PngChunk(&b, "IDAT", idat);
  PngChunk(&b, "IEND", {});
  return b;
}

std::vector<uint8_t> JpegDeclaring(uint16_t width, uint16_t height) {
  std::vector<uint8_t> b = {0xFF, 0xD8, 0xFF, 0xC0};
  PutBe16(&b, 17);
  b.push_back(8);
  PutBe16(&b, height);
  PutBe16(&b, width);
  b.push_back(3);
  for (uint8_t c = 1; c <= 3; ++c) b.insert(b.end(), {c, 0x11, 0});
  b.insert(b.end(), {0xFF, 0xD9});
  return b;
}

std::vector<uint8_t> AnimatedGif(int frames) {
  std::vector<uint8_t> b;
  PutBytes(&b, "GIF89a", 6);
  PutLe16(&b, 1);
  PutLe16(&b, 1);
  b.insert(b.end(), {0x80, 0, 0});                  // 2-colour global table
  b.insert(b.end(), {0, 0, 0, 255, 255, 255});
  b.insert(b.end(), {0x21, 0xFF, 0x0B});            // loop forever
  PutBytes(&b, "NETSCAPE2.0", 11);
  b.insert(b.end(), {3, 1, 0, 0, 0});
  b.reserve(b.size() + size_t(frames) * 23 + 1);
  for (int i = 0; i < frames; ++i) {
    b.insert(b.end(), {0x21, 0xF9, 4, 0, 1, 0, 0, 0});           // 10 ms delay
    b.insert(b.end(), {0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0});        // 1x1 at 0,0
    b.insert(b.end(), {2, 2, 0x44, 0x01, 0});                    // LZW: clear, 0, end
  }
  b.push_back(0x3B);
  return b;
}

std::vector<uint8_t> Tga(const std::vector<uint8_t>& bgr, int width, int height) {
  std::vector<uint8_t> b = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  PutLe16(&b, uint32_t(width));
  PutLe16(&b, uint32_t(height));
  b.push_back(24);
  b.push_back(0x20);  // rows top to bottom
  b.insert(b.end(), bgr.begin(), bgr.end());
  return b;
}

std::vector<uint8_t> Psd(const std::vector<uint8_t>& bgr, int width, int height) {
  std::vector<uint8_t> b;
  PutBytes(&b, "8BPS", 4);
  PutBe16(&b, 1);
  b.insert(b.end(), 6, 0);
  PutBe16(&b, 3);
  PutBe32(&b, uint32_t(height));
  PutBe32(&b, uint32_t(width));
  PutBe16(&b, 8);
  PutBe16(&b, 3);  // RGB
  PutBe32(&b, 0);  // colour mode data
  PutBe32(&b, 0);  // image resources
  PutBe32(&b, 0);  // layers and masks
  PutBe16(&b, 0);  // raw planes follow
  const size_t n = size_t(width) * size_t(height);
  for (int c = 2; c >= 0; --c)
    for (size_t i = 0; i < n; ++i) b.push_back(bgr[i * 3 + size_t(c)]);
  return b;
}

bool SetMp4SampleDeltas(std::vector<uint8_t>* mp4, uint32_t delta) {
  bool any = false;
  for (size_t at : FindBoxes(*mp4, "stts")) {
    if (at + 12 > mp4->size()) continue;
    const uint32_t entries = GetBe32(*mp4, at + 8);
    if (at + 12 + size_t(entries) * 8 > mp4->size()) continue;
    for (uint32_t e = 0; e < entries; ++e) SetBe32(mp4, at + 12 + e * 8 + 4, delta);
    any = true;
  }
  return any;
}

bool SetMp4Duration(std::vector<uint8_t>* mp4, double seconds) {
  bool any = false;
  uint32_t movie_scale = 1000;
  // Version-0 layouts: mvhd and mdhd carry timescale then duration; tkhd's
  // duration is in the movie's timescale.
  for (const char* box : {"mvhd", "mdhd"}) {
    for (size_t at : FindBoxes(*mp4, box)) {
      if (at + 24 > mp4->size() || (*mp4)[at + 4] != 0) continue;
      const uint32_t scale = GetBe32(*mp4, at + 16);
      if (std::strcmp(box, "mvhd") == 0) movie_scale = scale;
      SetBe32(mp4, at + 20, uint32_t(std::min(4e9, seconds * scale)));
      any = true;
    }
  }
  for (size_t at : FindBoxes(*mp4, "tkhd")) {
    if (at + 28 > mp4->size() || (*mp4)[at + 4] != 0) continue;
    SetBe32(mp4, at + 24, uint32_t(std::min(4e9, seconds * movie_scale)));
  }
  return any;
}

std::vector<HostileEntry> WriteHostileCorpus(const fs::path& dir, const fs::path& outside,
                                             const HostileSources& sources) {
  std::vector<HostileEntry> entries;
  auto put = [&](const std::string& rel, const std::vector<uint8_t>& bytes, Expect expect,
                 const std::string& what, const std::string& limit = "") {
    const fs::path p = dir / rel;
    fs::create_directories(p.parent_path());
    WriteFileBytes(p.string(), bytes);
    entries.push_back({rel, expect, limit, what});
  };

  // A frame of the indexed footage, for the stills that must match.
  cv::Mat frame;
  {
    auto dec = VideoDecoder::Open(sources.good_video);
    if (dec.ok()) {
      VideoFrame f;
      for (;;) {
        auto next = (*dec)->Next(&f);
        if (!next.ok() || !*next) break;
        frame = f.bgr.clone();
        if (f.time_s >= sources.frame_time_s) break;
      }
    }
  }
  if (frame.empty()) return entries;
  cv::Mat small;  // TGA and PSD are raw: keep them small
  frame.copyTo(small);
  std::vector<uint8_t> raw(small.data, small.data + small.total() * 3);

  const std::vector<uint8_t> mp4 = ReadFileBytes(sources.good_video);
  std::vector<std::pair<std::string, std::vector<uint8_t>>> good = {
      {"frame.png", Encode(frame, ".png")},   {"frame.jpg", Encode(frame, ".jpg")},
      {"frame.bmp", Encode(frame, ".bmp")},   {"frame.tiff", Encode(frame, ".tiff")},
      {"frame.webp", Encode(frame, ".webp")}, {"frame.tga", Tga(raw, small.cols, small.rows)},
      {"frame.psd", Psd(raw, small.cols, small.rows)}, {"clip.mp4", mp4},
      {"notes.pdf", MakePdf({{}, {{frame, 40, 80, 515, 290}}})}};  // the frame on page 2 of retake notes
  {
    // MJPEG in AVI: a second container and codec.
    const fs::path avi = dir / "good" / "clip.avi";
    fs::create_directories(avi.parent_path());
    cv::VideoWriter w(avi.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, frame.size());
    auto dec = VideoDecoder::Open(sources.good_video);
    VideoFrame f;
    for (int i = 0; dec.ok() && w.isOpened() && i < 40; ++i) {
      auto next = (*dec)->Next(&f);
      if (!next.ok() || !*next) break;
      w.write(f.bgr);
    }
    w.release();
    good.push_back({"clip.avi", ReadFileBytes(avi.string())});
  }

  uint32_t seed = 1;
  for (const auto& [name, bytes] : good) {
    const std::string ext = fs::path(name).extension().string();
    const std::string stem = fs::path(name).stem().string() + "_" + ext.substr(1);
    if (name != "clip.avi") put("good/" + name, bytes, Expect::kMatch, "good " + ext);
    put("zero/empty" + ext, {}, Expect::kError, "zero-byte " + ext);
    put("truncated/" + stem + ".half" + ext, std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2),
        Expect::kReported, "truncated to half " + ext);
    put("truncated/" + stem + ".head" + ext,
        std::vector<uint8_t>(bytes.begin(), bytes.begin() + std::min<size_t>(64, bytes.size())),
        Expect::kReported, "first 64 bytes of " + ext);
    put("bitflip/" + stem + ext, BitFlipped(bytes, seed++), Expect::kReported, "bit-flipped " + ext);
  }
  entries.push_back({"good/clip.avi", Expect::kMatch, "", "good .avi"});

  // Content, not extension, decides.
  put("wrong_ext/png_named.mp4", good[0].second, Expect::kMatch, "PNG named .mp4");
  put("wrong_ext/mp4_named.jpg", mp4, Expect::kMatch, "MP4 named .jpg");
  const std::string text = "<html><body>not a picture</body></html>\n";
  put("wrong_ext/text_named.png", std::vector<uint8_t>(text.begin(), text.end()), Expect::kSkipped, "text named .png");

  // Decompression bombs: declared sizes no decoder may allocate.
  put("bombs/png_100000x100000.png", PngDeclaring(100000, 100000), Expect::kError, "PNG bomb", "max_pixels");
  put("bombs/jpeg_65500x65500.jpg", JpegDeclaring(65500, 65500), Expect::kError, "JPEG bomb", "max_pixels");
  put("bombs/png_4000x4000.png", PngDeclaring(4000, 4000), Expect::kError, "PNG under max_pixels, over memory",
      "max_memory_bytes");
  put("bombs/gif_100k_frames.gif", AnimatedGif(100000), Expect::kError, "GIF of 100k frames", "max_frames");
  // A page of a million points a side renders at no more than its usual size;
  // a picture on it declaring 65500 x 65500 pixels decodes to nothing.
  put("bombs/pdf_page_1e6_points.pdf", MakePdf({{{frame, 0, 0, 1e6, 1e6}}}, 1e6, 1e6), Expect::kReported,
      "PDF page of a million points a side");
  {
    PdfPicture lie{frame, 40, 80, 515, 290, JpegDeclaring(65500, 65500), cv::Size(65500, 65500)};
    put("bombs/pdf_image_65500x65500.pdf", MakePdf({{lie}}), Expect::kReported, "PDF with a JPEG bomb");
  }

  // Timestamps and durations that lie.
  {
    std::vector<uint8_t> v = mp4;
    if (SetMp4SampleDeltas(&v, 0)) put("video/all_frames_at_zero.mp4", v, Expect::kReported, "pts all equal");
    v = mp4;
    if (SetMp4SampleDeltas(&v, 1u << 30)) put("video/huge_pts_gaps.mp4", v, Expect::kReported, "hours between frames");
    v = mp4;
    if (SetMp4Duration(&v, 10 * 3600.0)) put("video/ten_hours.mp4", v, Expect::kReported, "declares 10 hours");
  }
  {
    // A sparse file over max_file_bytes that starts like a video.
    const std::string rel = "huge/sparse_9GiB.mp4";
    put(rel, std::vector<uint8_t>(mp4.begin(), mp4.begin() + std::min<size_t>(4096, mp4.size())), Expect::kError,
        "9 GiB sparse file", "max_file_bytes");
    std::error_code ec;
    fs::resize_file(dir / rel, 9ull << 30, ec);
    if (ec) entries.back().expect = Expect::kReported;
  }

  // Deep nesting.
  {
    std::string rel;
    for (int i = 0; i < 200; ++i) rel += "d/";
    put(rel + "deep.png", good[0].second, Expect::kMatch, "200 folders deep");
  }

  // Links: a loop, a pair pointing at each other, out of the tree, in it.
  fs::create_directories(dir / "links");
  fs::create_directories(outside);
  WriteFileBytes((outside / "frame.png").string(), good[0].second);
  fs::create_directory_symlink(".", dir / "links" / "loop");
  entries.push_back({"links/loop", Expect::kSkipped, "", "symlink loop to its own folder"});
  fs::create_symlink("b", dir / "links" / "a");
  fs::create_symlink("a", dir / "links" / "b");
  entries.push_back({"links/a", Expect::kSkipped, "", "symlink cycle a->b"});
  entries.push_back({"links/b", Expect::kSkipped, "", "symlink cycle b->a"});
  fs::create_symlink(fs::absolute(outside / "frame.png"), dir / "links" / "outside.png");
  entries.push_back({"links/outside.png", Expect::kSkipped, "", "symlink out of the tree"});
  fs::create_symlink("../good/frame.png", dir / "links" / "inside.png");
  entries.push_back({"links/inside.png", Expect::kMatch, "", "symlink inside the tree"});

  // Unreadable. root reads it anyway (CI runs as root), so then it must match.
  put("unreadable/locked.png", good[0].second, ::geteuid() == 0 ? Expect::kMatch : Expect::kError, "chmod 000");
  fs::permissions(dir / "unreadable" / "locked.png", fs::perms::none);

  // Names that are not UTF-8, hold a newline, or hold HTML.
  put("names/bad_\xff\xfe.png", good[0].second, Expect::kMatch, "name not UTF-8");
  put("names/new\nline.png", good[0].second, Expect::kMatch, "newline in name");
  put("names/<img src=x onerror=alert(1)>.png", good[0].second, Expect::kMatch, "HTML in name");
  put("names/quote\"&amp;'.png", good[0].second, Expect::kMatch, "quotes in name");

  // A FIFO would block a reader forever.
  fs::create_directories(dir / "special");
  if (::mkfifo((dir / "special" / "pipe").c_str(), 0644) == 0) {
    entries.push_back({"special/pipe", Expect::kSkipped, "", "named pipe"});
  }
  return entries;
}

}  // namespace celmatch::testing
