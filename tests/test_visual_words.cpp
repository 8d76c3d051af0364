// Visual words (index/visual_words.h): the vocabulary tree and the inverted
// file, on generated descriptors whose true clusters are known; and the
// feature index's search through them (index/feature_index.h).
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "index/feature_index.h"
#include "index/hamming.h"
#include "index/visual_words.h"
#include "test_support.h"

using celmatch::FeatureIndex;
using celmatch::FrameScore;
using celmatch::FrameVotes;
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

TEST_CASE("visual words: a vocabulary survives Serialize/Parse, and damaged bytes are an error or a walk that stays in it") {
  std::vector<int> label;
  std::vector<uint8_t> centres;
  const std::vector<uint8_t> d = Clustered(200, 20, 12, 3, &label, &centres);
  const size_t n = d.size() / 32;
  const Vocabulary v = Vocabulary::Train(d.data(), n, 6, 3, 1);
  const std::string bytes = v.Serialize();
  celmatch::Result<Vocabulary> back = Vocabulary::Parse(bytes, "words.bin");
  REQUIRE(back.ok());
  CHECK(back->size() == v.size());
  for (size_t i = 0; i < n; i += 7) CHECK(back->Word(&d[i * 32]) == v.Word(&d[i * 32]));

  // Every truncation is an error naming the file.
  for (size_t len = 0; len < bytes.size(); len += 1 + len / 4) {
    celmatch::Result<Vocabulary> cut = Vocabulary::Parse(bytes.substr(0, len), "words.bin");
    INFO(len);
    REQUIRE_FALSE(cut.ok());
    CHECK(cut.status().message().find("words.bin") != std::string::npos);
  }
  // Ids out of range, set on purpose (as a file rewritten with a valid seal
  // could hold them): a child past the last node, a word past the last word,
  // more children than the branching. Node i's fields sit at 32 + 44 i: the
  // centre (32 bytes), first_child, children, word (int32 each).
  auto field = [&](const std::string& b, size_t node, size_t offset) {
    int32_t v = 0;
    std::memcpy(&v, b.data() + 32 + node * 44 + 32 + offset, 4);
    return v;
  };
  auto with_field = [&](size_t node, size_t offset, int32_t value) {
    std::string b = bytes;
    std::memcpy(b.data() + 32 + node * 44 + 32 + offset, &value, 4);
    return b;
  };
  uint64_t nodes = 0;
  std::memcpy(&nodes, bytes.data() + 24, 8);
  REQUIRE(bytes.size() == 32 + nodes * 44);
  REQUIRE(field(bytes, 0, 4) > 0);  // the root has children
  size_t leaf = 1;
  while (leaf < nodes && field(bytes, leaf, 4) != 0) ++leaf;
  REQUIRE(leaf < nodes);
  for (const std::string& bad : {with_field(0, 0, int32_t(nodes)), with_field(0, 0, -1), with_field(0, 0, 0),
                                 with_field(0, 4, 7), with_field(leaf, 8, v.size()), with_field(leaf, 8, -2)}) {
    celmatch::Result<Vocabulary> p = Vocabulary::Parse(bad, "words.bin");
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().message().find("malformed") != std::string::npos);
  }

  // Flipped bytes anywhere: an error, or a vocabulary whose words stay in range.
  std::mt19937 rng(5);
  int errors = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = bytes;
    const size_t at = rng() % bad.size();
    bad[at] = char(uint8_t(bad[at]) ^ uint8_t(1 + rng() % 255));
    celmatch::Result<Vocabulary> p = Vocabulary::Parse(bad, "words.bin");
    if (!p.ok()) {
      ++errors;
      continue;
    }
    for (size_t i = 0; i < n; i += 101) {
      const int w = p->Word(&d[i * 32]);
      REQUIRE(w >= 0);
      REQUIRE(w < p->size());
    }
  }
  CHECK(errors > 0);  // the structure is checked, not only the centres' bits read
}

