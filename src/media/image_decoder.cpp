#include "media/image_decoder.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <avif/avif.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
}

#include "media/frame_convert.h"
#include "media/media_probe.h"

namespace celmatch {
namespace {

using media_internal::AvErrorText;
using media_internal::CodecContextPtr;
using media_internal::FramePtr;
using media_internal::PacketPtr;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// The whole file, with the limit on its size checked before reading.
Result<std::vector<uint8_t>> ReadWholeFile(const std::string& path, const MediaLimits& limits) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IoError(path + ": cannot open: " + std::strerror(err));
  }
  struct stat st {};
  if (fstat(fileno(f.get()), &st) != 0) return Status::IoError(path + ": cannot stat: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return Status::IoError(path + ": is a directory");
  CELMATCH_RETURN_IF_ERROR(CheckFileSizeLimit(path, int64_t(st.st_size), limits));
  if (st.st_size == 0) return Status::Corrupt(path + ": empty file (0 bytes)");
  std::vector<uint8_t> bytes(size_t(st.st_size));
  const size_t n = std::fread(bytes.data(), 1, bytes.size(), f.get());
  if (n != bytes.size()) {
    if (std::ferror(f.get())) return Status::IoError(path + ": read error: " + std::strerror(errno));
    bytes.resize(n);  // the file shrank while we read it; decode what is there
  }
  return bytes;
}

std::string DisplayName(const std::string& format) {
  if (format == "png" || format == "apng") return "PNG";
  if (format == "jpeg") return "JPEG";
  if (format == "tiff") return "TIFF";
  if (format == "webp") return "WebP";
  if (format == "bmp") return "BMP";
  if (format == "gif") return "GIF";
  if (format == "tga") return "TGA";
  if (format == "psd") return "PSD";
  if (format == "avif") return "AVIF";
  std::string up = format;
  for (char& c : up) c = char(std::toupper(static_cast<unsigned char>(c)));
  return up;
}

Status CorruptData(const std::string& path, const std::string& format, const std::string& detail = "") {
  return Status::Corrupt(path + ": truncated or corrupt " + DisplayName(format) + " data" +
                         (detail.empty() ? "" : " (" + detail + ")"));
}

// ---------------------------------------------------------------------------
// Image size from the header, read before any pixel is decoded so that a
// hostile header cannot make a decoder allocate gigabytes.

struct Dims {
  int64_t width = 0, height = 0;
};

uint32_t Be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t Be32(const uint8_t* p) { return Be16(p) << 16 | Be16(p + 2); }
uint32_t Le16(const uint8_t* p) { return uint32_t(p[1]) << 8 | p[0]; }
uint32_t Le24(const uint8_t* p) { return uint32_t(p[2]) << 16 | Le16(p); }
uint32_t Le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | Le24(p); }

std::optional<Dims> PngDims(const std::vector<uint8_t>& b) {
  if (b.size() < 24 || std::memcmp(&b[12], "IHDR", 4) != 0) return std::nullopt;
  return Dims{Be32(&b[16]), Be32(&b[20])};
}

std::optional<Dims> JpegDims(const std::vector<uint8_t>& b) {
  size_t i = 2;
  while (i + 4 <= b.size()) {
    if (b[i] != 0xFF) {  // tolerate junk between segments, as libjpeg does
      ++i;
      continue;
    }
    const uint8_t m = b[i + 1];
    if (m == 0xFF) { ++i; continue; }  // fill byte
    if (m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) { i += 2; continue; }
    if (m == 0xD9 || m == 0xDA) return std::nullopt;  // no frame header before the scan
    const size_t len = Be16(&b[i + 2]);
    if (len < 2) return std::nullopt;
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (i + 9 > b.size()) return std::nullopt;
      return Dims{Be16(&b[i + 7]), Be16(&b[i + 5])};
    }
    i += 2 + len;
  }
  return std::nullopt;
}

std::optional<Dims> GifDims(const std::vector<uint8_t>& b) {
  if (b.size() < 13) return std::nullopt;
  return Dims{Le16(&b[6]), Le16(&b[8])};
}

std::optional<Dims> BmpDims(const std::vector<uint8_t>& b) {
  if (b.size() < 26) return std::nullopt;
  if (Le32(&b[14]) == 12) return Dims{Le16(&b[18]), Le16(&b[20])};  // OS/2 1.x header
  const int64_t w = int32_t(Le32(&b[18])), h = int32_t(Le32(&b[22]));
  return Dims{w < 0 ? -w : w, h < 0 ? -h : h};  // negative height: top-down rows
}

