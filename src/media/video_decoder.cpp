#include "media/video_decoder.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/imgutils.h>
#include <libavutil/mem.h>
}

#include "media/frame_convert.h"
#include "media/media_probe.h"

namespace celmatch {
namespace {

using media_internal::AvErrorText;
using media_internal::CodecContextPtr;
using media_internal::FrameConverter;
using media_internal::FramePtr;
using media_internal::PacketPtr;
using Clock = std::chrono::steady_clock;

struct FormatContextDeleter {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;

// Custom I/O is not freed by avformat_close_input; the context and its
// (possibly reallocated) buffer are ours.
struct AvioContextDeleter {
  void operator()(AVIOContext* p) const {
    if (p) av_freep(&p->buffer);
    avio_context_free(&p);
  }
};
using AvioContextPtr = std::unique_ptr<AVIOContext, AvioContextDeleter>;

// Read and seek callbacks over bytes in memory (an archive member).
struct MemoryReader {
  std::shared_ptr<const std::vector<uint8_t>> bytes;
  int64_t pos = 0;

  static int Read(void* opaque, uint8_t* buf, int size) {
    auto* r = static_cast<MemoryReader*>(opaque);
    const int64_t total = int64_t(r->bytes->size());
    const int64_t n = std::min<int64_t>(size, total - r->pos);
    if (n <= 0) return AVERROR_EOF;
    std::memcpy(buf, r->bytes->data() + r->pos, size_t(n));
    r->pos += n;
    return int(n);
  }
  static int64_t Seek(void* opaque, int64_t offset, int whence) {
    auto* r = static_cast<MemoryReader*>(opaque);
    const int64_t total = int64_t(r->bytes->size());
    int64_t target;
    switch (whence & ~AVSEEK_FORCE) {
      case AVSEEK_SIZE: return total;
      case SEEK_SET: target = offset; break;
      case SEEK_CUR: target = r->pos + offset; break;
      case SEEK_END: target = total + offset; break;
      default: return AVERROR(EINVAL);
    }
    if (target < 0 || target > total) return AVERROR(EINVAL);
    r->pos = target;
    return target;
  }
};

// Frees the per-stream option dictionaries avformat_find_stream_info takes.
class StreamOptions {
 public:
  StreamOptions(unsigned n, const MediaLimits& limits) : dicts_(n, nullptr) {
    for (AVDictionary*& d : dicts_) {
      av_dict_set(&d, "threads", "1", 0);
      if (limits.max_pixels > 0) av_dict_set_int(&d, "max_pixels", limits.max_pixels, 0);
    }
  }
  ~StreamOptions() {
    for (AVDictionary*& d : dicts_) av_dict_free(&d);
  }
  StreamOptions(const StreamOptions&) = delete;
  StreamOptions& operator=(const StreamOptions&) = delete;
  AVDictionary** data() { return dicts_.empty() ? nullptr : dicts_.data(); }

 private:
  std::vector<AVDictionary*> dicts_;
};

class FfmpegVideoDecoder final : public VideoDecoder {
 public:
  FfmpegVideoDecoder(std::string path, const MediaLimits& limits,
                     std::shared_ptr<const std::vector<uint8_t>> bytes = nullptr, int threads = 1)
      : path_(std::move(path)), limits_(limits), threads_(std::max(1, threads)) {
    memory_.bytes = std::move(bytes);
  }

  Status Open();
  const VideoInfo& info() const override { return info_; }
  Result<bool> Next(VideoFrame* frame) override;

 private:
  // Called by libavformat inside blocking I/O and demuxing; a non-zero
  // return aborts the call with AVERROR_EXIT.
  static int Interrupt(void* self) { return static_cast<FfmpegVideoDecoder*>(self)->TimeIsUp() ? 1 : 0; }
  bool TimeIsUp() const { return Clock::now() > deadline_; }
  Status TimeLimit() const;
  int64_t MemoryEstimate() const;
  Result<bool> Emit(VideoFrame* out);
  Result<bool> Finish();

  std::string path_;
  MediaLimits limits_;
  int threads_;
  VideoInfo info_;
  Clock::time_point deadline_ = Clock::time_point::max();

  MemoryReader memory_;  // bytes non-null: decode from memory instead of path_
  AvioContextPtr avio_;  // declared before format_: must outlive it
  FormatContextPtr format_;
  CodecContextPtr codec_;
  FramePtr frame_;
  PacketPtr packet_;
  FrameConverter converter_;
  int stream_index_ = -1;
  AVRational time_base_{0, 1};

