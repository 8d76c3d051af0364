// Matcher: search -> verify -> decide for one query file against a
// ReferenceIndex.
//
// Images: the PDQ hash and its 8 dihedral variants (flips, rotations by 90
// degrees) are searched; a reference frame within `max_distance` whose hash
// and the query's are both of usable quality is a candidate; the best frame
// of each source is reported, with the span of footage covered by the
// contiguous reference frames that also match.
// Videos: frames are sampled every `video_sample_interval_s`, each matched as
// an image; candidates vote for (source, offset) where offset = reference
// time - query time, and a source is reported only when at least
// `min_video_support` samples agree on the offset to within the reference
// frames' spans (plus `offset_tolerance_s`). When PDQ places no source, a
// few samples (max_video_feature_samples) are retrieved by local features
// and vote the same way. Each agreed offset is a FileResult::segment.
// Scores: EvidenceScore, one 0..1 scale for PDQ, inliers and cel pixels.
//
// Thread-safe: MatchFile may run on many threads at once over one index.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/input_walker.h"
#include "frames/keyframe_sampler.h"
#include "index/reference_index.h"
#include "match/cel_pixels.h"
#include "match/feature_matcher.h"
#include "match/match_result.h"
#include "media/media_limits.h"
#include "media/video_decoder.h"
#include "signatures/embedding.h"
#include "signatures/pdq_hash.h"

namespace celmatch {

struct MatchOptions {
  // Operating point, chosen on real footage (README: "Calibration").
  int max_distance = 31;            // PDQ bits; Meta's recommended match threshold
  // PDQ quality below which a picture is too uniform to identify (black
  // frames, fades, flat colour). PDQ hashes are invariant to contrast, so dim
  // but structured frames (quality 10..50) still hash reliably; uniform ones
  // hash to noise or to all-zero bits, which would match every other uniform
  // frame. README "Calibration" has the measurements behind both numbers.
  int min_quality = 10;
  bool dihedral = true;             // also search flipped / 90-degree-rotated variants
  int neighbors_per_hash = 32;      // FAISS k per searched hash
  int max_matches = 5;              // sources reported per file
  double video_sample_interval_s = 0.5;
  int max_video_samples = 240;
  int min_video_support = 2;        // agreeing samples (or all samples when fewer)
  double offset_tolerance_s = 0.5;
  // Sources whose best distance is within this many bits of the best
  // source's are reported as tied (FileResult::tied_sources): recompression
  // alone moves PDQ by up to ~8 bits, so closer candidates cannot be told apart.
  int tie_margin = 8;
  bool refine_time = true;          // see Matcher::RefineTimeWithThumbnails
  int max_refine_frames = 16;     // nearest in time to the PDQ-best frame
  // Longer side of FileResult::query_thumbnail_jpeg in pixels; 0 = none.
  int query_thumbnail_max_side = 0;
  // Local features beside PDQ (match/feature_matcher.h): verify PDQ
  // candidates, and retrieve and verify frames PDQ does not find (crops,
  // sheets, screenshots, cels, line art, small rotations).
  bool local_features = true;
  FeatureMatchOptions features;
  // The early PDQ decision (Matcher::PdqDecides): an image query whose PDQ
  // match is unambiguous is decided without local features, which would only
  // confirm it. 12 bits: on the leak benchmark, the same answers and score
  // ranking as verifying every match (at 16, PDQ-only scores of 13-16 bits
  // fell below wrong feature matches: -5 points of recall at P99.9). Unambiguous: the best source within this many bits (-1: never
  // decide early, verify every match), the query and the reference frame both
  // of at least `early_pdq_min_quality`, and no other source within
  // 2 x tie_margin bits of it (a shared intro, a reused background).
  int early_pdq_distance = 12;
  int early_pdq_min_quality = 50;
  // Video samples described by local features when PDQ places none of the
  // clip (a cropped or heavily changed clip): this many, evenly spread.
  int max_video_feature_samples = 4;
  int max_segments_per_source = 4;  // FileResult::segments of one source
  // Learned embedding (matcher_embedding.cpp): when PDQ and local features
  // found nothing for an image query, the `embedding_neighbors` reference
  // frames nearest to its embedding (and to its mirror image's) are verified
  // by local features; verification decides. Null: no embedding step (also
  // when the index has no embeddings). Must be the index's model
  // (ChooseQueryEmbeddingModel in index/embedding_index.h).
  std::shared_ptr<EmbeddingModelPool> embedding;
  int embedding_neighbors = 8;
  // A proposed frame local features reject is still accepted when the
  // picture covers the frame's whole field (same aspect ratio, within 2%)
  // and their edge layouts (match/edge_layout.h) agree at least this much:
  // heavy grading, blur and noise, small line drawings. Score 0.5 there,
  // rising to 0.99 at full agreement. Above 1: never.
  double embedding_min_layout = 0.8;
  // Cels and pictures with a blanked part (match/cel_pixels.h): when nothing
  // else placed an image with transparency or with a large flat-coloured
  // region, its visible pixels are compared with every reference frame's at
  // the same place, for indexes of at most this many frames (tiny thumbnails,
  // 3.9 KB per frame, loaded at the first such query); a larger index
  // compares only the frames the picture's local features vote for.
  int64_t cel_search_max_frames = 100000;
  MediaLimits limits;
};

// One searched sample's candidates: reference frame -> best distance.
struct FrameCandidate {
  int64_t frame_id = -1;
  int distance = 256;
  int variant = 0;  // Dihedral index
};

class Matcher {
 public:
  Matcher(const ReferenceIndex& index, MatchOptions options);

