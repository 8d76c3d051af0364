#include "match/matcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <unordered_map>

#include "frames/keyframe_sampler.h"
#include "media/image_decoder.h"
#include "media/media_probe.h"
#include "media/video_decoder.h"

namespace celmatch {

const char* FileStatusName(FileStatus s) {
  switch (s) {
    case FileStatus::kMatch: return "match";
    case FileStatus::kNoMatch: return "no_match";
    case FileStatus::kError: return "error";
    case FileStatus::kSkipped: return "skipped";
  }
  return "error";
}

namespace {

const char* kVariantNames[8] = {"original", "rotate90", "rotate180", "rotate270",
                                "flip_x",   "flip_y",   "flip_plus1", "flip_minus1"};

}  // namespace

Matcher::Matcher(const ReferenceIndex& index, MatchOptions options) : index_(index), options_(options) {}

double Matcher::ScoreForDistance(int distance) const {
  const double t = std::max(1, options_.max_distance);
  return std::clamp(1.0 - 0.5 * double(distance) / t, 0.0, 1.0);
}

std::vector<FrameCandidate> Matcher::Candidates(const std::array<PdqResult, 8>& variants) const {
  std::unordered_map<int64_t, FrameCandidate> best;
  const int n_variants = options_.dihedral ? 8 : 1;
  for (int v = 0; v < n_variants; ++v) {
    for (const HashNeighbor& nb :
         index_.Search(variants[size_t(v)].hash, options_.max_distance, options_.neighbors_per_hash)) {
      if (index_.frame(nb.frame_id).quality < options_.min_quality) continue;
      auto [it, inserted] = best.try_emplace(nb.frame_id, FrameCandidate{nb.frame_id, nb.distance, v});
      if (!inserted && nb.distance < it->second.distance) it->second = FrameCandidate{nb.frame_id, nb.distance, v};
    }
  }
  std::vector<FrameCandidate> out;
  out.reserve(best.size());
  for (auto& [id, c] : best) out.push_back(c);
  std::sort(out.begin(), out.end(), [](const FrameCandidate& a, const FrameCandidate& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.frame_id < b.frame_id;
  });
  return out;
}

int Matcher::CountTied(const std::vector<Match>& matches, bool video) const {
  if (matches.empty()) return 0;
  const Match& best = matches.front();
  int tied = 0;
  for (const Match& m : matches) {
    const bool same = video ? m.evidence.samples_matched == best.evidence.samples_matched &&
                                  m.evidence.pdq_distance <= best.evidence.pdq_distance + options_.tie_margin
                            : m.evidence.pdq_distance <= best.evidence.pdq_distance + options_.tie_margin;
    if (same) ++tied;
  }
  return tied;
}

std::vector<Match> Matcher::MatchHashes(const std::array<PdqResult, 8>& variants) const {
  std::vector<FrameCandidate> cands = Candidates(variants);
  std::unordered_map<int64_t, int> distance_of;
  for (const FrameCandidate& c : cands) distance_of[c.frame_id] = c.distance;
  std::vector<Match> out;
  std::unordered_map<int64_t, bool> source_done;
  for (const FrameCandidate& c : cands) {  // nearest first: the first frame per source is its best
    const FrameRecord& fr = index_.frame(c.frame_id);
    if (source_done[fr.source_id]) continue;
    source_done[fr.source_id] = true;
    const SourceRecord& src = index_.source(fr.source_id);
    Match m;
    m.production = index_.production(src.production_id).name;
    m.source = src.path;
    m.source_id = src.id;
    m.is_still = src.is_still;
    m.time_s = fr.time_s;
    m.span_start_s = fr.time_s;
    m.span_end_s = fr.span_end_s;
    // The picture may lie across several consecutive reference frames (a slow
    // pan): widen the span over the neighbours that match too, so the true
    // time is inside it even when the nearest frame is the next one.
    const std::vector<int64_t>& order = index_.frames_of_source(src.id);
    auto pos = std::find(order.begin(), order.end(), c.frame_id);
    if (pos != order.end()) {
      for (auto it = pos; it != order.begin();) {
        --it;
        if (!distance_of.count(*it)) break;
        m.span_start_s = index_.frame(*it).time_s;
      }
      for (auto it = pos + 1; it != order.end() && distance_of.count(*it); ++it) {
        m.span_end_s = index_.frame(*it).span_end_s;
      }
    }
    m.score = ScoreForDistance(c.distance);
    m.evidence.frame_id = c.frame_id;
    m.evidence.pdq_distance = c.distance;
    m.evidence.reference_quality = fr.quality;
    m.evidence.query_quality = variants[0].quality;
    m.evidence.transform = kVariantNames[c.variant];
    out.push_back(std::move(m));
  }
  return out;
}

void Matcher::MatchImage(const std::string& path, FileResult* result) const {
  Result<cv::Mat> img = DecodeImage(path, options_.limits);
  if (!img.ok()) {
    result->status = FileStatus::kError;
    result->error = img.status().message();
    return;
  }
  std::array<PdqResult, 8> variants = hasher_.ComputeDihedral(*img);
  result->samples = 1;
  if (variants[0].quality < options_.min_quality) {
    result->status = FileStatus::kNoMatch;
    result->note = "picture too flat for PDQ (quality " + std::to_string(variants[0].quality) + " < " +
                   std::to_string(options_.min_quality) + ")";
    return;
  }
  result->matches = MatchHashes(variants);
  result->tied_sources = CountTied(result->matches, false);
  if (int(result->matches.size()) > options_.max_matches) result->matches.resize(size_t(options_.max_matches));
  result->status = result->matches.empty() ? FileStatus::kNoMatch : FileStatus::kMatch;
}

namespace {

// One (sample, reference frame) agreement proposal for a video query.
struct Vote {
  int sample = 0;
  int64_t frame_id = -1;
  int distance = 256;
  int variant = 0;
  double lo = 0, hi = 0;  // offsets (reference - query time) this pair allows
};

}  // namespace

void Matcher::MatchVideo(const std::string& path, FileResult* result) const {
  Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(path, options_.limits);
  if (!dec.ok()) {
    result->status = FileStatus::kError;
    result->error = dec.status().message();
    return;
  }
  Result<QuerySamplingResult> sampled =
      SampleQueryFrames(**dec, hasher_, options_.video_sample_interval_s, options_.max_video_samples, 0);
  if (!sampled.ok()) {
    result->status = FileStatus::kError;
    result->error = sampled.status().WithPrefix(path).message();
    return;
  }
  result->duration_s = sampled->duration_s;
  result->samples = int(sampled->samples.size());

  // Candidates per usable sample, grouped by source.
  std::map<int64_t, std::vector<Vote>> votes_by_source;
  int usable = 0, best_query_quality = 0;
  for (size_t i = 0; i < sampled->samples.size(); ++i) {
    const QuerySample& s = sampled->samples[i];
    best_query_quality = std::max(best_query_quality, s.pdq[0].quality);
    if (s.pdq[0].quality < options_.min_quality) continue;
    ++usable;
    for (const FrameCandidate& c : Candidates(s.pdq)) {
      const FrameRecord& fr = index_.frame(c.frame_id);
      Vote v{int(i), c.frame_id, c.distance, c.variant, 0, 0};
      if (index_.source(fr.source_id).is_still) {
        v.lo = -std::numeric_limits<double>::infinity();
        v.hi = std::numeric_limits<double>::infinity();
      } else {
        v.lo = fr.time_s - s.time_s - options_.offset_tolerance_s;
        v.hi = std::max(fr.span_end_s, fr.time_s) - s.time_s + options_.offset_tolerance_s;
      }
      votes_by_source[fr.source_id].push_back(v);
    }
  }
  if (usable == 0) {
    result->status = FileStatus::kNoMatch;
    result->note = "every sampled frame too flat for PDQ (best quality " + std::to_string(best_query_quality) + ")";
    return;
  }
  const int needed = std::min(options_.min_video_support, usable);

  // For each source, the offset that the most samples agree on: sweep the
  // vote intervals' start points, counting distinct samples covering each.
  std::vector<Match> matches;
  for (auto& [source_id, votes] : votes_by_source) {
    const SourceRecord& src = index_.source(source_id);
    int best_support = 0;
    double best_sum = -1, best_offset = 0;
    for (const Vote& anchor : votes) {
      const double o = src.is_still ? 0.0 : anchor.lo;
      std::map<int, int> per_sample;  // sample -> best distance among votes covering o
      for (const Vote& v : votes) {
        if (v.lo <= o + 1e-9 && o <= v.hi + 1e-9) {
          auto [it, ins] = per_sample.try_emplace(v.sample, v.distance);
          if (!ins) it->second = std::min(it->second, v.distance);
        }
      }
      double sum = 0;
      for (auto& [sample, d] : per_sample) sum += ScoreForDistance(d);
      const int support = int(per_sample.size());
      if (support > best_support || (support == best_support && sum > best_sum)) {
        best_support = support;
        best_sum = sum;
        best_offset = o;
      }
      if (src.is_still) break;  // every vote covers every offset
    }
    if (best_support < needed) continue;
    // Narrow the offset to the intersection of the agreeing votes' ranges.
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    const Vote* best_vote = nullptr;
    for (const Vote& v : votes) {
      if (!(v.lo <= best_offset + 1e-9 && best_offset <= v.hi + 1e-9)) continue;
      lo = std::max(lo, v.lo + options_.offset_tolerance_s);
      hi = std::min(hi, v.hi - options_.offset_tolerance_s);
      if (!best_vote || v.distance < best_vote->distance) best_vote = &v;
    }
    double offset = best_offset + options_.offset_tolerance_s;
    if (lo <= hi && std::isfinite(lo) && std::isfinite(hi)) offset = 0.5 * (lo + hi);
    const FrameRecord& fr = index_.frame(best_vote->frame_id);
    Match m;
    m.production = index_.production(src.production_id).name;
    m.source = src.path;
    m.source_id = source_id;
    m.is_still = src.is_still;
    m.time_s = src.is_still ? 0 : std::max(0.0, offset);
    m.span_start_s = m.time_s;
    m.span_end_s = src.is_still ? 0 : std::min(src.duration_s > 0 ? src.duration_s : 1e300, offset + sampled->duration_s);
    // Mean per-sample score over the agreeing samples, scaled by the share
    // of usable samples that agree (a clip matching in 2 of 40 samples is
    // weak evidence).
    const double mean = best_sum / best_support;
    const double share = double(best_support) / usable;
    m.score = std::clamp(mean * (0.75 + 0.25 * share), 0.0, 1.0);
    m.evidence.frame_id = best_vote->frame_id;
    m.evidence.pdq_distance = best_vote->distance;
    m.evidence.reference_quality = fr.quality;
    m.evidence.query_quality = best_query_quality;
    m.evidence.transform = kVariantNames[best_vote->variant];
    m.evidence.samples_matched = best_support;
    m.evidence.samples_total = usable;
    matches.push_back(std::move(m));
  }
  std::sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) {
    if (a.evidence.samples_matched != b.evidence.samples_matched)
      return a.evidence.samples_matched > b.evidence.samples_matched;
    return a.score > b.score;
  });
  result->tied_sources = CountTied(matches, true);
  if (int(matches.size()) > options_.max_matches) matches.resize(size_t(options_.max_matches));
  result->matches = std::move(matches);
  result->status = result->matches.empty() ? FileStatus::kNoMatch : FileStatus::kMatch;
}

