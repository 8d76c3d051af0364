#include "leaks/throughput.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <opencv2/core/utility.hpp>

#include "core/input_walker.h"
#include "frames/keyframe_sampler.h"
#include "index/reference_builder.h"
#include "index/reference_index.h"
#include "match/matcher.h"
#include "media/image_decoder.h"
#include "media/media_probe.h"
#include "media/video_decoder.h"
#include "output/jsonl_writer.h"
#include "signatures/embedding.h"
#include "signatures/pdq_hash.h"

namespace fs = std::filesystem;

namespace celmatch {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// OpenCV's own threads off while measuring (its resize, blur and DNN
// layers would otherwise run on the other cores): every figure is one core's.
class OneOpenCvThread {
 public:
  OneOpenCvThread() : saved_(cv::getNumThreads()) { cv::setNumThreads(1); }
  ~OneOpenCvThread() { cv::setNumThreads(saved_); }
  OneOpenCvThread(const OneOpenCvThread&) = delete;
  OneOpenCvThread& operator=(const OneOpenCvThread&) = delete;

 private:
  int saved_;
};

}  // namespace

namespace {

// Decodes every video of `videos` to the end, `threads` FFmpeg threads each;
// adds their frames and duration to `out` when it is non-null.
Result<double> DecodeAll(const std::vector<ReferenceInput>& videos, int threads, BuildThroughput* out) {
  const auto t0 = Clock::now();
  for (const ReferenceInput& in : videos) {
    Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(in.path, MediaLimits{}, threads);
    if (!dec.ok()) return dec.status();
    VideoFrame f;
    double last = 0;
    for (;;) {
      Result<bool> r = (*dec)->Next(&f);
      if (!r.ok()) return r.status();
      if (!*r) break;
      if (out) ++out->frames_decoded;
      last = f.time_s;
    }
    if (out) out->video_seconds += last;
  }
  return Since(t0);
}

// `index build --jobs jobs` of `videos` into a new index at `dir` (removed
// afterwards): its wall time, and its reference frames and model in `out`.
Result<double> BuildAll(const std::vector<ReferenceInput>& videos, const std::string& dir, int jobs,
                        BuildThroughput* out) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForWrite(dir, IndexParams{});
  if (!index.ok()) return index.status();
  BuildOptions options;
  options.jobs = jobs;
  std::string warning;
  Result<std::shared_ptr<EmbeddingModelPool>> model = ChooseBuildEmbeddingModel(**index, "", "", &warning);
  if (!model.ok()) return model.status();
  options.embedding = *model;
  out->embedding = options.embedding ? fs::path(options.embedding->onnx_path()).filename().string() : "";
  const auto t0 = Clock::now();
  CELMATCH_RETURN_IF_ERROR(AddReferences(**index, videos, options, nullptr));
  const double seconds = Since(t0);
  out->reference_frames = (*index)->frame_count();
  index->reset();
  fs::remove_all(dir, ec);
  return seconds;
}

}  // namespace

Result<BuildThroughput> MeasureBuildThroughput(const std::vector<std::string>& footage,
                                               const std::string& scratch_dir, int cores) {
  BuildThroughput out;
  // Videos only in both passes, so the ratio compares the same work.
  std::vector<ReferenceInput> videos;
  for (const ReferenceInput& in : PlanReferenceInputs(footage, std::nullopt)) {
    Result<MediaProbe> probe = ProbeMedia(in.path);
    if (in.skip_reason.empty() && probe.ok() && probe->kind == MediaKind::kVideo) videos.push_back(in);
  }
  const std::string dir = scratch_dir + "/throughput-index";
  {
    const OneOpenCvThread one_thread;
    Result<double> decode = DecodeAll(videos, 1, &out);
    if (!decode.ok()) return decode.status();
    out.decode_s = *decode;
    Result<double> build = BuildAll(videos, dir, 1, &out);
    if (!build.ok()) return build.status();
    out.build_s = *build;
  }
  out.cores = std::max(1, cores);
  if (out.cores > 1) {
    Result<double> decode = DecodeAll(videos, out.cores, nullptr);
    if (!decode.ok()) return decode.status();
    out.decode_all_s = *decode;
    Result<double> build = BuildAll(videos, dir, out.cores, &out);
    if (!build.ok()) return build.status();
    out.build_all_s = *build;
  }
  return out;
}

