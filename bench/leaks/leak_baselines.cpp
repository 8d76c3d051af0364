#include "leaks/leak_baselines.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>

#include <opencv2/img_hash.hpp>
#include <opencv2/imgproc.hpp>

#include "core/thread_pool.h"
#include "media/image_decoder.h"
#include "media/media_probe.h"
#include "media/video_decoder.h"

namespace fs = std::filesystem;

namespace celmatch {

namespace {

using Clock = std::chrono::steady_clock;
double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct TimedFrame {
  double time_s = 0;
  cv::Mat bgr;
};

// Calls `take` with the first frame at or after each multiple of
// `interval_s` (every frame when it is 0), or with a still once at time -1.
Status SampleFrames(const std::string& path, double interval_s, const MediaLimits& limits, bool* is_still,
                    const std::function<void(double, const cv::Mat&)>& take) {
  Result<MediaProbe> probe = ProbeMedia(path);
  if (!probe.ok()) return probe.status();
  *is_still = probe->kind == MediaKind::kImage;
  if (probe->kind == MediaKind::kImage) {
    Result<cv::Mat> img = DecodeImage(path, limits);
    if (!img.ok()) return img.status();
    take(-1.0, *img);
    return Status::Ok();
  }
  if (probe->kind != MediaKind::kVideo) return Status::Unsupported(path + ": neither an image nor a video");
  Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(path, limits);
  if (!dec.ok()) return dec.status();
  VideoFrame f;
  double next = 0;
  for (;;) {
    Result<bool> r = (*dec)->Next(&f);
    if (!r.ok()) return r.status();
    if (!*r) break;
    if (f.time_s + 1e-6 < next) continue;
    take(f.time_s, f.bgr);
    if (interval_s > 0)
      while (next <= f.time_s + 1e-6) next += interval_s;
  }
  return Status::Ok();
}

Status SampleFrames(const std::string& path, double interval_s, const MediaLimits& limits,
                    std::vector<TimedFrame>* out, bool* is_still) {
  return SampleFrames(path, interval_s, limits, is_still,
                      [&](double t, const cv::Mat& bgr) { out->push_back({t, bgr.clone()}); });
}

int PopCount64(uint64_t a, uint64_t b) { return std::popcount(a ^ b); }

// Per source: the best (lowest) distance of one query hash and the frame.
struct SourceBest {
  int distance = 1 << 20;
  int frame = -1;
};

ReportedMatch MakeMatch(const BaselineReferences& refs, int frame, double query_time_s, double score) {
  const BaselineFrame& f = refs.frames[size_t(frame)];
  const BaselineSource& s = refs.sources[size_t(f.source_index)];
  ReportedMatch m;
  m.production = s.production;
  m.source = s.source;
  m.score = score;
  if (!s.is_still) {
    m.has_time = true;
    // A clip's time is its start: the matched reference time minus the
    // query frame's own time.
    m.time_s = std::max(0.0, f.time_s - std::max(0.0, query_time_s));
  }
  return m;
}

// Orders by score and counts the sources within `margin` (in score units)
// of the best as tied.
void Finish(QueryOutcome* q, double margin) {
  std::stable_sort(q->matches.begin(), q->matches.end(),
                   [](const ReportedMatch& a, const ReportedMatch& b) { return a.score > b.score; });
  q->status = q->matches.empty() ? "no_match" : "match";
  q->tied_sources = 0;
  for (const ReportedMatch& m : q->matches)
    if (m.score >= q->matches[0].score - margin - 1e-9) ++q->tied_sources;
  q->tied_sources = std::max(1, q->tied_sources);
}

// vPDQ: per query frame, the best frame of each source within the distance.
QueryOutcome MatchVpdq(const BaselineReferences& refs, const std::vector<TimedFrame>& frames,
                       const std::vector<PdqResult>& hashes, const BaselineOptions& o) {
  const size_t nsrc = refs.sources.size();
  std::vector<int> matched(nsrc, 0);
  std::vector<double> distance_sum(nsrc, 0);
  std::vector<SourceBest> best(nsrc);
  std::vector<double> best_query_time(nsrc, 0);
  int usable = 0;
  for (size_t qi = 0; qi < hashes.size(); ++qi) {
    if (hashes[qi].quality < o.vpdq_min_quality) continue;
    ++usable;
    std::vector<SourceBest> frame_best(nsrc);
    for (size_t i = 0; i < refs.frames.size(); ++i) {
      const BaselineFrame& f = refs.frames[i];
      if (f.pdq.quality < o.vpdq_min_quality) continue;
      const int d = hashes[qi].hash.Distance(f.pdq.hash);
      SourceBest& b = frame_best[size_t(f.source_index)];
      if (d <= o.vpdq_max_distance && d < b.distance) b = {d, int(i)};
    }
    for (size_t s = 0; s < nsrc; ++s) {
      if (frame_best[s].frame < 0) continue;
      ++matched[s];
      distance_sum[s] += frame_best[s].distance;
      if (frame_best[s].distance < best[s].distance) {
        best[s] = frame_best[s];
        best_query_time[s] = frames[qi].time_s;
      }
    }
  }
  QueryOutcome q;
  for (size_t s = 0; s < nsrc; ++s) {
    if (matched[s] == 0) continue;
    const double share = double(matched[s]) / usable;
    if (share + 1e-9 < o.vpdq_min_query_match) continue;
    // 0.5 at the threshold, 1 at distance 0 (celmatch's scale), times the
    // share of the clip's frames that match (1 for a still).
    const double mean_d = distance_sum[s] / matched[s];
    const double score = share * std::max(0.0, 1.0 - mean_d / (2.0 * o.vpdq_max_distance));
    q.matches.push_back(MakeMatch(refs, best[s].frame, best_query_time[s], score));
  }
  Finish(&q, o.vpdq_tie_margin / (2.0 * o.vpdq_max_distance));
  return q;
}

// pHash: every source, scored 1 - (mean over query frames of the best
// distance) / 64.
QueryOutcome MatchPhash(const BaselineReferences& refs, const std::vector<TimedFrame>& frames,
                        const std::vector<uint64_t>& hashes, const BaselineOptions& o) {
  const size_t nsrc = refs.sources.size();
  std::vector<double> distance_sum(nsrc, 0);
  std::vector<SourceBest> best(nsrc);
  std::vector<double> best_query_time(nsrc, 0);
  for (size_t qi = 0; qi < hashes.size(); ++qi) {
    std::vector<SourceBest> frame_best(nsrc);
    for (size_t i = 0; i < refs.frames.size(); ++i) {
      const int d = PopCount64(hashes[qi], refs.frames[i].phash);
      SourceBest& b = frame_best[size_t(refs.frames[i].source_index)];
      if (d < b.distance) b = {d, int(i)};
    }
    for (size_t s = 0; s < nsrc; ++s) {
      if (frame_best[s].frame < 0) continue;
      distance_sum[s] += frame_best[s].distance;
      if (frame_best[s].distance < best[s].distance) {
        best[s] = frame_best[s];
        best_query_time[s] = frames[qi].time_s;
      }
    }
  }
  QueryOutcome q;
  for (size_t s = 0; s < nsrc && !hashes.empty(); ++s) {
    if (best[s].frame < 0) continue;
    const double score = 1.0 - distance_sum[s] / hashes.size() / 64.0;
    q.matches.push_back(MakeMatch(refs, best[s].frame, best_query_time[s], score));
  }
  Finish(&q, o.phash_tie_margin / 64.0);
  return q;
}

}  // namespace

uint64_t PHash64(const cv::Mat& bgr) {
  cv::Mat small, hash;
  cv::resize(bgr, small, cv::Size(32, 32), 0, 0, cv::INTER_AREA);
  cv::img_hash::PHash::create()->compute(small, hash);
  uint64_t h = 0;
  for (int i = 0; i < 8 && i < int(hash.total()); ++i) h |= uint64_t(hash.at<uint8_t>(i)) << (8 * i);
  return h;
}

Result<BaselineReferences> HashBaselineReferences(const std::vector<ReferenceInput>& references,
                                                  const BaselineOptions& options) {
  const Clock::time_point start = Clock::now();
  BaselineReferences refs;
  PdqHasher pdq;
  std::vector<const ReferenceInput*> inputs;
  for (const ReferenceInput& in : references)
    if (in.skip_reason.empty()) inputs.push_back(&in);
  // Files decode in parallel; each fills its own slot, joined in input order.
  std::vector<std::vector<BaselineFrame>> per_file(inputs.size());
  std::vector<Status> status(inputs.size());
  std::vector<char> still(inputs.size(), 0);
  {
    ThreadPool pool(size_t(std::max(1, options.jobs)));
    for (size_t i = 0; i < inputs.size(); ++i) {
      pool.Submit([&, i] {
        bool is_still = false;
        const double interval = options.reference_every_frame ? 0.0 : options.frame_interval_s;
        status[i] = SampleFrames(inputs[i]->path, interval, options.limits, &is_still,
                                 [&](double t, const cv::Mat& bgr) {
                                   BaselineFrame bf;
                                   bf.source_index = int(i);
                                   bf.time_s = std::max(0.0, t);
                                   bf.pdq = pdq.Compute(bgr);
                                   bf.phash = PHash64(bgr);
                                   per_file[i].push_back(bf);
                                 });
        still[i] = is_still;
      });
    }
    pool.Wait();
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!status[i].ok()) return status[i];
    refs.sources.push_back({inputs[i]->production, inputs[i]->source, still[i] != 0});
    refs.frames.insert(refs.frames.end(), per_file[i].begin(), per_file[i].end());
  }
  refs.seconds = SecondsSince(start);
  return refs;
}

