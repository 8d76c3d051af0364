// `celmatch hash FILE...`: PDQ hashes in the format of Meta's reference tool
// pdq-photo-hasher, `hash,quality,filename` (with --dihedral, eight lines per
// picture in its order: original, rotate90, rotate180, rotate270, flip_x,
// flip_y, flip_plus1, flip_minus1), so that celmatch's hashes can be compared
// with, or submitted to, ThreatExchange-style hash sharing.
//
// Videos: one line per sampled frame, `hash,quality,filename,time` (seconds
// from the stream start, 3 decimals), one frame per second by default as
// Meta's vPDQ hashes videos.
#include <cstdio>

#include "cli_common.h"
#include "core/input_walker.h"
#include "frames/keyframe_sampler.h"
#include "media/image_decoder.h"
#include "media/media_limits.h"
#include "media/media_probe.h"
#include "media/video_decoder.h"
#include "signatures/pdq_hash.h"

namespace celmatch::cli {
namespace {

struct HashArgs {
  std::vector<std::string> paths;
  bool dihedral = false;
  double interval_s = 1.0;
};

void PrintHashes(const std::array<PdqResult, 8>& variants, bool dihedral, const std::string& file,
                 const std::string& time_suffix) {
  const int n = dihedral ? 8 : 1;
  for (int v = 0; v < n; ++v) {
    // Every variant carries the original's quality, as the reference prints it.
    std::printf("%s,%d,%s%s\n", variants[size_t(v)].hash.ToHex().c_str(), variants[0].quality, file.c_str(),
                time_suffix.c_str());
  }
}

Status HashFile(const PdqHasher& hasher, const std::string& path, const HashArgs& a) {
  Result<MediaProbe> probe = ProbeMedia(path);
  if (!probe.ok()) return probe.status();
  const MediaLimits limits;
  if (probe->kind == MediaKind::kImage) {
    Result<cv::Mat> img = DecodeImage(path, limits);
    if (!img.ok()) return img.status();
    std::array<PdqResult, 8> variants;
    if (a.dihedral) variants = hasher.ComputeDihedral(*img);
    else variants[0] = hasher.Compute(*img);
    PrintHashes(variants, a.dihedral, path, "");
    return Status::Ok();
  }
  if (probe->kind == MediaKind::kVideo) {
    Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(path, limits);
    if (!dec.ok()) return dec.status();
    Result<QuerySamplingResult> sampled = SampleQueryFrames(**dec, hasher, a.interval_s, 1 << 30, 0);
    if (!sampled.ok()) return sampled.status().WithPrefix(path);
    for (const QuerySample& s : sampled->samples) {
      char time[40];
      std::snprintf(time, sizeof time, ",%.3f", s.time_s);
      PrintHashes(s.pdq, a.dihedral, path, time);
    }
    return Status::Ok();
  }
  return Status::Unsupported(path + ": not an image or video");
}

int RunHash(const HashArgs& a) {
  const PdqHasher hasher;
  int failed = 0;
  for (const InputFile& in : WalkInputs(a.paths)) {
    Status st;
    if (!in.error.empty()) st = Status::IoError(in.path + ": " + in.error);
    else if (!in.skip_reason.empty()) st = Status::Unsupported(in.path + ": " + in.skip_reason);
    else st = HashFile(hasher, in.path, a);
    std::fflush(stdout);
    if (!st.ok()) {
      ++failed;
      std::fprintf(stderr, "celmatch: %s\n", st.message().c_str());
    }
  }
  return failed ? kExitFatal : kExitOk;
}

}  // namespace

void RegisterHashCommand(CLI::App& app, CommandRegistry& registry) {
  auto a = std::make_shared<HashArgs>();
  CLI::App* cmd = app.add_subcommand(
      "hash", "Print PDQ hashes as Meta's pdq-photo-hasher does (hash,quality,filename); videos: one line per "
              "sampled frame with its time (hash,quality,filename,time)");
  cmd->add_flag("--dihedral", a->dihedral,
                "Print the 8 dihedral variants (original, rotate90, rotate180, rotate270, flip_x, flip_y, "
                "flip_plus1, flip_minus1), one line each");
  cmd->add_option("--interval", a->interval_s, "Videos: seconds between sampled frames (default 1, as vPDQ)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("paths", a->paths, "Images and videos (folders are walked recursively)")->required();
  registry.Add(cmd, [a] { return RunHash(*a); });
}

}  // namespace celmatch::cli