namespace {

// `frames` reference frames of `per_frame` descriptors each (points on a
// grid). As ORB descriptors do, they crowd around common patterns: each is
// one of 3,000 random centres with 24 bits flipped, so two descriptors of
// one centre differ by about 45 bits and a noisy copy of one is still
// nearest to it.
std::vector<celmatch::FrameFeaturesRecord> RandomFrames(int frames, int per_frame, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> centres(3000 * 32);
  for (auto& b : centres) b = uint8_t(rng());
  std::vector<celmatch::FrameFeaturesRecord> out;
  for (int f = 0; f < frames; ++f) {
    celmatch::FrameFeaturesRecord r;
    r.frame_id = 10 + 2 * f;  // ids need not be dense
    for (int i = 0; i < per_frame; ++i) {
      r.xy.push_back(float(i % 20) * 10.f);
      r.xy.push_back(float(i / 20) * 10.f);
      const size_t c = rng() % 3000;
      uint8_t d[32];
      std::memcpy(d, &centres[c * 32], 32);
      for (int k = 0; k < 24; ++k) {
        const int bit = int(rng() % 256);
        d[bit / 8] ^= uint8_t(1u << (bit % 8));
      }
      r.descriptors.insert(r.descriptors.end(), d, d + 32);
    }
    out.push_back(std::move(r));
  }
  return out;
}

// Copies of `count` of the frame's descriptors with `noise` bits flipped,
// then `strangers` random descriptors.
cv::Mat NoisyQuery(const celmatch::FrameFeaturesRecord& r, int count, int noise, int strangers, uint32_t seed) {
  std::mt19937 rng(seed);
  cv::Mat q(count + strangers, 32, CV_8U);
  for (int i = 0; i < count; ++i) {
    std::memcpy(q.ptr(i), &r.descriptors[size_t(i) * 32], 32);
    for (int f = 0; f < noise; ++f) {
      const int bit = int(rng() % 256);
      q.ptr(i)[bit / 8] ^= uint8_t(1u << (bit % 8));
    }
  }
  for (int i = count; i < q.rows; ++i)
    for (int b = 0; b < 32; ++b) q.ptr(i)[b] = uint8_t(rng());
  return q;
}

}  // namespace

TEST_CASE("feature index: a frame's noisy descriptors vote it first through visual words, and the words file is a cache") {
  celmatch::testing::TempDir tmp;
  const std::vector<celmatch::FrameFeaturesRecord> records = RandomFrames(300, 200, 9);  // 60,000 descriptors
  const std::string path = tmp.str() + "/words_color.bin";
  bool stale = false;
  auto loaded = FeatureIndex::Load(path, records, &stale);
  REQUIRE(loaded.ok());
  FeatureIndex& index = **loaded;
  CHECK(stale);  // no file yet
  CHECK(index.descriptor_count() == 60000);
  CHECK(index.frames_with_features() == 300);
  CHECK(index.words() >= 30);  // split until about kDescriptorsPerWord a word
  CHECK(index.words() <= 60000 / 100);

  // 80 of frame 123's descriptors, 12 bits flipped in each, and 120 strangers.
  const celmatch::FrameFeaturesRecord& target = records[123];
  const cv::Mat query = NoisyQuery(target, 80, 12, 120, 4);
  const std::vector<FrameVotes> votes = index.Vote(query, 4, 64, 5, 2);
  REQUIRE_FALSE(votes.empty());
  CHECK(votes[0].frame_id == target.frame_id);
  CHECK(votes[0].votes >= 40);  // most copies find their original under their words
  if (votes.size() > 1) CHECK(votes[1].votes <= 5);
  // The frame's keypoints and descriptors, borrowed.
  const celmatch::FrameFeaturesView view = index.frame(target.frame_id);
  REQUIRE(view.count == 200);
  CHECK(std::memcmp(view.descriptors, target.descriptors.data(), target.descriptors.size()) == 0);
  CHECK(view.points[21].x == 10.f);
  CHECK(view.points[21].y == 10.f);
  CHECK(index.frame(11).count == 0);  // no such frame

  // Written, the file is used as it is; the votes are the same.
  REQUIRE(index.Write(tmp.str(), path).ok());
  CHECK(index.CheckAgainst(records, path).ok());
  auto reread = FeatureIndex::Load(path, records, &stale);
  REQUIRE(reread.ok());
  CHECK_FALSE(stale);
  const std::vector<FrameVotes> again = (*reread)->Vote(query, 4, 64, 5, 2);
  REQUIRE(again.size() == votes.size());
  for (size_t i = 0; i < votes.size(); ++i) {
    CHECK(again[i].frame_id == votes[i].frame_id);
    CHECK(again[i].votes == votes[i].votes);
  }

  // Trained on other descriptors (one frame more): stale, retrained to the same votes.
  std::vector<celmatch::FrameFeaturesRecord> more = records;
  more.push_back(RandomFrames(1, 200, 77)[0]);
  more.back().frame_id = 100000;
  auto grown = FeatureIndex::Load(path, more, &stale);
  REQUIRE(grown.ok());
  CHECK(stale);
  CHECK((*grown)->CheckAgainst(more, path).ok());  // stale is a cache's state after a killed writer, not damage
  CHECK((*grown)->Vote(query, 4, 64, 1, 2).at(0).frame_id == target.frame_id);

  // A damaged file: stale, named by the check, and the votes unchanged.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] ^= 0x5a;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto damaged = FeatureIndex::Load(path, records, &stale);
  REQUIRE(damaged.ok());
  CHECK(stale);
  const celmatch::Status check = (*damaged)->CheckAgainst(records, path);
  REQUIRE_FALSE(check.ok());
  CHECK(check.message().find("words_color.bin") != std::string::npos);
  const std::vector<FrameVotes> retrained = (*damaged)->Vote(query, 4, 64, 5, 2);
  REQUIRE(retrained.size() == votes.size());
  for (size_t i = 0; i < votes.size(); ++i) CHECK(retrained[i].votes == votes[i].votes);
}

