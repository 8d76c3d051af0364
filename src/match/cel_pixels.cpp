#include "match/cel_pixels.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "match/thumbnails.h"

namespace celmatch {

namespace {

constexpr int kColourStep = 8;            // colours counted in bins of 8 levels per channel
constexpr int kFlatTolerance = 20;        // a pixel this close (any channel) is the flat colour
constexpr double kMaskMargin = 0.002;     // of the longer side: fringe left out around the flat colour
constexpr double kMinVisibleShare = 0.02; // of the tiny thumbnail: less is not compared
// Coarse ranking: correlation of the visible pixels, lowered when their
// colours are off by more than this (mean absolute difference, gray levels).
constexpr double kCoarseColourSlack = 20;

// A colour's bin: kColourStep levels per channel, 32^3 bins.
int ColourBin(const cv::Vec3b& p) {
  return (p[0] / kColourStep) << 10 | (p[1] / kColourStep) << 5 | (p[2] / kColourStep);
}

cv::Mat Tiny(const cv::Mat& bgr) {
  cv::Mat t;
  cv::resize(bgr, t, cv::Size(CelPixelSearch::kWidth, CelPixelSearch::kHeight), 0, 0, cv::INTER_AREA);
  return t;
}

}  // namespace

cv::Mat FlatRegionMask(const cv::Mat& bgr, double min_share, double* share) {
  if (share) *share = 0;
  if (bgr.empty() || bgr.type() != CV_8UC3) return cv::Mat();
  // Count colours on a picture of at most ~320 pixels across.
  const double s = std::min(1.0, 320.0 / std::max(bgr.cols, bgr.rows));
  cv::Mat small;
  if (s < 1.0) cv::resize(bgr, small, cv::Size(), s, s, cv::INTER_NEAREST);
  else small = bgr;
  std::vector<int> bins(1 << 15, 0);
  for (int y = 0; y < small.rows; ++y) {
    const cv::Vec3b* p = small.ptr<cv::Vec3b>(y);
    for (int x = 0; x < small.cols; ++x) ++bins[size_t(ColourBin(p[x]))];
  }
  const int top = int(std::max_element(bins.begin(), bins.end()) - bins.begin());
  if (share) *share = bins[size_t(top)] / double(small.total());
  if (bins[size_t(top)] < min_share * double(small.total())) return cv::Mat();
  // The flat colour: the mean of the pixels in its bin (JPEG moves it a little).
  cv::Vec3d sum(0, 0, 0);
  int n = 0;
  for (int y = 0; y < small.rows; ++y) {
    const cv::Vec3b* p = small.ptr<cv::Vec3b>(y);
    for (int x = 0; x < small.cols; ++x) {
      if (ColourBin(p[x]) != top) continue;
      sum += cv::Vec3d(p[x][0], p[x][1], p[x][2]);
      ++n;
    }
  }
  const cv::Vec3d c = sum / std::max(1, n);
  cv::Mat mask(bgr.size(), CV_8U);
  for (int y = 0; y < bgr.rows; ++y) {
    const cv::Vec3b* p = bgr.ptr<cv::Vec3b>(y);
    uint8_t* m = mask.ptr<uint8_t>(y);
    for (int x = 0; x < bgr.cols; ++x) {
      const double d = std::max({std::fabs(p[x][0] - c[0]), std::fabs(p[x][1] - c[1]), std::fabs(p[x][2] - c[2])});
      m[x] = d > kFlatTolerance ? 255 : 0;
    }
  }
  const int r = std::max(1, int(std::lround(kMaskMargin * std::max(bgr.cols, bgr.rows))));
  cv::erode(mask, mask, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * r + 1, 2 * r + 1)));
  return mask;
}

