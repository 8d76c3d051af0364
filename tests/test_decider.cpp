// The cascade's last stage alone (match/decider.h), on hand-made evidence
// and votes over a small hand-made index: no decoding, no search.
#include <catch2/catch.hpp>

#include <random>

#include "index/reference_index.h"
#include "match/cel_pixels.h"
#include "match/decider.h"
#include "hash_support.h"
#include "test_support.h"

using namespace celmatch;
using namespace celmatch::testing;
using celmatch::testing::FlipBits;
using celmatch::testing::RandomHash;

namespace {

// Two productions: "Show" with two episodes of 60 s (a frame every 0.5 s,
// its span to the next), "Stills" with one picture.
struct SmallIndex {
  TempDir tmp;
  std::unique_ptr<ReferenceIndex> index;
  std::vector<std::vector<int64_t>> frames;  // per source, in time order

  SmallIndex() {
    Result<std::unique_ptr<ReferenceIndex>> idx = ReferenceIndex::OpenForWrite(tmp.str() + "/index", IndexParams());
    REQUIRE(idx.ok());
    index = std::move(*idx);
    std::mt19937 rng(7);
    auto add = [&](const std::string& production, const std::string& path, int n, bool still) {
      SourceToAdd item;
      item.production = production;
      item.source.path = path;
      item.source.content_sha256 = std::string(64, char('a' + frames.size()));
      item.source.size_bytes = 1000;
      item.source.duration_s = still ? 0 : n * 0.5;
      item.source.is_still = still;
      item.source.width = 1920;
      item.source.height = 1080;
      for (int i = 0; i < n; ++i) {
        FrameRecord f;
        f.time_s = still ? 0 : i * 0.5;
        f.span_end_s = still ? 0 : i * 0.5 + 0.5;
        f.quality = 90;
        for (auto& b : f.pdq.bytes) b = uint8_t(rng());
        item.frames.push_back(f);
      }
      REQUIRE(index->AddSource(item).ok());
      frames.emplace_back();
      const int64_t source_id = int64_t(frames.size()) - 1;
      for (int64_t id : index->frames_of_source(source_id)) frames.back().push_back(id);
    };
    add("Show", "ep1.mkv", 120, false);
    add("Show", "ep2.mkv", 120, false);
    add("Stills", "poster.png", 1, true);
  }
  // The frame of `source` at `time_s`.
  int64_t at(int source, double time_s) const { return frames[size_t(source)][size_t(time_s / 0.5)]; }
};

Match MatchWith(int64_t source_id, int pdq_distance, int inliers = 0) {
  Match m;
  m.source_id = source_id;
  m.evidence.pdq_distance = pdq_distance;
  m.evidence.inliers = inliers;
  return m;
}

// A clip sampled every 0.5 s: the samples' times in the query.
std::vector<double> SampleTimes(int n) {
  std::vector<double> times;
  for (int i = 0; i < n; ++i) times.push_back(0.5 * i);
  return times;
}

}  // namespace

TEST_CASE("decider: one score, 0.5 at each decision threshold, more evidence ranks higher, never saturating") {
  SmallIndex small;
  MatchOptions options;
  const Decider decider(*small.index, options);
  const int t = options.features.min_inliers;
  CHECK(decider.ScoreForInliers(t) == Approx(0.5));
  CHECK(decider.ScoreForInliers(t - 1) < 0.5);
  double previous = 0;
  for (int n = 1; n <= 2000; n = n < 64 ? n + 1 : n * 2) {
    const double s = decider.ScoreForInliers(n);
    CHECK(s > previous);
    CHECK(s < 1.0);
    previous = s;
  }
  CHECK(decider.ScoreForDistance(0) == Approx(1.0));
  CHECK(decider.ScoreForDistance(options.max_distance) == Approx(0.5));
  CHECK(decider.ScoreForDistance(2 * options.max_distance) == Approx(0.0));

  MatchEvidence pdq_only, both, features_only, neither, pixels;
  pdq_only.pdq_distance = options.max_distance;
  CHECK(decider.Score(pdq_only) == Approx(0.5));
  features_only.pdq_distance = 120;
  features_only.inliers = t;
  CHECK(decider.Score(features_only) == Approx(0.5));
  both.pdq_distance = 10;
  both.inliers = 3 * t;
  MatchEvidence more = both;
  more.inliers = 4 * t;
  CHECK(decider.Score(more) > decider.Score(both));
  CHECK(decider.Score(both) > decider.Score(features_only));
  CHECK(decider.Score(more) < 1.0);
  neither.pdq_distance = 120;
  neither.inliers = t - 1;
  CHECK(decider.Score(neither) < 0.5);
  pixels.pdq_distance = 120;
  pixels.pixel_correlation = kMinCelCorrelation;
  CHECK(decider.Score(pixels) == Approx(0.5));
  pixels.pixel_correlation = kMinCelCorrelation - 0.01;
  CHECK(decider.Score(pixels) == 0.0);
  CHECK(Decider::ScoreAboveThreshold(0.9, 0.8) > 0.5);
  CHECK(Decider::ScoreAboveThreshold(0.79, 0.8) == 0.0);
}

