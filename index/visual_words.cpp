#include "index/visual_words.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace celmatch {

namespace {

constexpr int kBytes = 32;
constexpr int kRounds = 4;  // assignment/majority rounds per split

int Distance(const uint8_t* a, const uint8_t* b) { return HammingDistance32(a, b); }

// splitmix64: a small deterministic generator (the seed fixes the vocabulary).
uint64_t Next(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The bitwise majority of the descriptors `members` (ties: 0).
BinaryWord Majority(const std::vector<uint32_t>& members, const uint8_t* descriptors) {
  std::array<uint32_t, kBytes * 8> ones{};
  for (uint32_t m : members) {
    const uint8_t* d = descriptors + size_t(m) * kBytes;
    for (int byte = 0; byte < kBytes; ++byte) {
      const unsigned v = d[byte];
      for (int bit = 0; bit < 8; ++bit) ones[size_t(byte * 8 + bit)] += (v >> bit) & 1u;
    }
  }
  BinaryWord c{};
  for (int i = 0; i < kBytes * 8; ++i) {
    if (2 * ones[size_t(i)] > members.size()) c[size_t(i / 8)] |= uint8_t(1u << (i % 8));
  }
  return c;
}

}  // namespace

Vocabulary Vocabulary::Train(const uint8_t* descriptors, size_t n, int branching, int levels, uint64_t seed,
                             size_t leaf_size) {
  Vocabulary v;
  v.branching_ = std::max(2, branching);
  v.levels_ = std::max(1, levels);
  v.leaf_size_ = std::max(size_t(v.branching_), leaf_size);
  v.nodes_.emplace_back();
  std::vector<uint32_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = uint32_t(i);
  uint64_t rng = seed;
  if (n > 0) v.nodes_[0].centre = Majority(all, descriptors);
  v.Split(0, all, descriptors, 0, &rng);
  return v;
}

void Vocabulary::Split(int node, std::vector<uint32_t>& members, const uint8_t* descriptors, int level,
                       uint64_t* rng) {
  const size_t k = size_t(branching_);
  if (level == levels_ || members.size() <= leaf_size_) {
    nodes_[size_t(node)].word = int(leaf_count_++);
    return;
  }
  auto at = [&](uint32_t m) { return descriptors + size_t(m) * kBytes; };
  // Seeds spread as k-means++ does: each next one drawn with probability
  // proportional to its squared distance from the nearest seed so far.
  std::vector<BinaryWord> centres;
  std::vector<double> nearest(members.size(), std::numeric_limits<double>::max());
  uint32_t first = members[size_t(Next(rng) % members.size())];
  while (centres.size() < k) {
    BinaryWord c;
    std::memcpy(c.data(), at(first), kBytes);
    centres.push_back(c);
    double total = 0;
    for (size_t i = 0; i < members.size(); ++i) {
      const double d = Distance(at(members[i]), c.data());
      nearest[i] = std::min(nearest[i], d * d);
      total += nearest[i];
    }
    if (total <= 0) break;  // every member equals a seed already
    double pick = double(Next(rng) >> 11) / double(1ull << 53) * total;
    size_t chosen = members.size() - 1;
    for (size_t i = 0; i < members.size(); ++i) {
      pick -= nearest[i];
      if (pick <= 0) {
        chosen = i;
        break;
      }
    }
    first = members[chosen];
  }
  std::vector<std::vector<uint32_t>> groups;
  for (int round = 0; round < kRounds; ++round) {
    groups.assign(centres.size(), {});
    for (uint32_t m : members) {
      size_t best = 0;
      int best_d = std::numeric_limits<int>::max();
      for (size_t c = 0; c < centres.size(); ++c) {
        const int d = Distance(at(m), centres[c].data());
        if (d < best_d) {
          best_d = d;
          best = c;
        }
      }
      groups[best].push_back(m);
    }
    // Empty groups are dropped; the others move to their majority.
    size_t kept = 0;
    for (size_t c = 0; c < groups.size(); ++c) {
      if (groups[c].empty()) continue;
      centres[kept] = Majority(groups[c], descriptors);
      if (kept != c) groups[kept] = std::move(groups[c]);
      ++kept;
    }
    centres.resize(kept);
    groups.resize(kept);
  }
  if (groups.size() < 2) {  // all alike: nothing to split
    nodes_[size_t(node)].word = int(leaf_count_++);
    return;
  }
  const int first_child = int(nodes_.size());
  nodes_[size_t(node)].first_child = first_child;
  nodes_[size_t(node)].children = int(groups.size());
  for (size_t c = 0; c < groups.size(); ++c) {
    Node child;
    child.centre = centres[c];
    nodes_.push_back(child);
  }
  members.clear();
  members.shrink_to_fit();
  for (size_t c = 0; c < groups.size(); ++c) Split(first_child + int(c), groups[c], descriptors, level + 1, rng);
}

int Vocabulary::Word(const uint8_t* descriptor) const {
  if (nodes_.empty()) return -1;
  size_t node = 0;
  while (nodes_[node].children > 0) {
    const Node& n = nodes_[node];
    size_t best = size_t(n.first_child);
    int best_d = std::numeric_limits<int>::max();
    for (int c = 0; c < n.children; ++c) {
      const size_t child = size_t(n.first_child + c);
      const int d = Distance(descriptor, nodes_[child].centre.data());
      if (d < best_d) {
        best_d = d;
        best = child;
      }
    }
    node = best;
  }
  return nodes_[node].word;
}

void Vocabulary::Words(const uint8_t* descriptor, int beam, std::vector<int>* out) const {
  if (nodes_.empty()) return;
  if (beam <= 1) {
    out->push_back(Word(descriptor));
    return;
  }
  std::vector<std::pair<int, size_t>> kept = {{0, 0}}, next;  // distance, node
  while (true) {
    next.clear();
    bool descended = false;
    for (const auto& [d, node] : kept) {
      const Node& n = nodes_[node];
      if (n.children == 0) {
        next.emplace_back(d, node);  // a leaf above the deepest level stays
        continue;
      }
      descended = true;
      for (int c = 0; c < n.children; ++c) {
        const size_t child = size_t(n.first_child + c);
        next.emplace_back(Distance(descriptor, nodes_[child].centre.data()), child);
      }
    }
    if (!descended) break;
    const size_t keep = std::min(next.size(), size_t(beam));
    std::partial_sort(next.begin(), next.begin() + keep, next.end());
    next.resize(keep);
    kept.swap(next);
  }
  for (const auto& entry : kept) out->push_back(nodes_[entry.second].word);
}

namespace {

constexpr char kVocabularyMagic[8] = {'C', 'M', 'V', 'O', 'C', 'A', 'B', '1'};

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
bool Get(const std::string& in, size_t* at, T* v) {
  if (in.size() - *at < sizeof(T) || *at > in.size()) return false;
  std::memcpy(v, in.data() + *at, sizeof(T));
  *at += sizeof(T);
  return true;
}

}  // namespace

std::string Vocabulary::Serialize() const {
  std::string out(kVocabularyMagic, sizeof kVocabularyMagic);
  Put<int32_t>(&out, branching_);
  Put<int32_t>(&out, levels_);
  Put<uint64_t>(&out, leaf_count_);
  Put<uint64_t>(&out, nodes_.size());
  for (const Node& n : nodes_) {
    out.append(reinterpret_cast<const char*>(n.centre.data()), n.centre.size());
    Put<int32_t>(&out, n.first_child);
    Put<int32_t>(&out, n.children);
    Put<int32_t>(&out, n.word);
  }
  return out;
}

Result<Vocabulary> Vocabulary::Parse(const std::string& bytes, const std::string& what) {
  auto bad = [&](const std::string& why) { return Status::Corrupt(what + ": not a vocabulary of visual words (" + why + ")"); };
  if (bytes.size() < sizeof kVocabularyMagic || std::memcmp(bytes.data(), kVocabularyMagic, sizeof kVocabularyMagic) != 0)
    return bad("no CMVOCAB1 header");
  size_t at = sizeof kVocabularyMagic;
  int32_t branching = 0, levels = 0;
  uint64_t leaves = 0, nodes = 0;
  if (!Get(bytes, &at, &branching) || !Get(bytes, &at, &levels) || !Get(bytes, &at, &leaves) || !Get(bytes, &at, &nodes))
    return bad("truncated header");
  constexpr size_t kNodeBytes = kBytes + 3 * sizeof(int32_t);
  if (branching < 2 || branching > 64 || levels < 1 || levels > 16 || nodes > (bytes.size() - at) / kNodeBytes ||
      (bytes.size() - at) != nodes * kNodeBytes || nodes == 0 || leaves == 0 || leaves > nodes)
    return bad("sizes do not agree");
  Vocabulary v;
  v.branching_ = branching;
  v.levels_ = levels;
  v.leaf_count_ = size_t(leaves);
  v.nodes_.resize(size_t(nodes));
  std::vector<bool> word_seen(size_t(leaves), false);
  for (size_t i = 0; i < nodes; ++i) {
    Node& n = v.nodes_[i];
    std::memcpy(n.centre.data(), bytes.data() + at, kBytes);
    at += kBytes;
    Get(bytes, &at, &n.first_child);
    Get(bytes, &at, &n.children);
    Get(bytes, &at, &n.word);
    // Children always follow their parent, so every walk ends at a leaf.
    const bool inner_ok = n.children >= 2 && n.children <= branching && n.word == -1 && n.first_child > int64_t(i) &&
                          uint64_t(n.first_child) + uint64_t(n.children) <= nodes;
    const bool leaf_ok = n.children == 0 && n.word >= 0 && uint64_t(n.word) < leaves && !word_seen[size_t(n.word)];
    if (!inner_ok && !leaf_ok) return bad("node " + std::to_string(i) + " is malformed");
    if (leaf_ok) word_seen[size_t(n.word)] = true;
  }
  for (bool seen : word_seen) {
    if (!seen) return bad("a word has no leaf");
  }
  return v;
}

void InvertedFile::AddFrame(int64_t frame_id, const std::vector<int>& words) {
  std::vector<int> distinct = words;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  for (int w : distinct) {
    if (w < 0 || size_t(w) >= postings_.size()) continue;
    postings_[size_t(w)].push_back(frame_id);
  }
  ++frames_;
}

std::vector<FrameScore> InvertedFile::Shortlist(const std::vector<int>& query_words, int max_frames) const {
  std::vector<int> distinct = query_words;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::unordered_map<int64_t, double> score;
  for (int w : distinct) {
    if (w < 0 || size_t(w) >= postings_.size()) continue;
    const std::vector<int64_t>& frames = postings_[size_t(w)];
    if (frames.empty()) continue;
    const double idf = std::log(double(frames_) / double(frames.size()));
    if (idf <= 0) continue;  // a word every frame holds tells none apart
    for (int64_t f : frames) score[f] += idf;
  }
  std::vector<FrameScore> out;
  out.reserve(score.size());
  for (const auto& [f, s] : score) out.push_back(FrameScore{f, s});
  auto better = [](const FrameScore& a, const FrameScore& b) {
    return a.score != b.score ? a.score > b.score : a.frame_id < b.frame_id;
  };
  if (max_frames >= 0 && out.size() > size_t(max_frames)) {
    std::partial_sort(out.begin(), out.begin() + max_frames, out.end(), better);
    out.resize(size_t(max_frames));
  } else {
    std::sort(out.begin(), out.end(), better);
  }
  return out;
}

size_t InvertedFile::postings() const {
  size_t n = 0;
  for (const auto& p : postings_) n += p.size();
  return n;
}

}  // namespace celmatch
