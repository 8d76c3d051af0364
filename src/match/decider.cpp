#include "match/decider.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "match/cel_pixels.h"
#include "match/line_drawing.h"

namespace celmatch {

const char* VariantName(int variant) {
  static const char* kNames[8] = {"original", "rotate90", "rotate180", "rotate270",
                                  "flip_x",   "flip_y",   "flip_plus1", "flip_minus1"};
  return variant >= 0 && variant < 8 ? kNames[variant] : "original";
}

Decider::Decider(const ReferenceIndex& index, MatchOptions options) : index_(index), options_(std::move(options)) {}

double Decider::ScoreForDistance(int distance) const {
  const double t = std::max(1, options_.max_distance);
  return std::clamp(1.0 - 0.5 * double(distance) / t, 0.0, 1.0);
}

double Decider::ScoreForInliers(int inliers) const {
  // Below the threshold linear to 0.5; above it 1 - t / (2 n): 0.75 at 2t,
  // 0.9 at 5t, never 1, so more inliers always mean a higher score.
  const double t = std::max(1, options_.features.min_inliers);
  if (inliers < t) return 0.5 * std::max(0, inliers) / t;
  return 1.0 - 0.5 * t / inliers;
}

double Decider::ScoreAboveThreshold(double value, double threshold) {
  if (value < threshold) return 0.0;
  return 0.5 + 0.49 * (value - threshold) / std::max(1e-6, 1.0 - threshold);
}

double Decider::Score(const MatchEvidence& e) const {
  // Independent pieces of evidence, each 0.5 at its own decision threshold:
  // the picture is the reference unless all of them are wrong.
  const double pdq = e.pdq_distance <= options_.max_distance ? ScoreForDistance(e.pdq_distance) : 0.0;
  const double inliers = e.inliers >= options_.features.min_inliers ? ScoreForInliers(e.inliers) : 0.0;
  const double pixels = ScoreAboveThreshold(e.pixel_correlation, kMinCelCorrelation);
  const double lines = ScoreAboveThreshold(e.line_agreement, kMinLineAgreement);
  return 1.0 - (1.0 - pdq) * (1.0 - inliers) * (1.0 - pixels) * (1.0 - lines);
}

bool Decider::PdqDecides(const std::vector<Match>& matches) const {
  if (options_.early_pdq_distance < 0 || matches.empty()) return false;
  const MatchEvidence& best = matches.front().evidence;
  if (best.pdq_distance > std::min(options_.early_pdq_distance, options_.max_distance) ||
      best.query_quality < options_.early_pdq_min_quality || best.reference_quality < options_.early_pdq_min_quality)
    return false;
  for (size_t i = 1; i < matches.size(); ++i) {
    if (matches[i].evidence.pdq_distance <= best.pdq_distance + 2 * options_.tie_margin) return false;
  }
  return true;
}

bool Decider::Conclusive(const std::vector<Match>& matches) const {
  if (matches.empty()) return false;
  const MatchEvidence& e = matches.front().evidence;
  return e.pdq_distance <= options_.max_distance || e.inliers >= options_.features.conclusive_inliers;
}

void Decider::Rank(std::vector<Match>* matches) {
  std::stable_sort(matches->begin(), matches->end(), [](const Match& a, const Match& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.evidence.inliers != b.evidence.inliers) return a.evidence.inliers > b.evidence.inliers;
    return a.evidence.pdq_distance < b.evidence.pdq_distance;
  });
}

bool Decider::SamePicture(const Match& a, const Match& b) const {
  if (a.evidence.frame_id < 0 || b.evidence.frame_id < 0) return false;
  return index_.frame(a.evidence.frame_id).pdq.Distance(index_.frame(b.evidence.frame_id).pdq) <= options_.tie_margin;
}