TEST_CASE("decider: the early PDQ decision needs a clear, good-quality PDQ match and no near rival") {
  SmallIndex small;
  MatchOptions options;
  const Decider decider(*small.index, options);
  Match best = MatchWith(0, 4);
  best.evidence.query_quality = 90;
  best.evidence.reference_quality = 90;
  Match other = best;
  other.source_id = 1;
  other.evidence.pdq_distance = 4 + 2 * options.tie_margin + 1;
  CHECK(decider.PdqDecides({best}));
  CHECK(decider.PdqDecides({best, other}));
  other.evidence.pdq_distance -= 1;
  CHECK_FALSE(decider.PdqDecides({best, other}));
  Match far = best;
  far.evidence.pdq_distance = options.early_pdq_distance + 1;
  CHECK_FALSE(decider.PdqDecides({far}));
  Match dim = best;
  dim.evidence.query_quality = options.early_pdq_min_quality - 1;
  CHECK_FALSE(decider.PdqDecides({dim}));
  dim = best;
  dim.evidence.reference_quality = options.early_pdq_min_quality - 1;
  CHECK_FALSE(decider.PdqDecides({dim}));
  CHECK_FALSE(decider.PdqDecides({}));
  MatchOptions verify_all = options;
  verify_all.early_pdq_distance = -1;
  CHECK_FALSE(Decider(*small.index, verify_all).PdqDecides({best}));

  // Conclusive: PDQ within the threshold, or conclusive_inliers inliers.
  CHECK(decider.Conclusive({MatchWith(0, options.max_distance)}));
  CHECK_FALSE(decider.Conclusive({MatchWith(0, options.max_distance + 1, options.features.conclusive_inliers - 1)}));
  CHECK(decider.Conclusive({MatchWith(0, 120, options.features.conclusive_inliers)}));
}

TEST_CASE("decider: ties are counted by the evidence that placed the best match, the rest fall below 0.5") {
  SmallIndex small;
  MatchOptions options;
  options.max_matches = 3;
  const Decider decider(*small.index, options);
  const int t = options.features.min_inliers;

  // PDQ alone: within tie_margin bits of the best is a tie.
  std::vector<Match> pdq = {MatchWith(0, 4), MatchWith(1, 4 + options.tie_margin), MatchWith(2, 4 + options.tie_margin + 1)};
  for (Match& m : pdq) m.score = decider.Score(m.evidence);
  CHECK(decider.CountTied(pdq, false) == 2);

  // Local features: within 20% of the best's inliers.
  std::vector<Match> inliers = {MatchWith(0, 120, 100), MatchWith(1, 120, 80), MatchWith(2, 120, 79)};
  for (Match& m : inliers) m.score = decider.Score(m.evidence);
  Decider::Rank(&inliers);
  CHECK(decider.CountTied(inliers, false) == 2);

  // Cel pixels: within 0.01 of the best correlation (an intro two episodes share).
  std::vector<Match> cels = {MatchWith(0, 120), MatchWith(1, 120), MatchWith(2, 120)};
  cels[0].evidence.pixel_correlation = 0.95;
  cels[1].evidence.pixel_correlation = 0.945;
  cels[2].evidence.pixel_correlation = 0.90;
  for (Match& m : cels) m.score = decider.Score(m.evidence);
  CHECK(decider.CountTied(cels, false) == 2);

  // DecideImage: the tie stands, the weaker source is a candidate below
  // 0.5 in proportion, and at most max_matches are kept.
  std::vector<Match> many = inliers;
  many.push_back(MatchWith(2, 120, t));
  many.back().score = decider.Score(many.back().evidence);
  Decider::Rank(&many);
  const double tied_score = many[1].score;
  REQUIRE(many[2].score >= 0.5);
  CHECK(decider.DecideImage(&many) == 2);
  REQUIRE(many.size() == 3);
  CHECK(many[1].score == tied_score);
  CHECK(many[2].score < 0.5);
  CHECK(many[2].score > 0);
}

