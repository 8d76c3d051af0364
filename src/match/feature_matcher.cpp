#include "match/feature_matcher.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

namespace celmatch {

namespace {

bool Better(const VerifiedFrame& a, const VerifiedFrame& b) {
  if (a.verification.geometry_ok != b.verification.geometry_ok) return a.verification.geometry_ok;
  if (a.verification.inliers != b.verification.inliers) return a.verification.inliers > b.verification.inliers;
  return a.frame_id < b.frame_id;
}

}  // namespace

FeatureMatcher::FeatureMatcher(const ReferenceIndex& index, FeatureMatchOptions options)
    : index_(index), options_(options) {}

LocalFeatureExtractor FeatureMatcher::QueryExtractor(bool line_art) const {
  LocalFeatureOptions o;
  o.max_features = options_.query_max_features;
  o.work_max_side = options_.query_max_side;
  // Line art is described at the scale reference line layers were: thin
  // strokes look alike to ORB only when thinned by the same downscale.
  if (line_art && index_.params().feature_max_side > 0) o.work_max_side = index_.params().feature_max_side;
  return LocalFeatureExtractor(o);
}

QueryFeatures FeatureMatcher::Describe(const cv::Mat& bgr, const cv::Mat& alpha) const {
  QueryFeatures q;
  cv::Mat mask;
  if (!alpha.empty() && alpha.size() == bgr.size()) {
    cv::threshold(alpha, mask, 127, 255, cv::THRESH_BINARY);
    const int opaque = cv::countNonZero(mask);
    if (opaque == int(mask.total())) mask.release();  // opaque everywhere
    else q.opaque_share = double(opaque) / double(mask.total());
  }
  q.has_alpha = !mask.empty();
  q.line_art = mask.empty() && LooksLikeLineArt(bgr);
  q.image = bgr;
  q.mask = mask;
  const LocalFeatureExtractor extractor = QueryExtractor(q.line_art);
  q.work = extractor.Prepare(bgr, mask);
  q.features = extractor.Extract(q.work, false);
  return q;
}

bool FeatureMatcher::LooksLikeLines(const QueryFeatures& q) const {
  if (!q.looks_like_lines)
    q.looks_like_lines = q.mask.empty() && !q.image.empty() && (q.line_art || LooksLikeLinesOnPaper(q.image));
  return *q.looks_like_lines;
}

const LocalFeatures& FeatureMatcher::Redrawn(const QueryFeatures& q) const {
  // Lines on paper are also described as redrawn the way reference line
  // layers are drawn: XDoG, a threshold, coloured or sketchy strokes on
  // tinted paper then look like the region borders the index holds.
  if (!q.redrawn_ready) {
    q.redrawn_ready = true;
    if (LooksLikeLines(q)) {
      const LocalFeatureExtractor lines = QueryExtractor(true);
      q.redrawn = lines.Extract(CanonicalLineArt(q.image, lines.options().work_max_side));
    }
  }
  return q.redrawn;
}

const LocalFeatures& FeatureMatcher::Coarser(const QueryFeatures& q) const {
  if (!q.coarser_ready) {
    q.coarser_ready = true;
    const cv::Mat& gray = q.work.gray;
    if (!gray.empty() && std::max(gray.cols, gray.rows) / 2 >= kMinCoarserSide) {
      LocalFeatureExtractor::WorkPicture half = q.work;
      cv::resize(gray, half.gray, cv::Size(gray.cols / 2, gray.rows / 2), 0, 0, cv::INTER_AREA);
      if (!q.work.mask.empty()) cv::resize(q.work.mask, half.mask, half.gray.size(), 0, 0, cv::INTER_NEAREST);
      half.scale = q.work.scale * double(half.gray.cols) / gray.cols;
      // A quarter of the pixels: half the keypoints and half the words
      // searched (voting and verifying cost in proportion to them).
      LocalFeatureOptions o = QueryExtractor(q.line_art).options();
      o.max_features /= 2;
      q.coarser = LocalFeatureExtractor(o).Extract(half, false);
    }
  }
  return q.coarser;
}

const LocalFeatures& FeatureMatcher::Mirrored(const QueryFeatures& q) const {
  if (!q.mirrored_ready) {
    q.mirrored_ready = true;
    if (options_.try_flip && !q.image.empty()) {
      q.mirrored = QueryExtractor(q.line_art).Extract(q.work, true);
    }
  }
  return q.mirrored;
}

VerifiedFrame FeatureMatcher::VerifyIn(const QueryFeatures& q, const LocalFeatures& f, int64_t frame_id,
                                       FeatureLayer layer, bool mirrored) const {
  VerifiedFrame out;
  out.frame_id = frame_id;
  out.layer = layer;
  out.mirrored = mirrored;
  auto [it, fresh] = q.verifications.try_emplace({&f, frame_id, int(layer)});
  if (fresh) {
    const FrameRecord& fr = index_.frame(frame_id);
    const SourceRecord& src = index_.source(fr.source_id);
    it->second = VerifyHomography(f, index_.features(layer).frame(frame_id), cv::Size(src.width, src.height),
                                  options_.verifier);
  }
  out.verification = it->second;
  return out;
}

VerifiedFrame FeatureMatcher::Verify(const QueryFeatures& q, int64_t frame_id, bool mirrored) const {
  const LocalFeatures& f = mirrored ? Mirrored(q) : q.features;
  VerifiedFrame best = VerifyIn(q, f, frame_id, FeatureLayer::kColor, mirrored);
  if (q.line_art) {
    VerifiedFrame line = VerifyIn(q, f, frame_id, FeatureLayer::kLine, mirrored);
    if (Better(line, best)) best = line;
  }
  return best;
}

VerifiedFrame FeatureMatcher::VerifyAsRetrieved(const QueryFeatures& q, int64_t frame_id, bool mirrored) const {
  VerifiedFrame best = Verify(q, frame_id, mirrored);
  if (Accepts(best) || mirrored || !q.redrawn_ready || q.redrawn.size() < 4) return best;
  for (FeatureLayer layer : {FeatureLayer::kColor, FeatureLayer::kLine}) {
    VerifiedFrame v = VerifyIn(q, q.redrawn, frame_id, layer, false);
    if (Better(v, best)) best = v;
  }
  return best;
}

std::vector<VerifiedFrame> FeatureMatcher::RetrieveOne(const QueryFeatures& q, const LocalFeatures& f,
                                                       const LocalFeatures& verifying,
                                                       bool mirrored, bool line_art, int word_budget,
                                                       std::vector<VerifiedFrame>* placed,
                                                       std::vector<int64_t>* voted) const {
  std::vector<VerifiedFrame> out;
  if (f.size() < 4 || verifying.size() < 4) return out;
  std::vector<FeatureLayer> layers = {FeatureLayer::kColor};
  if (line_art) layers.push_back(FeatureLayer::kLine);
  for (FeatureLayer layer : layers) {
    // At most vote_max_features descriptors vote (0: all).
    const cv::Mat voters = options_.vote_max_features > 0 && f.descriptors.rows > options_.vote_max_features
                               ? f.descriptors.rowRange(0, options_.vote_max_features)
                               : f.descriptors;
    const int beam = WordBeam(voters.rows, layer, word_budget);
    const std::vector<FrameVotes> votes = index_.features(layer).Vote(
        voters, options_.neighbors, options_.max_descriptor_distance, options_.verify_frames, beam);
    for (const FrameVotes& fv : votes) {
      if (fv.votes < options_.min_votes) break;
      if (voted) voted->push_back(fv.frame_id);
      VerifiedFrame v = VerifyIn(q, verifying, fv.frame_id, layer, mirrored);
      v.votes = fv.votes;
      if (Accepts(v)) {
        out.push_back(v);
      } else if (placed && Places(v)) {
        placed->push_back(v);
      }
    }
  }
  return out;
}

std::vector<FrameVotes> FeatureMatcher::VotedFrames(const QueryFeatures& q, int max_frames) const {
  if (q.features.size() == 0) return {};
  return index_.features(FeatureLayer::kColor)
      .Vote(q.features.descriptors, options_.neighbors, options_.max_descriptor_distance, max_frames,
            WordBeam(q.features.descriptors.rows, FeatureLayer::kColor));
}

int FeatureMatcher::WordBeam(int descriptors, FeatureLayer layer, int word_budget) const {
  const int least = layer == FeatureLayer::kLine ? options_.line_vote_word_beam : options_.vote_word_beam;
  if (word_budget < 0) word_budget = options_.vote_word_budget;
  const int budgeted = descriptors > 0 ? word_budget / descriptors : least;
  return std::max(least, std::min(options_.max_vote_word_beam, budgeted));
}

std::vector<VerifiedFrame> FeatureMatcher::Retrieve(const QueryFeatures& q, std::vector<VerifiedFrame>* placed,
                                                    std::vector<int64_t>* voted) const {
  std::vector<VerifiedFrame> out =
      RetrieveOne(q, q.features, q.features, false, q.line_art, options_.vote_word_budget, placed, voted);
  // The mirror image too, unless the picture as it is found a conclusive
  // match: episodes that share a background verify on it with tens of
  // inliers, while a mirrored copy of the true frame is found only through
  // the mirrored description.
  const bool conclusive = std::any_of(out.begin(), out.end(), [&](const VerifiedFrame& v) {
    return v.verification.inliers >= options_.conclusive_inliers;
  });
  if (options_.try_flip && !conclusive) {
    const LocalFeatures& m = Mirrored(q);
    std::vector<VerifiedFrame> mirrored = RetrieveOne(q, m, m, true, q.line_art, options_.vote_word_budget, placed);
    out.insert(out.end(), mirrored.begin(), mirrored.end());
  }
  auto verified = [&] {
    return std::any_of(out.begin(), out.end(),
                       [&](const VerifiedFrame& v) { return v.verification.inliers >= options_.min_inliers; });
  };
  // Line art that neither description verified: its redrawn strokes.
  if (!verified()) {
    // Not placed: the redrawn picture's points are in its own pixels.
    const LocalFeatures& r = Redrawn(q);
    std::vector<VerifiedFrame> redrawn = RetrieveOne(q, r, r, false, true, options_.vote_word_budget, nullptr, voted);
    out.insert(out.end(), redrawn.begin(), redrawn.end());
  }
  // None verified: the frames the picture at half its size votes for (a
  // crop at a larger scale than the references'; QueryFeatures::coarser),
  // verified with the picture as it is, whose finer keypoints tell apart
  // near-identical pictures (one episode's intro from another's) that the
  // coarse ones do not. The frames it voted for are not proposed to the
  // later steps, whose few comparisons go to the other descriptions' and
  // the embedding's proposals.
  if (!verified()) {
    std::vector<VerifiedFrame> coarser =
        RetrieveOne(q, Coarser(q), q.features, false, q.line_art, options_.vote_word_budget / 2, placed, nullptr);
    out.insert(out.end(), coarser.begin(), coarser.end());
  }
  std::sort(out.begin(), out.end(), Better);
  if (placed) std::sort(placed->begin(), placed->end(), Better);
  return out;
}

}  // namespace celmatch
