#include "media/frame_convert.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace celmatch::media_internal {

void AvCodecContextDeleter::operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
void AvFrameDeleter::operator()(AVFrame* p) const { av_frame_free(&p); }
void AvPacketDeleter::operator()(AVPacket* p) const { av_packet_free(&p); }

std::string AvErrorText(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof buf);
  return buf;
}

cv::Mat CompositeOntoWhite(const cv::Mat& bgra, cv::Mat* alpha) {
  CV_Assert(bgra.type() == CV_8UC4);
  cv::Mat out(bgra.rows, bgra.cols, CV_8UC3);
  cv::Mat a;
  if (alpha) a.create(bgra.rows, bgra.cols, CV_8UC1);
  for (int y = 0; y < bgra.rows; ++y) {
    const uint8_t* s = bgra.ptr<uint8_t>(y);
    uint8_t* d = out.ptr<uint8_t>(y);
    uint8_t* ap = alpha ? a.ptr<uint8_t>(y) : nullptr;
    for (int x = 0; x < bgra.cols; ++x, s += 4, d += 3) {
      const unsigned al = s[3], paper = 255u * (255u - al) + 127u;
      // Exact rounding of (c*a + 255*(255-a)) / 255.
      d[0] = uint8_t((s[0] * al + paper) / 255u);
      d[1] = uint8_t((s[1] * al + paper) / 255u);
      d[2] = uint8_t((s[2] * al + paper) / 255u);
      if (ap) ap[x] = uint8_t(al);
    }
  }
  if (alpha) *alpha = a;
  return out;
}

cv::Mat ToBgr8(const cv::Mat& in, cv::Mat* alpha) {
  if (alpha) alpha->release();
  cv::Mat m8;
  switch (in.depth()) {
    case CV_8U: m8 = in; break;
    case CV_8S: in.convertTo(m8, CV_8U, 1.0, 128.0); break;
    case CV_16U: in.convertTo(m8, CV_8U, 1.0 / 257.0); break;
    case CV_16S: in.convertTo(m8, CV_8U, 1.0 / 257.0, 128.0); break;
    case CV_32S: in.convertTo(m8, CV_8U, 1.0 / 16843009.0); break;
    default: in.convertTo(m8, CV_8U, 255.0); break;  // float and double: 0..1
  }
  cv::Mat out;
  switch (m8.channels()) {
    case 1: cv::cvtColor(m8, out, cv::COLOR_GRAY2BGR); return out;
    case 2: {
      cv::Mat planes[2];
      cv::split(m8, planes);
      cv::Mat bgra;
      cv::Mat four[4] = {planes[0], planes[0], planes[0], planes[1]};
      cv::merge(four, 4, bgra);
      return CompositeOntoWhite(bgra, alpha);
    }
    case 3: return m8;
    case 4: return CompositeOntoWhite(m8, alpha);
    default: {
      // More samples than BGRA (e.g. a multi-sample TIFF): keep the first three.
      cv::Mat bgr(m8.size(), CV_8UC3);
      const int from_to[] = {0, 0, 1, 1, 2, 2};
      cv::mixChannels(&m8, 1, &bgr, 1, from_to, 3);
      return bgr;
    }
  }
}

namespace {

bool HasAlphaChannel(AVPixelFormat fmt) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt);
  return d && (d->flags & (AV_PIX_FMT_FLAG_ALPHA | AV_PIX_FMT_FLAG_PAL));
}

bool IsYuv(AVPixelFormat fmt) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt);
  return d && !(d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) && d->nb_components >= 3;
}

bool IsFullRangeJpegFormat(AVPixelFormat fmt) {
  return fmt == AV_PIX_FMT_YUVJ420P || fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUVJ444P ||
         fmt == AV_PIX_FMT_YUVJ440P || fmt == AV_PIX_FMT_YUVJ411P;
}

// swscale's SWS_CS_* numbers follow AVColorSpace; unspecified colour spaces
// get the usual guess (BT.709 for HD, BT.601 below).
int SwsColorspace(const AVFrame* f) {
  switch (f->colorspace) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: return SWS_CS_ITU601;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return f->height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
  }
}

}  // namespace

FrameConverter::~FrameConverter() { sws_freeContext(sws_); }

Status FrameConverter::Convert(const AVFrame* frame, cv::Mat* bgr, cv::Mat* alpha, bool ignore_alpha) {
  const auto fmt = AVPixelFormat(frame->format);
  const int w = frame->width, h = frame->height;
  if (w <= 0 || h <= 0 || fmt == AV_PIX_FMT_NONE) {
    return Status::Corrupt("decoder returned an empty frame");
  }
  const int cs = SwsColorspace(frame);
  const int range = (frame->color_range == AVCOL_RANGE_JPEG || IsFullRangeJpegFormat(fmt)) ? 1 : 0;
  if (!sws_ || w != width_ || h != height_ || fmt != format_ || cs != colorspace_ || range != range_ ||
      ignore_alpha != ignore_alpha_) {
    sws_freeContext(sws_);
    to_bgra_ = HasAlphaChannel(fmt) && !ignore_alpha;
    ignore_alpha_ = ignore_alpha;
    // No scaling happens; the flags only pick how chroma is upsampled.
    sws_ = sws_getContext(w, h, fmt, w, h, to_bgra_ ? AV_PIX_FMT_BGRA : AV_PIX_FMT_BGR24,
                          SWS_BILINEAR | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
    if (!sws_) {
      const char* name = av_get_pix_fmt_name(fmt);
      return Status::Unsupported(std::string("cannot convert pixel format ") + (name ? name : "?"));
    }
    if (IsYuv(fmt)) {
      sws_setColorspaceDetails(sws_, sws_getCoefficients(cs), range,
                               sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    }
    width_ = w, height_ = h, format_ = fmt, colorspace_ = cs, range_ = range;
  }

  const int channels = to_bgra_ ? 4 : 3;
  cv::Mat out(h, w, CV_MAKETYPE(CV_8U, channels));
  // swscale wants 16-byte aligned rows (cv::Mat's buffer itself is 64-byte
  // aligned); when a row is not, convert into padded rows and copy.
  const bool aligned = (size_t(w) * channels) % 16 == 0;
  cv::Mat target = out;
  if (!aligned) {
    const int padded = int((size_t(w) * channels + 15) / 16 * 16);
    if (scratch_.rows != h || scratch_.cols != padded) scratch_.create(h, padded, CV_8UC1);
    target = scratch_;
  }
  uint8_t* dst[4] = {target.data, nullptr, nullptr, nullptr};
  int dst_stride[4] = {int(target.step[0]), 0, 0, 0};
  sws_scale(sws_, frame->data, frame->linesize, 0, h, dst, dst_stride);
  if (!aligned) {
    cv::Mat(h, w, out.type(), scratch_.data, scratch_.step[0]).copyTo(out);
  }

  if (!to_bgra_) {
    *bgr = out;
    if (alpha) alpha->release();
    return Status::Ok();
  }
  cv::Mat a;
  *bgr = CompositeOntoWhite(out, &a);
  if (alpha) {
    double min_alpha = 255;
    if (fmt == AV_PIX_FMT_PAL8) cv::minMaxLoc(a, &min_alpha);
    if (fmt == AV_PIX_FMT_PAL8 && min_alpha >= 255) {
      alpha->release();
    } else {
      *alpha = a;
    }
  }
  return Status::Ok();
}

}  // namespace celmatch::media_internal
