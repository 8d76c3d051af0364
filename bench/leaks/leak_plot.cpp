#include "leaks/leak_plot.h"

#include <algorithm>
#include <cstdio>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace celmatch {
namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kFontScale = 0.45;
const cv::Scalar kInk(40, 40, 40);
const cv::Scalar kGrid(215, 215, 215);

std::string RowLabel(const std::string& row) { return row == "all" ? "all transforms" : row; }

}  // namespace

cv::Scalar MethodColor(size_t m) {
  // Distinguishable for colour-blind readers (Okabe-Ito), BGR.
  static const cv::Scalar kColors[] = {
      {178, 114, 0},   // blue: celmatch
      {0, 159, 230},   // orange
      {115, 158, 0},   // bluish green
      {167, 121, 204}, // reddish purple
      {66, 228, 240},  // yellow
      {0, 94, 213},    // vermillion
  };
  return kColors[m % (sizeof kColors / sizeof kColors[0])];
}

cv::Mat PlotRecallPerTransform(const std::vector<MethodScore>& methods, RecallPlotLayout* layout_out) {
  RecallPlotLayout L;
  if (!methods.empty())
    for (const auto& [name, s] : methods.front().score.per_transform)
      if (s.positives > 0) L.rows.push_back(name);
  L.rows.push_back("all");
  const int n_methods = std::max<int>(1, int(methods.size()));
  L.bar_height = 12;
  L.row_height = L.bar_height * n_methods + 6;
  int label_width = 0;
  for (const std::string& r : L.rows) {
    int baseline = 0;
    label_width = std::max(label_width, cv::getTextSize(RowLabel(r), kFont, kFontScale, 1, &baseline).width);
  }
  L.plot_left = label_width + 20;
  L.plot_width = 600;
  const int legend_height = 22 * n_methods + 10;
  const int title_height = 30;
  L.top = title_height + legend_height;
  const int axis_height = 30;
  const int width = L.plot_left + L.plot_width + 60;
  const int height = L.top + L.row_height * int(L.rows.size()) + axis_height;

  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::putText(img, "Recall per transform (at each method's operating threshold)", {10, 20}, kFont, 0.55, kInk, 1,
              cv::LINE_AA);
  for (int m = 0; m < int(methods.size()); ++m) {
    const int y = title_height + 22 * m;
    cv::rectangle(img, cv::Rect(10, y + 4, 28, 12), MethodColor(m), cv::FILLED);
    const std::string text = methods[m].name + (methods[m].operating_point.empty() ? "" : ": " +
                                                    methods[m].operating_point);
    cv::putText(img, text, {46, y + 15}, kFont, kFontScale, kInk, 1, cv::LINE_AA);
  }
  // Vertical grid every 10%, labelled every 20%.
  const int plot_bottom = L.top + L.row_height * int(L.rows.size());
  for (int pct = 0; pct <= 100; pct += 10) {
    const int x = L.plot_left + L.plot_width * pct / 100;
    cv::line(img, {x, L.top}, {x, plot_bottom}, pct == 0 ? kInk : kGrid, 1);
    if (pct % 20 == 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "%d%%", pct);
      cv::putText(img, buf, {x - 12, plot_bottom + 18}, kFont, 0.4, kInk, 1, cv::LINE_AA);
    }
  }
  for (int r = 0; r < int(L.rows.size()); ++r) {
    const int y0 = L.top + r * L.row_height;
    if (r % 2 == 1) {
      cv::Mat band = img(cv::Rect(0, y0, L.plot_left - 2, L.row_height));
      band.setTo(cv::Scalar(245, 245, 245));
    }
    const std::string& name = L.rows[r];
    cv::putText(img, RowLabel(name), {10, y0 + L.row_height / 2 + 5}, kFont, kFontScale, kInk, 1, cv::LINE_AA);
    for (int m = 0; m < int(methods.size()); ++m) {
      const LeakScore& s = methods[m].score;
      TransformScore t = s.total;
      if (name != "all") {
        auto it = s.per_transform.find(name);
        t = it == s.per_transform.end() ? TransformScore() : it->second;
      }
      if (t.positives == 0) continue;
      const int len = int(t.recall() * L.plot_width + 0.5);
      const int y = y0 + m * L.bar_height + 2;
      if (len > 0) cv::rectangle(img, cv::Rect(L.plot_left + 1, y, len, L.bar_height - 4), MethodColor(m), cv::FILLED);
    }
  }
  if (layout_out) *layout_out = L;
  return img;
}

Status WriteRecallPlot(const std::string& png_path, const std::vector<MethodScore>& methods) {
  const cv::Mat img = PlotRecallPerTransform(methods);
  try {
    if (!cv::imwrite(png_path, img)) return Status::IoError(png_path + ": cannot write the plot");
  } catch (const cv::Exception& e) {
    return Status::IoError(png_path + ": cannot write the plot: " + e.what());
  }
  return Status::Ok();
}

}  // namespace celmatch
