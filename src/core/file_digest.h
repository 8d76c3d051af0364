// Content digest of a file: how the catalog recognises a source it already
// holds, whatever its name.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace celmatch {

// SHA-256 of the file's bytes as 64 lowercase hex digits (libavutil's hash).
Result<std::string> Sha256File(const std::string& path);

// SHA-256 of bytes in memory, as 64 lowercase hex digits (digests of hash
// lists, Content-Security-Policy script hashes).
std::string Sha256Hex(std::string_view bytes);

}  // namespace celmatch
