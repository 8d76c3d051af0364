#include "leaks/leak_simulator.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "core/input_walker.h"
#include "leaks/leak_transforms.h"
#include "media/image_decoder.h"
#include "media/media_probe.h"
#include "media/video_decoder.h"
#include "signatures/pdq_hash.h"

namespace fs = std::filesystem;

namespace celmatch {

const std::vector<std::string>& KnownLeakTransforms() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> all = LeakImageTransforms();
    all.push_back("clip_lowres");
    all.push_back("clip_crop_flip");
    return all;
  }();
  return k;
}

Result<std::vector<std::string>> ExpandLeakTransforms(const std::vector<std::string>& names) {
  const std::vector<std::string>& general = LeakGeneralisationTransforms();
  auto known = [&](const std::string& n) {
    return std::find(KnownLeakTransforms().begin(), KnownLeakTransforms().end(), n) != KnownLeakTransforms().end() ||
           std::find(general.begin(), general.end(), n) != general.end();
  };
  std::vector<std::string> out;
  auto add = [&](const std::string& n) {
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  };
  for (const std::string& n : names) {
    if (n == "all") {
      for (const std::string& k : KnownLeakTransforms()) add(k);
    } else if (n == "generalisation") {
      for (const std::string& k : general) add(k);
    } else if (known(n)) {
      add(n);
    } else {
      std::string list;
      for (const std::string& k : KnownLeakTransforms()) list += (list.empty() ? "" : ", ") + k;
      for (const std::string& k : general) list += ", " + k;
      return Status::InvalidArgument("unknown leak transform '" + n + "' (known: all, generalisation, or one of " +
                                     list + ")");
    }
  }
  return out;
}

namespace {

// An opaque relative path: two levels of random folders and a random name.
std::string OpaqueName(std::mt19937& rng, const std::string& ext) {
  auto hex = [&](int n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(d[rng() % 16]);
    return s;
  };
  return hex(2) + "/" + hex(2) + "/" + hex(12) + ext;
}

// `img` written under an opaque name (drawn from `rng`) in `out_dir`.
Status WriteLeakImage(const LeakImage& img, const fs::path& out_dir, std::mt19937& rng, std::string* rel) {
  *rel = OpaqueName(rng, img.ext);
  const fs::path p = out_dir / *rel;
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  try {
    if (!cv::imwrite(p.string(), img.pixels, img.params)) return Status::IoError(p.string() + ": cannot write image");
  } catch (const cv::Exception& e) {
    return Status::IoError(p.string() + ": " + e.what());
  }
  return Status::Ok();
}

Status WriteTransformed(const cv::Mat& bgr, const std::string& transform, const fs::path& out_dir,
                        std::mt19937& rng, std::string* rel) {
  Result<LeakImage> img = ApplyLeakTransform(bgr, transform, rng);
  if (!img.ok()) return img.status();
  return WriteLeakImage(*img, out_dir, rng, rel);
}

// Clips: a stretch of `path` from `start_s`, re-encoded (MPEG-4 Part 2 in
// MP4, OpenCV's FFmpeg writer) at kClipFps frames per second.
// "clip_lowres": 3 s at 320 pixels wide, as a leak passed around in a chat app.
// "clip_crop_flip": 5 s, cropped to 80% of each side at a random place (64% of
// the picture), mirrored, at 480 pixels wide: a clip re-cut to dodge matching.
constexpr double kClipFps = 8.0;

struct ClipStyle {
  double seconds = 3.0;
  int width = 320;
  double crop_side = 1.0;  // share of each side kept
  bool mirror = false;
};

ClipStyle ClipStyleOf(const std::string& transform) {
  ClipStyle c;
  if (transform == "clip_crop_flip") {
    c.seconds = 5.0;
    c.width = 480;
    c.crop_side = 0.8;
    c.mirror = true;
  }
  return c;
}

bool IsClipTransform(const std::string& t) { return t == "clip_lowres" || t == "clip_crop_flip"; }

Status WriteClip(const std::string& path, double start_s, const ClipStyle& style, const fs::path& out_dir,
                 const MediaLimits& limits, std::mt19937& rng, std::string* rel) {
  *rel = OpaqueName(rng, ".mp4");
  const fs::path p = out_dir / *rel;
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(path, limits);
  if (!dec.ok()) return dec.status();
  // Where the crop sits, as shares of the free margin (the same for the whole clip).
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  const double fx = uni(rng), fy = uni(rng);
  cv::VideoWriter writer;
  VideoFrame f;
  int written = 0;
  for (;;) {
    Result<bool> r = (*dec)->Next(&f);
    if (!r.ok()) return r.status();
    if (!*r || f.time_s > start_s + style.seconds) break;
    if (f.time_s + 1e-6 < start_s + written / kClipFps) continue;
    const int cw = std::max(2, int(f.bgr.cols * style.crop_side)), ch = std::max(2, int(f.bgr.rows * style.crop_side));
    const cv::Rect box(int(fx * (f.bgr.cols - cw)), int(fy * (f.bgr.rows - ch)), cw, ch);
    cv::Mat picture = f.bgr(box);
    const int w = style.width, h = std::max(2, int(std::lround(ch * double(style.width) / cw)) & ~1);
    cv::Mat small;
    cv::resize(picture, small, cv::Size(w, h), 0, 0, cv::INTER_AREA);
    if (style.mirror) cv::flip(small, small, 1);
    try {
      if (!writer.isOpened() &&
          !writer.open(p.string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('m', 'p', '4', 'v'), kClipFps, small.size()))
        return Status::IoError(p.string() + ": cannot open a video writer (OpenCV without FFmpeg?)");
      writer.write(small);
    } catch (const cv::Exception& e) {
      return Status::IoError(p.string() + ": " + e.what());
    }
    ++written;
  }
  if (written == 0) return Status::NotFound(path + ": no frames after " + std::to_string(start_s) + " s for a clip");
  writer.release();
  return Status::Ok();
}

// Families written from several consecutive frames of a video
// (NtscReleaseFrame). Each file draws from its own generator, seeded by the
// dump's seed, the video and the time, so adding such a family leaves every
// other family's files as they were.
bool IsFilmRunTransform(const std::string& t) { return t == "release_ntsc"; }

std::mt19937 OwnGenerator(uint32_t seed, const std::string& path, double time_s, const std::string& transform) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a: the same on every platform
  auto mix = [&h](const std::string& bytes) {
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ULL;
  };
  mix(std::to_string(seed));
  mix(path);
  mix(std::to_string(std::lround(time_s * 1000)));
  mix(transform);
  return std::mt19937(uint32_t(h ^ (h >> 32)));
}