// Width and height from the first IFD (classic or BigTIFF).
std::optional<Dims> TiffDims(const std::vector<uint8_t>& b) {
  if (b.size() < 16) return std::nullopt;
  const bool le = b[0] == 'I';
  auto u16 = [&](size_t at) -> uint64_t { return le ? Le16(&b[at]) : Be16(&b[at]); };
  auto u32 = [&](size_t at) -> uint64_t { return le ? Le32(&b[at]) : Be32(&b[at]); };
  auto u64 = [&](size_t at) -> uint64_t {
    return le ? (u32(at + 4) << 32 | u32(at)) : (u32(at) << 32 | u32(at + 4));
  };
  const bool big = u16(2) == 43;
  const uint64_t ifd = big ? u64(8) : u32(4);
  const size_t entry_size = big ? 20 : 12, count_size = big ? 8 : 2;
  if (ifd > b.size() || b.size() - ifd < count_size) return std::nullopt;  // ifd + count_size may wrap
  const uint64_t count = big ? u64(ifd) : u16(ifd);
  Dims d;
  for (uint64_t k = 0; k < count && k < 4096; ++k) {
    const size_t e = ifd + count_size + k * entry_size;
    if (e + entry_size > b.size()) return std::nullopt;
    const uint64_t tag = u16(e), type = u16(e + 2);
    const size_t value = e + (big ? 12 : 8);
    uint64_t v = 0;
    if (type == 3) v = u16(value);                 // SHORT
    else if (type == 4) v = u32(value);            // LONG
    else if (type == 16 && big) v = u64(value);    // LONG8
    else continue;
    v = std::min<uint64_t>(v, uint64_t(1) << 40);  // BigTIFF sizes fit no decoder anyway
    if (tag == 256) d.width = int64_t(v);
    if (tag == 257) d.height = int64_t(v);
  }
  if (d.width == 0 || d.height == 0) return std::nullopt;
  return d;
}

