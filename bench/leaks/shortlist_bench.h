// `celmatch bench shortlist`: the recall of a shortlist of reference frames
// for the local-feature stage, on the image files of a leak dump with its
// ground truth, and each list's time per query (one thread):
//   vote     today's nearest-neighbour vote over every reference descriptor
//            (FeatureIndex::Vote, as FeatureMatcher::Retrieve calls it)
//   words    visual words (index/visual_words.h): IDF-weighted words shared
//            with the frame, at two list lengths
//   checked  the vote's rule with the word in place of the nearest-neighbour
//            search: a query descriptor's nearest descriptors of its word
//            within the same Hamming distance vote
//   rerank   the words' longer list, each frame scored by the query
//            descriptors with a descriptor of it within that distance
//   emb      the learned embedding's nearest frames (picture and mirror)
// Each list is taken per feature layer and mirror as Retrieve takes them. A
// file counts as found when a frame of its true source within a second of
// its true time is on a list. The vocabularies are trained on the index's
// own descriptors when the command starts (timed).
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
  int beam = 1;               // words per query descriptor (Vocabulary::Words)
  size_t max_training_descriptors = 200000;  // evenly spread over the layer's descriptors
  int list_frames = 8;        // per layer and mirror, as FeatureMatchOptions::verify_frames
  int wide_frames = 32;       // a longer list of words, for the recall it would buy
  int rerank_frames = 64;     // the words' list re-ranked by exact descriptor votes
  bool vote = true;           // false: leave today's vote out (its column reads 0), to try vocabularies fast
};

struct ShortlistRow {
  std::string transform;      // "all" for the total
  int files = 0;
  int vote_found = 0, words_found = 0, words_wide_found = 0;
  int checked_found = 0;           // the vote checked by Hamming distance within a word
  int reranked_found = 0;          // the words' longer list re-ranked by exact descriptor votes
  int embedding_found = 0;         // the embedding's nearest frames (picture and mirror)
  // Each list of local features with the embedding's list beside it.
  int vote_emb_found = 0, words_emb_found = 0, checked_emb_found = 0, reranked_emb_found = 0;
  double vote_s = 0, words_s = 0, checked_s = 0, reranked_s = 0, embedding_s = 0;  // summed, one thread
};

struct ShortlistResult {
  std::vector<ShortlistRow> rows;  // by transform, then "all"
  double train_s = 0;              // vocabularies and inverted files of every layer
  int words = 0;                   // of the colour layer's vocabulary
  int64_t descriptors = 0;         // reference descriptors, every layer
};

Result<ShortlistResult> MeasureShortlist(const ShortlistOptions& options);
std::string FormatShortlist(const ShortlistResult& result, const ShortlistOptions& options);

}  // namespace celmatch