Result<MatchThroughput> MeasureMatchThroughput(const std::string& index_dir, const std::vector<std::string>& dump,
                                               int repeats) {
  const OneOpenCvThread one_thread;
  repeats = std::max(1, repeats);
  auto open_start = Clock::now();
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(index_dir);
  if (!index.ok()) return index.status();
  const double open_s = Since(open_start);
  // Loaded here, not at the first file that needs them, so that no file's
  // time carries this one-time cost (reported apart).
  open_start = Clock::now();
  CELMATCH_RETURN_IF_ERROR((*index)->LoadFeatures());
  const double features_load_s = Since(open_start);
  std::vector<InputFile> files;
  for (InputFile& f : WalkInputs(dump)) {
    if (!f.error.empty() || !f.skip_reason.empty() || !f.archive_member.empty()) continue;
    Result<MediaProbe> probe = ProbeMedia(f.path);
    if (probe.ok() && probe->kind != MediaKind::kOther) files.push_back(std::move(f));
  }
  MatchThroughput out;
  out.open_s = open_s;
  out.repeats = repeats;
  out.features_load_s = features_load_s;
  out.files = int(files.size());
  PdqHasher hasher;
  MatchOptions options;
  // The embedding as `match` runs it: the index's model, found as `match` finds it.
  if (const EmbeddingIndex* e = (*index)->embedding()) {
    Result<std::shared_ptr<EmbeddingModelPool>> model = ChooseQueryEmbeddingModel(index_dir, e->model(), "", "");
    if (!model.ok()) return model.status();
    options.embedding = *model;
    out.embedding = e->model().ToString();
  }
  // Decode and hash as the matcher does: images whole, videos sampled.
  // Decoding and matching each run `repeats` times; the fastest pass counts
  // (the machines are shared: a slow pass is someone else's load).
  std::vector<cv::Mat> pictures;
  out.decode_s = 1e300;
  Clock::time_point t0;
  for (int pass = 0; pass < repeats; ++pass) {
    pictures.clear();
    t0 = Clock::now();
    for (const InputFile& f : files) {
      Result<MediaProbe> probe = ProbeMedia(f.path);
      if (probe->kind == MediaKind::kImage) {
        Result<cv::Mat> img = DecodeImage(f.path, options.limits);
        if (img.ok()) pictures.push_back(*img);
      } else {
        Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(f.path, options.limits);
        if (!dec.ok()) continue;
        VideoFrame vf;
        double next = 0;
        for (;;) {
          Result<bool> r = (*dec)->Next(&vf);
          if (!r.ok() || !*r) break;
          if (vf.time_s + 1e-6 >= next) {
            pictures.push_back(vf.bgr.clone());
            next = vf.time_s + options.video_sample_interval_s;
          }
        }
      }
    }
    out.decode_s = std::min(out.decode_s, Since(t0));
  }
  std::vector<std::array<PdqResult, 8>> hashes;
  hashes.reserve(pictures.size());
  t0 = Clock::now();
  for (const cv::Mat& p : pictures) hashes.push_back(hasher.ComputeDihedral(p));
  out.pdq_s = Since(t0);
  pictures.clear();

  Matcher matcher(**index, options);
  t0 = Clock::now();
  for (const auto& h : hashes) matcher.MatchHashes(h);
  out.search_s = Since(t0);

  // The fastest of `repeats` passes of `m` over every file.
  auto time_passes = [&](const Matcher& m) {
    double best = 1e300;
    for (int pass = 0; pass < repeats; ++pass) {
      t0 = Clock::now();
      for (const InputFile& f : files) m.MatchFile(f);
      best = std::min(best, Since(t0));
    }
    return best;
  };

  std::vector<FileResult> results;
  out.match_s = 1e300;
  for (int pass = 0; pass < repeats; ++pass) {
    results.clear();
    double images_s = 0, videos_s = 0;
    int images = 0, videos = 0;
    for (const InputFile& f : files) {
      const bool video = ProbeMedia(f.path)->kind == MediaKind::kVideo;
      t0 = Clock::now();
      results.push_back(matcher.MatchFile(f));
      (video ? videos_s : images_s) += Since(t0);
      ++(video ? videos : images);
    }
    if (images_s + videos_s < out.match_s) {
      out.match_s = images_s + videos_s;
      out.image_match_s = images_s;
      out.video_match_s = videos_s;
      out.images = images;
      out.videos = videos;
    }
  }
  for (const FileResult& r : results) {
    if (r.status == FileStatus::kMatch && !r.matches.empty() && r.matches[0].evidence.inliers == 0 &&
        r.matches[0].evidence.pdq_distance <= options.early_pdq_distance)
      ++out.decided_early;
  }
  MatchOptions verify_all = options;
  verify_all.early_pdq_distance = -1;
  Matcher verifying(**index, verify_all);
  t0 = Clock::now();
  for (const InputFile& f : files) verifying.MatchFile(f);
  out.verify_all_match_s = Since(t0);
  // The cascade one step at a time (each a new matcher: no step's lazily
  // built state is shared with the next row's).
  MatchOptions step = options;
  step.local_features = false;
  step.cel_pixels = false;
  step.embedding = nullptr;
  step.line_drawings = false;
  step.located_pixels = false;
  std::vector<std::pair<std::string, MatchOptions>> rows;
  rows.emplace_back("PDQ alone (PDQ/vPDQ matching)", step);
  step.local_features = true;
  rows.emplace_back("+ local features", step);
  step.cel_pixels = true;
  rows.emplace_back("+ cel pixels", step);
  if (options.embedding) {
    step.embedding = options.embedding;
    rows.emplace_back("+ embedding", step);
  }
  for (const auto& [label, o] : rows) out.stages.push_back({label, time_passes(Matcher(**index, o))});
  out.stages.push_back({"+ line drawings, located pixels (full)", out.match_s});
  t0 = Clock::now();
  size_t bytes = 0;
  for (const FileResult& r : results) bytes += FileResultToJson(r).dump().size() + 1;
  out.output_s = Since(t0);
  (void)bytes;
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) == 0) out.peak_rss_bytes = int64_t(usage.ru_maxrss) * 1024;
  return out;
}

