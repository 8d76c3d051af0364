#include "leaks/shortlist_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <map>
#include <memory>
#include <set>

#include "index/embedding_index.h"
#include "index/reference_index.h"
#include "index/visual_words.h"
#include "leaks/leak_simulator.h"
#include "match/feature_matcher.h"
#include "media/image_decoder.h"

#include <opencv2/core.hpp>

namespace celmatch {

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One layer's vocabulary and IDF-ranked inverted file over the index's
// descriptors (the `words` lists).
struct LayerWords {
  Vocabulary vocabulary;
  std::unique_ptr<InvertedFile> inverted;
};

// FeatureIndex::Vote's rule over every descriptor of the layer: each query
// descriptor's `k` nearest reference descriptors within `max_distance` bits
// vote once for each frame they belong to.
std::set<int64_t> ExactVote(const ReferenceIndex& index, FeatureLayer layer, const cv::Mat& q, int k,
                            int max_distance, int min_votes, int max_frames) {
  const FeatureIndex& f = index.features(layer);
  std::map<int64_t, int> votes;
  std::vector<std::pair<int, int64_t>> near;
  std::vector<int64_t> seen;
  for (int r = 0; r < q.rows; ++r) {
    near.clear();
    for (int64_t id = 0; id < index.frame_count(); ++id) {
      const FrameFeaturesView v = f.frame(id);
      for (size_t j = 0; j < v.count; ++j) {
        const int d = HammingDistance32(q.ptr(r), v.descriptors + j * kFeatureBytes);
        if (d <= max_distance) near.emplace_back(d, id);
      }
    }
    const size_t kk = std::min(near.size(), size_t(k));
    std::partial_sort(near.begin(), near.begin() + std::ptrdiff_t(kk), near.end());
    seen.clear();
    for (size_t i = 0; i < kk; ++i) {
      if (std::find(seen.begin(), seen.end(), near[i].second) != seen.end()) continue;
      seen.push_back(near[i].second);
      ++votes[near[i].second];
    }
  }
  std::vector<std::pair<int, int64_t>> ranked;  // -votes, frame
  for (const auto& [frame, v] : votes) {
    if (v >= min_votes) ranked.emplace_back(-v, frame);
  }
  std::sort(ranked.begin(), ranked.end());
  std::set<int64_t> out;
  for (size_t i = 0; i < ranked.size() && int(i) < max_frames; ++i) out.insert(ranked[i].second);
  return out;
}

// Each descriptor's `beam` words; `owner` says which descriptor each is of.
std::vector<int> Words(const Vocabulary& v, const cv::Mat& descriptors, int beam, std::vector<int>* owner) {
  std::vector<int> w;
  w.reserve(size_t(descriptors.rows) * size_t(beam));
  owner->clear();
  for (int r = 0; r < descriptors.rows; ++r) {
    const size_t before = w.size();
    v.Words(descriptors.ptr(r), beam, &w);
    owner->insert(owner->end(), w.size() - before, r);
  }
  return w;
}

LayerWords BuildLayer(const ReferenceIndex& index, FeatureLayer layer, const ShortlistOptions& o, int64_t* count) {
  const FeatureIndex& f = index.features(layer);
  const int64_t total = f.descriptor_count();
  *count += total;
  // Training sample: every step-th descriptor.
  const int64_t step = std::max<int64_t>(1, (total + int64_t(o.max_training_descriptors) - 1) /
                                                int64_t(std::max<size_t>(1, o.max_training_descriptors)));
  std::vector<uint8_t> sample;
  int64_t at = 0;
  for (int64_t id = 0; id < index.frame_count(); ++id) {
    const FrameFeaturesView v = f.frame(id);
    for (size_t i = 0; i < v.count; ++i, ++at) {
      if (at % step == 0) sample.insert(sample.end(), v.descriptors + i * kFeatureBytes, v.descriptors + (i + 1) * kFeatureBytes);
    }
  }
  LayerWords out;
  out.vocabulary = Vocabulary::Train(sample.data(), sample.size() / kFeatureBytes, o.branching, o.levels, 1);
  out.inverted = std::make_unique<InvertedFile>(out.vocabulary.size());
  for (int64_t id = 0; id < index.frame_count(); ++id) {
    const FrameFeaturesView v = f.frame(id);
    if (v.count == 0) continue;
    std::vector<int> words;
    for (size_t i = 0; i < v.count; ++i) words.push_back(out.vocabulary.Word(v.descriptors + i * kFeatureBytes));
    out.inverted->AddFrame(id, words);
  }
  return out;
}

}  // namespace

