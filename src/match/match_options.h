// Options of every stage of the matching cascade (match/matcher.h), one
// struct so a run's settings can be printed and recorded in one place.
#pragma once

#include <cstdint>
#include <memory>

#include "match/feature_matcher.h"
#include "media/media_limits.h"
#include "signatures/embedding.h"

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
  // The located-pixel step (Matcher::AddLocatedPixelMatches): an image no
  // other step matched is searched for on the frames the others proposed,
  // by its pixels (a crop of a quiet region). Off: the cascade without it,
  // as `celmatch bench throughput` times it beside the full one.
  bool located_pixels = true;
  // The line-drawing step (Matcher::AddLineDrawingMatches): a picture that
  // looks like lines on paper, covers a frame's whole field and that no
  // other step matched is compared by its lines with the frames the others
  // proposed. Off: the cascade without it.
  bool line_drawings = true;
  // Cels and pictures with a blanked part (match/cel_pixels.h): when nothing
  // else placed an image with transparency or with a large flat-coloured
  // region, its visible pixels are compared with every reference frame's at
  // the same place, for indexes of at most this many frames (tiny thumbnails,
  // 3.9 KB per frame, loaded at the first such query); a larger index
  // compares only the frames the picture's local features vote for.
  int64_t cel_search_max_frames = 100000;
  // The cel pixel step itself (Matcher::AddCelPixelMatches). Off: the
  // cascade without it, as `celmatch bench throughput` times it.
  bool cel_pixels = true;
  // Pages of panels (frames/panels.h): each panel of a retake sheet or a
  // storyboard page is matched as a picture of its own. Off: a page is one
  // picture.
  bool panels = true;
  MediaLimits limits;
};

}  // namespace celmatch
