// Internal to the media stage (image_decoder.cpp, video_decoder.cpp): how
// decoded pixels from OpenCV, libavif and FFmpeg become celmatch's one pixel
// format, 8-bit BGR with any alpha composited onto white. Not for use outside
// src/media.
#pragma once

#include <memory>
#include <string>

#include <opencv2/core.hpp>

#include "core/status.h"

extern "C" {
struct AVCodecContext;
struct AVFrame;
struct AVPacket;
struct SwsContext;
}

namespace celmatch::media_internal {

// Owning handles for FFmpeg objects; the deleters accept null.
struct AvCodecContextDeleter { void operator()(AVCodecContext* p) const; };
struct AvFrameDeleter { void operator()(AVFrame* p) const; };
struct AvPacketDeleter { void operator()(AVPacket* p) const; };
using CodecContextPtr = std::unique_ptr<AVCodecContext, AvCodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, AvFrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, AvPacketDeleter>;

// FFmpeg's text for an AVERROR code.
std::string AvErrorText(int err);

// BGRA (CV_8UC4) over white paper: c' = c*a + 255*(1-a). Returns CV_8UC3;
// `alpha`, when not null, receives the alpha plane (CV_8UC1).
cv::Mat CompositeOntoWhite(const cv::Mat& bgra, cv::Mat* alpha);

// Any matrix OpenCV or libavif decode (1-4 channels; 8, 16-bit or float
// depth, float taken as 0..1) to CV_8UC3. Two channels are gray + alpha,
// four are BGRA. `alpha` receives the alpha plane when there is one and is
// released otherwise.
cv::Mat ToBgr8(const cv::Mat& in, cv::Mat* alpha);

// Converts decoded FFmpeg frames to BGR. Keeps one swscale context between
// calls, rebuilt when the frame's size, pixel format or colour space
// changes. Not thread-safe; one per decoder.
class FrameConverter {
 public:
  FrameConverter() = default;
  ~FrameConverter();
  FrameConverter(const FrameConverter&) = delete;
  FrameConverter& operator=(const FrameConverter&) = delete;

  // `bgr` gets a new continuous CV_8UC3 matrix. Formats that can carry
  // alpha (RGBA, YUVA, palettes) are composited onto white; `alpha`, when
  // not null, receives the alpha plane for those and is released for the
  // others (a palette with no transparent entry counts as no alpha).
  // `ignore_alpha` drops the alpha channel instead, for files whose header
  // says their fourth byte is padding.
  Status Convert(const AVFrame* frame, cv::Mat* bgr, cv::Mat* alpha, bool ignore_alpha = false);

 private:
  SwsContext* sws_ = nullptr;
  int width_ = 0, height_ = 0, format_ = -1, colorspace_ = -1, range_ = -1;
  bool to_bgra_ = false, ignore_alpha_ = false;
  cv::Mat scratch_;  // 16-byte aligned rows for swscale when the output's are not
};

}  // namespace celmatch::media_internal