namespace {

std::vector<celmatch::FrameFeatureCount> CountsOf(const std::vector<celmatch::FrameFeaturesRecord>& records) {
  std::vector<celmatch::FrameFeatureCount> out;
  for (const auto& r : records) out.push_back({r.frame_id, int64_t(r.xy.size() / 2)});
  return out;
}

}  // namespace

TEST_CASE("feature index: the written file maps to the same index, and one that disagrees with the catalog is not used") {
  celmatch::testing::TempDir tmp;
  std::vector<celmatch::FrameFeaturesRecord> records = RandomFrames(120, 150, 5);
  records[7].xy.clear();  // a frame without keypoints
  records[7].descriptors.clear();
  const std::string path = tmp.str() + "/words_color.bin";
  bool stale = false;
  auto built = FeatureIndex::Load(path, records, &stale);
  REQUIRE(built.ok());
  CHECK(FeatureIndex::Map(path, CountsOf(records)) == nullptr);  // no file yet
  REQUIRE((*built)->Write(tmp.str(), path).ok());

  std::unique_ptr<FeatureIndex> mapped = FeatureIndex::Map(path, CountsOf(records));
  REQUIRE(mapped != nullptr);
  CHECK(mapped->mapped());
  CHECK_FALSE((*built)->mapped());
  CHECK(mapped->descriptor_count() == (*built)->descriptor_count());
  CHECK(mapped->frames_with_features() == 120);
  CHECK(mapped->words() == (*built)->words());
  CHECK(mapped->CheckAgainst(records, path).ok());
  // Every frame's keypoints and descriptors, and every vote, as built.
  for (const auto& r : records) {
    const celmatch::FrameFeaturesView a = mapped->frame(r.frame_id), b = (*built)->frame(r.frame_id);
    REQUIRE(a.count == r.xy.size() / 2);
    REQUIRE(a.count == b.count);
    if (a.count == 0) continue;
    CHECK(std::memcmp(a.descriptors, r.descriptors.data(), r.descriptors.size()) == 0);
    CHECK(std::memcmp(a.points, r.xy.data(), r.xy.size() * sizeof(float)) == 0);
  }
  CHECK(mapped->frame(11).count == 0);  // between two frames' ids
  for (int t : {3, 50, 119}) {
    const cv::Mat query = NoisyQuery(records[size_t(t)], 60, 10, 90, uint32_t(t));
    const std::vector<FrameVotes> a = mapped->Vote(query, 4, 64, 6, 2), b = (*built)->Vote(query, 4, 64, 6, 2);
    REQUIRE(a.size() == b.size());
    REQUIRE_FALSE(a.empty());
    CHECK(a[0].frame_id == records[size_t(t)].frame_id);
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].frame_id == b[i].frame_id);
      CHECK(a[i].votes == b[i].votes);
    }
  }
  // A mapped index takes no frames; Load of the file uses its vocabulary as it is.
  CHECK_FALSE(mapped->AddFrame(RandomFrames(1, 10, 3)[0]).ok());
  auto reread = FeatureIndex::Load(path, records, &stale);
  REQUIRE(reread.ok());
  CHECK_FALSE(stale);

  // The catalog says otherwise: another count, another id, a frame more.
  std::vector<celmatch::FrameFeatureCount> counts = CountsOf(records);
  counts[40].count -= 1;
  CHECK(FeatureIndex::Map(path, counts) == nullptr);
  counts = CountsOf(records);
  counts[40].frame_id += 1;
  CHECK(FeatureIndex::Map(path, counts) == nullptr);
  counts = CountsOf(records);
  counts.push_back({100000, 5});
  CHECK(FeatureIndex::Map(path, counts) == nullptr);

  // A damaged file is not mapped, and the check names it.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 100] ^= 0x21;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  CHECK(FeatureIndex::Map(path, CountsOf(records)) == nullptr);
  const celmatch::Status check = (*built)->CheckAgainst(records, path);
  REQUIRE_FALSE(check.ok());
  CHECK(check.message().find("words_color.bin") != std::string::npos);
}

