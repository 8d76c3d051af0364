// Visual words (index/visual_words.h): the vocabulary tree and the inverted
// file, on generated descriptors whose true clusters are known.
#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "index/visual_words.h"

using celmatch::FrameScore;
using celmatch::InvertedFile;
using celmatch::Vocabulary;

namespace {

// `clusters` random centres; each descriptor is one of them with `noise`
// bits flipped (ORB descriptors of one corner seen twice differ by ~10-30).
std::vector<uint8_t> Clustered(int clusters, int per_cluster, int noise, uint32_t seed, std::vector<int>* label,
                               std::vector<uint8_t>* centres) {
  std::mt19937 rng(seed);
  centres->resize(size_t(clusters) * 32);
  for (auto& b : *centres) b = uint8_t(rng());
  std::vector<uint8_t> out;
  for (int c = 0; c < clusters; ++c) {
    for (int i = 0; i < per_cluster; ++i) {
      std::vector<uint8_t> d(centres->begin() + c * 32, centres->begin() + (c + 1) * 32);
      for (int f = 0; f < noise; ++f) {
        const int bit = int(rng() % 256);
        d[size_t(bit / 8)] ^= uint8_t(1u << (bit % 8));
      }
      out.insert(out.end(), d.begin(), d.end());
      label->push_back(c);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("visual words: the tree fills its levels, and one cluster's descriptors mostly share a word") {
  std::vector<int> label;
  std::vector<uint8_t> centres;
  const std::vector<uint8_t> d = Clustered(500, 40, 12, 7, &label, &centres);
  const size_t n = d.size() / 32;
  const Vocabulary v = Vocabulary::Train(d.data(), n, 8, 3, 1);
  // 20,000 descriptors in 500 clusters: far more than 8 words, at most 8^3.
  CHECK(v.size() > 300);
  CHECK(v.size() <= 8 * 8 * 8);
  // Deterministic for a seed.
  const Vocabulary again = Vocabulary::Train(d.data(), n, 8, 3, 1);
  for (size_t i = 0; i < n; i += 97) CHECK(v.Word(&d[i * 32]) == again.Word(&d[i * 32]));
  // A cluster's centre and its noisy copies: most copies share its word.
  int same = 0;
  for (size_t i = 0; i < n; ++i) {
    const int w = v.Word(&d[i * 32]);
    REQUIRE(w >= 0);
    REQUIRE(w < v.size());
    same += w == v.Word(&centres[size_t(label[i]) * 32]);
  }
  INFO(same << " of " << n);
  CHECK(same >= int(n * 8 / 10));
}

TEST_CASE("visual words: the inverted file ranks the frame holding a query's words first, rare words above common ones") {
  // 100 frames of 40 words each, frame f holding words 4f .. 4f+39 (mod
  // 400): neighbours overlap, as consecutive shots do.
  InvertedFile inv(400);
  for (int f = 0; f < 100; ++f) {
    std::vector<int> words;
    for (int c = 0; c < 40; ++c) words.push_back((f * 4 + c) % 400);
    inv.AddFrame(1000 + f, words);
  }
  CHECK(inv.frames() == 100);
  CHECK(inv.postings() == 4000);
  // A quarter of frame 37's words, spread over it (a small, sparse copy).
  std::vector<int> query;
  for (int c = 0; c < 40; c += 4) query.push_back(37 * 4 + c);
  query.push_back(query.front());  // a repeated word counts once
  const std::vector<FrameScore> list = inv.Shortlist(query, 5);
  REQUIRE(list.size() == 5);
  CHECK(list[0].frame_id == 1037);
  for (size_t i = 1; i < list.size(); ++i) CHECK(list[i - 1].score > list[i].score - 1e-12);
  CHECK(list[0].score > list[1].score);
  // Its neighbours in time hold most of the query's words and follow it.
  std::set<int64_t> next = {list[1].frame_id, list[2].frame_id};
  CHECK(next == std::set<int64_t>{1036, 1038});
  // A word every frame holds scores nothing; a rare word outweighs a common one.
  InvertedFile idf(10);
  idf.AddFrame(1, {0, 1});
  idf.AddFrame(2, {0, 2});
  idf.AddFrame(3, {0, 2});
  const std::vector<FrameScore> c = idf.Shortlist({0, 1, 2, -5, 13}, 10);  // unknown words are ignored
  REQUIRE(c.size() == 3);
  CHECK(c[0].frame_id == 1);  // word 1: one frame in three; word 2: two
  CHECK(c[0].score > c[1].score);
  CHECK(c[1].score == Approx(c[2].score));
  CHECK(idf.Shortlist({0}, 10).empty());
}