FileResult Matcher::MatchFile(const InputFile& input) const {
  auto start = std::chrono::steady_clock::now();
  FileResult r;
  r.file = input.display_path;
  r.path = input.path;
  if (!input.error.empty()) {
    r.status = FileStatus::kError;
    r.error = input.path + ": " + input.error;
  } else if (!input.skip_reason.empty()) {
    r.status = FileStatus::kSkipped;
    r.error = input.skip_reason;
  } else {
    std::error_code ec;
    const auto size = std::filesystem::file_size(input.path, ec);
    Result<MediaProbe> probe = ProbeMedia(input.path);
    if (!ec && size == 0) {
      // An empty file where media was expected is worth an investigator's
      // attention (a failed transfer, a wiped file), so it is an error.
      r.status = FileStatus::kError;
      r.error = input.path + ": empty file (0 bytes)";
    } else if (!probe.ok()) {
      r.status = FileStatus::kError;
      r.error = probe.status().message();
    } else {
      r.kind = probe->kind;
      if (probe->kind == MediaKind::kOther) {
        r.status = FileStatus::kSkipped;
        r.error = "not an image or video";
      } else if (probe->kind == MediaKind::kImage) {
        MatchImage(input.path, &r);
      } else {
        MatchVideo(input.path, &r);
      }
    }
  }
  r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace celmatch