Result<std::unique_ptr<CelPixelSearch>> CelPixelSearch::Build(const ReferenceIndex& index, int64_t max_frames) {
  const int64_t n = index.frame_count();
  if (n > max_frames)
    return Status::LimitExceeded("the index has " + std::to_string(n) + " frames, over the cel pixel search's " +
                                 std::to_string(max_frames));
  auto search = std::unique_ptr<CelPixelSearch>(new CelPixelSearch());
  const int row_bytes = kWidth * kHeight * 3;
  search->pixels_.create(int(n), row_bytes, CV_8U);
  int rows = 0;
  for (int64_t id = 0; id < n; ++id) {
    Result<cv::Mat> thumb = DecodedThumbnail(index, id, cv::IMREAD_COLOR);
    if (!thumb.ok()) return thumb.status();
    if (thumb->empty()) continue;
    const SourceRecord& src = index.source(index.frame(id).source_id);
    if (src.width <= 0 || src.height <= 0) continue;
    Tiny(*thumb).reshape(1, 1).copyTo(search->pixels_.row(rows++));
    search->frame_ids_.push_back(id);
    search->aspects_.push_back(double(src.width) / src.height);
  }
  search->pixels_ = search->pixels_.rowRange(0, rows).clone();
  return search;
}

const CelPixelSearch* LazyCelPixelSearch::Get(const ReferenceIndex& index, int64_t max_frames) {
  std::call_once(once_, [&]() {
    Result<std::unique_ptr<CelPixelSearch>> built = CelPixelSearch::Build(index, max_frames);
    if (built.ok() && (*built)->size() > 0) search_ = std::move(*built);
  });
  return search_.get();
}

