// A bar chart of recall per transform, one bar per method, drawn with
// OpenCV: what `celmatch bench score --plot FILE.png` writes, so the
// side-by-side table can be looked at rather than read.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/status.h"
#include "leaks/leak_score.h"

namespace celmatch {

struct RecallPlotLayout {
  int row_height = 0;      // pixels per transform row (all its bars)
  int bar_height = 0;      // pixels per method's bar
  int plot_left = 0;       // x of recall 0
  int plot_width = 0;      // pixels from recall 0 to recall 1
  int top = 0;             // y of the first row
  std::vector<std::string> rows;  // transform names, top to bottom ("all" last)
};

// Rows: the transforms of the first method that have positives, then "all".
// Bars of method m in row r span y = top + r*row_height + m*bar_height + 2
// over bar_height - 4 pixels, and x = plot_left .. plot_left + recall*plot_width.
cv::Mat PlotRecallPerTransform(const std::vector<MethodScore>& methods, RecallPlotLayout* layout = nullptr);

// The colour of method m's bars (BGR), also used in the legend.
cv::Scalar MethodColor(size_t m);

Status WriteRecallPlot(const std::string& png_path, const std::vector<MethodScore>& methods);

}  // namespace celmatch
