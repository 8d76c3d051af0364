#include "leaks/throughput.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/input_walker.h"
#include "frames/keyframe_sampler.h"
#include "index/reference_builder.h"
#include "index/reference_index.h"
#include "match/matcher.h"
#include "media/image_decoder.h"
#include "media/media_probe.h"
#include "media/video_decoder.h"
#include "signatures/pdq_hash.h"

namespace fs = std::filesystem;

namespace celmatch {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

Result<BuildThroughput> MeasureBuildThroughput(const std::vector<std::string>& footage,
                                               const std::string& scratch_dir) {
  BuildThroughput out;
  std::vector<ReferenceInput> inputs = PlanReferenceInputs(footage, std::nullopt);
  auto t0 = Clock::now();
  for (const ReferenceInput& in : inputs) {
    if (!in.skip_reason.empty()) continue;
    Result<MediaProbe> probe = ProbeMedia(in.path);
    if (!probe.ok() || probe->kind != MediaKind::kVideo) continue;
    Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(in.path);
    if (!dec.ok()) return dec.status();
    VideoFrame f;
    double last = 0;
    for (;;) {
      Result<bool> r = (*dec)->Next(&f);
      if (!r.ok()) return r.status();
      if (!*r) break;
      ++out.frames_decoded;
      last = f.time_s;
    }
    out.video_seconds += last;
  }
  out.decode_s = Since(t0);

  const std::string dir = scratch_dir + "/throughput-index";
  std::error_code ec;
  fs::remove_all(dir, ec);
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForWrite(dir, IndexParams{});
  if (!index.ok()) return index.status();
  // Videos only, like the decode pass, so the ratio compares the same work.
  std::vector<ReferenceInput> videos;
  for (const ReferenceInput& in : inputs) {
    Result<MediaProbe> probe = ProbeMedia(in.path);
    if (in.skip_reason.empty() && probe.ok() && probe->kind == MediaKind::kVideo) videos.push_back(in);
  }
  BuildOptions options;
  options.jobs = 1;
  t0 = Clock::now();
  CELMATCH_RETURN_IF_ERROR(AddReferences(**index, videos, options, nullptr));
  out.build_s = Since(t0);
  out.reference_frames = (*index)->frame_count();
  index->reset();
  fs::remove_all(dir, ec);
  return out;
}

Result<MatchThroughput> MeasureMatchThroughput(const std::string& index_dir, const std::vector<std::string>& dump) {
  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(index_dir);
  if (!index.ok()) return index.status();
  std::vector<InputFile> files;
  for (InputFile& f : WalkInputs(dump)) {
    if (!f.error.empty() || !f.skip_reason.empty() || !f.archive_member.empty()) continue;
    Result<MediaProbe> probe = ProbeMedia(f.path);
    if (probe.ok() && probe->kind != MediaKind::kOther) files.push_back(std::move(f));
  }
  MatchThroughput out;
  out.files = int(files.size());
  PdqHasher hasher;
  MatchOptions options;
  // Decode and hash as the matcher does: images whole, videos sampled.
  std::vector<cv::Mat> pictures;
  auto t0 = Clock::now();
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
  out.decode_s = Since(t0);
  t0 = Clock::now();
  for (const cv::Mat& p : pictures) hasher.ComputeDihedral(p);
  out.pdq_s = Since(t0);
  pictures.clear();

  Matcher matcher(**index, options);
  t0 = Clock::now();
  for (const InputFile& f : files) matcher.MatchFile(f);
  out.match_s = Since(t0);
  return out;
}

std::string FormatThroughput(const BuildThroughput* b, const MatchThroughput* m) {
  std::string s;
  char buf[512];
  if (b) {
    std::snprintf(buf, sizeof buf,
                  "index build (one thread)\n"
                  "  footage            %.1f s of video, %lld frames decoded\n"
                  "  decode only        %.2f s  (%.0f frames/s, %.1fx real time)\n"
                  "  index build        %.2f s  (%.0f frames/s, %.1fx real time), %lld reference frames\n"
                  "  build / decode     %.2fx  (cost of sampling, PDQ on every frame, features, thumbnails, catalog)\n",
                  b->video_seconds, (long long)b->frames_decoded, b->decode_s,
                  b->decode_s > 0 ? b->frames_decoded / b->decode_s : 0.0,
                  b->decode_s > 0 ? b->video_seconds / b->decode_s : 0.0, b->build_s,
                  b->build_s > 0 ? b->frames_decoded / b->build_s : 0.0,
                  b->build_s > 0 ? b->video_seconds / b->build_s : 0.0, (long long)b->reference_frames,
                  b->decode_s > 0 ? b->build_s / b->decode_s : 0.0);
    s += buf;
  }
  if (m && m->files > 0) {
    const double rest = std::max(0.0, m->match_s - m->decode_s - m->pdq_s);
    std::snprintf(buf, sizeof buf,
                  "match (one thread, %d files)\n"
                  "  full match         %.2f s  (%.1f files/s per core, %.1f ms per file)\n"
                  "  of which decode    %.2f s  (%.1f ms per file)\n"
                  "  of which PDQ x8    %.2f s  (%.1f ms per file)\n"
                  "  search, features, verify, decide  %.2f s  (%.1f ms per file; by subtraction)\n",
                  m->files, m->match_s, m->files / std::max(1e-9, m->match_s), 1000 * m->match_s / m->files,
                  m->decode_s, 1000 * m->decode_s / m->files, m->pdq_s, 1000 * m->pdq_s / m->files, rest,
                  1000 * rest / m->files);
    s += buf;
  }
  s += "search at 100k / 1M / 10M reference frames: add --scale 100000,1000000,10000000 (README \"Big indexes on one machine\")\n";
  return s;
}

}  // namespace celmatch
