// A picture's edge layout: how strongly it changes, cell by cell, on a coarse
// grid over the whole picture. Colour grading, contrast, softness and
// recompression move pixels and keypoints a long way but leave the layout
// where it was, and a line drawing of a frame has its lines where the frame's
// colour regions meet, so its layout agrees with the frame's too. The matcher
// compares layouts only for pictures that cover a reference frame's whole
// field (same aspect ratio) and only for the few frames the learned embedding
// proposes (matcher_embedding.cpp): on its own, a coarse layout is far too
// weak to search an index with.
#pragma once

#include <opencv2/core.hpp>

namespace celmatch {

class EdgeLayout {
 public:
  static constexpr int kWidth = 32;
  static constexpr int kHeight = 18;

  // The layout of `picture` (BGR, BGRA or gray, any size; aspect ratio not
  // kept: the grid spans the whole picture). Empty for an empty picture or
  // one without any edge.
  static EdgeLayout Of(const cv::Mat& picture);
  // The layout of a line drawing (dark strokes on light paper): where its
  // strokes are, their ink pooled on the same grid. A line-art query is
  // compared with the line drawing of the reference frame
  // (signatures/local_features.h LineRepresentation) this way: ink against
  // ink agrees better than ink against a colour frame's gradients.
  static EdgeLayout OfStrokes(const cv::Mat& drawing);

  bool empty() const { return cells_.empty(); }

  // Normalised cross-correlation of two layouts, -1..1; 0 when either is
  // empty.
  double Agreement(const EdgeLayout& other) const;

 private:
  static EdgeLayout Normalised(cv::Mat cells);
  cv::Mat cells_;  // CV_32F kHeight x kWidth, zero mean, unit L2 norm
};

}  // namespace celmatch