  int64_t start_pts_ = AV_NOPTS_VALUE;  // subtracted from every timestamp
  double frame_duration_s_ = 1.0 / 25;  // for frames without a timestamp
  double last_time_s_ = 0;
  int64_t frames_out_ = 0;

  bool packet_pending_ = false;  // packet_ holds data the decoder refused with EAGAIN
  bool draining_ = false;        // the NULL packet has been sent
  bool finished_ = false;
  int64_t bad_packets_ = 0;
  std::string last_error_;
};

Status FfmpegVideoDecoder::TimeLimit() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", limits_.max_decode_wall_s);
  return Status::LimitExceeded(path_ + ": decoding took longer than " + buf +
                               " s (max_decode_wall_s)");
}

// Decoded frames the codec may hold at once: its reference buffer (the
// worst case its standard allows, since the stream's own figure is not known
// before decoding), the reordering delay, the frame being decoded and the
// one handed out.
int64_t FfmpegVideoDecoder::MemoryEstimate() const {
  const int w = std::max(codec_->width, 1), h = std::max(codec_->height, 1);
  int frame_bytes = codec_->pix_fmt == AV_PIX_FMT_NONE ? -1 : av_image_get_buffer_size(codec_->pix_fmt, w, h, 1);
  if (frame_bytes <= 0) frame_bytes = int(std::min<int64_t>(int64_t(w) * h * 8, INT32_MAX));  // unknown: 16-bit RGBA
  int refs = 2;
  switch (codec_->codec_id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_HEVC: refs = 16; break;
    case AV_CODEC_ID_VP9:
    case AV_CODEC_ID_AV1: refs = 8; break;
    default: break;
  }
  refs = std::max(refs, codec_->refs);
  return EstimateVideoMemory(w, h, frame_bytes, refs + std::max(codec_->has_b_frames, 0) + 2);
}

Status FfmpegVideoDecoder::Open() {
  int64_t file_bytes = 0;
  if (memory_.bytes) {
    file_bytes = int64_t(memory_.bytes->size());
  } else {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT) return Status::NotFound(path_ + ": no such file");
      return Status::IoError(path_ + ": cannot stat: " + std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) return Status::IoError(path_ + ": is a directory");
    file_bytes = int64_t(st.st_size);
  }
  CELMATCH_RETURN_IF_ERROR(CheckFileSizeLimit(path_, file_bytes, limits_));
  if (file_bytes == 0) return Status::Corrupt(path_ + ": empty file (0 bytes)");