bool Decider::TiedWith(const Match& best, const Match& m, bool video) const {
  const int min_inliers = options_.features.min_inliers;
  if (video) {
    return m.evidence.samples_matched == best.evidence.samples_matched &&
           m.evidence.pdq_distance <= best.evidence.pdq_distance + options_.tie_margin;
  }
  // Placed, by its own evidence, on the picture the best match's frame
  // shows (an intro every episode shares): nothing in the query can tell
  // the two apart, whatever their inliers or correlations say.
  if (m.score >= 0.5 && SamePicture(best, m)) return true;
  if (best.evidence.inliers < min_inliers && best.evidence.pixel_correlation > 0) {
    // Placed by its pixels (a cel): another source showing the same pixels
    // (an intro shared by episodes) is as good.
    return m.evidence.pixel_correlation >= best.evidence.pixel_correlation - 0.01;
  }
  if (best.evidence.inliers < min_inliers && best.evidence.line_agreement > 0) {
    // Placed by its lines (line-drawing step): likewise. The same picture
    // in two sources' thumbnails agrees up to about 0.02 apart (edges of
    // small thumbnails shift with their encoding).
    return m.evidence.line_agreement >= best.evidence.line_agreement - kLineTieMargin;
  }
  if (best.evidence.inliers < min_inliers && best.evidence.edge_layout > 0) {
    // Placed by its edge layout (embedding step): likewise.
    return m.evidence.edge_layout >= best.evidence.edge_layout - 0.01;
  }
  if (best.evidence.inliers >= min_inliers) {
    // Verified by local features: a tie needs nearly as many inliers
    // (within 20%), and PDQ as close when PDQ found the best at all.
    return m.evidence.inliers * 5 >= best.evidence.inliers * 4 &&
           (best.evidence.pdq_distance > options_.max_distance ||
            m.evidence.pdq_distance <= best.evidence.pdq_distance + options_.tie_margin);
  }
  return m.evidence.pdq_distance <= best.evidence.pdq_distance + options_.tie_margin;
}

int Decider::CountTied(const std::vector<Match>& matches, bool video) const {
  if (matches.empty()) return 0;
  int tied = 0;
  for (const Match& m : matches)
    if (TiedWith(matches.front(), m, video)) ++tied;
  return tied;
}

void Decider::DiscountUntied(int tied, std::vector<Match>* matches) {
  // A source clearly weaker than the best one (not tied with it) is listed
  // as a candidate below the match threshold, in proportion to its evidence:
  // the picture is far more likely to come from the best source.
  if (matches->empty()) return;
  const double best = matches->front().score;
  for (size_t i = size_t(std::max(1, tied)); i < matches->size(); ++i) {
    Match& m = (*matches)[i];
    if (best > 0) m.score = std::min(m.score, 0.49 * m.score / best);
  }
}

int Decider::DecideImage(std::vector<Match>* matches) const {
  // The sources tied with the best (the best among them) come first, in
  // rank order, so the reported tie is the first `tied` matches.
  int tied = 0;
  if (!matches->empty()) {
    const Match best = matches->front();
    const auto end_of_tie = std::stable_partition(matches->begin(), matches->end(),
                                                  [&](const Match& m) { return TiedWith(best, m, false); });
    tied = int(end_of_tie - matches->begin());
  }
  DiscountUntied(tied, matches);
  if (int(matches->size()) > options_.max_matches) matches->resize(size_t(options_.max_matches));
  return tied;
}

// ---------------------------------------------------------------------------
// Video alignment.

struct Decider::Vote {
  SampleVote v;
  double score = 0;       // Score of the pair's evidence
  double lo = 0, hi = 0;  // offsets (reference - query time) this pair allows
};

namespace {

template <typename V>
bool Covers(const V& v, double offset) {
  return v.lo <= offset + 1e-9 && offset <= v.hi + 1e-9;
}

// The offset most samples agree on (sweeping the votes' start points), the
// agreeing samples' best scores summed.
struct Alignment {
  int support = 0;
  double score_sum = -1;
  double offset = 0;
};

template <typename V>
Alignment BestOffset(const std::vector<V>& votes, bool still) {
  Alignment best;
  for (const V& anchor : votes) {
    const double o = still ? 0.0 : anchor.lo;
    std::map<int, double> per_sample;  // sample -> best score among votes covering o
    for (const V& v : votes) {
      if (!Covers(v, o)) continue;
      auto [it, ins] = per_sample.try_emplace(v.v.sample, v.score);
      if (!ins) it->second = std::max(it->second, v.score);
    }
    double sum = 0;
    for (const auto& entry : per_sample) sum += entry.second;
    const int support = int(per_sample.size());
    if (support > best.support || (support == best.support && sum > best.score_sum)) {
      best.support = support;
      best.score_sum = sum;
      best.offset = o;
    }
    if (still) break;  // every vote covers every offset
  }
  return best;
}

}  // namespace