std::optional<Dims> WebpDims(const std::vector<uint8_t>& b) {
  if (b.size() < 30) return std::nullopt;
  if (std::memcmp(&b[12], "VP8 ", 4) == 0) {
    if (b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a) return std::nullopt;
    return Dims{Le16(&b[26]) & 0x3fff, Le16(&b[28]) & 0x3fff};
  }
  if (std::memcmp(&b[12], "VP8L", 4) == 0) {
    if (b[20] != 0x2f) return std::nullopt;
    const uint32_t bits = Le32(&b[21]);
    return Dims{(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
  }
  if (std::memcmp(&b[12], "VP8X", 4) == 0) return Dims{int64_t(Le24(&b[24])) + 1, int64_t(Le24(&b[27])) + 1};
  return std::nullopt;
}

std::optional<Dims> PsdDims(const std::vector<uint8_t>& b) {
  if (b.size() < 26) return std::nullopt;
  return Dims{Be32(&b[18]), Be32(&b[14])};
}

std::optional<Dims> TgaDims(const std::vector<uint8_t>& b) {
  if (b.size() < 18) return std::nullopt;
  return Dims{Le16(&b[12]), Le16(&b[14])};
}

// Formats whose header we parse ourselves. AVIF is checked by libavif's
// parser; FFmpeg's other image decoders by AVCodecContext::max_pixels.
Status CheckHeader(const std::string& path, const std::string& format,
                   const std::vector<uint8_t>& b, const MediaLimits& limits) {
  std::optional<Dims> d;
  if (format == "png" || format == "apng") d = PngDims(b);
  else if (format == "jpeg") d = JpegDims(b);
  else if (format == "gif") d = GifDims(b);
  else if (format == "bmp") d = BmpDims(b);
  else if (format == "tiff") d = TiffDims(b);
  else if (format == "webp") d = WebpDims(b);
  else if (format == "psd") d = PsdDims(b);
  else if (format == "tga") d = TgaDims(b);
  else return Status::Ok();
  if (!d) return CorruptData(path, format, "no valid header");
  CELMATCH_RETURN_IF_ERROR(CheckPixelLimit(path, d->width, d->height, limits));
  return CheckMemoryLimit(path, EstimateImageMemory(d->width, d->height, int64_t(b.size())), limits);
}

// ---------------------------------------------------------------------------
// Decoders. Each returns the raw decoded matrix or frame; normalisation to
// BGR happens once, in DecodeImageWithAlpha.

// The IMREAD_REDUCED_COLOR_* flag for a JPEG of `longer` pixels on its
// longer side: the largest of libjpeg's DCT scalings (1/2, 1/4, 1/8) that
// keeps that side at least `min_long_side`; IMREAD_COLOR when none does.
int JpegReadFlags(int64_t longer, int min_long_side) {
  if (min_long_side <= 0) return cv::IMREAD_COLOR;
  if (longer >= 8LL * min_long_side) return cv::IMREAD_REDUCED_COLOR_8;
  if (longer >= 4LL * min_long_side) return cv::IMREAD_REDUCED_COLOR_4;
  if (longer >= 2LL * min_long_side) return cv::IMREAD_REDUCED_COLOR_2;
  return cv::IMREAD_COLOR;
}

Result<cv::Mat> DecodeWithOpenCv(const std::string& path, const std::string& format,
                                 const std::vector<uint8_t>& bytes, cv::Mat* alpha, int min_long_side,
                                 bool* reduced) {
  // JPEG never has alpha; IMREAD_COLOR (and its reduced forms) makes OpenCV
  // apply the EXIF orientation, so a phone photo of a screen comes out upright.
  int flags = cv::IMREAD_UNCHANGED;
  if (format == "jpeg") {
    const std::optional<Dims> d = JpegDims(bytes);  // CheckHeader has parsed it already
    flags = d ? JpegReadFlags(std::max(d->width, d->height), min_long_side) : cv::IMREAD_COLOR;
  }
  if (reduced) *reduced = flags != cv::IMREAD_UNCHANGED && flags != cv::IMREAD_COLOR;
  if (bytes.size() > size_t(INT_MAX)) {
    return Status::LimitExceeded(path + ": " + DisplayName(format) + " file over 2 GiB");
  }
  cv::Mat raw;
  try {
    raw = cv::imdecode(cv::_InputArray(bytes.data(), int(bytes.size())), flags);
  } catch (const cv::Exception& e) {
    return CorruptData(path, format, e.err);
  }
  if (raw.empty()) {
    if (format == "webp" && bytes.size() > 20 && std::memcmp(&bytes[12], "VP8X", 4) == 0 &&
        (bytes[20] & 0x02)) {
      return Status::Unsupported(path + ": animated WebP cannot be decoded as a still image");
    }
    return CorruptData(path, format);
  }
  // 32-bit BMPs often carry a fourth byte that is padding, all zero; read
  // literally that would be a fully transparent (white) picture.
  if (format == "bmp" && raw.channels() == 4) {
    cv::Mat a;
    cv::extractChannel(raw, a, 3);
    if (cv::countNonZero(a) == 0) cv::cvtColor(raw, raw, cv::COLOR_BGRA2BGR);
  }
  try {
    return media_internal::ToBgr8(raw, alpha);
  } catch (const cv::Exception& e) {
    return Status::Unsupported(path + ": unsupported " + DisplayName(format) + " pixel layout (" +
                               e.err + ")");
  }
}

struct AvifDecoderDeleter {
  void operator()(avifDecoder* d) const { avifDecoderDestroy(d); }
};

Result<cv::Mat> DecodeWithAvif(const std::string& path, const std::vector<uint8_t>& bytes,
                               const MediaLimits& limits, cv::Mat* alpha) {
  std::unique_ptr<avifDecoder, AvifDecoderDeleter> dec(avifDecoderCreate());
  if (!dec) return Status::Internal(path + ": cannot create an AVIF decoder");
  dec->maxThreads = 1;  // callers parallelise across files
  if (limits.max_pixels > 0 && limits.max_pixels < int64_t(dec->imageSizeLimit)) {
    dec->imageSizeLimit = uint32_t(limits.max_pixels);
  }
  dec->ignoreExif = AVIF_TRUE;
  dec->ignoreXMP = AVIF_TRUE;
  avifResult r = avifDecoderSetIOMemory(dec.get(), bytes.data(), bytes.size());
  if (r == AVIF_RESULT_OK) r = avifDecoderParse(dec.get());
  if (r != AVIF_RESULT_OK) {
    // Parse applies imageSizeLimit to the declared size; say which limit.
    if (dec->image && dec->image->width > 0) {
      CELMATCH_RETURN_IF_ERROR(CheckPixelLimit(path, dec->image->width, dec->image->height, limits));
    }
    return CorruptData(path, "avif", avifResultToString(r));
  }
  CELMATCH_RETURN_IF_ERROR(CheckPixelLimit(path, dec->image->width, dec->image->height, limits));
  CELMATCH_RETURN_IF_ERROR(CheckMemoryLimit(
      path, EstimateImageMemory(dec->image->width, dec->image->height, int64_t(bytes.size())), limits));
  r = avifDecoderNextImage(dec.get());
  if (r != AVIF_RESULT_OK) return CorruptData(path, "avif", avifResultToString(r));

  const avifImage* img = dec->image;
  cv::Mat bgra(int(img->height), int(img->width), CV_8UC4);
  avifRGBImage rgb;
  avifRGBImageSetDefaults(&rgb, img);
  rgb.format = AVIF_RGB_FORMAT_BGRA;
  rgb.depth = 8;
  rgb.pixels = bgra.data;
  rgb.rowBytes = uint32_t(bgra.step[0]);
  r = avifImageYUVToRGB(img, &rgb);
  if (r != AVIF_RESULT_OK) return CorruptData(path, "avif", avifResultToString(r));
  cv::Mat a;
  cv::Mat bgr = media_internal::CompositeOntoWhite(bgra, &a);
  if (alpha) {
    if (img->alphaPlane) *alpha = a;
    else alpha->release();
  }
  return bgr;
}

// Still images FFmpeg decodes: the whole file is one packet, as FFmpeg's own
// image2 demuxer feeds it. For GIF this yields the first frame.
Result<cv::Mat> DecodeWithFfmpeg(const std::string& path, const std::string& format,
                                 const std::vector<uint8_t>& bytes, const MediaLimits& limits,
                                 cv::Mat* alpha) {
  const AVCodec* codec = nullptr;
  if (format == "tga") codec = avcodec_find_decoder(AV_CODEC_ID_TARGA);
  else if (format == "j2k") codec = avcodec_find_decoder(AV_CODEC_ID_JPEG2000);
  else if (format == "jpegxl") codec = avcodec_find_decoder_by_name("libjxl");
  else if (format == "svg") codec = avcodec_find_decoder_by_name("librsvg");
  else codec = avcodec_find_decoder_by_name(format.c_str());
  if (!codec || codec->type != AVMEDIA_TYPE_VIDEO) {
    return Status::Unsupported(path + ": no decoder for " + DisplayName(format) + " images");
  }
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  FramePtr frame(av_frame_alloc());
  PacketPtr pkt(av_packet_alloc());
  if (!ctx || !frame || !pkt) return Status::Internal(path + ": out of memory");
  ctx->thread_count = 1;
  // FFmpeg refuses (before allocating) frames over this; a backstop for the
  // formats whose header we do not parse ourselves.
  if (limits.max_pixels > 0) ctx->max_pixels = limits.max_pixels;
  int err = avcodec_open2(ctx.get(), codec, nullptr);
  if (err < 0) return Status::Internal(path + ": cannot open the " + codec->name + " decoder: " + AvErrorText(err));
  if (bytes.size() > size_t(INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)) {
    return Status::LimitExceeded(path + ": too large for FFmpeg's image decoders");
  }
  err = av_new_packet(pkt.get(), int(bytes.size()));
  if (err < 0) return Status::Internal(path + ": out of memory");
  std::memcpy(pkt->data, bytes.data(), bytes.size());
  pkt->flags |= AV_PKT_FLAG_KEY;

  err = avcodec_send_packet(ctx.get(), pkt.get());
  if (err < 0 && err != AVERROR(EAGAIN)) {
    if (ctx->width > 0 && ctx->height > 0) {
      CELMATCH_RETURN_IF_ERROR(CheckPixelLimit(path, ctx->width, ctx->height, limits));
    }
    return CorruptData(path, format, AvErrorText(err));
  }
  avcodec_send_packet(ctx.get(), nullptr);  // flush: single-image decoders may hold the frame
  err = avcodec_receive_frame(ctx.get(), frame.get());
  if (err < 0) return CorruptData(path, format, err == AVERROR_EOF ? "no image" : AvErrorText(err));
  CELMATCH_RETURN_IF_ERROR(CheckPixelLimit(path, frame->width, frame->height, limits));
  CELMATCH_RETURN_IF_ERROR(
      CheckMemoryLimit(path, EstimateImageMemory(frame->width, frame->height, int64_t(bytes.size())), limits));

  // A TGA declares how many of its bits per pixel are alpha (descriptor bits
  // 0-3); with none, FFmpeg's BGRA output carries padding, not alpha.
  const bool ignore_alpha = format == "tga" && bytes.size() >= 18 && (bytes[17] & 0x0F) == 0;
  media_internal::FrameConverter converter;
  cv::Mat bgr;
  const Status st = converter.Convert(frame.get(), &bgr, alpha, ignore_alpha);
  if (!st.ok()) return st.WithPrefix(path);
  return bgr;
}

// Everything after the bytes are in memory; `path` names them in errors.
Result<cv::Mat> DecodeProbedBytes(const std::string& path, const MediaProbe& probe,
                                  const std::vector<uint8_t>& bytes, cv::Mat* alpha,
                                  const MediaLimits& limits, int min_long_side, bool* reduced) {
  const std::string& format = probe.format;
  if (probe.kind == MediaKind::kOther) {
    return Status::Unsupported(path + ": not a recognised image format");
  }
  if (probe.kind == MediaKind::kDocument) return Status::Unsupported(path + ": a PDF document, not an image");
  // Animated GIF/APNG/WebP decode as their first frame; real videos do not.
  const bool first_frame_ok = format == "gif" || format == "apng" || format == "webp" || format == "avif";
  if (probe.kind == MediaKind::kVideo && !first_frame_ok) {
    return Status::Unsupported(path + ": a video (" + format + "), not a still image");
  }
  if (format == "heif") {
    return Status::Unsupported(path + ": HEIF/HEIC images are not supported (no HEVC image decoder)");
  }
  CELMATCH_RETURN_IF_ERROR(CheckHeader(path, format, bytes, limits));

  if (format == "png" || format == "apng" || format == "jpeg" || format == "tiff" ||
      format == "webp" || format == "bmp") {
    return DecodeWithOpenCv(path, format, bytes, alpha, min_long_side, reduced);
  }
  if (format == "avif") return DecodeWithAvif(path, bytes, limits, alpha);
  return DecodeWithFfmpeg(path, format, bytes, limits, alpha);
}

}  // namespace

Result<cv::Mat> DecodeImageWithAlpha(const std::string& path, cv::Mat* alpha, const MediaLimits& limits) {
  if (alpha) alpha->release();
  Result<std::vector<uint8_t>> bytes = ReadImageBytes(path, limits);
  if (!bytes.ok()) return bytes.status();
  return DecodeImageFromBuffer(path, *bytes, alpha, limits);
}

Result<cv::Mat> DecodeImage(const std::string& path, const MediaLimits& limits) {
  return DecodeImageWithAlpha(path, nullptr, limits);
}

Result<std::vector<uint8_t>> ReadImageBytes(const std::string& path, const MediaLimits& limits) {
  try {
    // Probing reads only the head of the file, so a video or an archive
    // handed to the image loader is refused without reading it all.
    Result<MediaProbe> probe = ProbeMedia(path);
    if (!probe.ok()) return probe.status();
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_size == 0) return Status::Corrupt(path + ": empty file (0 bytes)");
    if (probe->kind == MediaKind::kOther) return Status::Unsupported(path + ": not a recognised image format");
    if (probe->kind == MediaKind::kDocument) return Status::Unsupported(path + ": a PDF document, not an image");
    return ReadWholeFile(path, limits);
  } catch (const std::bad_alloc&) {
    return Status::LimitExceeded(path + ": out of memory while reading");
  }
}

Result<cv::Mat> DecodeImageFromBuffer(const std::string& name, const std::vector<uint8_t>& bytes,
                                      cv::Mat* alpha, const MediaLimits& limits, int min_long_side,
                                      bool* reduced) {
  if (alpha) alpha->release();
  if (reduced) *reduced = false;
  try {
    CELMATCH_RETURN_IF_ERROR(CheckFileSizeLimit(name, int64_t(bytes.size()), limits));
    if (bytes.empty()) return Status::Corrupt(name + ": empty file (0 bytes)");
    Result<MediaProbe> probe = ProbeMediaBuffer(name, bytes.data(), bytes.size());
    if (!probe.ok()) return probe.status();
    return DecodeProbedBytes(name, *probe, bytes, alpha, limits, min_long_side, reduced);
  } catch (const cv::Exception& e) {
    return Status::Internal(name + ": OpenCV error while decoding: " + e.err);
  } catch (const std::bad_alloc&) {
    return Status::LimitExceeded(name + ": out of memory while decoding");
  }
}

}  // namespace celmatch