  if (limits_.max_decode_wall_s > 0) {
    deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(limits_.max_decode_wall_s));
  }

  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) return Status::Internal(path_ + ": out of memory");
  raw->interrupt_callback.callback = &FfmpegVideoDecoder::Interrupt;
  raw->interrupt_callback.opaque = this;
  if (memory_.bytes) {
    constexpr int kAvioBufferBytes = 64 * 1024;
    auto* buffer = static_cast<unsigned char*>(av_malloc(kAvioBufferBytes));
    if (buffer) {
      avio_.reset(avio_alloc_context(buffer, kAvioBufferBytes, 0, &memory_, &MemoryReader::Read, nullptr,
                                     &MemoryReader::Seek));
    }
    if (!avio_) {
      av_free(buffer);
      avformat_free_context(raw);
      return Status::Internal(path_ + ": out of memory");
    }
    raw->pb = avio_.get();
    raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  }
  // The name is withheld for memory input so that no file is opened.
  int err = avformat_open_input(&raw, memory_.bytes ? "" : path_.c_str(), nullptr, nullptr);  // frees raw on failure
  if (err < 0) {
    if (TimeIsUp()) return TimeLimit();
    if (err == AVERROR(ENOENT)) return Status::NotFound(path_ + ": no such file");
    if (err == AVERROR(EACCES)) return Status::IoError(path_ + ": permission denied");
    if (err == AVERROR_INVALIDDATA) return Status::Corrupt(path_ + ": not a recognised video container");
    return Status::Corrupt(path_ + ": cannot open: " + AvErrorText(err));
  }
  format_.reset(raw);

  // Sizes the container declares. A decoder that refuses a frame over
  // max_pixels during avformat_find_stream_info leaves the size unset, so
  // the declared one is kept for the check below.
  std::vector<std::pair<int, int>> declared(format_->nb_streams);
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    declared[i] = {format_->streams[i]->codecpar->width, format_->streams[i]->codecpar->height};
  }
  {
    // Reading stream parameters decodes a few frames: the same limits apply.
    StreamOptions options(format_->nb_streams, limits_);
    (void)avformat_find_stream_info(format_.get(), options.data());
  }
  if (TimeIsUp()) return TimeLimit();
  // A failure here is not fatal: the stream may still decode (FFmpeg's own
  // tools go on the same way).

  stream_index_ = av_find_best_stream(format_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream_index_ >= 0 &&
      (format_->streams[stream_index_]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
    stream_index_ = -1;  // cover art is a picture, not the video
    for (unsigned i = 0; i < format_->nb_streams; ++i) {
      const AVStream* s = format_->streams[i];
      if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(s->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
        stream_index_ = int(i);
        break;
      }
    }
  }
  if (stream_index_ < 0) return Status::Unsupported(path_ + ": no video stream");
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    if (int(i) != stream_index_) format_->streams[i]->discard = AVDISCARD_ALL;
  }

  AVStream* stream = format_->streams[stream_index_];
  const AVCodecParameters* par = stream->codecpar;
  if (size_t(stream_index_) < declared.size()) {
    const auto [w, h] = declared[stream_index_];
    if (w > 0 && h > 0) CELMATCH_RETURN_IF_ERROR(CheckPixelLimit(path_, w, h, limits_));
  }
  if (par->width > 0 && par->height > 0) {
    CELMATCH_RETURN_IF_ERROR(CheckPixelLimit(path_, par->width, par->height, limits_));
  }
  if (par->codec_id == AV_CODEC_ID_WEBP) {
    Result<MediaProbe> probe = memory_.bytes ? ProbeMediaBuffer(path_, memory_.bytes->data(), memory_.bytes->size())
                                             : ProbeMedia(path_);
    if (probe.ok() && probe->kind == MediaKind::kVideo) {
      return Status::Unsupported(path_ + ": animated WebP is not supported by this FFmpeg build");
    }
  }
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (!codec) {
    return Status::Unsupported(path_ + ": no decoder for video codec " + avcodec_get_name(par->codec_id));
  }
  codec_.reset(avcodec_alloc_context3(codec));
  frame_.reset(av_frame_alloc());
  packet_.reset(av_packet_alloc());
  if (!codec_ || !frame_ || !packet_) return Status::Internal(path_ + ": out of memory");
  err = avcodec_parameters_to_context(codec_.get(), par);
  if (err < 0) return Status::Internal(path_ + ": bad codec parameters: " + AvErrorText(err));
  codec_->thread_count = threads_;  // 1 by default: callers parallelise across files
  if (limits_.max_pixels > 0) codec_->max_pixels = limits_.max_pixels;
  codec_->pkt_timebase = stream->time_base;
  err = avcodec_open2(codec_.get(), codec, nullptr);
  if (err < 0) {
    return Status::Unsupported(path_ + ": cannot open the " + codec->name + " decoder: " + AvErrorText(err));
  }

  CELMATCH_RETURN_IF_ERROR(CheckMemoryLimit(path_, MemoryEstimate(), limits_));

  time_base_ = stream->time_base;
  start_pts_ = stream->start_time;  // AV_NOPTS_VALUE: taken from the first frame instead

  info_.container = format_->iformat->name;
  info_.codec = avcodec_get_name(par->codec_id);
  info_.width = par->width > 0 ? par->width : codec_->width;
  info_.height = par->height > 0 ? par->height : codec_->height;
  if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0) {
    info_.duration_s = double(stream->duration) * av_q2d(stream->time_base);
  } else if (format_->duration != AV_NOPTS_VALUE && format_->duration > 0) {
    info_.duration_s = double(format_->duration) / AV_TIME_BASE;
  }
  AVRational rate = stream->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = stream->r_frame_rate;
  if (rate.num > 0 && rate.den > 0) info_.frame_rate = av_q2d(rate);
  const AVRational guess = av_guess_frame_rate(format_.get(), stream, nullptr);
  if (info_.frame_rate > 0) frame_duration_s_ = 1.0 / info_.frame_rate;
  else if (guess.num > 0 && guess.den > 0) frame_duration_s_ = av_q2d(av_inv_q(guess));
  return Status::Ok();
}

