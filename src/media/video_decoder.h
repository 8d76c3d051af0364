// The one video decoder: FFmpeg's libavformat/libavcodec, used in-process.
//
// Not thread-safe: one VideoDecoder per thread. Different decoders may run on
// different threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "media/media_limits.h"

namespace celmatch {

struct VideoInfo {
  std::string container;   // FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  std::string codec;       // e.g. "h264", "vp8", "gif"
  int width = 0;           // pixels
  int height = 0;
  double duration_s = 0;   // 0 when the container does not say
  double frame_rate = 0;   // average frames per second, 0 when unknown
};

struct VideoFrame {
  cv::Mat bgr;             // CV_8UC3; alpha (GIF, WebP) composited onto white
  double time_s = 0;       // presentation time from the stream start, from pts
  int64_t frame_number = 0;  // 0-based index in decode output order
};

class VideoDecoder {
 public:
  // Opens the first video stream of `path`. Errors name the file.
  // `threads`: FFmpeg's own decoding threads (1: callers parallelise across
  // files; more: one file decoded on several cores, as `ffmpeg` does).
  static Result<std::unique_ptr<VideoDecoder>> Open(const std::string& path,
                                                    const MediaLimits& limits = {}, int threads = 1);
  // Same over bytes in memory (an archive member), read through a custom
  // AVIOContext; `name` stands for them in errors. The decoder shares
  // ownership of `bytes`.
  static Result<std::unique_ptr<VideoDecoder>> OpenBuffer(const std::string& name,
                                                          std::shared_ptr<const std::vector<uint8_t>> bytes,
                                                          const MediaLimits& limits = {});
  virtual ~VideoDecoder() = default;

  virtual const VideoInfo& info() const = 0;

  // Decodes the next frame in presentation order. Returns true and fills
  // `frame`, false at the end of the stream, or an error (corrupt data
  // that the decoder cannot get past, a limit exceeded). Timestamps are
  // seconds from the stream's first pts (so the first frame is ~0), taken
  // from best_effort_timestamp; frames without one get the previous time
  // plus one frame duration.
  virtual Result<bool> Next(VideoFrame* frame) = 0;
};

}  // namespace celmatch