TEST_CASE("feature index: a streamed write gives the bytes of a write from memory, and stops at a frame it was not told") {
  celmatch::testing::TempDir tmp;
  // 112,000 descriptors: past the training cap, so the sample is every second one.
  std::vector<celmatch::FrameFeaturesRecord> records = RandomFrames(700, 160, 13);
  records[5].xy.clear();  // frames without keypoints, first and inside
  records[5].descriptors.clear();
  records[0].xy.clear();
  records[0].descriptors.clear();
  REQUIRE(FeatureIndex::TrainingSample(700 * 160) < 700 * 160);
  const std::string built_path = tmp.str() + "/built.bin", streamed_path = tmp.str() + "/streamed.bin";
  bool stale = false;
  auto built = FeatureIndex::Load(built_path, records, &stale);
  REQUIRE(built.ok());
  REQUIRE((*built)->Write(tmp.str(), built_path).ok());

  int passes = 0;
  const FeatureIndex::FramePass pass = [&](const std::function<celmatch::Status(const celmatch::FrameFeaturesRecord&)>& visit) {
    ++passes;
    for (const auto& r : records) CELMATCH_RETURN_IF_ERROR(visit(r));
    return celmatch::Status::Ok();
  };
  // 1 MB at a time: the word-ordered copy (3.4 MB) takes four passes.
  REQUIRE(FeatureIndex::WriteStreamed(tmp.str(), streamed_path, CountsOf(records), pass, 1 << 20).ok());
  CHECK(passes == 3 + 4);
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string a = read(built_path), b = read(streamed_path);
  REQUIRE(a.size() > size_t(700 * 160 * 64));
  CHECK(a.size() == b.size());
  CHECK(a == b);
  std::unique_ptr<FeatureIndex> mapped = FeatureIndex::Map(streamed_path, CountsOf(records));
  REQUIRE(mapped != nullptr);
  CHECK(mapped->CheckAgainst(records, streamed_path).ok());
  const cv::Mat query = NoisyQuery(records[300], 60, 10, 90, 3);
  CHECK(mapped->Vote(query, 4, 64, 1, 2).at(0).frame_id == records[300].frame_id);

  // A pass that yields another frame than it was told: an error naming the
  // file and the frame, and no file (nor its temporary) left.
  const std::string bad_path = tmp.str() + "/bad.bin";
  std::vector<celmatch::FrameFeatureCount> counts = CountsOf(records);
  counts[200].count += 1;
  const celmatch::Status bad = FeatureIndex::WriteStreamed(tmp.str(), bad_path, counts, pass, 1 << 20);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.message().find("bad.bin") != std::string::npos);
  CHECK(bad.message().find("frame " + std::to_string(records[200].frame_id)) != std::string::npos);
  CHECK_FALSE(std::ifstream(bad_path).good());
  CHECK_FALSE(std::ifstream(bad_path + ".tmp").good());
}

