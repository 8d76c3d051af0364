// Matcher: the matching cascade for one query file against a
// ReferenceIndex. Every stage lives in its own place:
//
//   media       probe, decode once (a large JPEG first at a reduced size),
//               sample a video's frames (media/, frames/keyframe_sampler.h)
//   signatures  PDQ and its dihedral variants, ORB features, the embedding
//               (signatures/), the same code as the reference side's
//   candidates  generators propose reference frames: PDQ, visual words,
//               embedding, cel pixels (match/candidates.h)
//   verify      verifiers attach typed evidence to a proposed frame:
//               homography inliers (match/feature_matcher.h,
//               match/geometric_verifier.h), cel pixels, placed and located
//               pixels (match/cel_pixels.h),
//               edge layout (match/edge_layout.h), line drawings
//               (match/line_drawing.h), thumbnail time
//               (RefineTimeWithThumbnails)
//   decide      one score from the evidence, ranking, ties, the early PDQ
//               decision, a video's sample alignment (match/decider.h)
//
// The flow of an image (MatchImage): PDQ candidates; decided there when
// PDQ's answer is unambiguous; otherwise local features verify PDQ's
// candidates and, when none is confirmed, retrieve by visual words
// (matcher_features.cpp); a cel or a partly blanked picture nothing placed
// conclusively is compared by its pixels; a picture nothing placed at all
// goes to the embedding (matcher_embedding.cpp); a line drawing still
// unmatched is compared by its lines with the frames the vote and the
// embedding proposed (line drawings); one still unmatched is searched for by
// its pixels on those frames (located pixels, matcher_features.cpp). A frame a homography too
// weak to decide places a picture on is compared by its pixels there, by
// one rule whichever generator proposed it (PlacedPixels). Each step adds
// one match per source; the Decider ranks, ties and trims them.
// The flow of a document (MatchDocument, a PDF): each page rendered
// (media/pdf_document.h) and matched as an image is from its PDQ search on
// (MatchPicture, which MatchImage ends with too); each page's answer is kept
// with its page number.
// The flow of a video (MatchVideo): samples every video_sample_interval_s,
// each sample's PDQ candidates vote for (source, offset); when no source
// has the support a match needs, a few samples are retrieved by local
// features and vote the same way; the Decider aligns the votes into matches
// and segments.
//
// Thread-safe: MatchFile may run on many threads at once over one index.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "core/input_walker.h"
#include "frames/keyframe_sampler.h"
#include "index/reference_index.h"
#include "match/candidates.h"
#include "match/cel_pixels.h"
#include "match/decider.h"
#include "match/feature_matcher.h"
#include "match/match_options.h"
#include "match/match_result.h"
#include "media/media_limits.h"
#include "media/video_decoder.h"
#include "signatures/embedding.h"
#include "signatures/pdq_hash.h"

namespace celmatch {

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

  // PDQ's matches of already-hashed variants (MatchFile's first step, and
  // the benchmark's PDQ-only baseline): every source with a candidate
  // frame, nearest first, scored by PDQ alone.
  std::vector<Match> MatchHashes(const std::array<PdqResult, 8>& variants) const;
  // Longer side, in pixels, of the reduced picture an image query's PDQ
  // decision is made on (a JPEG of at least twice this decodes at 1/2, 1/4
  // or 1/8 scale; image_decoder.h): above PDQ's 64x64 and the thumbnails'
  // 192 px with room to spare. Measured against the full picture's hash in
  // tests/test_pdq.cpp ("reduced JPEG decode").
  static constexpr int kEarlyDecodeMinSide = 400;
  // Longer side, in pixels, of the picture every later step works on when
  // PDQ did not decide a large JPEG: a 1080p one decodes at 1/2 and a 4K one
  // at 1/4 straight to 960, within 7% of the 1024 local features describe
  // (FeatureMatchOptions::query_max_side), where decoding them whole and
  // reducing them cost more than the steps after it (bench/RESULTS.md).
  // Smaller pictures (720p, the references' own sizes) decode whole as before.
  static constexpr int kFeatureDecodeMinSide = 960;

  // The last stage: scores, ties, the early PDQ decision, video alignment.
  const Decider& decider() const { return decider_; }
  const MatchOptions& options() const { return options_; }

