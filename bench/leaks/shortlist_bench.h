// `celmatch bench shortlist`: the recall of a shortlist of reference frames
// for the local-feature stage, on the image files of a leak dump with its
// ground truth, and each list's time per query (one thread):
//   vote     the index's vote (FeatureIndex::Vote, as FeatureMatcher::Retrieve
//            calls it): a query descriptor's nearest reference descriptors
//            among those filed under its `beam` nearest visual words vote
//   exact    the same rule over every reference descriptor of the layer (a
//            brute-force scan: seconds a file; --exact): what the words
//            restrict
//   words    an IDF-ranked inverted file of visual words (index/visual_words.h)
//            with its own vocabulary: words shared with the frame, at two
//            list lengths
//   emb      the learned embedding's nearest frames (picture and mirror)
// Each list is taken per feature layer and mirror as Retrieve takes them. A
// file counts as found when a frame of its true source within a second of
// its true time is on a list. The inverted file's vocabularies are trained
// on the index's own descriptors when the command starts (timed); the vote's
// are the index's own.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace celmatch {

struct ShortlistOptions {
  std::string index_dir, dump_dir, truth_csv;
  int max_files = 400;        // image files of the dump, evenly spread over its truth rows
  int branching = 10;         // vocabulary tree (per feature layer)
  int levels = 5;
  int beam = -1;              // the vote's words per query descriptor (-1: FeatureMatchOptions' default)
  size_t max_training_descriptors = 200000;  // evenly spread over the layer's descriptors
  int list_frames = 8;        // per layer and mirror, as FeatureMatchOptions::verify_frames
  int wide_frames = 32;       // a longer list of words, for the recall it would buy
  bool exact = false;         // also the brute-force vote (seconds a file)
};

struct ShortlistRow {
  std::string transform;      // "all" for the total
  int files = 0;
  int vote_found = 0, words_found = 0, words_wide_found = 0;
  int exact_found = 0;             // the brute-force vote
  int embedding_found = 0;         // the embedding's nearest frames (picture and mirror)
  // Each list of local features with the embedding's list beside it.
  int vote_emb_found = 0, words_emb_found = 0, exact_emb_found = 0;
  double vote_s = 0, words_s = 0, exact_s = 0, embedding_s = 0;  // summed, one thread
};

struct ShortlistResult {
  std::vector<ShortlistRow> rows;  // by transform, then "all"
  double train_s = 0;              // the inverted files' vocabularies and postings, every layer
  double load_s = 0;               // the index's features and vote words, every layer
  int words = 0;                   // of the colour layer's inverted file
  int vote_words = 0;              // of the colour layer's vote (the index's vocabulary)
  int64_t descriptors = 0;         // reference descriptors, every layer
};

Result<ShortlistResult> MeasureShortlist(const ShortlistOptions& options);
std::string FormatShortlist(const ShortlistResult& result, const ShortlistOptions& options);

}  // namespace celmatch