std::vector<Decider::Vote> Decider::Votes(const std::vector<SampleVote>& votes,
                                          const std::vector<double>& sample_times) const {
  std::vector<Vote> out;
  out.reserve(votes.size());
  for (const SampleVote& sv : votes) {
    const FrameRecord& fr = index_.frame(sv.frame_id);
    const double t = sample_times[size_t(sv.sample)];
    Vote v;
    v.v = sv;
    MatchEvidence e;
    e.pdq_distance = sv.distance;
    e.inliers = sv.inliers;
    v.score = Score(e);
    if (index_.source(fr.source_id).is_still) {
      v.lo = -std::numeric_limits<double>::infinity();
      v.hi = std::numeric_limits<double>::infinity();
    } else {
      v.lo = fr.time_s - t - options_.offset_tolerance_s;
      v.hi = std::max(fr.span_end_s, fr.time_s) - t + options_.offset_tolerance_s;
    }
    out.push_back(v);
  }
  return out;
}

bool Decider::AnySourceAgrees(const std::map<int64_t, std::vector<SampleVote>>& votes_by_source,
                              const std::vector<double>& sample_times, int usable) const {
  const int needed = std::min(options_.min_video_support, usable);
  for (const auto& entry : votes_by_source)
    if (BestOffset(Votes(entry.second, sample_times), index_.source(entry.first).is_still).support >= needed)
      return true;
  return false;
}

