// What matching says about one input file: the records written to JSONL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "media/media_probe.h"

namespace celmatch {

// Why a reference frame was proposed and accepted.
struct MatchEvidence {
  int64_t frame_id = -1;        // catalog id of the best reference frame
  int pdq_distance = 256;       // Hamming distance query -> reference frame
  int reference_quality = 0;    // PDQ quality of the reference frame
  int query_quality = 0;        // PDQ quality of the query (best sample for videos)
  std::string transform = "original";  // dihedral variant of the query that matched
  // Local-feature verification (0 inliers: not verified).
  int inliers = 0;              // keypoints on one homography query -> reference frame
  double inlier_ratio = 0;      // inliers / putative descriptor matches
  std::string feature_layer;    // "color" or "line" (line art); empty when not verified
  // Alpha cels: correlation of the opaque pixels with the reference frame's
  // at the same place (0: not compared).
  double pixel_correlation = 0;
  // Whole pictures the learned embedding proposed and local features could
  // not verify: agreement of the picture's edge layout with the reference
  // frame's (match/edge_layout.h; 0: not compared).
  double edge_layout = 0;
  // Line drawings: agreement of the picture's strokes with the reference
  // frame's edges, place and orientation (match/line_drawing.h; 0..1, 0: not
  // compared).
  double line_agreement = 0;
  // "embedding" when the learned embedding proposed the frame (verified by
  // local features or by its edge layout); empty for PDQ and local-feature
  // retrieval.
  std::string found_by;
  // Video queries only.
  int samples_matched = 0;      // samples agreeing with this source and offset
  int samples_total = 0;        // samples with a usable hash
};

struct Match {
  std::string production;
  std::string source;           // path relative to its production folder
  int64_t source_id = -1;
  bool is_still = false;        // the reference is an image: no time
  double time_s = 0;            // reference time; for a video query, aligned with the clip's start
  double span_start_s = 0;      // footage the match stands for
  double span_end_s = 0;
  double score = 0;             // 0..1; >= 0.5 is a reported match
  // The part of the reference frame the query shows, [x, y, w, h] in
  // reference pixels (from the verified homography).
  bool has_region = false;
  double region[4] = {0, 0, 0, 0};
  // A page of panels (a retake sheet, a storyboard): the panel this match is
  // about, [x, y, w, h] as fractions of the page's width and height.
  bool has_panel = false;
  double panel[4] = {0, 0, 0, 0};
  // A document (a PDF of notes): the page this match is about, from 1; 0
  // for any other file.
  int page = 0;
  MatchEvidence evidence;
};

// A stretch of a video query aligned with a stretch of a reference: the
// sampled frames between query_start_s and query_end_s agree on one offset
// into `source`.
struct Segment {
  double query_start_s = 0;     // query time of the first agreeing sample
  double query_end_s = 0;       // ... of the last one
  std::string production;
  std::string source;
  int64_t source_id = -1;
  bool is_still = false;        // the reference is an image: no source times
  double source_start_s = 0;    // reference time aligned with query_start_s
  double source_end_s = 0;
  double score = 0;             // 0..1, as Match::score
  int samples = 0;              // agreeing samples
};

enum class FileStatus { kMatch, kNoMatch, kError, kSkipped };
const char* FileStatusName(FileStatus s);  // "match", "no_match", "error", "skipped"

struct FileResult {
  std::string file;             // the path as given on the command line (InputFile::display_path)
  std::string path;             // as opened
  MediaKind kind = MediaKind::kOther;
  FileStatus status = FileStatus::kSkipped;
  std::string error;            // status error: the reason; skipped: why
  std::string note;             // e.g. "picture too flat for PDQ (quality 12)"
  std::vector<Match> matches;   // best first
  // Sources as good as the best one (within MatchOptions::tie_margin): the
  // picture appears in several of them (a shared intro, a reused shot), so
  // the production is known but the source is not. 1 = unambiguous.
  int tied_sources = 0;
  // Video queries: the stretches of the clip placed in reference footage,
  // in query time order (a clip cut from two shots has two).
  std::vector<Segment> segments;
  double duration_s = 0;        // video queries: decoded duration
  int samples = 0;              // frames hashed
  double elapsed_s = 0;         // wall time spent on the file
  // The learned-embedding step was available (the index's model loaded); it
  // runs for the images nothing before it placed. False: matched without it
  // (--no-embedding, or an index built without embeddings).
  bool embedding = false;
  // SHA-256 of the query's bytes, 64 hex digits (chain of custody: the file
  // the answer is about); empty when they could not be read.
  std::string sha256;
  // A small JPEG of the decoded query (for videos, the sample beside the
  // best match's reference frame), only when MatchOptions asks for one: the
  // HTML report shows it beside the reference frame. Empty otherwise.
  std::vector<uint8_t> query_thumbnail_jpeg;
};

}  // namespace celmatch