std::string FormatThroughput(const BuildThroughput* b, const MatchThroughput* m) {
  std::string s;
  char buf[2048];
  if (b) {
    auto rate = [](double n, double s) { return s > 0 ? n / s : 0.0; };
    std::snprintf(buf, sizeof buf,
                  "index build (sampling, PDQ on every frame, features, embedding %s, thumbnails, catalog)\n"
                  "  footage            %.1f s of video, %lld frames decoded, %lld reference frames kept\n"
                  "  one thread         decode %.2f s (%.0f frames/s)   index build %.2f s (%.0f frames/s, %.1fx real time)   "
                  "build speed / decode speed %.3fx\n",
                  b->embedding.empty() ? "none" : b->embedding.c_str(), b->video_seconds,
                  (long long)b->frames_decoded, (long long)b->reference_frames, b->decode_s,
                  rate(double(b->frames_decoded), b->decode_s), b->build_s, rate(double(b->frames_decoded), b->build_s),
                  rate(b->video_seconds, b->build_s), b->build_s > 0 ? b->decode_s / b->build_s : 0.0);
    s += buf;
    if (b->cores > 1) {
      std::snprintf(buf, sizeof buf,
                    "  %d cores            decode %.2f s (%.0f frames/s)   index build %.2f s (%.0f frames/s, %.1fx real time)   "
                    "build speed / decode speed %.3fx\n",
                    b->cores, b->decode_all_s, rate(double(b->frames_decoded), b->decode_all_s), b->build_all_s,
                    rate(double(b->frames_decoded), b->build_all_s), rate(b->video_seconds, b->build_all_s),
                    b->build_all_s > 0 ? b->decode_all_s / b->build_all_s : 0.0);
      s += buf;
    }
  }
  if (m && m->files > 0) {
    const double rest = std::max(0.0, m->match_s - m->decode_s - m->pdq_s - m->search_s);
    auto per_file = [&](double x) { return 1000 * x / m->files; };
    std::snprintf(buf, sizeof buf,
                  "match (one thread, %d files: %d images, %d videos; decode and match: the fastest of %d passes)\n"
                  "  full match         %.2f s  (%.2f files/s per core, %.1f ms per file)\n"
                  "    images           %.2f s  (%.2f files/s per core)\n"
                  "    videos           %.2f s  (%.2f files/s per core)\n"
                  "  stage: decode      %.2f s  (%.1f ms per file)\n"
                  "  stage: PDQ x8      %.2f s  (%.1f ms per file)\n"
                  "  stage: PDQ search  %.2f s  (%.1f ms per file)\n"
                  "  stage: features, embedding, verify, decide  %.2f s  (%.1f ms per file; the rest)\n"
                  "  stage: output      %.3f s  (%.2f ms per file, JSON Lines)\n"
                  "  every match verified  %.2f s  (%.2f files/s per core; --early-pdq-distance -1, same files)\n"
                  "  decided early      %d of %d files (PDQ alone, no local features)\n"
                  "  match / decode     %.3fx  (every match verified: %.3fx; files/s of each over files/s of decode)\n"
                  "  peak memory        %.0f MiB resident (whole process, index included)\n"
                  "  index open         %.2f s, and %.2f s to load the local features (once, at the first file "
                  "PDQ does not decide; outside the times above)\n",
                  m->files, m->images, m->videos, m->repeats, m->match_s, m->files / std::max(1e-9, m->match_s),
                  per_file(m->match_s), m->image_match_s, m->images / std::max(1e-9, m->image_match_s),
                  m->video_match_s, m->videos / std::max(1e-9, m->video_match_s), m->decode_s,
                  per_file(m->decode_s), m->pdq_s, per_file(m->pdq_s), m->search_s, per_file(m->search_s), rest,
                  per_file(rest), m->output_s, per_file(m->output_s), m->verify_all_match_s,
                  m->files / std::max(1e-9, m->verify_all_match_s), m->decided_early, m->files,
                  m->decode_s / std::max(1e-9, m->match_s), m->decode_s / std::max(1e-9, m->verify_all_match_s),
                  m->peak_rss_bytes / 1048576.0, m->open_s, m->features_load_s);
    s += buf;
    std::snprintf(buf, sizeof buf, "  the cascade step by step (same files, the fastest of %d passes each; embedding: %s)\n",
                  m->repeats, m->embedding.empty() ? "none in this index" : m->embedding.c_str());
    s += buf;
    double before = 0;
    for (const MatchThroughput::Stage& st : m->stages) {
      std::snprintf(buf, sizeof buf, "    %-40s %6.2f s  %6.1f ms per file  %6.3fx decode  (the step: %+.1f ms per file)\n",
                    st.label.c_str(), st.match_s, per_file(st.match_s), m->decode_s / std::max(1e-9, st.match_s),
                    before > 0 ? per_file(st.match_s - before) : per_file(st.match_s));
      s += buf;
      before = st.match_s;
    }
  }
  s += "search at 100k / 1M / 10M reference frames: add --scale 100000,1000000,10000000 (README \"Big indexes on one machine\")\n";
  return s;
}

}  // namespace celmatch
