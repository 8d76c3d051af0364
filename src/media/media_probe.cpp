#include "media/media_probe.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

extern "C" {
#include <libavformat/avformat.h>
}

namespace celmatch {

const char* MediaKindName(MediaKind kind) {
  switch (kind) {
    case MediaKind::kImage: return "image";
    case MediaKind::kVideo: return "video";
    case MediaKind::kDocument: return "document";
    case MediaKind::kOther: return "other";
  }
  return "other";
}

namespace {

using namespace std::string_view_literals;

// Enough for every magic number and for FFmpeg's prober to recognise
// transport streams and elementary streams; frame counting for GIF, APNG and
// WebP seeks further when it must.
constexpr size_t kHeadBytes = 16 * 1024;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

uint32_t Be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
uint32_t Le32(const uint8_t* p) {
  return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}
uint16_t Le16(const uint8_t* p) { return uint16_t(p[1] << 8 | p[0]); }

bool StartsWith(const std::vector<uint8_t>& h, size_t at, std::string_view magic) {
  return h.size() >= at + magic.size() && std::memcmp(h.data() + at, magic.data(), magic.size()) == 0;
}

bool ReadAt(std::FILE* f, int64_t offset, void* dst, size_t n) {
  if (fseeko(f, offset, SEEK_SET) != 0) return false;
  return std::fread(dst, 1, n, f) == n;
}

// Skips GIF data sub-blocks (a length byte, that many bytes, ..., a zero).
bool SkipGifSubBlocks(std::FILE* f) {
  for (;;) {
    const int n = std::getc(f);
    if (n == EOF) return false;
    if (n == 0) return true;
    if (fseeko(f, n, SEEK_CUR) != 0) return false;
  }
}

// Walks the GIF block structure until a second image descriptor appears, so
// the cost is one frame's worth of seeking at most. A file truncated inside
// its second frame still counts as animated: FFmpeg will decode what is there.
bool GifHasSeveralFrames(std::FILE* f) {
  uint8_t screen[13];
  if (!ReadAt(f, 0, screen, sizeof screen)) return false;
  int64_t pos = 13;
  if (screen[10] & 0x80) pos += 3 * (int64_t(1) << ((screen[10] & 7) + 1));
  if (fseeko(f, pos, SEEK_SET) != 0) return false;
  int frames = 0;
  for (int blocks = 0; blocks < 100000; ++blocks) {
    const int c = std::getc(f);
    if (c == 0x21) {  // extension: label, then sub-blocks
      if (std::getc(f) == EOF || !SkipGifSubBlocks(f)) return false;
    } else if (c == 0x2C) {  // image descriptor
      if (++frames >= 2) return true;
      uint8_t desc[9];
      if (std::fread(desc, 1, sizeof desc, f) != sizeof desc) return false;
      if (desc[8] & 0x80) {
        if (fseeko(f, 3 * (int64_t(1) << ((desc[8] & 7) + 1)), SEEK_CUR) != 0) return false;
      }
      if (std::getc(f) == EOF || !SkipGifSubBlocks(f)) return false;  // LZW code size, data
    } else {
      return false;  // trailer (0x3B), EOF or garbage
    }
  }
  return false;
}

// APNG: an acTL chunk before the first IDAT says how many frames follow.
bool PngHasSeveralFrames(std::FILE* f) {
  int64_t pos = 8;
  for (int chunks = 0; chunks < 10000; ++chunks) {
    uint8_t hdr[12];
    if (!ReadAt(f, pos, hdr, 12)) return false;
    const uint32_t len = Be32(hdr);
    if (std::memcmp(hdr + 4, "acTL", 4) == 0) return len >= 8 && Be32(hdr + 8) > 1;
    if (std::memcmp(hdr + 4, "IDAT", 4) == 0 || std::memcmp(hdr + 4, "IEND", 4) == 0) return false;
    pos += 12 + int64_t(len);
  }
  return false;
}

// WebP: the VP8X animation flag, confirmed by at least two ANMF chunks.
bool WebpHasSeveralFrames(std::FILE* f, const std::vector<uint8_t>& head, int64_t file_size) {
  if (!StartsWith(head, 12, "VP8X"sv) || head.size() < 21 || !(head[20] & 0x02)) return false;
  int64_t pos = 12;
  int frames = 0;
  for (int chunks = 0; chunks < 100000 && pos + 8 <= file_size; ++chunks) {
    uint8_t hdr[8];
    if (!ReadAt(f, pos, hdr, 8)) return false;
    if (std::memcmp(hdr, "ANMF", 4) == 0 && ++frames >= 2) return true;
    const int64_t size = Le32(hdr + 4);
    pos += 8 + size + (size & 1);
  }
  return false;
}

// ISO base media files: the ftyp brands tell AVIF and HEIF from movies.
MediaProbe ProbeIsoBmff(const std::vector<uint8_t>& h) {
  const size_t box = std::min<size_t>(Be32(h.data()), h.size());
  std::vector<std::string_view> brands;
  if (h.size() >= 12) brands.emplace_back(reinterpret_cast<const char*>(h.data() + 8), 4);
  for (size_t at = 16; at + 4 <= box; at += 4) {
    brands.emplace_back(reinterpret_cast<const char*>(h.data() + at), 4);
  }
  auto has = [&](std::string_view b) {
    for (auto x : brands) if (x == b) return true;
    return false;
  };
  const std::string_view major = brands.empty() ? std::string_view() : brands[0];
  if (major == "avis") return {MediaKind::kVideo, "avif"};  // AVIF image sequence
  if (has("avif")) return {MediaKind::kImage, "avif"};
  if (has("heic") || has("heix") || has("mif1") || has("heim") || has("heis")) {
    return {MediaKind::kImage, "heif"};
  }
  if (major == "M4A " || major == "M4B " || major == "M4P ") return {MediaKind::kOther, ""};
  if (major == "qt  ") return {MediaKind::kVideo, "mov"};
  return {MediaKind::kVideo, "mp4"};
}

MediaProbe ProbeOgg(const std::vector<uint8_t>& h) {
  // The first page carries the first stream's identification header.
  if (StartsWith(h, 28, "\x80theora"sv)) return {MediaKind::kVideo, "ogg"};
  if (StartsWith(h, 28, "\x01vorbis"sv) || StartsWith(h, 28, "OpusHead"sv) ||
      StartsWith(h, 28, "\x7f" "FLAC"sv) || StartsWith(h, 28, "Speex"sv)) {
    return {MediaKind::kOther, ""};
  }
  return {MediaKind::kVideo, "ogg"};
}

// Demuxers whose content is pictures over time. FFmpeg's prober also
// recognises audio and subtitle formats (a text file can look like SubRip);
// those are not media for celmatch.
bool IsVideoDemuxer(std::string_view name) {
  static constexpr std::string_view kVideo[] = {
      "mpegts", "mpegtsraw", "mpeg", "mpegvideo", "m4v", "h264", "hevc", "h261", "h263",
      "vc1", "vc1test", "cavsvideo", "avs2", "avs3", "obu", "ivf", "flv", "live_flv", "asf",
      "rm", "mxf", "nut", "ogg", "dv", "gxf", "yuv4mpegpipe", "wtv", "nsv", "smk", "bink",
      "roq", "flic", "avi", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "apng", "gif", "mjpeg",
      "dirac", "r3d", "lxf", "mvi", "str", "thp", "vmd", "mtv", "rl2", "idcin", "ipmovie",
      "mjpeg_2000", "webm_dash_manifest"};
  for (auto v : kVideo) if (v == name) return true;
  return false;
}

std::string ShortDemuxerName(std::string_view name) {
  if (name == "mov,mp4,m4a,3gp,3g2,mj2") return "mp4";
  if (name == "matroska,webm") return "matroska";
  return std::string(name.substr(0, name.find(',')));
}

// FFmpeg's content prober on the head of the file. The file name is withheld
// so that extensions cannot sway it.
MediaProbe ProbeWithFfmpeg(const std::vector<uint8_t>& h) {
  std::vector<uint8_t> padded(h.size() + AVPROBE_PADDING_SIZE, 0);
  std::memcpy(padded.data(), h.data(), h.size());
  AVProbeData pd{};
  pd.filename = "";
  pd.buf = padded.data();
  pd.buf_size = int(h.size());
  pd.mime_type = nullptr;
  int score = 0;
  const AVInputFormat* fmt = av_probe_input_format3(&pd, 1, &score);
  // Above AVPROBE_SCORE_RETRY FFmpeg itself trusts a probe without reading
  // more data; below it random bytes are sometimes "recognised".
  if (fmt == nullptr || score <= AVPROBE_SCORE_RETRY) return {};
  std::string_view name = fmt->name;
  constexpr std::string_view kPipe = "_pipe";
  if (name.size() > kPipe.size() && name.substr(name.size() - kPipe.size()) == kPipe) {
    return {MediaKind::kImage, std::string(name.substr(0, name.size() - kPipe.size()))};
  }
  if (IsVideoDemuxer(name)) return {MediaKind::kVideo, ShortDemuxerName(name)};
  return {};
}

// Targa has no magic number; accept it only when every header field is one
// that TGA writers produce and the file is long enough for the pixels it
// declares.
bool LooksLikeTga(const std::vector<uint8_t>& h, int64_t file_size) {
  if (h.size() < 18) return false;
  const int id_len = h[0], cmap_type = h[1], type = h[2];
  const int cmap_len = Le16(&h[5]), cmap_bits = h[7];
  const int w = Le16(&h[12]), ht = Le16(&h[14]), bpp = h[16], desc = h[17];
  if (cmap_type > 1) return false;
  if (type != 1 && type != 2 && type != 3 && type != 9 && type != 10 && type != 11) return false;
  const bool mapped = type == 1 || type == 9;
  if (mapped != (cmap_type == 1)) return false;
  if (cmap_type == 1) {
    if (cmap_len == 0 || (cmap_bits != 15 && cmap_bits != 16 && cmap_bits != 24 && cmap_bits != 32)) return false;
  } else if (cmap_len != 0) {
    return false;
  }
  if (w == 0 || ht == 0) return false;
  if (bpp != 8 && bpp != 15 && bpp != 16 && bpp != 24 && bpp != 32) return false;
  if ((type == 3 || type == 11) && bpp != 8 && bpp != 16) return false;
  if (mapped && bpp != 8 && bpp != 16) return false;
  if (desc & 0xC0) return false;  // interleaving bits, unused since TGA 2.0
  int64_t need = 18 + id_len + int64_t(cmap_len) * ((cmap_bits + 7) / 8);
  const bool rle = type >= 9;
  need += rle ? 2 : int64_t(w) * ht * ((bpp + 7) / 8);
  return file_size >= need;
}

MediaProbe ProbeHead(std::FILE* f, const std::vector<uint8_t>& h, int64_t file_size) {
  if (StartsWith(h, 0, "\x89PNG\r\n\x1a\n"sv)) {
    return PngHasSeveralFrames(f) ? MediaProbe{MediaKind::kVideo, "apng"}
                                  : MediaProbe{MediaKind::kImage, "png"};
  }
  if (StartsWith(h, 0, "\xff\xd8\xff"sv)) return {MediaKind::kImage, "jpeg"};
  if (StartsWith(h, 0, "GIF87a"sv) || StartsWith(h, 0, "GIF89a"sv)) {
    return GifHasSeveralFrames(f) ? MediaProbe{MediaKind::kVideo, "gif"}
                                  : MediaProbe{MediaKind::kImage, "gif"};
  }
  if (StartsWith(h, 0, "II*\0"sv) || StartsWith(h, 0, "MM\0*"sv) || StartsWith(h, 0, "II+\0"sv) ||
      StartsWith(h, 0, "MM\0+"sv)) {
    return {MediaKind::kImage, "tiff"};
  }
  if (StartsWith(h, 0, "RIFF"sv) && StartsWith(h, 8, "WEBP"sv)) {
    return WebpHasSeveralFrames(f, h, file_size) ? MediaProbe{MediaKind::kVideo, "webp"}
                                                 : MediaProbe{MediaKind::kImage, "webp"};
  }
  if (StartsWith(h, 0, "RIFF"sv) && StartsWith(h, 8, "AVI "sv)) return {MediaKind::kVideo, "avi"};
  if (StartsWith(h, 0, "BM"sv) && h.size() >= 26) {
    const uint32_t dib = Le32(&h[14]);
    if (dib == 12 || dib == 16 || dib == 40 || dib == 52 || dib == 56 || dib == 64 ||
        dib == 108 || dib == 124) {
      return {MediaKind::kImage, "bmp"};
    }
  }
  if (StartsWith(h, 0, "8BPS"sv)) return {MediaKind::kImage, "psd"};
  if (StartsWith(h, 4, "ftyp"sv)) return ProbeIsoBmff(h);
  // QuickTime files older than the ftyp box start straight with a movie atom.
  if (StartsWith(h, 4, "moov"sv) || StartsWith(h, 4, "mdat"sv) || StartsWith(h, 4, "wide"sv) ||
      StartsWith(h, 4, "pnot"sv)) {
    return {MediaKind::kVideo, "mov"};
  }
  if (StartsWith(h, 0, "\x1a\x45\xdf\xa3"sv)) {
    // The EBML header's DocType (element 0x4282) tells WebM from Matroska.
    for (size_t i = 4; i + 7 <= std::min<size_t>(h.size(), 64); ++i) {
      if (h[i] == 0x42 && h[i + 1] == 0x82 && StartsWith(h, i + 3, "webm"sv)) {
        return {MediaKind::kVideo, "webm"};
      }
    }
    return {MediaKind::kVideo, "matroska"};
  }
  if (StartsWith(h, 0, "FLV\x01"sv)) return {MediaKind::kVideo, "flv"};
  if (StartsWith(h, 0, "OggS"sv)) return ProbeOgg(h);
  if (h.size() > 376 && h[0] == 0x47 && h[188] == 0x47 && h[376] == 0x47) {
    return {MediaKind::kVideo, "mpegts"};
  }
  if (h.size() > 388 && h[4] == 0x47 && h[196] == 0x47 && h[388] == 0x47) {
    return {MediaKind::kVideo, "mpegts"};  // M2TS: 4-byte timecode before each packet
  }
  if (StartsWith(h, 0, "\0\0\x01\xba"sv)) return {MediaKind::kVideo, "mpeg"};
  // A PDF's header may follow up to 1,024 bytes of other data (as readers accept).
  {
    const std::string_view head(reinterpret_cast<const char*>(h.data()), std::min<size_t>(h.size(), 1024 + 6));
    const size_t at = head.find("%PDF-");
    if (at != std::string_view::npos && at <= 1024 && at + 5 < head.size() && head[at + 5] >= '1' &&
        head[at + 5] <= '2') {
      return {MediaKind::kDocument, "pdf"};
    }
  }
  // Known non-media that FFmpeg's prober need not see.
  if (StartsWith(h, 0, "PK\x03\x04"sv) || h.empty()) return {};

  MediaProbe probed = ProbeWithFfmpeg(h);
  if (probed.kind != MediaKind::kOther) return probed;
  if (LooksLikeTga(h, file_size)) return {MediaKind::kImage, "tga"};
  return {};
}

}  // namespace

Result<MediaProbe> ProbeMedia(const std::string& path) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IoError(path + ": cannot open: " + std::strerror(err));
  }
  struct stat st {};
  if (fstat(fileno(f.get()), &st) != 0) {
    return Status::IoError(path + ": cannot stat: " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return Status::IoError(path + ": is a directory");

  std::vector<uint8_t> head(kHeadBytes);
  const size_t n = std::fread(head.data(), 1, head.size(), f.get());
  if (n < head.size() && std::ferror(f.get())) {
    return Status::IoError(path + ": read error: " + std::strerror(errno));
  }
  head.resize(n);
  return ProbeHead(f.get(), head, int64_t(st.st_size));
}

Result<MediaProbe> ProbeMediaBuffer(const std::string& name, const uint8_t* data, size_t size) {
  if (size == 0) return MediaProbe{};
  // A read-only stream over the buffer lets the frame counters seek as they
  // do in a file.
  File f(fmemopen(const_cast<uint8_t*>(data), size, "rb"));
  if (!f) return Status::Internal(name + ": cannot read from memory: " + std::strerror(errno));
  std::vector<uint8_t> head(data, data + std::min(size, kHeadBytes));
  return ProbeHead(f.get(), head, int64_t(size));
}

}  // namespace celmatch