Result<ShortlistResult> MeasureShortlist(const ShortlistOptions& o) {
  Result<std::unique_ptr<ReferenceIndex>> opened = ReferenceIndex::OpenForRead(o.index_dir);
  if (!opened.ok()) return opened.status();
  const ReferenceIndex& index = **opened;
  ShortlistResult result;
  const auto load_start = Clock::now();
  CELMATCH_RETURN_IF_ERROR(index.LoadFeatures());
  // The vote's words, filed before the first query (as the first query would).
  for (int l = 0; l < kFeatureLayers; ++l) {
    const int words = index.features(FeatureLayer(l)).words();
    if (l == 0) result.vote_words = words;
  }
  result.load_s = Since(load_start);
  Result<std::vector<LeakTruth>> truth = ReadTruthCsv(o.truth_csv);
  if (!truth.ok()) return truth.status();

  const auto train_start = Clock::now();
  std::array<LayerWords, kFeatureLayers> layers;
  for (int l = 0; l < kFeatureLayers; ++l) layers[size_t(l)] = BuildLayer(index, FeatureLayer(l), o, &result.descriptors);
  result.train_s = Since(train_start);
  result.words = layers[0].vocabulary.size();

  // The image files with a true source, evenly spread.
  std::vector<const LeakTruth*> files;
  for (const LeakTruth& t : *truth) {
    if (!t.distractor && t.transform.rfind("clip", 0) != 0) files.push_back(&t);
  }
  const size_t step = std::max<size_t>(1, (files.size() + size_t(std::max(1, o.max_files)) - 1) / size_t(std::max(1, o.max_files)));

  // The index's embedding model, for the embedding's own list.
  std::shared_ptr<EmbeddingModelPool> embedder;
  if (index.embedding()) {
    Result<std::shared_ptr<EmbeddingModelPool>> pool =
        ChooseQueryEmbeddingModel(o.index_dir, index.embedding()->model(), "", "");
    if (!pool.ok()) return pool.status();
    embedder = *pool;
  }

  FeatureMatchOptions fo;
  if (o.beam > 0) {  // that beam for every query
    fo.vote_word_beam = fo.line_vote_word_beam = fo.max_vote_word_beam = o.beam;
  }
  const FeatureMatcher matcher(index, fo);
  std::map<std::string, ShortlistRow> rows;
  for (size_t i = 0; i < files.size(); i += step) {
    const LeakTruth& t = *files[i];
    const std::string path = o.dump_dir + "/" + t.file;
    cv::Mat alpha;
    Result<cv::Mat> img = DecodeImageWithAlpha(path, &alpha);
    if (!img.ok()) {
      std::fprintf(stderr, "shortlist: %s\n", img.status().message().c_str());
      continue;
    }
    const QueryFeatures q = matcher.Describe(*img, alpha);
    auto found = [&](const std::set<int64_t>& frames) {
      for (int64_t id : frames) {
        const FrameRecord& fr = index.frame(id);
        const SourceRecord& src = index.source(fr.source_id);
        if (src.path != t.source || index.production(src.production_id).name != t.production) continue;
        if (t.time_s < 0 || (t.time_s >= fr.time_s - 1.0 && t.time_s <= fr.span_end_s + 1.0)) return true;
      }
      return false;
    };
    std::vector<std::pair<FeatureLayer, bool>> combos = {{FeatureLayer::kColor, false}, {FeatureLayer::kColor, true}};
    if (q.line_art) {
      combos.emplace_back(FeatureLayer::kLine, false);
      combos.emplace_back(FeatureLayer::kLine, true);
    }

    // The vote as matching takes it, then the inverted file's lists and
    // the brute-force vote, per layer and mirror.
    std::set<int64_t> voted, listed, wide, exact;
    double vote_s = 0, words_s = 0, exact_s = 0;
    for (const auto& [layer, mirrored] : combos) {
      const LocalFeatures& f = mirrored ? matcher.Mirrored(q) : q.features;
      if (f.size() < 4) continue;
      auto start = Clock::now();
      for (const FrameVotes& fv : index.features(layer).Vote(f.descriptors, fo.neighbors, fo.max_descriptor_distance,
                                                             fo.verify_frames,
                                                             matcher.WordBeam(f.descriptors.rows, layer))) {
        if (fv.votes >= fo.min_votes) voted.insert(fv.frame_id);
      }
      vote_s += Since(start);
      const LayerWords& lw = layers[size_t(layer)];
      start = Clock::now();
      std::vector<int> owner;
      const std::vector<int> words = Words(lw.vocabulary, f.descriptors, 1, &owner);
      const std::vector<FrameScore> list = lw.inverted->Shortlist(words, o.wide_frames);
      words_s += Since(start);
      for (size_t k = 0; k < list.size(); ++k) {
        if (int(k) < o.list_frames) listed.insert(list[k].frame_id);
        wide.insert(list[k].frame_id);
      }
      if (o.exact) {
        start = Clock::now();
        for (int64_t id : ExactVote(index, layer, f.descriptors, fo.neighbors, fo.max_descriptor_distance,
                                    fo.min_votes, fo.verify_frames))
          exact.insert(id);
        exact_s += Since(start);
      }
    }

    // The embedding's nearest frames to the picture and its mirror image
    // (what Matcher::AddEmbeddingMatches verifies).
    std::set<int64_t> embedded;
    double embedded_s = 0;
    if (embedder) {
      const auto start = Clock::now();
      cv::Mat mirrored_bgr;
      cv::flip(*img, mirrored_bgr, 1);
      Result<EmbeddingModelPool::Lease> lease = embedder->Acquire();
      if (!lease.ok()) return lease.status();
      Result<cv::Mat> vectors = lease->model().Embed({*img, mirrored_bgr});
      if (vectors.ok() && vectors->rows == 2) {
        for (int row = 0; row < 2; ++row) {
          for (const EmbeddingNeighbor& nb : index.embedding()->Search({vectors->ptr<float>(row)}, o.list_frames))
            embedded.insert(nb.frame_id);
        }
      }
      embedded_s = Since(start);
    }
    // The embedding's list beside each list of local features.
    auto with_embedding = [&](std::set<int64_t> frames) {
      frames.insert(embedded.begin(), embedded.end());
      return frames;
    };

    for (const std::string& key : {t.transform, std::string("all")}) {
      ShortlistRow& r = rows[key];
      r.transform = key;
      ++r.files;
      r.vote_found += found(voted);
      r.words_found += found(listed);
      r.words_wide_found += found(wide);
      r.exact_found += found(exact);
      r.embedding_found += found(embedded);
      r.vote_emb_found += found(with_embedding(voted));
      r.words_emb_found += found(with_embedding(listed));
      r.exact_emb_found += found(with_embedding(exact));
      r.embedding_s += embedded_s;
      r.vote_s += vote_s;
      r.words_s += words_s;
      r.exact_s += exact_s;
    }
  }
  for (auto& [key, row] : rows) {
    if (key != "all") result.rows.push_back(row);
  }
  if (rows.count("all")) result.rows.push_back(rows["all"]);
  return result;
}