VideoDecision Decider::DecideVideo(const std::map<int64_t, std::vector<SampleVote>>& votes_by_source,
                                   const std::vector<double>& sample_times, int usable, int best_query_quality,
                                   double duration_s) const {
  const int needed = std::min(options_.min_video_support, usable);
  // For each source, the offsets the samples agree on: the best one is the
  // source's match; the samples it explains are set aside and the rest
  // looked at again, so a clip cut from several shots gives a segment each.
  std::vector<Match> matches;
  std::map<int64_t, std::vector<Segment>> segments_of;
  std::map<int64_t, std::set<int>> samples_of;  // the match's agreeing samples
  for (const auto& [source_id, source_votes] : votes_by_source) {
    const SourceRecord& src = index_.source(source_id);
    std::vector<Vote> votes = Votes(source_votes, sample_times);
    for (int round = 0; round < std::max(1, options_.max_segments_per_source) && !votes.empty(); ++round) {
      const Alignment best = BestOffset(votes, src.is_still);
      if (best.support < needed) break;
      // Narrow the offset to the intersection of the agreeing votes' ranges.
      double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
      const Vote* best_vote = nullptr;
      std::set<int> agreeing;
      for (const Vote& v : votes) {
        if (!Covers(v, best.offset)) continue;
        lo = std::max(lo, v.lo + options_.offset_tolerance_s);
        hi = std::min(hi, v.hi - options_.offset_tolerance_s);
        agreeing.insert(v.v.sample);
        if (!best_vote || v.score > best_vote->score) best_vote = &v;
      }
      double offset = best.offset + options_.offset_tolerance_s;
      if (lo <= hi && std::isfinite(lo) && std::isfinite(hi)) offset = 0.5 * (lo + hi);
      // Mean per-sample score over the agreeing samples, scaled by the share
      // of usable samples that agree (a clip matching in 2 of 40 samples is
      // weak evidence).
      const double mean = best.score_sum / best.support;
      const double share = double(best.support) / usable;
      const double score = std::clamp(mean * (0.75 + 0.25 * share), 0.0, 1.0);
      const double source_end = src.duration_s > 0 ? src.duration_s : 1e300;
      Segment seg;
      seg.query_start_s = sample_times[size_t(*agreeing.begin())];
      seg.query_end_s = sample_times[size_t(*agreeing.rbegin())];
      seg.production = index_.production(src.production_id).name;
      seg.source = src.path;
      seg.source_id = source_id;
      seg.is_still = src.is_still;
      if (!src.is_still) {
        seg.source_start_s = std::clamp(seg.query_start_s + offset, 0.0, source_end);
        seg.source_end_s = std::clamp(seg.query_end_s + offset, 0.0, source_end);
      }
      seg.score = score;
      seg.samples = best.support;
      segments_of[source_id].push_back(seg);
      if (round == 0) {
        const SampleVote& bv = best_vote->v;
        Match m;
        m.production = seg.production;
        m.source = src.path;
        m.source_id = source_id;
        m.is_still = src.is_still;
        m.time_s = src.is_still ? 0 : std::max(0.0, offset);
        // The span: every clip start the agreeing samples allow (their
        // offsets' intersection, widened by the tolerance), through the end.
        const double first = std::isfinite(lo) && lo <= hi ? lo : offset;
        m.span_start_s = src.is_still ? 0 : std::clamp(first - options_.offset_tolerance_s, 0.0, m.time_s);
        m.span_end_s = src.is_still ? 0 : std::min(source_end, offset + duration_s);
        m.score = score;
        m.evidence.frame_id = bv.frame_id;
        m.evidence.pdq_distance = bv.distance;
        m.evidence.reference_quality = index_.frame(bv.frame_id).quality;
        m.evidence.query_quality = best_query_quality;
        m.evidence.transform = VariantName(bv.variant);
        m.evidence.inliers = bv.inliers;
        if (bv.inliers > 0) m.evidence.feature_layer = "color";
        m.evidence.samples_matched = best.support;
        m.evidence.samples_total = usable;
        matches.push_back(std::move(m));
        samples_of[source_id] = agreeing;
      }
      if (src.is_still) break;
      votes.erase(std::remove_if(votes.begin(), votes.end(),
                                 [&](const Vote& v) { return agreeing.count(v.v.sample) > 0; }),
                  votes.end());
    }
  }
  std::sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) {
    if (a.evidence.samples_matched != b.evidence.samples_matched)
      return a.evidence.samples_matched > b.evidence.samples_matched;
    if (a.score != b.score) return a.score > b.score;
    return a.source_id < b.source_id;
  });
  VideoDecision d;
  d.tied_sources = CountTied(matches, true);
  // A weaker source placing mostly the same samples as the best one
  // competes with it and is discounted; one placing other samples (a clip
  // cut from two episodes) stands on its own.
  if (!matches.empty()) {
    const std::set<int>& best_samples = samples_of[matches.front().source_id];
    const double best_score = matches.front().score;
    for (size_t i = size_t(std::max(1, d.tied_sources)); i < matches.size(); ++i) {
      Match& m = matches[i];
      const std::set<int>& own = samples_of[m.source_id];
      int shared = 0;
      for (int sample : own) shared += best_samples.count(sample) ? 1 : 0;
      if (2 * shared <= int(own.size())) continue;
      if (best_score > 0) m.score = std::min(m.score, 0.49 * m.score / best_score);
      for (Segment& seg : segments_of[m.source_id]) seg.score = std::min(seg.score, m.score);
    }
  }
  if (int(matches.size()) > options_.max_matches) matches.resize(size_t(options_.max_matches));
  for (const Match& m : matches) {
    for (const Segment& seg : segments_of[m.source_id])
      if (seg.score >= 0.5) d.segments.push_back(seg);
  }
  std::sort(d.segments.begin(), d.segments.end(), [](const Segment& a, const Segment& b) {
    if (a.query_start_s != b.query_start_s) return a.query_start_s < b.query_start_s;
    return a.score > b.score;
  });
  d.matches = std::move(matches);
  return d;
}

}  // namespace celmatch