  // Probes, decodes, hashes and matches one file. Never fails: problems are
  // reported in the result (status error / skipped) with a reason.
  FileResult MatchFile(const InputFile& input) const;

  // Matches a file held in memory (`celmatch serve`), reported as `name`:
  // the same record MatchFile gives for that file on disk, under the same
  // limits (MatchOptions::limits, max_file_bytes for the bytes).
  FileResult MatchBytes(const std::string& name, std::shared_ptr<const std::vector<uint8_t>> bytes) const;

  // Matching of already-hashed queries (used by MatchFile and the benchmark):
  // every source with a matching frame, best first.
  std::vector<Match> MatchHashes(const std::array<PdqResult, 8>& variants) const;
  // How many of `matches` (best first) are as good as the first.
  int CountTied(const std::vector<Match>& matches, bool video) const;
  // The early PDQ decision (MatchOptions::early_pdq_distance) on PDQ's
  // matches of an image, best first: true when local features would only
  // confirm them.
  bool PdqDecides(const std::vector<Match>& matches) const;
  // Longer side, in pixels, of the reduced picture an image query's PDQ
  // decision is made on (a JPEG of at least twice this decodes at 1/2, 1/4
  // or 1/8 scale; image_decoder.h): above PDQ's 64x64 and the thumbnails'
  // 192 px with room to spare. Measured against the full picture's hash in
  // tests/test_pdq.cpp ("reduced JPEG decode").
  static constexpr int kEarlyDecodeMinSide = 400;

  // Score in 0..1 for a PDQ distance: 1 at distance 0, 0.5 at max_distance,
  // falling linearly to 0 at twice max_distance.
  double ScoreForDistance(int distance) const;
  // The one score of a match, 0..1, from its evidence: the PDQ distance
  // (when within max_distance) and the verified inliers (when at least
  // min_inliers) combine as independent evidence, 1 - (1 - s_pdq)(1 - s_inliers);
  // each alone gives 0.5 at its decision threshold, so >= 0.5 is a match.
  double EvidenceScore(const MatchEvidence& evidence) const;

  const MatchOptions& options() const { return options_; }

