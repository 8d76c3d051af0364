#include "match/matcher.h"

#include "core/file_digest.h"
#include "frames/panels.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "frames/keyframe_sampler.h"
#include "match/thumbnails.h"
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

Matcher::Matcher(const ReferenceIndex& index, MatchOptions options)
    : index_(index),
      options_(options),
      features_(index, options.features),
      decider_(index, options),
      cel_search_(std::make_shared<LazyCelPixelSearch>()) {}

Match Matcher::MatchAtFrame(int64_t frame_id, const std::function<bool(int64_t)>& also_matches) const {
  const FrameRecord& fr = index_.frame(frame_id);
  const SourceRecord& src = index_.source(fr.source_id);
  Match m;
  m.production = index_.production(src.production_id).name;
  m.source = src.path;
  m.source_id = src.id;
  m.is_still = src.is_still;
  m.time_s = fr.time_s;
  m.span_start_s = fr.time_s;
  m.span_end_s = fr.span_end_s;
  m.evidence.frame_id = frame_id;
  m.evidence.reference_quality = fr.quality;
  if (!also_matches) return m;
  const std::vector<int64_t>& order = index_.frames_of_source(src.id);
  auto pos = std::find(order.begin(), order.end(), frame_id);
  if (pos == order.end()) return m;
  for (auto it = pos; it != order.begin();) {
    --it;
    if (!also_matches(*it)) break;
    m.span_start_s = index_.frame(*it).time_s;
  }
  for (auto it = pos + 1; it != order.end() && also_matches(*it); ++it) m.span_end_s = index_.frame(*it).span_end_s;
  return m;
}

