// Pixel evidence for pictures that show part of a reference frame at its own
// place on the frame's field: a cel (a layer with transparency, or the same
// layer flattened onto a flat colour) and a frame with a region blanked out.
// Local features find such pictures only when the visible part is textured
// enough; the pixels themselves say more, because they sit exactly where
// they sat in the frame.
//
// CelPixelSearch holds every reference frame as a tiny colour thumbnail
// (kWidth x kHeight) and ranks all of them against the query's visible
// pixels: a whole-index scan, 3.9 KB of memory per frame. The matcher then compares the best few at the catalog
// thumbnail's resolution and decides (matcher_features.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "index/reference_index.h"

namespace celmatch {

// For an opaque picture: where it shows content (255) when a large part of it
// is one flat colour (a cel flattened onto a background colour, a blanked
// region): the pixels away from that colour, shrunk by a margin so that
// compression fringes along the colour's edge are left out. Empty when no
// single colour covers at least `min_share` of the picture. `share`, when
// given, receives the share that colour covers (also when it is too small).
constexpr double kMinFlatShare = 0.2;
cv::Mat FlatRegionMask(const cv::Mat& bgr, double min_share = kMinFlatShare, double* share = nullptr);

// A mask (CV_8U, 255 = counts) reduced to `size`: a pixel counts only when
// all that it covers counted.
cv::Mat ReducedMask(const cv::Mat& mask, cv::Size size);

// The verifier: a picture's visible pixels against a reference frame's
// thumbnail at the same place. Both the normalised correlation (shape) and
// the mean absolute difference (colour) must say "the same pixels"; a flat
// picture (sky, a wall) is not identifiable this way and is not compared.
constexpr double kMinCelCorrelation = 0.85;    // decision threshold (score 0.5)
constexpr double kMinCelOpaqueShare = 0.02;    // of the picture: less visible is not compared

class CelPixelComparison {
 public:
  // `visible`: CV_8U of `bgr`'s size, 255 where the picture shows content.
  CelPixelComparison(const cv::Mat& bgr, const cv::Mat& visible) : bgr_(bgr), visible_(visible) {}
  // Correlation of the visible pixels with `thumb` (CV_8UC3), -1..1: -1 when
  // the colours differ. nullopt when the picture, at the thumbnail's size,
  // is too flat or too little of it is visible: no frame can be compared.
  std::optional<double> Correlation(const cv::Mat& thumb);

 private:
  cv::Mat bgr_, visible_;
  cv::Size size_;    // of the prepared pixels
  bool usable_ = false;
  cv::Mat pixels_;   // CV_32FC3 at size_
  cv::Mat mask_;     // CV_8U, 255 where fully visible
};

// The same comparison for a picture a homography places on a reference
// frame (a crop, a picture on a sheet): `bgr` warped by `query_to_reference`
// (query pixels -> the reference frame's pixels, `reference_size`) onto
// `thumb`, compared where it lands. nullopt as above: too flat, too little
// of it lands on the frame. `visible` (CV_8U, `bgr`'s size, 255 = shows
// content; empty: all of it) leaves out a blanked part of the picture.
std::optional<double> PlacedPixelCorrelation(const cv::Mat& bgr, const cv::Matx33d& query_to_reference,
                                             cv::Size reference_size, const cv::Mat& thumb,
                                             const cv::Mat& visible = cv::Mat());

// A gray picture and its copies at other widths (aspect kept: `w` wide,
// round(w * rows / cols) high; area interpolation), each made at its first
// use: the located step searches one picture over many frames' thumbnails
// at the same widths. With a `visible` mask (CV_8U, the picture's size, 255
// = shows content; a blanked region is 0), the copies carry the mask too,
// reduced so that a pixel counts only when all it covers is visible, and
// the search compares those pixels only. Not for sharing between threads.
class ScaledGray {
 public:
  explicit ScaledGray(cv::Mat gray, cv::Mat visible = cv::Mat()) : gray_(std::move(gray)), visible_(std::move(visible)) {}
  const cv::Mat& picture() const { return gray_; }
  bool masked() const { return !visible_.empty(); }
  cv::Size SizeAtWidth(int w) const { return cv::Size(w, int(std::lround(double(w) * gray_.rows / gray_.cols))); }
  const cv::Mat& AtWidth(int w) const;
  // The mask of AtWidth(w); empty when the picture has none.
  const cv::Mat& VisibleAtWidth(int w) const;
  // AtWidth(w) less its mean, zero-padded to `padded` and transformed (a
  // real DFT, CCS-packed), with its norm (the root of its sum of squares):
  // LocatePicture correlates it with every frame's thumbnail of that
  // padded size, so it is made once for all of them.
  struct Spectrum {
    cv::Mat dft;
    double norm = 0;
    double variance = 0;  // per pixel; 0: a flat picture at this width
  };
  const Spectrum& SpectrumAtWidth(int w, cv::Size padded) const;

