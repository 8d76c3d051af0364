// PDF documents in a dump (retake notes, storyboards, contact sheets): their
// pages rendered as pictures, so that the frames printed on them can be
// matched like any image (poppler, Debian's libpoppler-cpp).
//
// Pages are rendered whole, text and drawings included, at most
// kPdfPageDpi and at most kPdfPageMaxSide pixels on the longer side: a frame
// printed on an A4 page keeps the size a retake sheet's scan would give it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "media/media_limits.h"

namespace celmatch {

inline constexpr double kPdfPageDpi = 150;
inline constexpr int kPdfPageMaxSide = 2000;

class PdfDocument {
 public:
  // Opens the PDF at `path`, or, when `bytes` is non-null, the PDF in them
  // (kept alive while the document is open); `name` stands for it in
  // messages. Fails, naming the file and the reason, on a damaged or
  // password-protected document.
  static Result<std::unique_ptr<PdfDocument>> Open(const std::string& name, const std::string& path,
                                                   std::shared_ptr<const std::vector<uint8_t>> bytes = nullptr);
  ~PdfDocument();
  PdfDocument(const PdfDocument&) = delete;
  PdfDocument& operator=(const PdfDocument&) = delete;

  int pages() const;
  // Page `index` (0-based) as an 8-bit BGR picture on white, within the
  // pixel and memory limits.
  Result<cv::Mat> RenderPage(int index, const MediaLimits& limits) const;

 private:
  struct Impl;
  explicit PdfDocument(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace celmatch