std::vector<Match> Matcher::MatchHashes(const std::array<PdqResult, 8>& variants) const {
  std::vector<FrameCandidate> cands = PdqCandidates(index_, options_, variants);
  std::unordered_map<int64_t, int> distance_of;
  for (const FrameCandidate& c : cands) distance_of[c.frame_id] = c.distance;
  std::vector<Match> out;
  std::unordered_map<int64_t, bool> source_done;
  for (const FrameCandidate& c : cands) {  // nearest first: the first frame per source is its best
    const FrameRecord& fr = index_.frame(c.frame_id);
    if (source_done[fr.source_id]) continue;
    source_done[fr.source_id] = true;
    Match m = MatchAtFrame(c.frame_id, [&](int64_t id) { return distance_of.count(id) > 0; });
    m.time_s = c.time_s;  // a span hash's, when one of the frame's dropped frames is nearer
    m.score = decider_.ScoreForDistance(c.distance);
    m.evidence.pdq_distance = c.distance;
    m.evidence.query_quality = variants[0].quality;
    m.evidence.transform = VariantName(c.variant);
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

// Grayscale, slightly blurred (JPEG blocks and resampling differ between a
// leak and the reference thumbnail), at `size`.
cv::Mat ComparableGray(const cv::Mat& bgr, cv::Size size) {
  cv::Mat gray, small;
  if (bgr.channels() == 3) cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  else gray = bgr;
  cv::resize(gray, small, size, 0, 0, cv::INTER_AREA);
  cv::GaussianBlur(small, small, cv::Size(3, 3), 0);
  small.convertTo(small, CV_32F);
  return small;
}

}  // namespace

void Matcher::RefineTimeWithThumbnails(const cv::Mat& query_bgr, const PdqHash& query_hash, Match* match) const {
  if (match->is_still || match->evidence.transform != "original") return;
  // A span hash placed it: a dropped frame's hash is nearer than any kept
  // frame's, so no thumbnail (kept frames only) can place it better.
  if (match->evidence.frame_id >= 0 && match->time_s != index_.frame(match->evidence.frame_id).time_s) return;
  const std::vector<int64_t>& order = index_.frames_of_source(match->source_id);
  std::vector<int64_t> run;
  for (int64_t id : order) {
    const FrameRecord& fr = index_.frame(id);
    if (fr.time_s + 1e-9 >= match->span_start_s && fr.time_s < match->span_end_s - 1e-9) run.push_back(id);
  }
  if (run.size() < 2) return;
  if (int(run.size()) > options_.max_refine_frames) {
    // Keep the frames nearest in time to the PDQ-best one.
    const double t = match->time_s;
    std::sort(run.begin(), run.end(), [&](int64_t a, int64_t b) {
      return std::fabs(index_.frame(a).time_s - t) < std::fabs(index_.frame(b).time_s - t);
    });
    run.resize(size_t(options_.max_refine_frames));
  }
  double best_score = -2;
  int64_t best_id = -1;
  cv::Mat query;
  for (int64_t id : run) {
    Result<cv::Mat> decoded = DecodedThumbnail(index_, id, cv::IMREAD_GRAYSCALE);
    // No thumbnails (e.g. hash-only references): keep PDQ's answer.
    if (!decoded.ok() || decoded->empty()) return;
    const cv::Mat& thumb = *decoded;
    if (query.empty() || query.size() != thumb.size()) query = ComparableGray(query_bgr, thumb.size());
    cv::Mat ref = ComparableGray(thumb, thumb.size());
    cv::Mat ncc;
    cv::matchTemplate(query, ref, ncc, cv::TM_CCOEFF_NORMED);
    const double score = ncc.at<float>(0, 0);
    if (score > best_score) {
      best_score = score;
      best_id = id;
    }
  }
  if (best_id < 0) return;
  const FrameRecord& fr = index_.frame(best_id);
  match->time_s = fr.time_s;
  match->evidence.frame_id = best_id;
  match->evidence.pdq_distance = fr.pdq.Distance(query_hash);
  match->evidence.reference_quality = fr.quality;
}

std::vector<int64_t> Matcher::SharedPictureFrames(int64_t frame_id) const {
  std::vector<int64_t> out;
  const int64_t source_id = index_.frame(frame_id).source_id;
  for (const HashNeighbor& nb : index_.Search(index_.frame(frame_id).pdq, options_.max_distance, 64))
    if (index_.frame(nb.frame_id).source_id != source_id) out.push_back(nb.frame_id);
  return out;
}

namespace {

// Some of the picture is see-through (2% or more below full opacity).
bool HasTransparency(const cv::Mat& alpha) {
  if (alpha.empty()) return false;
  cv::Mat see_through;
  cv::compare(alpha, 250, see_through, cv::CMP_LT);
  return cv::countNonZero(see_through) >= 0.02 * double(alpha.total());
}

}  // namespace

void Matcher::MatchImage(const std::string& path, FileResult* result,
                         std::shared_ptr<const std::vector<uint8_t>> bytes) const {
  auto fail = [result](const Status& st) {
    result->status = FileStatus::kError;
    result->error = st.message();
  };
  if (!bytes) {  // read once: the file may be decoded twice below
    Result<std::vector<uint8_t>> read = ReadImageBytes(path, options_.limits);
    if (!read.ok()) return fail(read.status());
    bytes = std::make_shared<const std::vector<uint8_t>>(std::move(*read));
  }
  cv::Mat alpha;  // a cel's transparency: local features only where it is opaque
  // PDQ first, on a large JPEG decoded at a fraction of its size (DCT
  // scaling; kEarlyDecodeMinSide). When PDQ's answer is unambiguous
  // (PdqDecides) that is the whole cost of the file; otherwise the file is
  // decoded again, a large JPEG at about the size local features describe
  // (kFeatureDecodeMinSide), and everything from PDQ on runs on that
  // picture, as if the first one had never been made. No later step looks
  // at a picture larger than local features do.
  const int early_side = options_.early_pdq_distance >= 0 ? kEarlyDecodeMinSide : 0;
  bool reduced = false;
  Result<cv::Mat> img = DecodeImageFromBuffer(path, *bytes, &alpha, options_.limits, early_side, &reduced);
  if (!img.ok()) return fail(img.status());
  std::array<PdqResult, 8> variants;
  result->samples = 1;
  bool decided = SearchPdq(*img, &variants, &result->matches);
  cv::Mat small;  // the reduced picture, kept for the embedding's small input
  if (!decided && reduced) {
    small = *img;
    img = DecodeImageFromBuffer(path, *bytes, &alpha, options_.limits, kFeatureDecodeMinSide);
    if (!img.ok()) return fail(img.status());
    // The larger picture's hash is sharper (higher quality, a few bits nearer).
    decided = SearchPdq(*img, &variants, &result->matches);
  }
  if (options_.query_thumbnail_max_side > 0)
    result->query_thumbnail_jpeg = QueryThumbnail(*img, options_.query_thumbnail_max_side);
  if (Status st = MatchPicture(*img, alpha, small, variants, decided, result); !st.ok()) return fail(st);
}

bool Matcher::SearchPdq(const cv::Mat& bgr, std::array<PdqResult, 8>* variants, std::vector<Match>* matches) const {
  *variants = hasher_.ComputeDihedral(bgr);
  const bool flat = (*variants)[0].quality < options_.min_quality;
  *matches = flat ? std::vector<Match>{} : MatchHashes(*variants);
  return decider_.PdqDecides(*matches);
}

Matcher::Answer Matcher::AnswerOf(std::vector<Match> matches, int tied) const {
  // A picture several sources share names each of them.
  matches.resize(std::min(matches.size(), size_t(std::max(1, std::min(tied, options_.max_matches)))));
  return {std::move(matches), std::max(1, tied)};
}

void Matcher::JoinAnswers(std::vector<Answer> answers, FileResult* result) {
  std::stable_sort(answers.begin(), answers.end(), [](const Answer& a, const Answer& b) {
    return a.matches.front().score > b.matches.front().score;
  });
  result->matches.clear();
  for (Answer& a : answers)
    for (Match& m : a.matches) result->matches.push_back(std::move(m));
  if (!answers.empty()) result->tied_sources = answers.front().tied;
}

// A decoded picture whose PDQ matches are in `result`: a page's panels, the
// cascade unless PDQ decided, the decision, the time.
Status Matcher::MatchPicture(const cv::Mat& img, const cv::Mat& alpha, const cv::Mat& small,
                             const std::array<PdqResult, 8>& variants, bool decided, FileResult* result,
                             std::vector<Answer>* answers) const {
  const bool flat = variants[0].quality < options_.min_quality;
  // A page of panels (a retake sheet, a storyboard): each panel is a picture
  // of its own, and the file's answer names each panel's frame.
  if (!decided && options_.panels) {
    const std::vector<cv::Rect> panels = FindPanels(img);
    if (!panels.empty()) {
      std::vector<Answer> found;
      CELMATCH_RETURN_IF_ERROR(MatchPanels(img, panels, &found));
      if (!found.empty()) {
        if (answers) answers->insert(answers->end(), found.begin(), found.end());
        else JoinAnswers(std::move(found), result);
        result->status = FileStatus::kMatch;
        return Status::Ok();
      }
    }
  }
  // Local features verify and retrieve, unless PDQ's answer is unambiguous.
  if (options_.local_features && !decided)
    CELMATCH_RETURN_IF_ERROR(MatchSteps(img, alpha, small, variants[0].hash, &result->matches));
  if (flat && result->matches.empty()) {
    result->status = FileStatus::kNoMatch;
    result->note = "picture too flat for PDQ (quality " + std::to_string(variants[0].quality) + " < " +
                   std::to_string(options_.min_quality) + ") and no local-feature match";
    return Status::Ok();
  }
  result->tied_sources = decider_.DecideImage(&result->matches);
  // Only the best match is refined: it carries the answer, and each
  // refinement decodes up to max_refine_frames thumbnails.
  if (options_.refine_time && !result->matches.empty() && ShowsWholeFrame(result->matches.front()))
    RefineTimeWithThumbnails(img, variants[0].hash, &result->matches.front());
  result->status = result->matches.empty() ? FileStatus::kNoMatch : FileStatus::kMatch;
  if (answers && !result->matches.empty()) answers->push_back(AnswerOf(result->matches, result->tied_sources));
  return Status::Ok();
}

// The cascade after PDQ for one picture: local features, then the steps for
// what they miss (cels and blanked parts, the embedding, line drawings,
// located pixels), each only while nothing better has placed it.
Status Matcher::MatchSteps(const cv::Mat& img, const cv::Mat& alpha, const cv::Mat& small, const PdqHash& hash,
                           std::vector<Match>* matches) const {
  CELMATCH_RETURN_IF_ERROR(index_.LoadFeatures());  // loaded at the first such file
  // Described once; the embedding step verifies its candidates with the same features.
  const QueryFeatures query = features_.Describe(img, alpha);
  std::vector<int64_t> candidates;         // frames the steps proposed, for the last steps
  std::vector<int64_t> region_candidates;  // frames the embedding proposed by a region
  AddLocalFeatureMatches(img, alpha, query, hash, matches, &candidates);
  // Where an opaque picture shows content when part of it is one flat
  // colour (a blanked part), and the share of that colour; made when a
  // step first needs it.
  const bool transparent = HasTransparency(alpha);
  std::optional<cv::Mat> flat_blanked;
  double flat_share = 0;
  auto visible_part = [&]() -> const cv::Mat& {
    if (!flat_blanked) flat_blanked = transparent ? cv::Mat() : FlatRegionMask(img, kMinFlatShare, &flat_share);
    return *flat_blanked;
  };
  // A cel (transparent, or flattened onto a flat colour) or a frame with a
  // blanked part: its visible pixels, at their place, unless PDQ or many
  // inliers already placed it. Characters recur across episodes, so a
  // cel's few verified features may point at the wrong one; the pixels
  // at their place do not.
  if (options_.cel_pixels && !decider_.Conclusive(*matches)) {
    const cv::Mat& visible = transparent ? alpha : visible_part();
    if (!visible.empty()) AddCelPixelMatches(img, visible, query, hash, matches);
  }
  if (options_.embedding && matches->empty())
    AddEmbeddingMatches(img, small, query, hash, matches, &candidates, &region_candidates);
  if (options_.line_drawings && matches->empty() && !transparent && features_.LooksLikeLines(query))
    AddLineDrawingMatches(img, candidates, hash, matches);
  if (options_.located_pixels && matches->empty() && !query.line_art && !transparent) {
    // The whole picture first; then, when a third of it or more is one
    // flat colour (a blanked part, a cel's flat ground), its other pixels
    // alone: the blank correlates with nothing, but a flat sky is part of
    // the picture and places a quiet crop. A smaller flat part (the gray
    // road of a dashboard camera) is not searched again.
    AddLocatedPixelMatches(img, cv::Mat(), region_candidates, candidates, hash, matches);
    if (matches->empty() && !visible_part().empty() && flat_share >= kMinBlankedShare)
      AddLocatedPixelMatches(img, visible_part(), region_candidates, candidates, hash, matches);
  }
  return Status::Ok();
}

// Each panel of a page matched as a picture: PDQ, then the cascade unless PDQ
// decides, then the decision; a panel's answer carries its place on the
// page. None matched: the page is matched as a whole picture afterwards, as
// any other.
Status Matcher::MatchPanels(const cv::Mat& page, const std::vector<cv::Rect>& panels,
                            std::vector<Answer>* answers) const {
  for (const cv::Rect& panel : panels) {
    const cv::Mat picture = page(panel).clone();
    std::array<PdqResult, 8> variants;
    std::vector<Match> matches;
    const bool decided = SearchPdq(picture, &variants, &matches);
    if (options_.local_features && !decided)
      CELMATCH_RETURN_IF_ERROR(MatchSteps(picture, cv::Mat(), cv::Mat(), variants[0].hash, &matches));
    const int tied = decider_.DecideImage(&matches);
    if (matches.empty()) continue;
    if (options_.refine_time && ShowsWholeFrame(matches.front()))
      RefineTimeWithThumbnails(picture, variants[0].hash, &matches.front());
    Answer answer = AnswerOf(std::move(matches), tied);
    for (Match& m : answer.matches) {
      m.has_panel = true;
      m.panel[0] = double(panel.x) / page.cols;
      m.panel[1] = double(panel.y) / page.rows;
      m.panel[2] = double(panel.width) / page.cols;
      m.panel[3] = double(panel.height) / page.rows;
    }
    answers->push_back(std::move(answer));
  }
  return Status::Ok();
}

void Matcher::MatchVideo(const std::string& path, FileResult* result,
                         std::shared_ptr<const std::vector<uint8_t>> bytes) const {
  auto open = [&]() {
    return bytes ? VideoDecoder::OpenBuffer(path, bytes, options_.limits) : VideoDecoder::Open(path, options_.limits);
  };
  Result<std::unique_ptr<VideoDecoder>> dec = open();
  if (!dec.ok()) {
    result->status = FileStatus::kError;
    result->error = dec.status().message();
    return;
  }
  Result<QuerySamplingResult> sampled =
      SampleQueryFrames(**dec, hasher_, options_.video_sample_interval_s, options_.max_video_samples,
                        options_.query_thumbnail_max_side);
  if (!sampled.ok()) {
    result->status = FileStatus::kError;
    result->error = sampled.status().WithPrefix(path).message();
    return;
  }
  const std::vector<QuerySample>& samples = sampled->samples;
  result->duration_s = sampled->duration_s;
  result->samples = int(samples.size());
  // The report's picture of the clip: the sample nearest `query_time_s`
  // (first the middle of the clip; below, the moment of the best match).
  auto set_thumbnail = [&](double query_time_s) {
    if (options_.query_thumbnail_max_side <= 0 || samples.empty()) return;
    const QuerySample* nearest = &samples.front();
    for (const QuerySample& s : samples)
      if (std::fabs(s.time_s - query_time_s) < std::fabs(nearest->time_s - query_time_s)) nearest = &s;
    result->query_thumbnail_jpeg = QueryThumbnail(nearest->bgr, options_.query_thumbnail_max_side);
  };
  set_thumbnail(0.5 * sampled->duration_s);

  // Candidates per usable sample, grouped by source.
  std::map<int64_t, std::vector<SampleVote>> votes_by_source;
  std::vector<double> sample_times;
  int usable = 0, best_query_quality = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const QuerySample& s = samples[i];
    sample_times.push_back(s.time_s);
    best_query_quality = std::max(best_query_quality, s.pdq[0].quality);
    if (s.pdq[0].quality < options_.min_quality) continue;
    ++usable;
    for (const FrameCandidate& c : PdqCandidates(index_, options_, s.pdq))
      votes_by_source[index_.frame(c.frame_id).source_id].push_back(
          SampleVote{int(i), c.frame_id, c.distance, c.variant, 0});
  }
  if (usable == 0) {
    result->status = FileStatus::kNoMatch;
    result->note = "every sampled frame too flat for PDQ (best quality " + std::to_string(best_query_quality) + ")";
    return;
  }
  if (options_.local_features && options_.max_video_feature_samples > 0 &&
      !decider_.AnySourceAgrees(votes_by_source, sample_times, usable)) {
    if (Status st = index_.LoadFeatures(); !st.ok()) {
      result->status = FileStatus::kError;
      result->error = st.message();
      return;
    }
    AddVideoFeatureVotes(open, samples, &votes_by_source);
  }

  VideoDecision decision =
      decider_.DecideVideo(votes_by_source, sample_times, usable, best_query_quality, sampled->duration_s);
  if (!decision.matches.empty() && !decision.matches.front().is_still)
    set_thumbnail(index_.frame(decision.matches.front().evidence.frame_id).time_s - decision.matches.front().time_s);
  result->tied_sources = decision.tied_sources;
  result->segments = std::move(decision.segments);
  result->matches = std::move(decision.matches);
  result->status = result->matches.empty() ? FileStatus::kNoMatch : FileStatus::kMatch;
}

