#include "media/pdf_document.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <mutex>

#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-image.h>
#include <poppler/cpp/poppler-page-renderer.h>
#include <poppler/cpp/poppler-page.h>

namespace celmatch {

namespace {

// poppler's global state (its parameters, font and error handling) is not
// documented as safe across threads, so every call into it holds this lock.
// Rendering is about a sixth of a page's cost (bench/RESULTS.md, "PDF
// documents"); matching runs unlocked.
std::mutex& PopplerLock() {
  static std::mutex lock;
  return lock;
}

// poppler writes its complaints to standard error by default; they are kept
// instead (under PopplerLock) and the first one joins the file's message.
std::string& PopplerMessage() {
  static std::string message;
  return message;
}

void KeepPopplerMessage(const std::string& message, void*) {
  if (PopplerMessage().empty()) PopplerMessage() = message;
}

// Takes the lock and starts a fresh message.
std::unique_lock<std::mutex> LockPoppler() {
  std::unique_lock<std::mutex> held(PopplerLock());
  static const bool quiet = [] {
    poppler::set_debug_error_function(&KeepPopplerMessage, nullptr);
    return true;
  }();
  (void)quiet;
  PopplerMessage().clear();
  return held;
}

std::string Because() {
  return PopplerMessage().empty() ? std::string() : " (" + PopplerMessage() + ")";
}

}  // namespace

struct PdfDocument::Impl {
  std::string name;
  std::shared_ptr<const std::vector<uint8_t>> bytes;  // the document's bytes when read from memory
  std::unique_ptr<poppler::document> doc;
};

PdfDocument::PdfDocument(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PdfDocument::~PdfDocument() {
  auto held = LockPoppler();
  impl_->doc.reset();
}

Result<std::unique_ptr<PdfDocument>> PdfDocument::Open(const std::string& name, const std::string& path,
                                                       std::shared_ptr<const std::vector<uint8_t>> bytes) {
  auto impl = std::make_unique<Impl>();
  impl->name = name;
  impl->bytes = std::move(bytes);
  auto held = LockPoppler();
  if (impl->bytes) {
    if (impl->bytes->size() > size_t(INT_MAX))
      return Status::LimitExceeded(name + ": a PDF over 2 GiB held in memory (not opened)");
    impl->doc.reset(poppler::document::load_from_raw_data(reinterpret_cast<const char*>(impl->bytes->data()),
                                                          int(impl->bytes->size())));
  } else {
    impl->doc.reset(poppler::document::load_from_file(path));
  }
  if (!impl->doc) return Status::Corrupt(name + ": not a readable PDF" + Because());
  if (impl->doc->is_locked()) return Status::Unsupported(name + ": a password-protected PDF (not opened)");
  if (impl->doc->pages() <= 0) return Status::Corrupt(name + ": a PDF without pages");
  return std::unique_ptr<PdfDocument>(new PdfDocument(std::move(impl)));
}

int PdfDocument::pages() const {
  auto held = LockPoppler();
  return impl_->doc->pages();
}

Result<cv::Mat> PdfDocument::RenderPage(int index, const MediaLimits& limits) const {
  const std::string page_name = impl_->name + ": page " + std::to_string(index + 1);
  auto held = LockPoppler();
  std::unique_ptr<poppler::page> page(impl_->doc->create_page(index));
  if (!page) return Status::Corrupt(page_name + ": cannot be read" + Because());
  const poppler::rectf box = page->page_rect();
  const double longer = std::max(box.width(), box.height());
  if (!(box.width() > 0 && box.height() > 0 && std::isfinite(longer)))
    return Status::Corrupt(page_name + ": no page size");
  const double dpi = std::min(kPdfPageDpi, kPdfPageMaxSide * 72.0 / longer);
  const int64_t width = int64_t(std::ceil(box.width() * dpi / 72.0));
  const int64_t height = int64_t(std::ceil(box.height() * dpi / 72.0));
  CELMATCH_RETURN_IF_ERROR(CheckPixelLimit(page_name, width, height, limits));
  CELMATCH_RETURN_IF_ERROR(CheckMemoryLimit(page_name, EstimateImageMemory(width, height, 0), limits));
  poppler::page_renderer renderer;
  renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
  renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
  renderer.set_image_format(poppler::image::format_bgr24);
  poppler::image picture = renderer.render_page(page.get(), dpi, dpi);
  if (!picture.is_valid() || picture.width() <= 0 || picture.height() <= 0)
    return Status::Corrupt(page_name + ": cannot be rendered" + Because());
  cv::Mat bgr(picture.height(), picture.width(), CV_8UC3, const_cast<char*>(picture.const_data()),
              size_t(picture.bytes_per_row()));
  return bgr.clone();
}

}  // namespace celmatch
