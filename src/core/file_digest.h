// Content digest of a file: how the catalog recognises a source it already
// holds, whatever its name.
#pragma once

#include <string>

#include "core/status.h"

namespace celmatch {

// SHA-256 of the file's bytes as 64 lowercase hex digits (libavutil's hash).
Result<std::string> Sha256File(const std::string& path);

}  // namespace celmatch
