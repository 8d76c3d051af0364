// Visual words: a vocabulary of binary words over 256-bit ORB descriptors and
// an inverted file from word to reference frames, the retrieval DBoW2 and
// FBoW are built on. A query's descriptors become words in
// branching x levels Hamming distances each, and the frames holding those
// words are scored from the words' posting lists alone: the cost grows with
// the postings of the query's words, not with every reference descriptor as
// a nearest-neighbour vote (FeatureIndex::Vote) does.
//
// Vocabulary: a tree with `branching` children per node and `levels` levels.
// Each node's centre is the bitwise majority of the descriptors under it
// (k-majority clustering: seeds spread by Hamming distance as k-means++
// does, then a few assignment/majority rounds); a descriptor's word is the
// leaf reached by taking the nearest child at every level.
//
// Inverted file: word -> the frames holding it. A frame's score for a query
// is the sum, over the query's distinct words that the frame holds, of the
// word's inverse document frequency log(frames / frames holding it): a crop
// holds a subset of its frame's words, so no normalisation by the frame's
// word count (every reference frame keeps a few hundred features).
//
// FeatureIndex (index/feature_index.h) searches its descriptors through a
// Vocabulary; the InvertedFile's IDF ranking is measured beside that search
// by `celmatch bench shortlist` (bench/RESULTS.md) and not used in matching.
//
// Thread-safety: const methods may run on many threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/status.h"
#include "index/hamming.h"

namespace celmatch {

using BinaryWord = std::array<uint8_t, 32>;

class Vocabulary {
 public:
  // Trains on `n` descriptors of 32 bytes each (row-major). Deterministic
  // for a given seed. At most branching^levels words; a node holding at
  // most `leaf_size` descriptors (and at least `branching`) becomes a leaf,
  // so dense regions of descriptor space are split deeper than sparse ones
  // and the words hold similar numbers of descriptors.
  static Vocabulary Train(const uint8_t* descriptors, size_t n, int branching, int levels, uint64_t seed,
                          size_t leaf_size = 0);

  // The word (0..size()-1) of one 32-byte descriptor.
  int Word(const uint8_t* descriptor) const;
  // The words of the `beam` leaves a beam search reaches (at every level the
  // `beam` children nearest to the descriptor among those of the nodes kept),
  // nearest first, appended to `out`; beam 1 is Word(). A query descriptor
  // near a boundary between words is filed under its reference copy's word
  // too (soft assignment).
  void Words(const uint8_t* descriptor, int beam, std::vector<int>* out) const;
  int size() const { return int(leaf_count_); }
  bool empty() const { return nodes_.empty(); }

  // The vocabulary as bytes, and back: Parse checks every field (a damaged
  // file is an error, never a tree whose walk leaves it) and names `what`.
  std::string Serialize() const;
  static Result<Vocabulary> Parse(const std::string& bytes, const std::string& what);

 private:
  struct Node {
    BinaryWord centre{};
    int first_child = -1;  // index into nodes_ of the first of `children`
    int children = 0;      // 0: a leaf
    int word = -1;         // leaves only
  };
  void Split(int node, std::vector<uint32_t>& members, const uint8_t* descriptors, int level, uint64_t* rng);

  int branching_ = 0;
  int levels_ = 0;
  size_t leaf_size_ = 0;     // training only
  std::vector<Node> nodes_;  // nodes_[0] is the root
  size_t leaf_count_ = 0;
};

struct FrameScore {
  int64_t frame_id = -1;
  double score = 0;
};

class InvertedFile {
 public:
  explicit InvertedFile(int words) : postings_(size_t(words)) {}

  // Adds a frame holding these words (repeats allowed). Frame ids need not
  // be dense; each frame is added once.
  void AddFrame(int64_t frame_id, const std::vector<int>& words);

  // The `max_frames` frames with the highest score for the query's words,
  // highest first (ties: lower frame id first).
  std::vector<FrameScore> Shortlist(const std::vector<int>& query_words, int max_frames) const;

  int64_t frames() const { return frames_; }
  size_t postings() const;

 private:
  std::vector<std::vector<int64_t>> postings_;  // word -> frames holding it, ascending
  int64_t frames_ = 0;
};

}  // namespace celmatch