void Matcher::AddVideoFeatureVotes(
    const std::function<Result<std::unique_ptr<VideoDecoder>>()>& open, const std::vector<QuerySample>& samples,
    std::map<int64_t, std::vector<SampleVote>>* votes_by_source) const {
  // Evenly spread usable samples, at most max_video_feature_samples.
  std::vector<int> usable_ids;
  for (size_t i = 0; i < samples.size(); ++i)
    if (samples[i].pdq[0].quality >= options_.min_quality) usable_ids.push_back(int(i));
  const int n = std::min<int>(options_.max_video_feature_samples, int(usable_ids.size()));
  if (n <= 0) return;
  std::vector<int> chosen;
  for (int k = 0; k < n; ++k) {
    const int at = usable_ids[size_t((2 * k + 1) * int(usable_ids.size()) / (2 * n))];
    if (chosen.empty() || chosen.back() != at) chosen.push_back(at);
  }
  // The samples' pictures were not kept: decode them again (a clip PDQ could
  // not place is rare, and this bounds memory to one frame).
  Result<std::unique_ptr<VideoDecoder>> dec = open();
  if (!dec.ok()) return;
  VideoFrame f;
  size_t next = 0;
  while (next < chosen.size()) {
    Result<bool> more = (*dec)->Next(&f);
    if (!more.ok() || !*more) break;
    const QuerySample& s = samples[size_t(chosen[next])];
    if (f.time_s + 1e-6 < s.time_s) continue;
    const QueryFeatures q = features_.Describe(f.bgr, cv::Mat());
    for (const VerifiedFrame& v : features_.Retrieve(q)) {
      const FrameRecord& fr = index_.frame(v.frame_id);
      (*votes_by_source)[fr.source_id].push_back(SampleVote{chosen[next], v.frame_id, fr.pdq.Distance(s.pdq[0].hash),
                                                            v.mirrored ? 4 : 0, v.verification.inliers});
    }
    ++next;
  }
}