BaselineRun RunBaselines(const BaselineReferences& refs, const std::string& dump_dir,
                         const std::vector<LeakTruth>& truth, const BaselineOptions& options) {
  BaselineRun run;
  std::mutex mu;
  PdqHasher pdq;
  ThreadPool pool(size_t(std::max(1, options.jobs)));
  for (const LeakTruth& t : truth) {
    pool.Submit([&, file = t.file] {
      QueryOutcome vq, pq;
      const Clock::time_point t0 = Clock::now();
      std::vector<TimedFrame> frames;
      bool still = false;
      Status st = SampleFrames((fs::path(dump_dir) / file).string(), options.frame_interval_s, options.limits,
                               &frames, &still);
      const double decode_s = SecondsSince(t0);
      if (!st.ok()) {
        vq.status = pq.status = "error";
        vq.elapsed_s = pq.elapsed_s = decode_s;
      } else {
        Clock::time_point t1 = Clock::now();
        std::vector<PdqResult> ph;
        for (const TimedFrame& f : frames) ph.push_back(pdq.Compute(f.bgr));
        vq = MatchVpdq(refs, frames, ph, options);
        vq.elapsed_s = decode_s + SecondsSince(t1);
        t1 = Clock::now();
        std::vector<uint64_t> hh;
        for (const TimedFrame& f : frames) hh.push_back(PHash64(f.bgr));
        pq = MatchPhash(refs, frames, hh, options);
        pq.elapsed_s = decode_s + SecondsSince(t1);
      }
      std::lock_guard<std::mutex> lock(mu);
      run.vpdq[file] = std::move(vq);
      run.phash[file] = std::move(pq);
    });
  }
  pool.Wait();
  return run;
}

}  // namespace celmatch