std::vector<int64_t> CelPixelSearch::Nearest(const cv::Mat& bgr, const cv::Mat& mask, int k) const {
  if (bgr.empty() || mask.size() != bgr.size() || k <= 0 || frame_ids_.empty()) return {};
  const double aspect = double(bgr.cols) / bgr.rows;
  const cv::Mat q = Tiny(bgr);
  cv::Mat m;
  cv::resize(mask, m, q.size(), 0, 0, cv::INTER_AREA);
  // The visible pixels (byte offsets of their first channel) and the
  // picture's values there, centred per channel.
  std::vector<int> at;
  for (int i = 0; i < int(m.total()); ++i)
    if (m.data[i] >= 250) at.push_back(i * 3);
  if (at.size() < kMinVisibleShare * m.total()) return {};
  const double n = double(at.size());  // values per channel
  double qmean[3] = {0, 0, 0};
  for (int o : at)
    for (int ch = 0; ch < 3; ++ch) qmean[ch] += q.data[o + ch];
  for (double& v : qmean) v /= n;
  std::vector<float> qc(at.size() * 3);
  double qq = 0, qc_sum[3] = {0, 0, 0};
  for (size_t j = 0; j < at.size(); ++j) {
    for (int ch = 0; ch < 3; ++ch) {
      const float c = float(q.data[at[j] + ch] - qmean[ch]);
      qc[j * 3 + ch] = c;
      qq += double(c) * c;
      qc_sum[ch] += c;
    }
  }
  if (qq <= 0) return {};

  // Per frame, one pass: the channel sums and sums of squares (exact, in
  // integers), the absolute differences to the picture, and the products
  // with the centred picture; the correlation of the centred values follows
  // (sum (r - mean) qc = sum r qc - mean sum qc).
  std::vector<std::pair<double, int64_t>> ranked;
  for (size_t row = 0; row < frame_ids_.size(); ++row) {
    if (!SameField(aspect, aspects_[row])) continue;
    const uint8_t* r = pixels_.ptr<uint8_t>(int(row));
    int64_t sum[3] = {0, 0, 0}, squares[3] = {0, 0, 0}, mad = 0;
    double qr = 0;
    for (size_t j = 0; j < at.size(); ++j) {
      const uint8_t* rp = r + at[j];
      const uint8_t* qp = q.data + at[j];
      const float* cp = &qc[j * 3];
      for (int ch = 0; ch < 3; ++ch) {
        const int v = rp[ch];
        sum[ch] += v;
        squares[ch] += v * v;
        mad += std::abs(v - int(qp[ch]));
        qr += double(v) * cp[ch];
      }
    }
    double rr = 0;
    for (int ch = 0; ch < 3; ++ch) {
      const double mean = double(sum[ch]) / n;
      rr += double(squares[ch]) - double(sum[ch]) * mean;
      qr -= mean * qc_sum[ch];
    }
    const double corr = rr > 0 ? qr / std::sqrt(qq * rr) : -1;
    const double mean_abs = double(mad) / (3 * n);
    ranked.emplace_back(corr - 0.01 * std::max(0.0, mean_abs - kCoarseColourSlack), frame_ids_[row]);
  }
  const size_t keep = std::min(ranked.size(), size_t(k));
  std::partial_sort(ranked.begin(), ranked.begin() + long(keep), ranked.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int64_t> out;
  for (size_t i = 0; i < keep; ++i) out.push_back(ranked[i].second);
  return out;
}

namespace {
constexpr double kMaxCelMeanDifference = 20;   // gray levels per channel
constexpr double kMinCelStdDev = 8;            // the picture's own contrast
}  // namespace

std::optional<double> CelPixelComparison::Correlation(const cv::Mat& thumb) {
  if (size_ != thumb.size()) {  // prepared at the thumbnails' size, again if it changes
    size_ = thumb.size();
    usable_ = false;
    cv::Mat small, a;
    cv::resize(bgr_, small, size_, 0, 0, cv::INTER_AREA);
    cv::resize(visible_, a, size_, 0, 0, cv::INTER_AREA);
    cv::threshold(a, mask_, 250, 255, cv::THRESH_BINARY);  // interior only: edges mix in the outside
    if (cv::countNonZero(mask_) < kMinCelOpaqueShare * size_.area()) return std::nullopt;
    cv::Scalar mean, sd;
    cv::meanStdDev(small, mean, sd, mask_);
    if ((sd[0] + sd[1] + sd[2]) / 3 < kMinCelStdDev) return std::nullopt;
    small.convertTo(pixels_, CV_32FC3);
    usable_ = true;
  }
  if (!usable_) return std::nullopt;
  cv::Mat ref;
  thumb.convertTo(ref, CV_32FC3);
  cv::Mat diff;
  cv::absdiff(pixels_, ref, diff);
  const cv::Scalar mad = cv::mean(diff, mask_);
  if ((mad[0] + mad[1] + mad[2]) / 3 > kMaxCelMeanDifference) return -1.0;
  const cv::Scalar mq = cv::mean(pixels_, mask_), mr = cv::mean(ref, mask_);
  double sqq = 0, srr = 0, sqr = 0;
  for (int y = 0; y < ref.rows; ++y) {
    const cv::Vec3f* q = pixels_.ptr<cv::Vec3f>(y);
    const cv::Vec3f* r = ref.ptr<cv::Vec3f>(y);
    const uint8_t* m = mask_.ptr<uint8_t>(y);
    for (int x = 0; x < ref.cols; ++x) {
      if (!m[x]) continue;
      for (int ch = 0; ch < 3; ++ch) {
        const double dq = q[x][ch] - mq[ch], dr = r[x][ch] - mr[ch];
        sqq += dq * dq;
        srr += dr * dr;
        sqr += dq * dr;
      }
    }
  }
  if (sqq <= 0 || srr <= 0) return -1.0;
  return sqr / std::sqrt(sqq * srr);
}

const cv::Mat& ScaledGray::AtWidth(int w) const {
  auto [it, inserted] = copies_.try_emplace(w);
  if (inserted) cv::resize(gray_, it->second, SizeAtWidth(w), 0, 0, cv::INTER_AREA);
  return it->second;
}

const cv::Mat& ScaledGray::VisibleAtWidth(int w) const {
  if (visible_.empty()) return visible_;
  auto [it, inserted] = visible_copies_.try_emplace(w);
  if (inserted) it->second = ReducedMask(visible_, SizeAtWidth(w));
  return it->second;
}

const ScaledGray::Spectrum& ScaledGray::SpectrumAtWidth(int w, cv::Size padded) const {
  auto [it, inserted] = spectra_.try_emplace({w, padded.width, padded.height});
  if (inserted) {
    const cv::Mat& small = AtWidth(w);
    cv::Mat z;
    small.convertTo(z, CV_32F);
    cv::Scalar mean, sdv;
    cv::meanStdDev(small, mean, sdv);
    z -= mean[0];
    Spectrum& s = it->second;
    s.variance = sdv[0] * sdv[0];
    s.norm = sdv[0] * std::sqrt(double(small.total()));
    cv::Mat padded_z;
    cv::copyMakeBorder(z, padded_z, 0, padded.height - z.rows, 0, padded.width - z.cols, cv::BORDER_CONSTANT, 0);
    cv::dft(padded_z, s.dft, 0, z.rows);
  }
  return it->second;
}

cv::Mat ReducedMask(const cv::Mat& mask, cv::Size size) {
  cv::Mat reduced;
  cv::resize(mask, reduced, size, 0, 0, cv::INTER_AREA);
  cv::threshold(reduced, reduced, 254, 255, cv::THRESH_BINARY);
  return reduced;
}

namespace {

// A frame's thumbnail prepared for the search at every width
// (LocatePicture): its spectrum, made once for all widths, and the running
// sums that normalise each place's correlation.
struct ThumbnailSpectrum {
  explicit ThumbnailSpectrum(const cv::Mat& gray) : size(gray.size()) {
    padded = cv::Size(cv::getOptimalDFTSize(gray.cols), cv::getOptimalDFTSize(gray.rows));
    // Less its mean: the picture's values sum to zero over any window, so
    // the correlation is the same, and single-precision sums stay small.
    cv::Mat f, padded_f;
    gray.convertTo(f, CV_32F, 1.0, -cv::mean(gray)[0]);
    cv::copyMakeBorder(f, padded_f, 0, padded.height - f.rows, 0, padded.width - f.cols, cv::BORDER_CONSTANT, 0);
    cv::dft(padded_f, dft, 0, f.rows);
    cv::integral(gray, sum, sqsum, CV_64F, CV_64F);
  }
  cv::Size size, padded;
  cv::Mat dft, sum, sqsum;
};

// OpenCV's TM_CCOEFF_NORMED of `picture` (w x h) at every place of the
// thumbnail, computed through their spectra (the thumbnail's transformed
// once, the picture's once per width for every frame: matchTemplate would
// transform both at each call). Same definition, same guards: a flat
// picture correlates 1 everywhere; a place whose window is flat, or whose
// correlation rounding pushes past 1, gets matchTemplate's value.
void CorrelateEverywhere(const ThumbnailSpectrum& t, const ScaledGray::Spectrum& picture, cv::Size size,
                         cv::Mat* scores) {
  const int rows = t.size.height - size.height + 1, cols = t.size.width - size.width + 1;
  scores->create(rows, cols, CV_32F);
  if (picture.variance < DBL_EPSILON) {
    scores->setTo(1);
    return;
  }
  cv::Mat product, correlation;
  cv::mulSpectrums(t.dft, picture.dft, product, 0, /*conjB=*/true);
  cv::dft(product, correlation, cv::DFT_INVERSE | cv::DFT_SCALE | cv::DFT_REAL_OUTPUT, rows);
  const double area = double(size.area());
  for (int y = 0; y < rows; ++y) {
    const double *s0 = t.sum.ptr<double>(y), *s1 = t.sum.ptr<double>(y + size.height);
    const double *q0 = t.sqsum.ptr<double>(y), *q1 = t.sqsum.ptr<double>(y + size.height);
    const float* c = correlation.ptr<float>(y);
    float* out = scores->ptr<float>(y);
    for (int x = 0; x < cols; ++x) {
      const int x1 = x + size.width;
      const double window_sum = s1[x1] - s1[x] - s0[x1] + s0[x];
      const double window_sum2 = q1[x1] - q1[x] - q0[x1] + q0[x];
      const double norm = std::sqrt(std::max(window_sum2 - window_sum * window_sum / area, 0.0)) * picture.norm;
      const double num = c[x];
      if (std::fabs(num) < norm) out[x] = float(num / norm);
      else if (std::fabs(num) < norm * 1.125) out[x] = num > 0 ? 1.f : -1.f;
      else out[x] = 0;
    }
  }
}

// One width of the search for a picture's place: `gray` reduced to `w`
// pixels wide (its aspect kept) and correlated at every position inside
// `within` (thumbnail pixels). When it correlates better than `*ncc`, sets
// `*ncc` and `*place` (query pixels -> reference pixels) and returns true.
// `spectrum`: the thumbnail's, when `within` is all of it and the picture
// has no mask (LocatePicture's search; RefinePlace's few places, and a
// masked picture, go through matchTemplate).
bool BetterPlaceAtWidth(const ScaledGray& scaled, cv::Size reference_size, const cv::Mat& thumb_gray, cv::Rect within,
                        int w, double* ncc, cv::Matx33d* place, const ThumbnailSpectrum* spectrum = nullptr) {
  const cv::Mat& gray = scaled.picture();
  const int h = scaled.SizeAtWidth(w).height;
  if (w < 8 || h < 8 || w > within.width || h > within.height) return false;
  cv::Mat scores;
  const cv::Mat& visible = scaled.VisibleAtWidth(w);
  if (visible.empty() && spectrum) {  // every place of the whole thumbnail
    CorrelateEverywhere(*spectrum, scaled.SpectrumAtWidth(w, spectrum->padded), cv::Size(w, h), &scores);
  } else if (visible.empty()) {
    cv::matchTemplate(thumb_gray(within), scaled.AtWidth(w), scores, cv::TM_CCOEFF_NORMED);
  } else {
    // Only the visible pixels are compared; too few of them say nothing.
    if (cv::countNonZero(visible) < kMinLocatedVisiblePixels) return false;
    if (within.width - w == 0 && within.height - h == 3) {
      // OpenCV 4.6's masked search fails on a 1x4 result (it takes a
      // four-element column for a scalar); the transposed search is the same
      // correlation with a 4x1 result.
      cv::Mat image_t, template_t, visible_t, scores_t;
      cv::transpose(thumb_gray(within), image_t);
      cv::transpose(scaled.AtWidth(w), template_t);
      cv::transpose(visible, visible_t);
      cv::matchTemplate(image_t, template_t, scores_t, cv::TM_CCOEFF_NORMED, visible_t);
      cv::transpose(scores_t, scores);
    } else {
      cv::matchTemplate(thumb_gray(within), scaled.AtWidth(w), scores, cv::TM_CCOEFF_NORMED, visible);
    }
    cv::patchNaNs(scores, -1);  // places where the visible pixels or the thumbnail's under them are flat
  }
  double max_value = 0;
  cv::Point at;
  cv::minMaxLoc(scores, nullptr, &max_value, nullptr, &at);
  if (!std::isfinite(max_value) || max_value <= *ncc) return false;
  *ncc = max_value;
  // Query pixels -> thumbnail pixels -> reference pixels.
  const double rx = double(reference_size.width) / thumb_gray.cols, ry = double(reference_size.height) / thumb_gray.rows;
  const double ax = double(w) / gray.cols, ay = double(h) / gray.rows;
  *place = cv::Matx33d(ax * rx, 0, (within.x + at.x) * rx, 0, ay * ry, (within.y + at.y) * ry, 0, 0, 1);
  return true;
}

}  // namespace

std::optional<cv::Matx33d> LocatePicture(const ScaledGray& scaled, cv::Size reference_size, const cv::Mat& thumb_gray,
                                         double* ncc) {
  const cv::Mat& gray = scaled.picture();
  *ncc = -1;
  if (gray.empty() || thumb_gray.empty() || reference_size.area() <= 0) return std::nullopt;
  std::optional<cv::Matx33d> best;
  const cv::Rect whole(0, 0, thumb_gray.cols, thumb_gray.rows);
  // Searched by its visible pixels only: matchTemplate's masked search.
  std::optional<ThumbnailSpectrum> spectrum;
  if (!scaled.masked()) spectrum.emplace(thumb_gray);
  cv::Matx33d place;
  for (double share = kLocateMinShare; share <= 1.0 + 1e-9; share *= kLocateStep) {
    if (BetterPlaceAtWidth(scaled, reference_size, thumb_gray, whole, int(std::lround(share * thumb_gray.cols)), ncc,
                           &place, spectrum ? &*spectrum : nullptr))
      best = place;
  }
  return best;
}

cv::Matx33d RefinePlace(const ScaledGray& scaled, cv::Size reference_size, const cv::Mat& thumb_gray,
                        const cv::Matx33d& place, double* ncc) {
  const cv::Mat& gray = scaled.picture();
  *ncc = -1;
  if (gray.empty() || thumb_gray.empty() || reference_size.area() <= 0) return place;
  const double rx = double(reference_size.width) / thumb_gray.cols, ry = double(reference_size.height) / thumb_gray.rows;
  // The coarse place on the thumbnail: its centre and width.
  const double width = place(0, 0) * gray.cols / rx;
  const double cx = place(0, 2) / rx + width / 2, cy = place(1, 2) / ry + place(1, 1) * gray.rows / ry / 2;
  cv::Matx33d best = place;
  for (double f = 1 / kLocateStep; f <= kLocateStep + 1e-9; f *= kRefineStep) {
    const int w = int(std::lround(width * f));
    const int h = int(std::lround(double(w) * gray.rows / gray.cols));
    // The positions within reach of the centre, inside the thumbnail.
    const int x0 = std::max(0, int(std::lround(cx - w / 2.0)) - kRefineReach);
    const int y0 = std::max(0, int(std::lround(cy - h / 2.0)) - kRefineReach);
    const int x1 = std::min(thumb_gray.cols, int(std::lround(cx - w / 2.0)) + kRefineReach + w);
    const int y1 = std::min(thumb_gray.rows, int(std::lround(cy - h / 2.0)) + kRefineReach + h);
    if (x1 <= x0 || y1 <= y0) continue;
    BetterPlaceAtWidth(scaled, reference_size, thumb_gray, cv::Rect(x0, y0, x1 - x0, y1 - y0), w, ncc, &best);
  }
  return best;
}

std::optional<double> PlacedPixelCorrelation(const cv::Mat& bgr, const cv::Matx33d& query_to_reference,
                                             cv::Size reference_size, const cv::Mat& thumb, const cv::Mat& visible) {
  if (bgr.empty() || thumb.empty() || reference_size.area() <= 0) return std::nullopt;
  // Query pixels -> thumbnail pixels.
  const cv::Matx33d to_thumb(double(thumb.cols) / reference_size.width, 0, 0,
                             0, double(thumb.rows) / reference_size.height, 0, 0, 0, 1);
  cv::Matx33d h = to_thumb * query_to_reference;
  // Reduce the picture to about the thumbnail's scale first: a perspective
  // warp samples, it does not average, and would alias a large picture.
  const double det = h(0, 0) * h(1, 1) - h(0, 1) * h(1, 0);
  const double scale = std::sqrt(std::fabs(det));  // thumbnail px per query px
  cv::Mat src = bgr, shown = visible.empty() ? cv::Mat(bgr.size(), CV_8U, cv::Scalar(255)) : visible;
  if (scale > 0 && scale < 0.5) {
    cv::resize(bgr, src, cv::Size(), scale, scale, cv::INTER_AREA);
    shown = visible.empty() ? cv::Mat(src.size(), CV_8U, cv::Scalar(255)) : ReducedMask(visible, src.size());
    const double sx = double(bgr.cols) / src.cols, sy = double(bgr.rows) / src.rows;
    h = h * cv::Matx33d(sx, 0, 0, 0, sy, 0, 0, 0, 1);
  }
  cv::Mat warped, landed;
  cv::warpPerspective(src, warped, h, thumb.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  cv::warpPerspective(shown, landed, h, thumb.size(), cv::INTER_NEAREST, cv::BORDER_CONSTANT);
  // The picture's own border mixes in the outside under interpolation.
  cv::erode(landed, landed, cv::Mat());
  return CelPixelComparison(warped, landed).Correlation(thumb);
}

}  // namespace celmatch
