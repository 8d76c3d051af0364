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

// One layer's vocabulary and inverted file over the index's descriptors;
// `descriptors_of` (word -> the descriptors filed under it, with their
// frames) for the vote checked by Hamming distance within a word.
struct LayerWords {
  Vocabulary vocabulary;
  std::unique_ptr<InvertedFile> inverted;
  struct Filed {
    int64_t frame_id;
    const uint8_t* descriptor;
  };
  std::vector<std::vector<Filed>> descriptors_of;

  // Each query descriptor's `k` nearest descriptors of its word within
  // `max_distance` bits vote once for each frame they belong to
  // (FeatureIndex::Vote's rule, with the word standing in for the search
  // over every descriptor).
  std::vector<FrameScore> Vote(const cv::Mat& q, const std::vector<int>& words, const std::vector<int>& owner,
                               int k, int max_distance, int min_votes, int max_frames) const {
    std::unordered_map<int64_t, int> votes;
    std::vector<std::pair<int, int64_t>> near;  // distance, frame
    std::vector<int64_t> seen;
    for (size_t first = 0; first < words.size();) {
      const int r = owner[first];
      size_t end = first;
      near.clear();
      for (; end < words.size() && owner[end] == r; ++end) {
        if (words[end] < 0) continue;
        for (const Filed& f : descriptors_of[size_t(words[end])]) {
          const int d = HammingDistance32(q.ptr(r), f.descriptor);
          if (d <= max_distance) near.emplace_back(d, f.frame_id);
        }
      }
      first = end;
      const size_t kk = std::min(near.size(), size_t(k));
      std::partial_sort(near.begin(), near.begin() + kk, near.end());
      seen.clear();
      for (size_t i = 0; i < kk; ++i) {
        if (std::find(seen.begin(), seen.end(), near[i].second) != seen.end()) continue;
        seen.push_back(near[i].second);
        ++votes[near[i].second];
      }
    }
    std::vector<FrameScore> out;
    for (const auto& [f, v] : votes) {
      if (v >= min_votes) out.push_back(FrameScore{f, double(v)});
    }
    std::sort(out.begin(), out.end(), [](const FrameScore& a, const FrameScore& b) {
      return a.score != b.score ? a.score > b.score : a.frame_id < b.frame_id;
    });
    if (int(out.size()) > max_frames) out.resize(size_t(max_frames));
    return out;
  }
};

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
  out.descriptors_of.resize(size_t(out.vocabulary.size()));
  for (int64_t id = 0; id < index.frame_count(); ++id) {
    const FrameFeaturesView v = f.frame(id);
    if (v.count == 0) continue;
    std::vector<int> words;
    for (size_t i = 0; i < v.count; ++i) {
      words.push_back(out.vocabulary.Word(v.descriptors + i * kFeatureBytes));
      out.descriptors_of[size_t(words.back())].push_back({id, v.descriptors + i * kFeatureBytes});
    }
    out.inverted->AddFrame(id, words);
  }
  return out;
}

}  // namespace

