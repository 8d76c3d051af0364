// Local features: ORB keypoints with 256-bit binary descriptors, the signature
// that survives what a whole-frame hash does not (crops, a frame pasted on a
// sheet or into a player window, annotations, small rotations, a character
// layer without its background). Matching them is search (index/
// feature_index.h) then geometric verification (match/geometric_verifier.h).
//
// Two layers describe a reference frame:
//   kColor  the frame itself (its gray levels);
//   kLine   its line representation (LineRepresentation: edges of the colour
//           regions, dark on white), which is what a clean-up drawing or a
//           pencil line test looks like, so line-art queries match it.
//
// Thread-safe: Extract may run on many threads at once.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

namespace celmatch {

enum class FeatureLayer : int { kColor = 0, kLine = 1 };
inline constexpr int kFeatureLayers = 2;
const char* FeatureLayerName(FeatureLayer layer);  // "color", "line"

// ORB descriptor size: 256 bits.
inline constexpr int kFeatureBytes = 32;

struct LocalFeatures {
  // Keypoint positions in the pixels of the image given to Extract (not of
  // the downscaled copy features were computed on).
  std::vector<cv::Point2f> points;
  cv::Mat descriptors;            // points.size() x kFeatureBytes, CV_8U; row i is point i
  int width = 0, height = 0;      // the image's size, pixels
  size_t size() const { return points.size(); }
};

struct LocalFeatureOptions {
  int max_features = 400;
  // Features are computed on a copy whose longer side is at most this many
  // pixels (never upscaled): keeps the cost per frame flat, and ORB's
  // 8-level pyramid (scale 1.2: 3.6x) covers the scale gap between a
  // reference at this size and a crop or a frame shrunk onto a sheet.
  int work_max_side = 640;
  // Keypoints are spread over a grid of cells x cells so a crop of a
  // quarter of the frame still holds a quarter of them (ORB alone piles
  // them onto the most textured spot).
  int grid_cells = 8;
  int fast_threshold = 12;        // FAST corner threshold (cartoons are flat: lower than ORB's 20)
};

class LocalFeatureExtractor {
 public:
  explicit LocalFeatureExtractor(LocalFeatureOptions options = {}) : options_(options) {}

  // `image`: CV_8UC3 BGR or CV_8UC1 gray, any size. `mask` (optional,
  // CV_8UC1, image size): features only where it is nonzero, at least a
  // descriptor patch's radius inside (a transparent cel's background must
  // not be described).
  LocalFeatures Extract(const cv::Mat& image, const cv::Mat& mask = cv::Mat()) const;

  // The same in two steps, for a picture described twice (as it is and as
  // its mirror image): the gray picture and its mask reduced to the working
  // size once, then described. Mirrored: the features of the picture flipped
  // left to right, in the mirror's pixels; the reduced picture is flipped
  // (area reduction commutes with the flip up to rounding), so a large
  // picture is converted and reduced once.
  struct WorkPicture {
    cv::Mat gray;        // CV_8UC1, at most work_max_side
    cv::Mat mask;        // CV_8UC1 of gray's size, or empty
    double scale = 1.0;  // work pixels per picture pixel
    int width = 0, height = 0;  // the picture's size
  };
  WorkPicture Prepare(const cv::Mat& image, const cv::Mat& mask = cv::Mat()) const;
  LocalFeatures Extract(const WorkPicture& work, bool mirrored) const;

  const LocalFeatureOptions& options() const { return options_; }

 private:
  LocalFeatureOptions options_;
};

// The line drawing of a colour frame: gray (CV_8UC1), edges of colour regions
// as dark lines on white, at the frame's size.
cv::Mat LineRepresentation(const cv::Mat& bgr);

// True for a picture that looks like line art rather than a coloured frame:
// mostly white paper, nearly no colour, a small share of dark strokes.
// Such a picture is searched in the reference line layers too.
bool LooksLikeLineArt(const cv::Mat& bgr);

// A wider net: lines in any colour on white or tinted paper, evenly lit or
// not, denser strokes. True for most line art LooksLikeLineArt misses, and
// for some sheets and pale frames too, so it only decides whether the
// redrawn description (CanonicalLineArt) is worth a try when nothing else
// verified.
bool LooksLikeLinesOnPaper(const cv::Mat& bgr);

// A line-art picture redrawn the one way reference line layers are drawn,
// whatever pipeline drew it: strokes (pixels darker than the paper around
// them, in any colour, on white or tinted paper) are thinned to their centre
// line, areas inked solid keep their outline, and both are drawn 2 pixels
// wide, dark on white (CV_8UC1). Computed on a copy at most `max_side`
// pixels on its longer side (0: as it is), so stroke width does not depend
// on the picture's resolution; the result has that copy's size.
cv::Mat CanonicalLineArt(const cv::Mat& image, int max_side);

// How much darker each pixel of a drawing is than the paper around it
// (CV_8U, 0 on paper), in the picture's darkest channel: strokes in any
// pencil colour are ink, a tint or light falling off across a scan is not.
// `radius` (pixels) is the widest stroke measured whole.
cv::Mat InkOverPaper(const cv::Mat& image, int radius);

}  // namespace celmatch
