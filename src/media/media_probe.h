// Recognises what a file holds from its content (magic bytes, then FFmpeg's
// prober), never from its extension.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace celmatch {

// kDocument: a PDF, whose pages are pictures (media/pdf_document.h).
enum class MediaKind { kImage, kVideo, kDocument, kOther };

const char* MediaKindName(MediaKind kind);  // "image", "video", "document", "other"

struct MediaProbe {
  MediaKind kind = MediaKind::kOther;
  // Short container/codec name: "png", "jpeg", "tiff", "webp", "gif", "bmp",
  // "tga", "psd", "avif", "mp4", "matroska", "avi", ..., "pdf". Empty for kOther.
  std::string format;
};

// Reads the first bytes of `path` (and, for containers, lets FFmpeg probe
// them). Still images are kImage; anything with a time axis (video
// containers, animated GIF/WebP/APNG with more than one frame) is kVideo;
// a PDF is kDocument; text, archives and unknown bytes are kOther. Fails only when the file
// cannot be read (I/O error, permission).
Result<MediaProbe> ProbeMedia(const std::string& path);

// Same for bytes in memory (an archive member); `name` stands for them in
// error messages.
Result<MediaProbe> ProbeMediaBuffer(const std::string& name, const uint8_t* data, size_t size);

}  // namespace celmatch
