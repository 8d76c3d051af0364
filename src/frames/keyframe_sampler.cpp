#include "frames/keyframe_sampler.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace celmatch {

bool KeyframeSampler::Offer(const VideoFrame& frame, const PdqResult& pdq) {
  ++offered_;
  bool keep = frames_.empty();
  if (!keep) {
    const SampledFrame& last = frames_.back();
    keep = pdq.hash.Distance(last.pdq.hash) > options_.change_distance ||
           frame.time_s - last.time_s >= options_.max_interval_s - 1e-6;
  }
  if (!keep) {
    SampledFrame& last = frames_.back();
    const PdqHash& latest = last.span_hashes.empty() ? last.pdq.hash : last.span_hashes.back().hash;
    if (options_.span_hash_distance > 0 && pdq.quality >= options_.span_hash_min_quality &&
        pdq.hash.Distance(latest) > options_.span_hash_distance)
      last.span_hashes.push_back(SpanHash{frame.time_s, pdq.hash});
    return false;
  }
  if (!frames_.empty()) frames_.back().span_end_s = frame.time_s;
  SampledFrame s;
  s.time_s = frame.time_s;
  s.span_end_s = frame.time_s;
  s.frame_number = frame.frame_number;
  s.pdq = pdq;
  frames_.push_back(std::move(s));
  return true;
}

void KeyframeSampler::Finish(double end_time_s) {
  if (!frames_.empty()) frames_.back().span_end_s = std::max(end_time_s, frames_.back().time_s);
}

cv::Mat LimitSize(const cv::Mat& bgr, int max_side) {
  const int longer = std::max(bgr.cols, bgr.rows);
  if (max_side <= 0 || longer <= max_side) return bgr.clone();
  const double f = double(max_side) / longer;
  cv::Mat out;
  cv::resize(bgr, out, cv::Size(std::max(1, int(std::lround(bgr.cols * f))), std::max(1, int(std::lround(bgr.rows * f)))),
             0, 0, cv::INTER_AREA);
  return out;
}

namespace {

// One frame's duration from the stream's rate, for closing the last span.
double FrameDuration(const VideoInfo& info, double fallback) {
  return info.frame_rate > 0 ? 1.0 / info.frame_rate : fallback;
}

}  // namespace

Result<std::vector<SampledFrame>> SampleReferenceFrames(
    VideoDecoder& decoder, const PdqHasher& hasher, const KeyframeSamplerOptions& options, int keep_max_side,
    const std::function<void(size_t kept_index, const cv::Mat& bgr)>& on_keep,
    const std::function<void(double time_s, int64_t decoded, size_t kept)>& on_decoded) {
  KeyframeSampler sampler(options);
  VideoFrame frame;
  double last_time = 0, prev_time = 0;
  bool any = false;
  for (;;) {
    Result<bool> next = decoder.Next(&frame);
    if (!next.ok()) return next.status();
    if (!*next) break;
    if (sampler.Offer(frame, hasher.Compute(frame.bgr))) {
      if (keep_max_side > 0) sampler.frames().back().bgr = LimitSize(frame.bgr, keep_max_side);
      if (on_keep) on_keep(sampler.frames().size() - 1, frame.bgr);
    }
    prev_time = last_time;
    last_time = frame.time_s;
    any = true;
    if (on_decoded) on_decoded(frame.time_s, frame.frame_number + 1, sampler.frames().size());
  }
  if (!any) return Status::Corrupt("no decodable video frame");
  const double step = FrameDuration(decoder.info(), std::max(0.0, last_time - prev_time));
  sampler.Finish(last_time + step);
  return std::move(sampler.frames());
}

Result<QuerySamplingResult> SampleQueryFrames(VideoDecoder& decoder, const PdqHasher& hasher,
                                              double interval_s, int max_samples, int keep_max_side) {
  QuerySamplingResult out;
  const double duration = decoder.info().duration_s;
  if (duration > 0 && max_samples > 0 && duration / interval_s > max_samples) {
    interval_s = duration / max_samples;
  }
  VideoFrame frame;
  double next_time = -1e18, last_time = 0, prev_time = 0;
  for (;;) {
    Result<bool> next = decoder.Next(&frame);
    if (!next.ok()) {
      // A clip that decoded some samples before breaking is still matched;
      // one over a limit is not: the limit is what the user must hear about.
      if (!out.samples.empty() && next.status().code() != Status::Code::kLimitExceeded) break;
      return next.status();
    }
    if (!*next) break;
    ++out.frames_decoded;
    prev_time = last_time;
    last_time = frame.time_s;
    if (frame.time_s + 1e-6 < next_time) continue;
    if (max_samples > 0 && int(out.samples.size()) >= max_samples) continue;
    QuerySample s;
    s.time_s = frame.time_s;
    s.pdq = hasher.ComputeDihedral(frame.bgr);
    if (keep_max_side > 0) s.bgr = LimitSize(frame.bgr, keep_max_side);
    out.samples.push_back(std::move(s));
    // The next sample time on the grid after this frame. Arithmetic, not a
    // loop: a hostile timestamp far from zero would absorb interval_s.
    const double base = next_time < -1e17 ? frame.time_s : next_time;
    next_time = base + interval_s;
    if (next_time <= frame.time_s) next_time = base + (std::floor((frame.time_s - base) / interval_s) + 1) * interval_s;
    if (!(next_time > frame.time_s)) next_time = std::nextafter(frame.time_s, HUGE_VAL);
  }
  if (out.frames_decoded == 0) return Status::Corrupt("no decodable video frame");
  out.duration_s = last_time + FrameDuration(decoder.info(), std::max(0.0, last_time - prev_time));
  return out;
}

}  // namespace celmatch