TEST_CASE("decider: sources placed on frames showing the same picture tie, whatever their evidence says") {
  // Two episodes whose first frames are the same picture (a shared intro:
  // PDQ hashes 5 bits apart) and a third source of other pictures.
  TempDir tmp;
  Result<std::unique_ptr<ReferenceIndex>> idx = ReferenceIndex::OpenForWrite(tmp.str() + "/index", IndexParams());
  REQUIRE(idx.ok());
  std::mt19937 rng(3);
  const PdqHash intro = RandomHash(rng);
  for (int s = 0; s < 3; ++s) {
    SourceToAdd item;
    item.production = "Show";
    item.source.path = "ep" + std::to_string(s + 1) + ".mkv";
    item.source.content_sha256 = std::string(64, char('a' + s));
    item.source.duration_s = 2;
    item.source.width = 1920;
    item.source.height = 1080;
    for (int i = 0; i < 2; ++i) {
      FrameRecord f;
      f.time_s = i;
      f.span_end_s = i + 1;
      f.quality = 90;
      f.pdq = i == 0 && s < 2 ? FlipBits(intro, s == 0 ? 0 : 5, rng) : RandomHash(rng);
      item.frames.push_back(f);
    }
    REQUIRE((*idx)->AddSource(item).ok());
  }
  const ReferenceIndex& index = **idx;
  MatchOptions options;
  const Decider decider(index, options);
  auto placed = [&](int64_t source, int64_t frame, int inliers) {
    Match m = MatchWith(source, 120, inliers);
    m.evidence.frame_id = frame;
    m.score = decider.Score(m.evidence);
    return m;
  };
  const int t = options.features.min_inliers;
  // ep1's intro with many inliers; ep3 nearly as many on another picture
  // would tie by inliers, so it has too few for that; ep2's intro has half.
  std::vector<Match> matches = {placed(0, index.frames_of_source(0)[0], 10 * t),
                                placed(2, index.frames_of_source(2)[0], 6 * t),
                                placed(1, index.frames_of_source(1)[0], 5 * t)};
  Decider::Rank(&matches);
  REQUIRE(matches[1].source_id == 2);
  CHECK(decider.SamePicture(matches[0], matches[2]));
  CHECK_FALSE(decider.SamePicture(matches[0], matches[1]));
  const double ep2_score = matches[2].score;
  CHECK(decider.DecideImage(&matches) == 2);
  // The tie first, in rank order; the other source after it, below 0.5.
  REQUIRE(matches.size() == 3);
  CHECK(matches[1].source_id == 1);
  CHECK(matches[1].score == ep2_score);
  CHECK(matches[2].source_id == 2);
  CHECK(matches[2].score < 0.5);
  // A match on the shared picture that its own evidence does not carry to
  // 0.5 does not join the tie.
  std::vector<Match> weak = {placed(0, index.frames_of_source(0)[0], 10 * t),
                             placed(1, index.frames_of_source(1)[0], t / 2)};
  REQUIRE(weak[1].score < 0.5);
  CHECK(decider.DecideImage(&weak) == 1);
  // ep2's other frame is another picture: inliers decide, no tie.
  std::vector<Match> other = {placed(0, index.frames_of_source(0)[0], 10 * t),
                              placed(1, index.frames_of_source(1)[1], 5 * t)};
  CHECK(decider.DecideImage(&other) == 1);
}

