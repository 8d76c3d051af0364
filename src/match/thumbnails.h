// Thumbnails: the catalog's JPEG thumbnail of a reference frame, decoded
// (what the matcher's whole-frame time refinement and the cel pixel step
// compare queries with), and the small JPEG of a query the report shows.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "index/reference_index.h"

namespace celmatch {

// The thumbnail of `frame_id` decoded with `imread_flags` (cv::IMREAD_COLOR,
// cv::IMREAD_GRAYSCALE). An empty picture when the frame has none or its
// bytes do not decode; an error only when the catalog cannot be read.
Result<cv::Mat> DecodedThumbnail(const ReferenceIndex& index, int64_t frame_id, int imread_flags);

// A query picture as a JPEG of at most `max_side` pixels a side (quality
// 75): small enough that a report over thousands of files stays in memory.
// Empty for an empty picture.
std::vector<uint8_t> QueryThumbnail(const cv::Mat& bgr, int max_side);

}  // namespace celmatch