 private:
  std::vector<FrameCandidate> Candidates(const std::array<PdqResult, 8>& variants) const;
  // `bytes` non-null: decode them (an archive member named `path`) instead
  // of reading the file `path`.
  void MatchVideo(const std::string& path, FileResult* result,
                  std::shared_ptr<const std::vector<uint8_t>> bytes = nullptr) const;
  void MatchImage(const std::string& path, FileResult* result,
                  std::shared_ptr<const std::vector<uint8_t>> bytes = nullptr) const;
  // Local-feature retrieval on a few of a video's samples (decoded again
  // through `open`), each verified frame becoming a vote via `add_vote`
  // (sample, frame, PDQ distance, dihedral variant, inliers).
  void AddVideoFeatureVotes(const std::function<Result<std::unique_ptr<VideoDecoder>>()>& open,
                            const std::vector<QuerySample>& samples,
                            const std::function<void(int, int64_t, int, int, int)>& add_vote) const;
  // A member of an archive, read into memory (matcher_archive.cpp).
  void MatchArchiveMember(const InputFile& input, FileResult* result) const;
  // Probes bytes in memory and matches them as the image or video they are.
  void MatchBuffer(const std::string& name, std::shared_ptr<const std::vector<uint8_t>> bytes,
                   FileResult* result) const;
  // Verify step for a match whose picture spans several consecutive reference
  // frames (slow motion, a held shot): PDQ distances among them differ by
  // noise only, so the frame whose thumbnail correlates best with the query
  // gives the time. Leaves `match` alone when it has one frame or the query
  // matched through a flip/rotation.
  void RefineTimeWithThumbnails(const cv::Mat& query_bgr, const PdqHash& query_hash, Match* match) const;

  // Verification of the PDQ matches of an image query by local features,
  // and when none is confirmed, retrieval by local features (merged into
  // `matches`, one per source, best score first). matcher_features.cpp.
  void AddLocalFeatureMatches(const cv::Mat& bgr, const cv::Mat& alpha, const QueryFeatures& query,
                              const PdqHash& query_hash, std::vector<Match>* matches) const;
  // The embedding step (see MatchOptions::embedding): verified embedding
  // neighbours join `matches`, one per source. `small`: the picture reduced
  // to at least kEarlyDecodeMinSide (the early decode of a large JPEG), or
  // empty; the network's 128-pixel input is made from it when given, which
  // costs a fraction of reducing the whole picture. matcher_embedding.cpp.
  void AddEmbeddingMatches(const cv::Mat& bgr, const cv::Mat& small, const QueryFeatures& query,
                           const PdqHash& query_hash, std::vector<Match>* matches) const;
  // A cel (or a picture with a blanked part) nothing else placed: `visible`
  // (CV_8U, 255 where the picture shows content: a cel's opaque pixels, or
  // FlatRegionMask) is compared pixel by pixel with reference frames at the
  // same place (a cel is drawn on the frame's field): the frames that agree
  // best over the whole index (CelPixelSearch), or those the features vote
  // for when the index is too large, and their neighbours in time.
  // matcher_features.cpp.
  void AddCelPixelMatches(const cv::Mat& bgr, const cv::Mat& visible, const QueryFeatures& query,
                          const PdqHash& query_hash, std::vector<Match>* matches) const;
  // The best of `matches` (best first) stands on PDQ or on a conclusive
  // number of inliers (FeatureMatchOptions::conclusive_inliers).
  bool Conclusive(const std::vector<Match>& matches) const;
  // A similarity (correlation, layout agreement) as a score: 0 below its
  // decision threshold, 0.5 at it, approaching 1 at a perfect 1.
  static double ScoreAboveThreshold(double value, double threshold);
  // Best first: score, then inliers, then PDQ distance.
  void RankImageMatches(std::vector<Match>* matches) const;
  // Matches after the `tied` first ones are scored below 0.5 (scaled by
  // their score relative to the best): weaker sources are candidates only.
  void DiscountUntied(int tied, std::vector<Match>* matches) const;
  // False for a match verified on part of its reference frame (a crop):
  // whole-frame comparisons (thumbnail time refinement) do not apply.
  bool ShowsWholeFrame(const Match& match) const;
  // A match at one reference frame: its production, source, time and span,
  // evidence.frame_id and reference_quality. The picture may lie across
  // several consecutive reference frames (a slow pan), so the span widens
  // over the source's neighbouring frames for which `also_matches` holds
  // (none when it is empty): the true time is inside it even when the best
  // frame is the next one.
  Match MatchAtFrame(int64_t frame_id, const std::function<bool(int64_t)>& also_matches) const;
  // Copies a local-feature verification (inliers, ratio, layer, region) into `m`.
  static void SetVerification(const VerifiedFrame& v, Match* m);

  const ReferenceIndex& index_;
  MatchOptions options_;
  PdqHasher hasher_;
  FeatureMatcher features_;
  std::shared_ptr<LazyCelPixelSearch> cel_search_;  // shared by copies of this matcher
};

}  // namespace celmatch
