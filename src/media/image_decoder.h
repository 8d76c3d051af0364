// The one image loader. Every still image (reference or query) goes through
// DecodeImage, whatever its format.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "media/media_limits.h"

namespace celmatch {

// Decodes a still image to 8-bit BGR (CV_8UC3). Grayscale is expanded to
// three channels; 16-bit is scaled to 8-bit; an alpha channel is composited
// onto white (a transparent cel becomes a drawing on white paper).
// Formats: PNG, JPEG, TIFF, WebP, BMP (OpenCV); GIF (first frame), TGA, PSD
// (FFmpeg); AVIF (libavif). The format is recognised from content.
// Pixel limits are checked from the header before any pixel is decoded.
// Errors name `path`.
Result<cv::Mat> DecodeImage(const std::string& path, const MediaLimits& limits = {});

// Same, but also returns the alpha channel (CV_8UC1, 255 = opaque) when the
// image has one; `alpha` is left empty otherwise.
Result<cv::Mat> DecodeImageWithAlpha(const std::string& path, cv::Mat* alpha,
                                     const MediaLimits& limits = {});

// Same, from bytes already in memory (an archive member, or a file read by
// ReadImageBytes). `name` stands for the file in error messages
// ("dump.zip!/a/b.png"); the size limit applies to `bytes`.
//
// `min_long_side` > 0 asks for a smaller picture where that is cheaper than
// decoding it whole: a JPEG is decoded at 1/2, 1/4 or 1/8 of its size by
// libjpeg's DCT scaling (the largest reduction that keeps the longer side at
// least `min_long_side`), which skips most of the inverse DCT and colour
// conversion. Other formats, and JPEGs too small to reduce, decode whole.
// `reduced`, when given, is set to whether the picture is smaller than the file's.
Result<cv::Mat> DecodeImageFromBuffer(const std::string& name, const std::vector<uint8_t>& bytes,
                                      cv::Mat* alpha = nullptr, const MediaLimits& limits = {},
                                      int min_long_side = 0, bool* reduced = nullptr);

// The bytes of an image file, read once so that they can be decoded more than
// once (DecodeImageWithAlpha is this, then DecodeImageFromBuffer). Refuses,
// naming `path`, a missing, unreadable or empty file, one over the size limit
// and one that is not a recognised image format (probed from its head before
// the rest is read); the decoders check the rest.
Result<std::vector<uint8_t>> ReadImageBytes(const std::string& path, const MediaLimits& limits = {});

}  // namespace celmatch
