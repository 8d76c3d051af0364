#include "match/thumbnails.h"

#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "frames/keyframe_sampler.h"

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

std::vector<uint8_t> QueryThumbnail(const cv::Mat& bgr, int max_side) {
  std::vector<uint8_t> jpeg;
  if (!bgr.empty()) cv::imencode(".jpg", LimitSize(bgr, max_side), jpeg, {cv::IMWRITE_JPEG_QUALITY, 75});
  return jpeg;
}

}  // namespace celmatch