std::string FormatShortlist(const ShortlistResult& r, const ShortlistOptions& o) {
  std::string out;
  char buf[320];
  const FeatureMatchOptions fo;
  std::snprintf(buf, sizeof buf,
                "vote: the index's visual words (%d in the colour layer), %s per query descriptor; features and "
                "words loaded in %.1f s\n",
                r.vote_words,
                o.beam > 0 ? std::to_string(o.beam).c_str()
                           : ("matching's (" + std::to_string(fo.vote_word_budget) + " a query, at least " +
                              std::to_string(fo.vote_word_beam) + ", line layer " +
                              std::to_string(fo.line_vote_word_beam) + ")").c_str(),
                r.load_s);
  out += buf;
  std::snprintf(buf, sizeof buf,
                "words: an inverted file of %d words in the colour layer (branching %d, %d levels), %lld reference "
                "descriptors, trained and filed in %.1f s\n",
                r.words, o.branching, o.levels, (long long)r.descriptors, r.train_s);
  out += buf;
  out += "found: the true frame on the list (top N per layer and mirror); ms: a file's list, one thread; exact: "
         "the vote over every descriptor" + std::string(o.exact ? "" : " (not run: --exact)") +
         "; emb: the embedding's nearest; +emb: that list and the embedding's together\n";
  std::snprintf(buf, sizeof buf, "%-18s %5s | %7s %7s | %7s %7s %7s | %7s %7s | %7s %7s | %7s %7s %7s\n",
                "transform", "files", "vote", "ms", "words", "words", "ms", "exact", "ms", "emb", "ms", "vote",
                "words", "exact");
  out += buf;
  std::snprintf(buf, sizeof buf, "%-18s %5s | %7d %7s | %7d %7d %7s | %7d %7s | %7d %7s | %7s %7s %7s\n", "", "",
                fo.verify_frames, "", o.list_frames, o.wide_frames, "", fo.verify_frames, "", o.list_frames, "",
                "+emb", "+emb", "+emb");
  out += buf;
  for (const ShortlistRow& row : r.rows) {
    auto pct = [&](int n) { return row.files ? 100.0 * n / row.files : 0.0; };
    auto ms = [&](double s) { return row.files ? 1000 * s / row.files : 0.0; };
    std::snprintf(buf, sizeof buf,
                  "%-18s %5d | %6.1f%% %7.2f | %6.1f%% %6.1f%% %7.2f | %6.1f%% %7.1f | %6.1f%% %7.2f | "
                  "%6.1f%% %6.1f%% %6.1f%%\n",
                  row.transform.c_str(), row.files, pct(row.vote_found), ms(row.vote_s), pct(row.words_found),
                  pct(row.words_wide_found), ms(row.words_s), pct(row.exact_found), ms(row.exact_s),
                  pct(row.embedding_found), ms(row.embedding_s), pct(row.vote_emb_found), pct(row.words_emb_found),
                  pct(row.exact_emb_found));
    out += buf;
  }
  return out;
}

}  // namespace celmatch