Result<ShortlistResult> MeasureShortlist(const ShortlistOptions& o) {
  Result<std::unique_ptr<ReferenceIndex>> opened = ReferenceIndex::OpenForRead(o.index_dir);
  if (!opened.ok()) return opened.status();
  const ReferenceIndex& index = **opened;
  CELMATCH_RETURN_IF_ERROR(index.LoadFeatures());
  Result<std::vector<LeakTruth>> truth = ReadTruthCsv(o.truth_csv);
  if (!truth.ok()) return truth.status();

  ShortlistResult result;
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

  const FeatureMatchOptions fo;
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

    std::set<int64_t> voted;
    auto start = Clock::now();
    for (const auto& [layer, mirrored] : combos) {
      const LocalFeatures& f = mirrored ? matcher.Mirrored(q) : q.features;
      if (f.size() < 4 || !o.vote) continue;
      for (const FrameVotes& fv : index.features(layer).Vote(f.descriptors, fo.neighbors, fo.max_descriptor_distance,
                                                             fo.verify_frames)) {
        if (fv.votes >= fo.min_votes) voted.insert(fv.frame_id);
      }
    }
    const double vote_s = Since(start);

    std::set<int64_t> listed, wide, checked;
    double words_s = 0, checked_s = 0;
    for (const auto& [layer, mirrored] : combos) {
      const LocalFeatures& f = mirrored ? matcher.Mirrored(q) : q.features;
      if (f.size() < 4) continue;
      const LayerWords& lw = layers[size_t(layer)];
      start = Clock::now();
      std::vector<int> owner;
      const std::vector<int> words = Words(lw.vocabulary, f.descriptors, o.beam, &owner);
      const double quantise_s = Since(start);
      start = Clock::now();
      const std::vector<FrameScore> list = lw.inverted->Shortlist(words, o.wide_frames);
      words_s += quantise_s + Since(start);
      for (size_t k = 0; k < list.size(); ++k) {
        if (int(k) < o.list_frames) listed.insert(list[k].frame_id);
        wide.insert(list[k].frame_id);
      }
      start = Clock::now();
      for (const FrameScore& s : lw.Vote(f.descriptors, words, owner, fo.neighbors, fo.max_descriptor_distance, fo.min_votes,
                                                o.list_frames))
        checked.insert(s.frame_id);
      checked_s += quantise_s + Since(start);
    }

    // The words' longer list, each frame on it scored by the query
    // descriptors that have a descriptor of it within the vote's distance
    // (searched exactly, frame by frame): the best list_frames per layer and mirror.
    std::set<int64_t> reranked;
    start = Clock::now();
    for (const auto& [layer, mirrored] : combos) {
      const LocalFeatures& f = mirrored ? matcher.Mirrored(q) : q.features;
      if (f.size() < 4) continue;
      const LayerWords& lw = layers[size_t(layer)];
      std::vector<int> owner;
      const std::vector<int> words = Words(lw.vocabulary, f.descriptors, 1, &owner);
      std::vector<FrameScore> scored;
      for (const FrameScore& c : lw.inverted->Shortlist(words, o.rerank_frames)) {
        const FrameFeaturesView v = index.features(layer).frame(c.frame_id);
        int votes = 0;
        for (int r = 0; r < f.descriptors.rows; ++r) {
          for (size_t j = 0; j < v.count; ++j) {
            if (HammingDistance32(f.descriptors.ptr(r), v.descriptors + j * kFeatureBytes) <= fo.max_descriptor_distance) {
              ++votes;
              break;
            }
          }
        }
        if (votes >= fo.min_votes) scored.push_back(FrameScore{c.frame_id, double(votes)});
      }
      std::sort(scored.begin(), scored.end(), [](const FrameScore& a, const FrameScore& b) {
        return a.score != b.score ? a.score > b.score : a.frame_id < b.frame_id;
      });
      for (size_t k = 0; k < scored.size() && int(k) < o.list_frames; ++k) reranked.insert(scored[k].frame_id);
    }
    const double reranked_s = Since(start);

    // The embedding's nearest frames to the picture and its mirror image
    // (what Matcher::AddEmbeddingMatches verifies).
    std::set<int64_t> embedded;
    double embedded_s = 0;
    if (embedder) {
      start = Clock::now();
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
      r.checked_found += found(checked);
      r.reranked_found += found(reranked);
      r.embedding_found += found(embedded);
      r.vote_emb_found += found(with_embedding(voted));
      r.words_emb_found += found(with_embedding(listed));
      r.checked_emb_found += found(with_embedding(checked));
      r.reranked_emb_found += found(with_embedding(reranked));
      r.reranked_s += reranked_s;
      r.embedding_s += embedded_s;
      r.vote_s += vote_s;
      r.words_s += words_s;
      r.checked_s += checked_s;
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
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "visual words: %d words in the colour layer's vocabulary (branching %d, %d levels), %lld reference "
                "descriptors, trained and filed in %.1f s\n",
                r.words, o.branching, o.levels, (long long)r.descriptors, r.train_s);
  out += buf;
  out += "found: the true frame on the list (top N per layer and mirror); ms: a file's list, one thread\n";
  out += "rerank: the words' " + std::to_string(o.rerank_frames) +
         " best frames re-ranked by exact descriptor votes; emb: the embedding's nearest; "
         "+emb: that list and the embedding's together\n";
  std::snprintf(buf, sizeof buf,
                "%-18s %5s | %7s %7s | %7s %7s %7s | %7s %7s | %7s %7s | %7s %7s | %7s %7s %7s %7s\n", "transform",
                "files", "vote", "ms", "words", "words", "ms", "checked", "ms", "rerank", "ms", "emb", "ms",
                "vote", "words", "checked", "rerank");
  out += buf;
  std::snprintf(buf, sizeof buf,
                "%-18s %5s | %7d %7s | %7d %7d %7s | %7d %7s | %7d %7s | %7d %7s | %7s %7s %7s %7s\n", "", "",
                o.list_frames, "", o.list_frames, o.wide_frames, "", o.list_frames, "", o.list_frames, "",
                o.list_frames, "", "+emb", "+emb", "+emb", "+emb");
  out += buf;
  for (const ShortlistRow& row : r.rows) {
    auto pct = [&](int n) { return row.files ? 100.0 * n / row.files : 0.0; };
    auto ms = [&](double s) { return row.files ? 1000 * s / row.files : 0.0; };
    std::snprintf(buf, sizeof buf,
                  "%-18s %5d | %6.1f%% %7.1f | %6.1f%% %6.1f%% %7.2f | %6.1f%% %7.2f | %6.1f%% %7.2f | %6.1f%% %7.2f | "
                  "%6.1f%% %6.1f%% %6.1f%% %6.1f%%\n",
                  row.transform.c_str(), row.files, pct(row.vote_found), ms(row.vote_s), pct(row.words_found),
                  pct(row.words_wide_found), ms(row.words_s), pct(row.checked_found), ms(row.checked_s),
                  pct(row.reranked_found), ms(row.reranked_s), pct(row.embedding_found), ms(row.embedding_s),
                  pct(row.vote_emb_found), pct(row.words_emb_found), pct(row.checked_emb_found),
                  pct(row.reranked_emb_found));
    out += buf;
  }
  return out;
}

}  // namespace celmatch