FileResult Matcher::MatchFile(const InputFile& input) const {
  auto start = std::chrono::steady_clock::now();
  FileResult r;
  r.file = input.display_path;
  r.path = input.path;
  r.embedding = options_.embedding != nullptr;
  if (!input.error.empty()) {
    r.status = FileStatus::kError;
    r.error = input.error;
  } else if (!input.skip_reason.empty()) {
    r.status = FileStatus::kSkipped;
    r.error = input.skip_reason;
  } else {
    // A library that throws on one file (OpenCV, FAISS, an allocation) makes
    // that file's error; the run goes on.
    try {
      MatchInput(input, &r);
    } catch (const std::exception& e) {
      r.matches.clear();
      r.status = FileStatus::kError;
      r.error = input.display_path + ": matching failed: " + e.what();
    }
  }
  r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

void Matcher::MatchInput(const InputFile& input, FileResult* result) const {
  FileResult& r = *result;
  if (!input.archive_member.empty()) {
    MatchArchiveMember(input, &r);  // matcher_archive.cpp
  } else {
    std::error_code ec;
    const auto size = std::filesystem::file_size(input.path, ec);
    Result<MediaProbe> probe = ProbeMedia(input.path);
    if (Result<std::string> digest = Sha256File(input.path); digest.ok()) r.sha256 = *digest;
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
      } else if (probe->kind == MediaKind::kDocument) {
        MatchDocument(input.path, input.path, &r);
      } else if (probe->kind == MediaKind::kImage) {
        MatchImage(input.path, &r);
      } else {
        MatchVideo(input.path, &r);
      }
    }
  }
}

}  // namespace celmatch
