#include "match/thumbnails.h"

#include <vector>

#include <opencv2/imgcodecs.hpp>

namespace celmatch {

Result<cv::Mat> DecodedThumbnail(const ReferenceIndex& index, int64_t frame_id, int imread_flags) {
  Result<std::vector<uint8_t>> jpeg = index.Thumbnail(frame_id);
  if (!jpeg.ok()) return jpeg.status();
  if (jpeg->empty()) return cv::Mat();
  try {
    return cv::imdecode(*jpeg, imread_flags);
  } catch (const cv::Exception&) {
    return cv::Mat();
  }
}

}  // namespace celmatch