TEST_CASE("feature index: the word search finds most of the exact nearest neighbours, and frames arrive in id order") {
  const std::vector<celmatch::FrameFeaturesRecord> records = RandomFrames(100, 100, 21);
  bool stale = false;
  auto loaded = FeatureIndex::Load("/nonexistent/words.bin", records, &stale);
  REQUIRE(loaded.ok());
  // Queries: noisy copies of one descriptor from each of 50 frames, 16 bits
  // flipped; the original is the exact nearest neighbour. A wider beam
  // searches more words and finds more of them.
  auto found = [&](int beam) {
    int n = 0;
    for (int f = 0; f < 50; ++f) {
      const cv::Mat q = NoisyQuery(records[size_t(f * 2)], 1, 16, 0, uint32_t(f));
      const std::vector<FrameVotes> v = (*loaded)->Vote(q, 1, 64, 1, beam);
      n += !v.empty() && v[0].frame_id == records[size_t(f * 2)].frame_id;
    }
    return n;
  };
  const int one = found(1), two = found(2), eight = found(8);
  INFO("found of 50 at beam 1, 2, 8: " << one << " " << two << " " << eight);
  CHECK(one >= 25);      // most, with one word a descriptor
  CHECK(two >= one);
  CHECK(eight > two);
  CHECK(eight >= 40);    // nearly all with a wide beam
  // Frames must arrive in id order.
  FeatureIndex index;
  REQUIRE(index.AddFrame(records[5]).ok());
  CHECK_FALSE(index.AddFrame(records[4]).ok());
  celmatch::FrameFeaturesRecord malformed = records[6];
  malformed.descriptors.pop_back();
  CHECK_FALSE(index.AddFrame(malformed).ok());
}

// The run kernels of index/hamming.h against the one-pair distance: every
// run length around the 8-descriptor step, descriptors near and far (one
// bit to all 256), and equal distances, where the nearest must be the first.
TEST_CASE("hamming kernels: the run distances and the nearest two equal the one-pair loop's") {
  INFO("kernel: " << celmatch::HammingKernelName());
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t n : {size_t(0), size_t(1), size_t(2), size_t(7), size_t(8), size_t(9), size_t(15), size_t(16),
                   size_t(17), size_t(63), size_t(400), size_t(1001)}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<uint8_t> query(32), codes(n * 32);
      for (uint8_t& b : query) b = uint8_t(byte(rng));
      for (size_t i = 0; i < n; ++i) {
        uint8_t* c = codes.data() + i * 32;
        const int kind = int(rng() % 4);
        for (int k = 0; k < 32; ++k) {
          if (kind == 0) c[k] = uint8_t(byte(rng));                   // unrelated
          else if (kind == 1) c[k] = uint8_t(~query[size_t(k)]);       // all 256 bits differ
          else c[k] = query[size_t(k)];                                 // near: a few bits flipped below
        }
        if (kind >= 2) {
          for (int f = int(rng() % 3); f > 0; --f) c[rng() % 32] ^= uint8_t(1u << (rng() % 8));
        }
      }
      INFO("n = " << n << ", trial " << trial);
      std::vector<uint16_t> fast(n + 1, 999), slow(n + 1, 999);
      celmatch::HammingDistances32(query.data(), codes.data(), n, fast.data());
      celmatch::HammingDistances32Portable(query.data(), codes.data(), n, slow.data());
      REQUIRE(fast == slow);  // and nothing written past n
      int best = 0x7fffffff, second = 0x7fffffff, index = -1;
      for (size_t i = 0; i < n; ++i) {
        REQUIRE(slow[i] == celmatch::HammingDistance32(query.data(), codes.data() + i * 32));
        if (slow[i] < best) {
          second = best;
          best = slow[i];
          index = int(i);
        } else if (slow[i] < second) {
          second = slow[i];
        }
      }
      for (const celmatch::NearestTwo& t : {celmatch::HammingNearestTwo32(query.data(), codes.data(), n),
                                            celmatch::HammingNearestTwo32Portable(query.data(), codes.data(), n)}) {
        CHECK(t.index == index);
        CHECK(t.best == best);
        CHECK(t.second == second);
      }
    }
  }
}