// `transform` (IsFilmRunTransform) of the kNtscFilmFrames frames of `path`
// from the first at or after `start_s`; `*shown_s`: the time of the frame
// the truth names.
Status WriteFromFilmRun(const std::string& path, double start_s, const std::string& transform,
                        const fs::path& out_dir, const MediaLimits& limits, std::mt19937& rng, std::string* rel,
                        double* shown_s) {
  Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(path, limits);
  if (!dec.ok()) return dec.status();
  std::vector<cv::Mat> film;
  std::vector<double> times;
  VideoFrame f;
  while (film.size() < kNtscFilmFrames) {
    Result<bool> r = (*dec)->Next(&f);
    if (!r.ok()) return r.status();
    if (!*r) break;
    if (f.time_s + 1e-6 < start_s) continue;
    film.push_back(f.bgr.clone());
    times.push_back(f.time_s);
  }
  if (film.size() < kNtscFilmFrames) {
    // Too near the video's end: the caller leaves this family out for this frame.
    return Status::NotFound(path + ": fewer than " + std::to_string(kNtscFilmFrames) + " frames after " +
                            std::to_string(start_s) + " s for " + transform);
  }
  int shown = 0;
  Result<LeakImage> img = NtscReleaseFrame(film, rng, &shown);
  if (!img.ok()) return Status::Internal(path + ": " + img.status().message());
  *shown_s = times[size_t(shown)];
  return WriteLeakImage(*img, out_dir, rng, rel);
}

// Frames of `path` at `times` (sorted): the first decoded frame at or after
// each time, with its true time.
Status CutFrames(const std::string& path, const std::vector<double>& times, const MediaLimits& limits,
                 int min_quality, std::vector<std::pair<double, cv::Mat>>* out) {
  PdqHasher hasher;
  Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(path, limits);
  if (!dec.ok()) return dec.status();
  VideoFrame f;
  size_t next = 0;
  while (next < times.size()) {
    Result<bool> r = (*dec)->Next(&f);
    if (!r.ok()) return r.status();
    if (!*r) break;
    if (next < times.size() && f.time_s + 1e-6 >= times[next] && hasher.Compute(f.bgr).quality >= min_quality) {
      while (next < times.size() && f.time_s + 1e-6 >= times[next]) {
        out->emplace_back(f.time_s, f.bgr.clone());
        ++next;
      }
    }
  }
  return Status::Ok();
}

// Duration by decoding when the container does not say.
double DurationOf(const std::string& path, const MediaLimits& limits) {
  Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(path, limits);
  if (!dec.ok()) return 0;
  if ((*dec)->info().duration_s > 0) return (*dec)->info().duration_s;
  VideoFrame f;
  double last = 0;
  for (;;) {
    Result<bool> r = (*dec)->Next(&f);
    if (!r.ok() || !*r) break;
    last = f.time_s;
  }
  return last;
}

}  // namespace