 private:
  // MatchFile's work for a file that was read: an archive member, an image
  // or a video.
  void MatchInput(const InputFile& input, FileResult* result) const;
  // `bytes` non-null: decode them (an archive member named `path`) instead
  // of reading the file `path`.
  void MatchVideo(const std::string& path, FileResult* result,
                  std::shared_ptr<const std::vector<uint8_t>> bytes = nullptr) const;
  void MatchImage(const std::string& path, FileResult* result,
                  std::shared_ptr<const std::vector<uint8_t>> bytes = nullptr) const;
  // A PDF's pages, each rendered and matched as a picture (matcher_document.cpp):
  // each page's answer (its best match and the sources tied with it, or its
  // panels') joins the file's with Match::page set, the pages by their best
  // score; tied_sources is the first page's. `bytes` as for MatchImage.
  void MatchDocument(const std::string& name, const std::string& path, FileResult* result,
                     std::shared_ptr<const std::vector<uint8_t>> bytes = nullptr) const;
  // One picture's answer among several in a file (a panel of a page, a page
  // of a document): its best match and the sources tied with it.
  struct Answer {
    std::vector<Match> matches;
    int tied = 1;  // sources tied for it (more than `matches` holds past max_matches)
  };
  // PDQ for a decoded picture: its eight dihedral hashes, searched unless
  // the picture is too flat; true when PDQ's answer is unambiguous.
  bool SearchPdq(const cv::Mat& bgr, std::array<PdqResult, 8>* variants, std::vector<Match>* matches) const;
  // Matches in DecideImage's order, the first `tied` tied, as an answer of
  // at most max_matches.
  Answer AnswerOf(std::vector<Match> matches, int tied) const;
  // Several pictures' answers as the file's matches: best first (by their
  // best match's score, their order among equals), each followed by its
  // ties; tied_sources is the first's.
  static void JoinAnswers(std::vector<Answer> answers, FileResult* result);
  // A decoded picture whose PDQ matches (of `variants`) are in `result`:
  // the panels of a page of panels, the cascade after PDQ unless PDQ
  // `decided`, the decision, the time; sets result's status and matches.
  // With `answers`, a picture that matched also appends its answers there
  // (each panel's, or its own) for a caller that joins several pictures'
  // (a document's pages); `result`'s matches are then left to it.
  Status MatchPicture(const cv::Mat& bgr, const cv::Mat& alpha, const cv::Mat& small,
                      const std::array<PdqResult, 8>& variants, bool decided, FileResult* result,
                      std::vector<Answer>* answers = nullptr) const;
  // The cascade after PDQ for one picture (an image, or a panel of a page):
  // its matches join `matches`. `alpha` and `small` as for the steps below.
  Status MatchSteps(const cv::Mat& bgr, const cv::Mat& alpha, const cv::Mat& small, const PdqHash& hash,
                    std::vector<Match>* matches) const;
  // Each of a page's panels (frames/panels.h) matched as a picture: the
  // answer of each that matched, with Match::panel set, in reading order.
  Status MatchPanels(const cv::Mat& page, const std::vector<cv::Rect>& panels, std::vector<Answer>* answers) const;
  // Local-feature retrieval on a few of a video's samples (decoded again
  // through `open`): each verified frame votes for its source.
  void AddVideoFeatureVotes(const std::function<Result<std::unique_ptr<VideoDecoder>>()>& open,
                            const std::vector<QuerySample>& samples,
                            std::map<int64_t, std::vector<SampleVote>>* votes_by_source) const;
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
  // `matches`, one per source, best score first); the frames retrieval
  // voted for are appended to `candidates`. matcher_features.cpp.
  void AddLocalFeatureMatches(const cv::Mat& bgr, const cv::Mat& alpha, const QueryFeatures& query,
                              const PdqHash& query_hash, std::vector<Match>* matches,
                              std::vector<int64_t>* candidates) const;
  // The embedding step (see MatchOptions::embedding): verified embedding
  // neighbours join `matches`, one per source. `small`: the picture reduced
  // to at least kEarlyDecodeMinSide (the early decode of a large JPEG), or
  // empty; the network's 128-pixel input is made from it when given, which
  // costs a fraction of reducing the whole picture. matcher_embedding.cpp.
  // The frames it proposed for the picture as it is are appended to
  // `candidates` (as a whole frame) and `region_candidates` (by one of their
  // regions only: those are not verified here, most similar first).
  void AddEmbeddingMatches(const cv::Mat& bgr, const cv::Mat& small, const QueryFeatures& query,
                           const PdqHash& query_hash, std::vector<Match>* matches, std::vector<int64_t>* candidates,
                           std::vector<int64_t>* region_candidates) const;
  // The last image step, for a picture no step matched: the frames the
  // others proposed (`region_candidates` first, the embedding's nearest by a
  // region, then `candidates`: votes, embedding neighbours; at most
  // kLocatedFramesCompared) are searched for the place the picture shows
  // (LocatePicture at half the thumbnail's size, RefinePlace at its full
  // size: a crop of a quiet region holds too few keypoints for a
  // homography), and its colour pixels there decide (PlacedPixelCorrelation
  // at kMinLocatedCorrelation). `visible` (FlatRegionMask; empty: all of
  // it) leaves a blanked part of the picture out of both. matcher_features.cpp.
  void AddLocatedPixelMatches(const cv::Mat& bgr, const cv::Mat& visible, const std::vector<int64_t>& region_candidates,
                              const std::vector<int64_t>& candidates, const PdqHash& query_hash,
                              std::vector<Match>* matches) const;
  static constexpr int kLocatedFramesCompared = 12;
  // The same by the visible pixels alone (`visible` given): fewer, as the
  // masked correlation costs about five times as much.
  static constexpr int kLocatedVisibleFramesCompared = 6;
  // The share of a picture in one flat colour (FlatRegionMask's
  // `min_share`) that makes it a picture with a blanked part, searched
  // again by its other pixels. On the leak benchmark's blanked crops and
  // flattened cels it is 0.36-0.94; on the live-action frames of the
  // throughput benchmark with a flat part (FlatRegionMask's default 0.2)
  // 0.20-0.28.
  static constexpr double kMinBlankedShare = 1.0 / 3;
  // The coarse search's correlation a place needs to be refined (RefinePlace)
  // and then to reach kMinCelCorrelation.
  static constexpr double kMinCoarseLocatedCorrelation = 0.75;
  static constexpr int kLocatedMaxSide = 256;  // the picture reduced to this first
  // A frame placed (kMinCelCorrelation) whose pixels do not agree: its
  // neighbours in time (ClimbAlongTime, match/candidates.h), for the
  // kLocatedClimbs best such frames.
  static constexpr int kLocatedClimbs = 2;
  static constexpr int kLocatedClimbPatience = 2;
  static constexpr int kLocatedClimbReach = 8;
  // The line-drawing step, for a picture that looks like lines on paper and
  // covers a reference frame's whole field, when no step before it matched:
  // the frames the others proposed (`candidates`, at most
  // kLineFramesCompared) are compared by their lines (match/line_drawing.h:
  // strokes against the thumbnail's edges, place and orientation, whatever
  // drew the strokes), and an agreement of kMinLineAgreement
  // (line_drawing.h) decides.
  // matcher_features.cpp.
  void AddLineDrawingMatches(const cv::Mat& bgr, const std::vector<int64_t>& candidates, const PdqHash& query_hash,
                             std::vector<Match>* matches) const;
  static constexpr int kLineFramesCompared = 48;
  // Then the neighbours in time (ClimbAlongTime, match/candidates.h) of the
  // best-compared frame of each of the kLineClimbSources leading sources.
  static constexpr int kLineClimbSources = 2;
  static constexpr int kLineClimbPatience = 6;
  static constexpr int kLineClimbReach = 36;
  // A cel (or a picture with a blanked part) nothing else placed: `visible`
  // (CV_8U, 255 where the picture shows content: a cel's opaque pixels, or
  // FlatRegionMask) is compared pixel by pixel with reference frames at the
  // same place (a cel is drawn on the frame's field): the frames that agree
  // best over the whole index (CelPixelSearch), or those the features vote
  // for when the index is too large, and their neighbours in time.
  // matcher_features.cpp.
  void AddCelPixelMatches(const cv::Mat& bgr, const cv::Mat& visible, const QueryFeatures& query,
                          const PdqHash& query_hash, std::vector<Match>* matches) const;
  // The placed-pixel verifier: a colour-layer frame that a homography too
  // weak to decide (FeatureMatcher::Places) places the picture on, compared
  // by its pixels at that place (PlacedPixelCorrelation over the catalog
  // thumbnail). The correlation when it reaches kMinCelCorrelation, else
  // nullopt. `mirror`: the picture's mirror image, made here on first need.
  // Used on the frames of every candidate generator (local-feature
  // retrieval, the embedding) by the same rule. matcher_features.cpp.
  std::optional<double> PlacedPixels(const cv::Mat& bgr, cv::Mat* mirror, const VerifiedFrame& v) const;
  static constexpr int kPlacedFramesCompared = 4;  // weakly placed frames compared a step, at most
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
  // Frames of other sources that show the picture `frame_id` shows (PDQ
  // within max_distance of its hash: an intro or a shot every episode
  // shares), at most 64. A step that accepted a frame by a comparison with
  // its thumbnail compares these too, so that a tie names the production
  // rather than whichever episode happened to be proposed.
  std::vector<int64_t> SharedPictureFrames(int64_t frame_id) const;
  static constexpr int kSharedPictureFramesVerified = 4;  // local-feature step: of its best verified frames
  // Copies a local-feature verification (inliers, ratio, layer, region) into `m`.
  static void SetVerification(const VerifiedFrame& v, Match* m);

  const ReferenceIndex& index_;
  MatchOptions options_;
  PdqHasher hasher_;
  FeatureMatcher features_;
  Decider decider_;
  std::shared_ptr<LazyCelPixelSearch> cel_search_;  // shared by copies of this matcher
};

}  // namespace celmatch