 private:
  cv::Mat gray_, visible_;
  mutable std::map<int, cv::Mat> copies_, visible_copies_;
  mutable std::map<std::tuple<int, int, int>, Spectrum> spectra_;
};

// Where a picture that shows part of a reference frame's field, upright and
// unstretched (a crop at an unknown place and scale), lies on the frame,
// found without keypoints: the picture's gray levels reduced to each of a
// range of widths (kLocateMinShare of the thumbnail's width up to all of
// it, steps of kLocateStep) are correlated (normalised, OpenCV's
// TM_CCOEFF_NORMED) at every position of `thumb_gray` (the frame's catalog
// thumbnail, gray). A crop of a flat region holds few keypoints, so no
// homography places it; its pixels still do when it has some contrast. The
// place that correlates best, as query pixels -> the reference frame's
// pixels (`reference_size`), and that correlation in `*ncc`; nullopt when
// the picture does not fit the thumbnail at any width. The place proves
// nothing alone (a search over every place and width finds some agreement
// anywhere): PlacedPixelCorrelation compares the colour picture there.
// Its decision threshold (PlacedPixelCorrelation at the place found),
// stricter than kMinCelCorrelation: the place was searched for, not given.
constexpr double kMinLocatedCorrelation = 0.9;
// A picture searched by its visible pixels only (ScaledGray's mask): at a
// width where fewer of them remain, that width is not searched.
constexpr int kMinLocatedVisiblePixels = 64;
constexpr double kLocateMinShare = 0.25;
constexpr double kLocateStep = 1.12;
std::optional<cv::Matx33d> LocatePicture(const ScaledGray& gray, cv::Size reference_size, const cv::Mat& thumb_gray,
                                         double* ncc);
// The place `place` (as LocatePicture gives it, found on a coarser pair)
// searched again on a sharper one: widths within one kLocateStep of it in
// steps of kRefineStep, positions within kRefineReach thumbnail pixels of
// its centre. Widths kLocateStep apart leave a crop's edges up to 6% of its
// width off, enough to blur the pixel comparison that decides. The best
// place and its correlation in `*ncc`; `place` itself when none fits.
constexpr double kRefineStep = 1.02;
constexpr int kRefineReach = 3;
cv::Matx33d RefinePlace(const ScaledGray& gray, cv::Size reference_size, const cv::Mat& thumb_gray,
                        const cv::Matx33d& place, double* ncc);

class CelPixelSearch {
 public:
  static constexpr int kWidth = 48;
  static constexpr int kHeight = 27;

  // Tiny thumbnails of all of `index`'s frames, from the catalog's
  // thumbnails; frames without one are left out. At most `max_frames`
  // frames (kLimitExceeded beyond: the caller falls back to other
  // candidates).
  static Result<std::unique_ptr<CelPixelSearch>> Build(const ReferenceIndex& index, int64_t max_frames);

  // The `k` frames (ids) whose pixels under `mask` (CV_8U, 255 = counts, the
  // size of `bgr`) agree best with `bgr`'s at the same place, best first.
  // Only frames whose source has `bgr`'s aspect ratio (within 2%) are
  // ranked. Empty when the mask leaves too little to compare.
  std::vector<int64_t> Nearest(const cv::Mat& bgr, const cv::Mat& mask, int k) const;

  size_t size() const { return frame_ids_.size(); }

  // A picture of aspect ratio `picture` (width / height) can lie on the
  // field of a frame of aspect ratio `frame`: within 2%.
  static bool SameField(double picture, double frame) { return std::fabs(picture - frame) <= 0.02 * frame; }

 private:
  std::vector<int64_t> frame_ids_;
  std::vector<double> aspects_; // width / height of each frame's source
  cv::Mat pixels_;              // one row per frame: kWidth * kHeight * 3 bytes
};

// A CelPixelSearch built on first use, once, by whichever thread asks first
// (most dumps hold no cel, and building reads every thumbnail).
class LazyCelPixelSearch {
 public:
  // Null when the index is too large or has no thumbnails.
  const CelPixelSearch* Get(const ReferenceIndex& index, int64_t max_frames);

 private:
  std::once_flag once_;
  std::unique_ptr<CelPixelSearch> search_;
};

}  // namespace celmatch