TEST_CASE("decider: a video's votes align into the offset most samples agree on, one segment per shot") {
  SmallIndex small;
  MatchOptions options;
  const Decider decider(*small.index, options);
  // A 10 s clip sampled every 0.5 s: samples 0-9 show ep1 from 30 s,
  // samples 10-19 show ep2 from 5 s (a clip cut from two episodes); sample
  // 3 also has a stray PDQ neighbour in ep2 at an unrelated time.
  const std::vector<double> times = SampleTimes(20);
  std::map<int64_t, std::vector<SampleVote>> votes;
  for (int i = 0; i < 10; ++i) votes[0].push_back(SampleVote{i, small.at(0, 30 + 0.5 * i), 6, 0, 0});
  for (int i = 10; i < 20; ++i) votes[1].push_back(SampleVote{i, small.at(1, 5 + 0.5 * (i - 10)), 10, 0, 0});
  votes[1].push_back(SampleVote{3, small.at(1, 50), 28, 0, 0});
  CHECK(decider.AnySourceAgrees(votes, times, 20));

  const VideoDecision d = decider.DecideVideo(votes, times, 20, 80, 10.0);
  REQUIRE(d.matches.size() == 2);
  // Each placed 10 of 20 samples: ep1 first (closer PDQ), both reported.
  CHECK(d.matches[0].source == "ep1.mkv");
  CHECK(d.matches[0].time_s == Approx(30).margin(0.5));
  CHECK(d.matches[0].evidence.samples_matched == 10);
  CHECK(d.matches[0].evidence.samples_total == 20);
  CHECK(d.matches[0].score >= 0.5);
  // ep2 placed other samples than ep1: it stands on its own, not discounted.
  CHECK(d.matches[1].source == "ep2.mkv");
  CHECK(d.matches[1].score >= 0.5);
  REQUIRE(d.segments.size() == 2);
  CHECK(d.segments[0].source == "ep1.mkv");
  CHECK(d.segments[0].query_start_s == 0);
  CHECK(d.segments[0].query_end_s == 4.5);
  CHECK(d.segments[0].source_start_s == Approx(30).margin(0.5));
  CHECK(d.segments[1].source == "ep2.mkv");
  CHECK(d.segments[1].query_start_s == 5.0);
  CHECK(d.segments[1].source_start_s == Approx(5).margin(0.5));

  // One sample alone never makes a match when two are needed.
  std::map<int64_t, std::vector<SampleVote>> lone;
  lone[0].push_back(SampleVote{0, small.at(0, 30), 2, 0, 0});
  lone[0].push_back(SampleVote{5, small.at(0, 50), 2, 0, 0});  // another offset
  CHECK_FALSE(decider.AnySourceAgrees(lone, times, 20));
  CHECK(decider.DecideVideo(lone, times, 20, 80, 10.0).matches.empty());

  // A still (a poster) agrees at any offset: every sample that shows it counts.
  std::map<int64_t, std::vector<SampleVote>> poster;
  for (int i = 0; i < 4; ++i) poster[2].push_back(SampleVote{i, small.frames[2][0], 5, 0, 0});
  const VideoDecision p = decider.DecideVideo(poster, times, 4, 80, 2.0);
  REQUIRE(p.matches.size() == 1);
  CHECK(p.matches[0].is_still);
  CHECK(p.matches[0].evidence.samples_matched == 4);
  CHECK(p.matches[0].score >= 0.5);
}

TEST_CASE("decider: a video source placing the best source's samples at another time is discounted") {
  SmallIndex small;
  MatchOptions options;
  const Decider decider(*small.index, options);
  const std::vector<double> times = SampleTimes(8);
  std::map<int64_t, std::vector<SampleVote>> votes;
  // All 8 samples agree with ep1 at 20 s; 5 of them also match ep2 (a
  // reused background) at 40 s, further in PDQ.
  for (int i = 0; i < 8; ++i) votes[0].push_back(SampleVote{i, small.at(0, 20 + 0.5 * i), 4, 0, 0});
  for (int i = 0; i < 5; ++i) votes[1].push_back(SampleVote{i, small.at(1, 40 + 0.5 * i), 24, 0, 0});
  const VideoDecision d = decider.DecideVideo(votes, times, 8, 80, 4.0);
  REQUIRE(d.matches.size() == 2);
  CHECK(d.tied_sources == 1);
  CHECK(d.matches[0].source == "ep1.mkv");
  CHECK(d.matches[0].score >= 0.5);
  CHECK(d.matches[1].source == "ep2.mkv");
  CHECK(d.matches[1].score < 0.5);
  // Only the reported sources' segments of score >= 0.5: ep1's.
  REQUIRE(d.segments.size() == 1);
  CHECK(d.segments[0].source == "ep1.mkv");
}