Result<std::vector<LeakTruth>> WriteLeakDump(const std::vector<ReferenceInput>& references,
                                             const std::vector<std::string>& distractor_files,
                                             const std::string& out_dir, const LeakDumpOptions& options) {
  Result<std::vector<std::string>> transforms = ExpandLeakTransforms(options.transforms);
  if (!transforms.ok()) return transforms.status();
  std::mt19937 rng(options.seed);
  std::vector<LeakTruth> truth;
  const fs::path out(out_dir);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return Status::IoError(out_dir + ": " + ec.message());

  auto cut = [&](const std::string& path, bool distractor, const ReferenceInput* ref, int n) -> Status {
    Result<MediaProbe> probe = ProbeMedia(path);
    if (!probe.ok()) return probe.status();
    std::vector<std::pair<double, cv::Mat>> frames;
    if (probe->kind == MediaKind::kImage) {
      Result<cv::Mat> img = DecodeImage(path, options.limits);
      if (!img.ok()) return img.status();
      frames.emplace_back(-1.0, *img);
    } else if (probe->kind == MediaKind::kVideo) {
      const double duration = DurationOf(path, options.limits);
      std::vector<double> times;
      std::uniform_real_distribution<double> uni(0.0, std::max(0.0, duration - 0.2));
      for (int i = 0; i < n; ++i) times.push_back(uni(rng));
      std::sort(times.begin(), times.end());
      CELMATCH_RETURN_IF_ERROR(CutFrames(path, times, options.limits, options.min_quality, &frames));
    } else {
      return Status::Ok();
    }
    for (auto& [time_s, bgr] : frames) {
      for (const std::string& t : *transforms) {
        LeakTruth lt;
        double shown_s = time_s;
        if (IsClipTransform(t)) {
          if (time_s < 0) continue;  // a still has no clip
          CELMATCH_RETURN_IF_ERROR(WriteClip(path, time_s, ClipStyleOf(t), out, options.limits, rng, &lt.file));
        } else if (IsFilmRunTransform(t)) {
          if (time_s < 0) continue;  // a still has no neighbouring frames
          std::mt19937 own = OwnGenerator(options.seed, path, time_s, t);
          const Status st = WriteFromFilmRun(path, time_s, t, out, options.limits, own, &lt.file, &shown_s);
          if (st.code() == Status::Code::kNotFound) continue;  // too near the end of the video
          CELMATCH_RETURN_IF_ERROR(st);
        } else {
          CELMATCH_RETURN_IF_ERROR(WriteTransformed(bgr, t, out, rng, &lt.file));
        }
        lt.transform = t;
        lt.distractor = distractor;
        if (ref) {
          lt.production = ref->production;
          lt.source = ref->source;
          lt.time_s = shown_s;
        }
        truth.push_back(std::move(lt));
      }
    }
    return Status::Ok();
  };

  for (const ReferenceInput& ref : references) {
    if (!ref.skip_reason.empty()) continue;
    CELMATCH_RETURN_IF_ERROR(cut(ref.path, false, &ref, options.frames_per_source));
  }
  for (const std::string& d : distractor_files) {
    CELMATCH_RETURN_IF_ERROR(cut(d, true, nullptr, options.frames_per_distractor));
    Result<MediaProbe> probe = ProbeMedia(d);
    if (options.include_distractor_clips && probe.ok() && probe->kind == MediaKind::kVideo) {
      LeakTruth lt;
      lt.file = OpaqueName(rng, fs::path(d).extension().string());
      fs::create_directories((out / lt.file).parent_path(), ec);
      fs::copy_file(d, out / lt.file, fs::copy_options::overwrite_existing, ec);
      if (ec) return Status::IoError((out / lt.file).string() + ": " + ec.message());
      lt.transform = "clip";
      lt.distractor = true;
      truth.push_back(std::move(lt));
    }
  }
  return truth;
}

namespace {

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += "\"\"";
    else q.push_back(c);
  }
  return q + "\"";
}

std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') { out.back().push_back('"'); ++i; }
      else if (c == '"') quoted = false;
      else out.back().push_back(c);
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

}  // namespace

Status WriteTruthCsv(const std::string& path, const std::vector<LeakTruth>& truth) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return Status::IoError(tmp + ": cannot write");
    f << "file,production,source,time,transform,distractor\n";
    for (const LeakTruth& t : truth) {
      f << CsvField(t.file) << ',' << CsvField(t.production) << ',' << CsvField(t.source) << ',';
      if (t.time_s >= 0) f << t.time_s;
      f << ',' << t.transform << ',' << (t.distractor ? 1 : 0) << '\n';
    }
    if (!f) return Status::IoError(tmp + ": write failed");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::IoError(path + ": " + ec.message());
  return Status::Ok();
}

Result<std::vector<LeakTruth>> ReadTruthCsv(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::NotFound(path + ": cannot open ground truth");
  std::string line;
  std::getline(f, line);  // header
  std::vector<LeakTruth> out;
  int lineno = 1;
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    std::vector<std::string> c = SplitCsvLine(line);
    if (c.size() != 6) return Status::Corrupt(path + ":" + std::to_string(lineno) + ": expected 6 fields");
    LeakTruth t;
    t.file = c[0];
    t.production = c[1];
    t.source = c[2];
    t.time_s = c[3].empty() ? -1 : std::stod(c[3]);
    t.transform = c[4];
    t.distractor = c[5] == "1";
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace celmatch