Result<bool> FfmpegVideoDecoder::Emit(VideoFrame* out) {
  if (limits_.max_frames > 0 && frames_out_ >= limits_.max_frames) {
    av_frame_unref(frame_.get());
    return Status::LimitExceeded(path_ + ": more than " + std::to_string(limits_.max_frames) +
                                 " frames (max_frames)");
  }
  const Status dims = CheckPixelLimit(path_, frame_->width, frame_->height, limits_);
  if (!dims.ok()) {
    av_frame_unref(frame_.get());
    return dims;
  }
  const int64_t ts = frame_->best_effort_timestamp;
  double t;
  if (ts != AV_NOPTS_VALUE) {
    if (start_pts_ == AV_NOPTS_VALUE) start_pts_ = ts;
    // In double: a hostile file's timestamps can be anywhere in int64, and
    // their difference would overflow.
    t = (double(ts) - double(start_pts_)) * av_q2d(time_base_);
  }
  if (ts == AV_NOPTS_VALUE || !std::isfinite(t)) t = frames_out_ == 0 ? 0.0 : last_time_s_ + frame_duration_s_;
  const Status converted = converter_.Convert(frame_.get(), &out->bgr, nullptr);
  av_frame_unref(frame_.get());
  if (!converted.ok()) return converted.WithPrefix(path_);
  out->time_s = t;
  out->frame_number = frames_out_++;
  last_time_s_ = t;
  return true;
}

Result<bool> FfmpegVideoDecoder::Finish() {
  finished_ = true;
  if (frames_out_ > 0) return false;
  if (bad_packets_ > 0) {
    return Status::Corrupt(path_ + ": no frame could be decoded (" + std::to_string(bad_packets_) +
                           " corrupt packets; last error: " + last_error_ + ")");
  }
  return Status::Corrupt(path_ + ": the video stream holds no decodable frame" +
                         (last_error_.empty() ? std::string() : " (" + last_error_ + ")"));
}

Result<bool> FfmpegVideoDecoder::Next(VideoFrame* out) {
  if (finished_) return false;
  try {
    int drain_errors = 0;
    for (;;) {
      if (TimeIsUp()) return TimeLimit();
      int err = avcodec_receive_frame(codec_.get(), frame_.get());
      if (err == 0) return Emit(out);
      if (err == AVERROR_EOF) return Finish();
      if (err != AVERROR(EAGAIN)) {
        // A frame the decoder could not reconstruct; it has dropped it and
        // goes on with the next input.
        ++bad_packets_;
        last_error_ = AvErrorText(err);
        if (draining_) {
          if (++drain_errors > 1000) return Finish();
          continue;
        }
      }
      if (draining_) return Finish();  // EAGAIN after the NULL packet: nothing more will come

      if (!packet_pending_) {
        err = av_read_frame(format_.get(), packet_.get());
        if (err < 0) {
          if (TimeIsUp()) return TimeLimit();
          // A read error mid-file (truncated download, damaged container)
          // ends the stream like EOF: what decoded so far is kept.
          if (err != AVERROR_EOF) last_error_ = AvErrorText(err);
          avcodec_send_packet(codec_.get(), nullptr);
          draining_ = true;
          continue;
        }
        if (packet_->stream_index != stream_index_) {
          av_packet_unref(packet_.get());
          continue;
        }
        packet_pending_ = true;
      }
      err = avcodec_send_packet(codec_.get(), packet_.get());
      if (err == AVERROR(EAGAIN)) continue;  // receive first, then resend this packet
      av_packet_unref(packet_.get());
      packet_pending_ = false;
      if (err == AVERROR(ENOMEM)) return Status::LimitExceeded(path_ + ": out of memory while decoding");
      if (err < 0) {
        // Skip the damaged packet; the next keyframe resynchronises.
        ++bad_packets_;
        last_error_ = AvErrorText(err);
      }
    }
  } catch (const cv::Exception& e) {
    return Status::Internal(path_ + ": OpenCV error while converting a frame: " + e.err);
  } catch (const std::bad_alloc&) {
    return Status::LimitExceeded(path_ + ": out of memory while decoding");
  }
}

}  // namespace

Result<std::unique_ptr<VideoDecoder>> VideoDecoder::OpenBuffer(const std::string& name,
                                                               std::shared_ptr<const std::vector<uint8_t>> bytes,
                                                               const MediaLimits& limits) {
  if (!bytes) return Status::InvalidArgument(name + ": no data");
  auto decoder = std::make_unique<FfmpegVideoDecoder>(name, limits, std::move(bytes));
  const Status st = decoder->Open();
  if (!st.ok()) return st;
  return std::unique_ptr<VideoDecoder>(std::move(decoder));
}

Result<std::unique_ptr<VideoDecoder>> VideoDecoder::Open(const std::string& path, const MediaLimits& limits,
                                                         int threads) {
  // The decoder's address is the interrupt callback's opaque pointer, so it
  // is allocated before libavformat sees it and never moves.
  auto decoder = std::make_unique<FfmpegVideoDecoder>(path, limits, nullptr, threads);
  const Status st = decoder->Open();
  if (!st.ok()) return st;
  return std::unique_ptr<VideoDecoder>(std::move(decoder));
}

}  // namespace celmatch
