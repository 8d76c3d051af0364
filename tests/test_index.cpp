// Tests of the persistent reference index: IndexParams JSON, the SQLite
// catalog, ReferenceIndex search, repair and crash safety.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <faiss/IndexBinary.h>
#include <faiss/index_io.h>
#include <sqlite3.h>

#include "index/catalog.h"
#include "index/index_params.h"
#include "index/reference_index.h"
#include "hash_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using celmatch::testing::TempDir;
using celmatch::testing::FlipBits;
using celmatch::testing::RandomHash;

namespace {

// Popcount here rather than PdqHash::Distance, so these tests depend only on
// the index.
int Hamming(const PdqHash& a, const PdqHash& b) {
  int d = 0;
  for (size_t i = 0; i < a.bytes.size(); ++i) d += std::popcount(unsigned(a.bytes[i] ^ b.bytes[i]));
  return d;
}

std::string Sha(uint64_t v) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%064llx", static_cast<unsigned long long>(v));
  return buf;
}

// A source with `n` random frames, given in shuffled time order.
SourceToAdd MakeSource(const std::string& production, uint64_t sha, int n, std::mt19937& rng,
                       bool thumbnails = false) {
  SourceToAdd item;
  item.production = production;
  item.source.path = "ep" + std::to_string(sha) + ".mkv";
  item.source.content_sha256 = Sha(sha);
  item.source.size_bytes = 1000 + int64_t(sha);
  item.source.duration_s = n * 0.5;
  item.source.width = 1920;
  item.source.height = 1080;
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) order[size_t(i)] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (int i : order) {
    FrameRecord f;
    f.time_s = i * 0.5;
    f.span_end_s = i * 0.5 + 0.5;
    f.frame_number = i * 12;
    f.quality = 50 + i % 50;
    f.pdq = RandomHash(rng);
    item.frames.push_back(f);
    if (thumbnails) item.thumbnails.push_back(std::vector<uint8_t>(size_t(10 + i), uint8_t(i)));
  }
  return item;
}

IndexParams FlatParams() {
  IndexParams p;
  p.multihash_min_frames = 1'000'000'000;
  return p;
}

IndexParams MultihashParams() {
  IndexParams p;
  p.multihash_min_frames = 0;
  return p;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("IndexParams JSON round trip and validation", "[index]") {
  IndexParams p;
  p.sampler_change_distance = 17;
  p.sampler_max_interval_s = 0.75;
  p.thumbnail_max_side = 160;
  p.multihash_min_frames = 1234;
  auto back = IndexParams::FromJson(p.ToJson());
  REQUIRE(back.ok());
  CHECK(back->ToJson() == p.ToJson());
  CHECK(back->SameHashing(p));

  IndexParams q = p;
  q.multihash_min_frames = 5;
  q.thumbnail_max_side = 64;
  CHECK(q.SameHashing(p));  // not hashing fields
  q.sampler_max_interval_s = 2.0;
  CHECK_FALSE(q.SameHashing(p));

  nlohmann::json j = p.ToJson();
  j["format_version"] = kIndexFormatVersion + 1;
  auto v2 = IndexParams::FromJson(j);
  REQUIRE_FALSE(v2.ok());
  CHECK(v2.status().code() == Status::Code::kIncompatible);
  CHECK(v2.status().message() == "index format " + std::to_string(kIndexFormatVersion + 1) +
                                     " is newer than this celmatch understands (" +
                                     std::to_string(kIndexFormatVersion) + ")");

  j = p.ToJson();
  j["hash"] = "phash64";
  auto other_hash = IndexParams::FromJson(j);
  REQUIRE_FALSE(other_hash.ok());
  CHECK(other_hash.status().code() == Status::Code::kIncompatible);
  CHECK_THAT(other_hash.status().message(), Catch::Contains("phash64"));

  // Span hashes are not hashing: sources added with another value search alike.
  q = p;
  q.sampler_span_hash_distance = 0;
  CHECK(q.SameHashing(p));
  // A manifest written before span hashes reads as keeping none.
  j = p.ToJson();
  REQUIRE(j.at("sampler_span_hash_distance") == p.sampler_span_hash_distance);
  j.erase("sampler_span_hash_distance");
  auto before_spans = IndexParams::FromJson(j);
  REQUIRE(before_spans.ok());
  CHECK(before_spans->sampler_span_hash_distance == 0);
  j["sampler_span_hash_distance"] = 300;
  CHECK(IndexParams::FromJson(j).status().code() == Status::Code::kCorrupt);

  j = p.ToJson();
  j.erase("sampler_change_distance");
  CHECK(IndexParams::FromJson(j).status().code() == Status::Code::kCorrupt);
  j = p.ToJson();
  j["sampler_max_interval_s"] = "one";
  CHECK(IndexParams::FromJson(j).status().code() == Status::Code::kCorrupt);
  CHECK(IndexParams::FromJson(nlohmann::json::array()).status().code() == Status::Code::kCorrupt);
}

TEST_CASE("Catalog round trip", "[index]") {
  TempDir tmp;
  const std::string path = tmp.str() + "/catalog.sqlite";
  std::mt19937 rng(7);
  std::vector<SourceToAdd> added;
  {
    auto cat = Catalog::Open(path, /*create=*/true, /*read_only=*/false);
    REQUIRE(cat.ok());
    Catalog& c = **cat;
    for (auto [prod, sha, n] : {std::tuple{"Show A", 1, 5}, std::tuple{"Show B", 2, 3}, std::tuple{"Show A", 3, 0}}) {
      SourceToAdd item = MakeSource(prod, uint64_t(sha), n, rng, /*thumbnails=*/true);
      REQUIRE(c.AddSource(&item).ok());
      added.push_back(item);
    }
    CHECK(added[0].source.id == 0);
    CHECK(added[1].source.id == 1);
    CHECK(added[2].source.id == 2);
    CHECK(added[0].source.production_id == 0);
    CHECK(added[1].source.production_id == 1);
    CHECK(added[2].source.production_id == 0);
    CHECK(added[0].frames[0].id == 0);
    CHECK(added[1].frames[0].id == 5);
    CHECK(added[1].frames[2].source_id == 1);

    // A duplicate digest is refused, naming the existing source.
    SourceToAdd dup = MakeSource("Show C", 1, 2, rng);
    Status st = c.AddSource(&dup);
    CHECK(st.code() == Status::Code::kInvalidArgument);
    CHECK_THAT(st.message(), Catch::Contains(path) && Catch::Contains("already"));
    // ... and left nothing behind (one transaction).
    CHECK(*c.FrameCount() == 8);
    CHECK(c.Productions()->size() == 2);

    REQUIRE(c.SetMeta("k", "v1").ok());
    REQUIRE(c.SetMeta("k", "v2").ok());
  }
  auto cat = Catalog::Open(path, /*create=*/false, /*read_only=*/true);
  REQUIRE(cat.ok());
  Catalog& c = **cat;
  REQUIRE(c.Check().ok());
  auto prods = c.Productions();
  REQUIRE(prods.ok());
  REQUIRE(prods->size() == 2);
  CHECK((*prods)[0].name == "Show A");
  CHECK((*prods)[1].name == "Show B");
  auto sources = c.Sources();
  REQUIRE(sources.ok());
  REQUIRE(sources->size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    const SourceRecord& got = (*sources)[i];
    const SourceRecord& want = added[i].source;
    CHECK(got.id == want.id);
    CHECK(got.production_id == want.production_id);
    CHECK(got.path == want.path);
    CHECK(got.content_sha256 == want.content_sha256);
    CHECK(got.size_bytes == want.size_bytes);
    CHECK(got.duration_s == want.duration_s);
    CHECK(got.width == 1920);
    CHECK(got.height == 1080);
  }
  auto frames = c.Frames();
  REQUIRE(frames.ok());
  REQUIRE(frames->size() == 8);
  std::vector<FrameRecord> want;
  for (auto& a : added) want.insert(want.end(), a.frames.begin(), a.frames.end());
  for (size_t i = 0; i < 8; ++i) {
    CHECK((*frames)[i].id == int64_t(i));
    CHECK((*frames)[i].source_id == want[i].source_id);
    CHECK((*frames)[i].time_s == want[i].time_s);
    CHECK((*frames)[i].span_end_s == want[i].span_end_s);
    CHECK((*frames)[i].frame_number == want[i].frame_number);
    CHECK((*frames)[i].quality == want[i].quality);
    CHECK((*frames)[i].pdq == want[i].pdq);
  }
  auto some = c.Frames(3, 6);
  REQUIRE(some.ok());
  REQUIRE(some->size() == 3);
  CHECK(some->front().id == 3);
  auto thumb = c.Thumbnail(6);
  REQUIRE(thumb.ok());
  CHECK(*thumb == added[1].thumbnails[1]);
  CHECK(c.Thumbnail(99).status().code() == Status::Code::kNotFound);
  auto found = c.FindSourceBySha256(Sha(2));
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->path == added[1].source.path);
  CHECK_FALSE(c.FindSourceBySha256(Sha(42))->has_value());
  CHECK(**c.GetMeta("k") == "v2");
  CHECK_FALSE(c.GetMeta("absent")->has_value());
  // Read-only means read-only.
  SourceToAdd more = MakeSource("Show A", 9, 1, rng);
  CHECK_FALSE(c.AddSource(&more).ok());
}

TEST_CASE("ReferenceIndex add, save, reopen, search", "[index]") {
  const bool use_multihash = GENERATE(false, true);
  INFO("multihash: " << use_multihash);
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  const IndexParams params = use_multihash ? MultihashParams() : FlatParams();
  std::mt19937 rng(11);

  // A query with planted neighbours at distances 3, 7, 12, 20 and 40.
  const PdqHash query = RandomHash(rng);
  const std::vector<int> planted = {12, 3, 40, 20, 7};
  std::map<int, int64_t> frame_at_distance;
  std::vector<PdqHash> all_hashes;
  {
    auto idx = ReferenceIndex::OpenForWrite(dir, params);
    REQUIRE(idx.ok());
    ReferenceIndex& index = **idx;
    for (int s = 0; s < 4; ++s) {
      SourceToAdd item = MakeSource(s < 2 ? "Show A" : "Show B", uint64_t(100 + s), 300, rng, s == 0);
      if (s == 3) {
        for (size_t i = 0; i < planted.size(); ++i) item.frames[i * 10].pdq = FlipBits(query, planted[i], rng);
      }
      CHECK_FALSE(*index.HasSource(item.source.content_sha256));
      REQUIRE(index.AddSource(item).ok());
      CHECK(*index.HasSource(item.source.content_sha256));
      for (auto& f : item.frames) all_hashes.push_back(f.pdq);
    }
    for (size_t i = 0; i < planted.size(); ++i) frame_at_distance[planted[i]] = 900 + int64_t(i) * 10;
    REQUIRE(index.Save().ok());
    REQUIRE(index.Check().ok());
  }
  auto idx = ReferenceIndex::OpenForRead(dir);
  REQUIRE(idx.ok());
  const ReferenceIndex& index = **idx;
  REQUIRE(index.Check().ok());
  REQUIRE(index.frame_count() == 1200);
  auto stats = index.Stats();
  REQUIRE(stats.ok());
  CHECK(stats->productions == 2);
  CHECK(stats->sources == 4);
  CHECK(stats->frames == 1200);
  CHECK(stats->bytes_on_disk > 1200 * 32);
  CHECK(stats->hash_index_type == (use_multihash ? "multihash" : "flat"));

  // Exact and near-exact lookups of stored frames.
  for (int64_t id : {int64_t(0), int64_t(299), int64_t(345), int64_t(1199)}) {
    auto exact = index.Search(all_hashes[size_t(id)], 31, 5);
    REQUIRE_FALSE(exact.empty());
    CHECK(exact[0].frame_id == id);
    CHECK(exact[0].distance == 0);
    PdqHash near = FlipBits(all_hashes[size_t(id)], 9, rng);
    auto hits = index.Search(near, 31, 5);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].frame_id == id);
    CHECK(hits[0].distance == 9);
    CHECK(index.frame(id).pdq == all_hashes[size_t(id)]);
  }

  // k nearest, nearest first, and the max_distance filter.
  auto three = index.Search(query, 31, 3);
  REQUIRE(three.size() == 3);
  CHECK(three[0].distance == 3);
  CHECK(three[0].frame_id == frame_at_distance[3]);
  CHECK(three[1].distance == 7);
  CHECK(three[1].frame_id == frame_at_distance[7]);
  CHECK(three[2].distance == 12);
  auto within10 = index.Search(query, 10, 10);
  REQUIRE(within10.size() == 2);
  CHECK(within10[1].frame_id == frame_at_distance[7]);
  auto within31 = index.Search(query, 31, 10);
  REQUIRE(within31.size() == 4);
  CHECK(within31[3].distance == 20);
  // Past the multihash exact radius the search still finds the frame at 40.
  auto within45 = index.Search(query, 45, 10);
  REQUIRE(within45.size() == 5);
  CHECK(within45[4].frame_id == frame_at_distance[40]);
  CHECK(within45[4].distance == Hamming(query, all_hashes[size_t(frame_at_distance[40])]));
  CHECK(index.Search(query, 2, 10).empty());
  CHECK(index.Search(query, 31, 0).empty());

  // Metadata lookups.
  CHECK(index.source(1).content_sha256 == Sha(101));
  CHECK(index.production(index.source(3).production_id).name == "Show B");
  const auto& fos = index.frames_of_source(2);
  REQUIRE(fos.size() == 300);
  for (size_t i = 1; i < fos.size(); ++i) CHECK(index.frame(fos[i - 1]).time_s < index.frame(fos[i]).time_s);
  for (int64_t id : fos) CHECK(index.frame(id).source_id == 2);
  auto thumb = index.Thumbnail(fos[4]);
  REQUIRE(thumb.ok());
  CHECK(thumb->empty());  // source 2 was added without thumbnails
  auto thumb0 = index.Thumbnail(index.frames_of_source(0)[4]);
  REQUIRE(thumb0.ok());
  CHECK(thumb0->size() == 14);  // time index 4: 10 + 4 bytes
}

TEST_CASE("ReferenceIndex span hashes: a frame is as near as its nearest hash, at that hash's time", "[index]") {
  const bool use_multihash = GENERATE(false, true);
  INFO("multihash: " << use_multihash);
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  std::mt19937 rng(29);
  const PdqHash query = RandomHash(rng);
  int64_t spanned = -1, plain = -1;  // frame ids
  double spanned_time = 0, plain_time = 0;
  {
    auto idx = ReferenceIndex::OpenForWrite(dir, use_multihash ? MultihashParams() : FlatParams());
    REQUIRE(idx.ok());
    SourceToAdd a = MakeSource("Show A", 1, 200, rng);
    // Frame 10's own hash is far from the query, two of its span's hashes
    // are 20 and 4 bits away; frame 20's own hash is 12 bits away.
    FrameRecord& f10 = a.frames[10];
    f10.span_hashes = {SpanHash{f10.time_s + 0.1, FlipBits(query, 20, rng)},
                       SpanHash{f10.time_s + 0.2, FlipBits(query, 4, rng)}};
    a.frames[20].pdq = FlipBits(query, 12, rng);
    REQUIRE((*idx)->AddSource(a).ok());
    spanned = 10;  // the first source's frames have ids 0.. in the order given
    spanned_time = a.frames[10].time_s;
    plain = 20;
    plain_time = a.frames[20].time_s;
    // Found by a writer too, before any save.
    auto hits = (*idx)->Search(query, 31, 5);
    REQUIRE(hits.size() == 2);
    CHECK(hits[0].frame_id == spanned);
    REQUIRE((*idx)->Save().ok());
  }
  auto idx = ReferenceIndex::OpenForRead(dir);
  REQUIRE(idx.ok());
  const ReferenceIndex& index = **idx;
  REQUIRE(index.Check().ok());
  CHECK(index.span_hash_count() == 2);
  const FrameRecord& f = index.frame(spanned);
  REQUIRE(f.span_hashes.size() == 2);
  CHECK(f.span_hashes[0].time_s == Approx(spanned_time + 0.1));
  CHECK(f.span_hashes[1].time_s == Approx(spanned_time + 0.2));
  CHECK(Hamming(f.span_hashes[1].hash, query) == 4);

  // One neighbour per frame, at its nearest hash's distance and time.
  auto hits = index.Search(query, 31, 5);
  REQUIRE(hits.size() == 2);
  CHECK(hits[0].frame_id == spanned);
  CHECK(hits[0].distance == 4);
  CHECK(hits[0].time_s == Approx(spanned_time + 0.2));
  CHECK(hits[1].frame_id == plain);
  CHECK(hits[1].distance == 12);
  CHECK(hits[1].time_s == Approx(plain_time));
  auto one = index.Search(query, 31, 1);
  REQUIRE(one.size() == 1);
  CHECK(one[0].frame_id == spanned);
  CHECK(index.Search(query, 3, 5).empty());
  // A frame's own hash is still found at its own time.
  auto own = index.Search(index.frame(plain + 1).pdq, 0, 5);
  REQUIRE(own.size() == 1);
  CHECK(own[0].frame_id == plain + 1);
  CHECK(own[0].time_s == Approx(index.frame(plain + 1).time_s));

  SECTION("a catalog written before span hashes opens with none, and its writer adds them") {
    idx->reset();
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir + "/catalog.sqlite").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "DROP TABLE span_hashes", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    auto old = ReferenceIndex::OpenForRead(dir);
    REQUIRE(old.ok());
    CHECK((*old)->Check().ok());
    CHECK((*old)->span_hash_count() == 0);
    auto near = (*old)->Search(query, 31, 5);
    REQUIRE(near.size() == 1);
    CHECK(near[0].frame_id == plain);
    old->reset();
    auto writer = ReferenceIndex::OpenForWrite(dir, FlatParams());
    REQUIRE(writer.ok());
    SourceToAdd b = MakeSource("Show B", 2, 5, rng);
    b.frames[0].span_hashes = {SpanHash{b.frames[0].time_s + 0.05, FlipBits(query, 2, rng)}};
    REQUIRE((*writer)->AddSource(b).ok());
    REQUIRE((*writer)->Save().ok());
    writer->reset();
    auto reread = ReferenceIndex::OpenForRead(dir);
    REQUIRE(reread.ok());
    CHECK((*reread)->span_hash_count() == 1);
    auto best = (*reread)->Search(query, 31, 1);
    REQUIRE(best.size() == 1);
    CHECK(best[0].distance == 2);
    CHECK(best[0].frame_id == 200);  // Show B's first frame
  }
}

TEST_CASE("ReferenceIndex switches from flat to multihash at the threshold", "[index]") {
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  IndexParams params;
  params.multihash_min_frames = 500;
  std::mt19937 rng(5);
  std::vector<PdqHash> hashes;
  {
    auto idx = ReferenceIndex::OpenForWrite(dir, params);
    REQUIRE(idx.ok());
    for (int s = 0; s < 3; ++s) {
      SourceToAdd item = MakeSource("P", uint64_t(s), 200, rng);
      for (auto& f : item.frames) hashes.push_back(f.pdq);
      REQUIRE((*idx)->AddSource(item).ok());
      CHECK((*idx)->Stats()->hash_index_type == (s < 2 ? "flat" : "multihash"));
      if (s == 0) REQUIRE((*idx)->Save().ok());
    }
    REQUIRE((*idx)->Check().ok());
    // Not saved since the first source: the reader repairs in memory.
  }
  auto idx = ReferenceIndex::OpenForRead(dir);
  REQUIRE(idx.ok());
  CHECK((*idx)->Stats()->hash_index_type == "multihash");
  REQUIRE((*idx)->Check().ok());
  for (size_t i = 0; i < hashes.size(); i += 37) {
    auto hits = (*idx)->Search(hashes[i], 31, 1);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].frame_id == int64_t(i));
  }
}

TEST_CASE("ReferenceIndex refuses incompatible and missing indexes", "[index]") {
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  {
    auto idx = ReferenceIndex::OpenForWrite(dir, IndexParams());
    REQUIRE(idx.ok());
  }
  const std::string manifest_path = dir + "/manifest.json";
  const std::string original = ReadText(manifest_path);
  REQUIRE(ReferenceIndex::OpenForRead(dir).ok());

  SECTION("newer format version") {
    nlohmann::json j = nlohmann::json::parse(original);
    j["format_version"] = kIndexFormatVersion + 1;
    WriteText(manifest_path, j.dump());
    auto r = ReferenceIndex::OpenForRead(dir);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIncompatible);
    CHECK_THAT(r.status().message(), Catch::Contains("index format " + std::to_string(kIndexFormatVersion + 1) +
                                                     " is newer than this celmatch understands (" +
                                                     std::to_string(kIndexFormatVersion) + ")"));
    CHECK_THAT(r.status().message(), Catch::Contains(manifest_path));
    auto w = ReferenceIndex::OpenForWrite(dir, IndexParams());
    CHECK(w.status().code() == Status::Code::kIncompatible);
  }
  SECTION("other sampler parameters") {
    IndexParams other;
    other.sampler_change_distance = 12;
    auto w = ReferenceIndex::OpenForWrite(dir, other);
    REQUIRE_FALSE(w.ok());
    CHECK(w.status().code() == Status::Code::kIncompatible);
    CHECK_THAT(w.status().message(), Catch::Contains("sampler_change_distance 20 (this run: 12)"));
    CHECK_THAT(w.status().message(), Catch::Contains(dir));
    // A manifest edited to disagree with the catalog is refused too.
    nlohmann::json j = nlohmann::json::parse(original);
    j["sampler_max_interval_s"] = 3.0;
    WriteText(manifest_path, j.dump());
    auto r = ReferenceIndex::OpenForRead(dir);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIncompatible);
    CHECK_THAT(r.status().message(), Catch::Contains("sampler_max_interval_s"));
  }
  SECTION("other hash") {
    nlohmann::json j = nlohmann::json::parse(original);
    j["hash"] = "tmk";
    WriteText(manifest_path, j.dump());
    auto r = ReferenceIndex::OpenForRead(dir);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIncompatible);
  }
  SECTION("malformed manifest") {
    WriteText(manifest_path, "{\"format_version\": 1, ");
    auto r = ReferenceIndex::OpenForRead(dir);
    CHECK(r.status().code() == Status::Code::kCorrupt);
    CHECK_THAT(r.status().message(), Catch::Contains(manifest_path));
  }
  SECTION("missing directory or manifest") {
    auto r = ReferenceIndex::OpenForRead(tmp.str() + "/nope");
    CHECK(r.status().code() == Status::Code::kNotFound);
    const std::string empty = tmp.str() + "/empty";
    fs::create_directory(empty);
    auto e = ReferenceIndex::OpenForRead(empty);
    CHECK(e.status().code() == Status::Code::kNotFound);
    CHECK(e.status().message() == empty + " is not a celmatch index (no manifest.json)");
    fs::remove(manifest_path);
    CHECK(ReferenceIndex::OpenForRead(dir).status().code() == Status::Code::kNotFound);
  }
  SECTION("a directory holding other files is not taken over") {
    const std::string other = tmp.str() + "/photos";
    fs::create_directory(other);
    WriteText(other + "/holiday.jpg", "x");
    auto w = ReferenceIndex::OpenForWrite(other, IndexParams());
    CHECK_FALSE(w.ok());
    CHECK(fs::exists(other + "/holiday.jpg"));
    CHECK_FALSE(fs::exists(other + "/manifest.json"));
  }
}

TEST_CASE("ReferenceIndex allows one writer at a time", "[index]") {
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  std::mt19937 rng(3);
  {
    auto first = ReferenceIndex::OpenForWrite(dir, IndexParams());
    REQUIRE(first.ok());
    REQUIRE((*first)->AddSource(MakeSource("P", 1, 10, rng)).ok());
    auto second = ReferenceIndex::OpenForWrite(dir, IndexParams());
    REQUIRE_FALSE(second.ok());
    CHECK_THAT(second.status().message(), Catch::Contains(dir + "/LOCK") && Catch::Contains("another"));
    // Readers are not locked out (and see committed sources).
    auto reader = ReferenceIndex::OpenForRead(dir);
    REQUIRE(reader.ok());
    CHECK((*reader)->frame_count() == 10);
    CHECK((*reader)->Check().ok());
    CHECK_FALSE((*reader)->AddSource(MakeSource("P", 2, 1, rng)).ok());
    CHECK_FALSE((*reader)->Save().ok());
  }
  auto again = ReferenceIndex::OpenForWrite(dir, IndexParams());
  REQUIRE(again.ok());
  CHECK((*again)->frame_count() == 10);
}

TEST_CASE("ReferenceIndex repairs a stale or damaged FAISS file", "[index]") {
  const bool use_multihash = GENERATE(false, true);
  INFO("multihash: " << use_multihash);
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  const std::string faiss_path = dir + "/pdq.faissbin";
  const IndexParams params = use_multihash ? MultihashParams() : FlatParams();
  std::mt19937 rng(21);
  std::vector<PdqHash> hashes;
  auto add = [&](ReferenceIndex& index, int s) {
    SourceToAdd item = MakeSource("P", uint64_t(s), 100, rng);
    for (auto& f : item.frames) hashes.push_back(f.pdq);
    REQUIRE(index.AddSource(item).ok());
  };
  {
    auto idx = ReferenceIndex::OpenForWrite(dir, params);
    REQUIRE(idx.ok());
    add(**idx, 0);
    add(**idx, 1);
    REQUIRE((*idx)->Save().ok());
    add(**idx, 2);  // committed, never saved: "killed between commit and save"
  }
  // `disk_intact` false: the file on disk is damaged, so Check (which
  // verifies the files on disk) names it, while the repaired copy in memory
  // still answers every search.
  auto expect_whole = [&](const ReferenceIndex& index, bool disk_intact = true) {
    if (disk_intact) {
      REQUIRE(index.Check().ok());
    } else {
      const Status st = index.Check();
      CHECK(st.code() == Status::Code::kCorrupt);
      CHECK(st.message().find("pdq.faissbin") != std::string::npos);
    }
    REQUIRE(index.frame_count() == int64_t(hashes.size()));
    for (size_t i = 0; i < hashes.size(); i += 13) {
      auto hits = index.Search(hashes[i], 31, 1);
      REQUIRE(hits.size() == 1);
      CHECK(hits[0].frame_id == int64_t(i));
    }
  };
  const auto stale_size = fs::file_size(faiss_path);

  SECTION("fewer codes than the catalog") {
    auto r = ReferenceIndex::OpenForRead(dir);
    REQUIRE(r.ok());
    expect_whole(**r);
    CHECK(fs::file_size(faiss_path) == stale_size);  // a reader writes nothing
    auto w = ReferenceIndex::OpenForWrite(dir, params);
    REQUIRE(w.ok());
    expect_whole(**w);
    CHECK(fs::file_size(faiss_path) > stale_size);  // the writer saved the repair
  }
  SECTION("file deleted") {
    fs::remove(faiss_path);
    auto r = ReferenceIndex::OpenForRead(dir);
    REQUIRE(r.ok());
    expect_whole(**r, /*disk_intact=*/false);
  }
  SECTION("file truncated") {
    fs::resize_file(faiss_path, stale_size / 2);
    auto r = ReferenceIndex::OpenForRead(dir);
    REQUIRE(r.ok());
    expect_whole(**r, /*disk_intact=*/false);
  }
  SECTION("file overwritten with garbage") {
    std::vector<uint8_t> junk(static_cast<size_t>(stale_size));
    for (auto& b : junk) b = uint8_t(rng());
    celmatch::testing::WriteFileBytes(faiss_path, junk);
    auto r = ReferenceIndex::OpenForRead(dir);
    REQUIRE(r.ok());
    expect_whole(**r, /*disk_intact=*/false);
  }
  SECTION("file holds more codes than the catalog") {
    // An index file from a bigger catalog (say, restored from a backup).
    {
      TempDir other;
      auto big = ReferenceIndex::OpenForWrite(other.str() + "/i", params);
      REQUIRE(big.ok());
      std::mt19937 rng2(99);
      for (int s = 0; s < 5; ++s) REQUIRE((*big)->AddSource(MakeSource("Q", uint64_t(s), 100, rng2)).ok());
      REQUIRE((*big)->Save().ok());
      fs::copy_file(other.str() + "/i/pdq.faissbin", faiss_path, fs::copy_options::overwrite_existing);
    }
    auto r = ReferenceIndex::OpenForRead(dir);
    REQUIRE(r.ok());
    expect_whole(**r, /*disk_intact=*/false);
  }
}

TEST_CASE("ReferenceIndex survives a writer killed at any moment", "[index][crash]") {
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  const IndexParams params = FlatParams();
  constexpr int kFramesPerSource = 40;
  {
    auto idx = ReferenceIndex::OpenForWrite(dir, params);
    REQUIRE(idx.ok());
    std::mt19937 rng(1);
    REQUIRE((*idx)->AddSource(MakeSource("P", 0, kFramesPerSource, rng)).ok());
    REQUIRE((*idx)->Save().ok());
  }
  std::set<std::string> completed = {Sha(0)};
  std::mt19937 delays(20240611);
  int stale_rounds = 0;
  for (int round = 0; round < 10; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const uint64_t base = uint64_t(round + 1) * 1'000'000;
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Child: add sources (saving every third) until killed. Reports each
      // source whose AddSource returned OK. No Catch2 here.
      ::close(fds[0]);
      auto idx = ReferenceIndex::OpenForWrite(dir, params);
      if (!idx.ok()) ::_exit(2);
      std::mt19937 rng(static_cast<uint32_t>(1000 + round));  // hashes unlike other rounds'
      for (uint64_t i = 0;; ++i) {
        if (!(*idx)->AddSource(MakeSource("P" + std::to_string(i % 3), base + i, kFramesPerSource, rng)).ok()) {
          ::_exit(3);
        }
        if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(4);
        if (i % 3 == 2 && !(*idx)->Save().ok()) ::_exit(5);
      }
    }
    ::close(fds[1]);
    const int delay_ms = std::uniform_int_distribution<int>(20, 400)(delays);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int wstatus = 0;
    REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
    INFO("round " << round << ", killed after " << delay_ms << " ms");
    REQUIRE(WIFSIGNALED(wstatus));  // not an early exit with an error
    uint64_t i;
    int reported = 0;
    while (::read(fds[0], &i, sizeof i) == sizeof i) {
      completed.insert(Sha(base + i));
      ++reported;
    }
    INFO(reported << " sources reported this round");
    ::close(fds[0]);

    // How stale did the kill leave the FAISS file? (Reported, not required:
    // the moment of the kill is up to the scheduler.)
    int64_t file_codes = -1;
    try {
      std::unique_ptr<faiss::IndexBinary> f(faiss::read_index_binary((dir + "/pdq.faissbin").c_str()));
      file_codes = f->ntotal;
    } catch (const std::exception&) {
    }

    auto idx = ReferenceIndex::OpenForRead(dir);
    REQUIRE(idx.ok());
    if (file_codes < (*idx)->frame_count()) ++stale_rounds;
    Status check = (*idx)->Check();
    INFO(check.ToString());
    REQUIRE(check.ok());
    for (const std::string& sha : completed) {
      INFO(sha);
      REQUIRE(*(*idx)->HasSource(sha));
    }
    auto stats = (*idx)->Stats();
    REQUIRE(stats.ok());
    // At most one more source per round than reported (killed between the
    // commit and the report).
    CHECK(stats->sources >= int64_t(completed.size()));
    CHECK(stats->sources <= int64_t(completed.size()) + round + 1);
    CHECK((*idx)->frame_count() == stats->sources * kFramesPerSource);
    // Every frame is found by its own hash.
    for (int64_t id = 0; id < (*idx)->frame_count(); id += 17) {
      auto hits = (*idx)->Search((*idx)->frame(id).pdq, 0, 1);
      REQUIRE(hits.size() == 1);
      CHECK(hits[0].frame_id == id);
    }
    // The next round's writer starts from whatever this round left.
  }
  std::printf("crash test: %d of 10 kills left pdq.faissbin behind the catalog\n", stale_rounds);
  auto w = ReferenceIndex::OpenForWrite(dir, params);
  REQUIRE(w.ok());
  REQUIRE((*w)->Check().ok());
}

TEST_CASE("ReferenceIndex readers open while a writer commits in another process", "[index][crash]") {
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  const IndexParams params = FlatParams();
  {
    auto idx = ReferenceIndex::OpenForWrite(dir, params);
    REQUIRE(idx.ok());
  }
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto idx = ReferenceIndex::OpenForWrite(dir, params);
    if (!idx.ok()) ::_exit(2);
    std::mt19937 rng(77);
    for (uint64_t i = 0; i < 400; ++i) {
      if (!(*idx)->AddSource(MakeSource("P" + std::to_string(i % 5), i, 20, rng)).ok()) ::_exit(3);
      if (i % 4 == 3 && !(*idx)->Save().ok()) ::_exit(4);
    }
    ::_exit(0);
  }
  int opens = 0;
  int64_t last_frames = 0;
  for (;;) {
    int wstatus = 0;
    const bool done = ::waitpid(pid, &wstatus, WNOHANG) == pid;
    auto idx = ReferenceIndex::OpenForRead(dir);
    INFO(idx.status().ToString());
    REQUIRE(idx.ok());
    Status check = (*idx)->Check();
    INFO(check.ToString());
    REQUIRE(check.ok());
    // Whole sources only, and never fewer than before.
    CHECK((*idx)->frame_count() == (*idx)->Stats()->sources * 20);
    CHECK((*idx)->frame_count() >= last_frames);
    last_frames = (*idx)->frame_count();
    ++opens;
    if (done) {
      REQUIRE(WIFEXITED(wstatus));
      REQUIRE(WEXITSTATUS(wstatus) == 0);
      break;
    }
  }
  CHECK(last_frames == 400 * 20);
  CHECK(opens > 1);
}

TEST_CASE("ReferenceIndex a mapped reader keeps searching while a writer rewrites the index", "[index][crash]") {
  // A reader searches pdq.faissbin in place through a shared map. A writer
  // that changed that file in place (truncated or rewrote it) would end the
  // reader with SIGBUS or feed it torn codes; writers replace files (new
  // file, rename), so the reader's map keeps the file it opened.
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  const IndexParams params = FlatParams();
  std::mt19937 rng(41);
  std::vector<PdqHash> hashes;
  {
    auto idx = ReferenceIndex::OpenForWrite(dir, params);
    REQUIRE(idx.ok());
    for (int s = 0; s < 4; ++s) {
      SourceToAdd item = MakeSource("P", uint64_t(s), 200, rng);
      for (auto& f : item.frames) hashes.push_back(f.pdq);
      REQUIRE((*idx)->AddSource(item).ok());
    }
    REQUIRE((*idx)->Save().ok());
  }
  auto reader = ReferenceIndex::OpenForRead(dir);
  REQUIRE(reader.ok());
  REQUIRE((*reader)->Stats()->hash_index_mapped);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto idx = ReferenceIndex::OpenForWrite(dir, params);
    if (!idx.ok()) ::_exit(2);
    std::mt19937 rng2(43);
    for (uint64_t i = 0; i < 60; ++i) {
      if (!(*idx)->AddSource(MakeSource("Q", 100 + i, 20, rng2)).ok()) ::_exit(3);
      if (!(*idx)->Save().ok()) ::_exit(4);
    }
    ::_exit(0);
  }
  int searches = 0, wstatus = 0;
  for (bool done = false; !done;) {
    done = ::waitpid(pid, &wstatus, WNOHANG) == pid;
    const size_t i = size_t(searches * 7919) % hashes.size();
    auto hits = (*reader)->Search(hashes[i], 31, 1);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].frame_id == int64_t(i));
    ++searches;
  }
  REQUIRE(WIFEXITED(wstatus));
  CHECK(WEXITSTATUS(wstatus) == 0);
  CHECK(searches > 10);
  // The reader's snapshot is still whole, and a new reader sees the writer's.
  CHECK((*reader)->frame_count() == int64_t(hashes.size()));
  auto fresh = ReferenceIndex::OpenForRead(dir);
  REQUIRE(fresh.ok());
  CHECK((*fresh)->frame_count() == int64_t(hashes.size()) + 60 * 20);
  REQUIRE((*fresh)->Check().ok());
}

TEST_CASE("ReferenceIndex Search is thread-safe", "[index]") {
  const bool use_multihash = GENERATE(false, true);
  INFO("multihash: " << use_multihash);
  TempDir tmp;
  const std::string dir = tmp.str() + "/index";
  std::mt19937 rng(31);
  std::vector<PdqHash> hashes;
  {
    auto idx = ReferenceIndex::OpenForWrite(dir, use_multihash ? MultihashParams() : FlatParams());
    REQUIRE(idx.ok());
    for (int s = 0; s < 10; ++s) {
      SourceToAdd item = MakeSource("P", uint64_t(s), 500, rng);
      for (auto& f : item.frames) hashes.push_back(f.pdq);
      REQUIRE((*idx)->AddSource(item).ok());
    }
    REQUIRE((*idx)->Save().ok());
  }
  auto idx = ReferenceIndex::OpenForRead(dir);
  REQUIRE(idx.ok());
  const ReferenceIndex& index = **idx;
  struct Query {
    PdqHash hash;
    int max_distance;
  };
  std::vector<Query> queries;
  for (int i = 0; i < 400; ++i) {
    const PdqHash& base = hashes[size_t(rng() % hashes.size())];
    queries.push_back({FlipBits(base, int(rng() % 30), rng), i % 4 == 0 ? 256 : 31});
  }
  std::vector<std::vector<HashNeighbor>> serial;
  for (const Query& q : queries) serial.push_back(index.Search(q.hash, q.max_distance, 10));
  std::vector<std::vector<std::vector<HashNeighbor>>> parallel(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) {
        for (size_t i = 0; i < queries.size(); ++i) {
          size_t qi = (i + size_t(t) * 97) % queries.size();
          auto r = index.Search(queries[qi].hash, queries[qi].max_distance, 10);
          if (rep == 0) {
            parallel[size_t(t)].resize(queries.size());
            parallel[size_t(t)][qi] = std::move(r);
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    for (size_t i = 0; i < queries.size(); ++i) {
      const auto& a = serial[i];
      const auto& b = parallel[size_t(t)][i];
      REQUIRE(a.size() == b.size());
      for (size_t j = 0; j < a.size(); ++j) {
        CHECK(a[j].frame_id == b[j].frame_id);
        CHECK(a[j].distance == b[j].distance);
      }
    }
  }
  // And the answers are right: the nearest within 31 is the planted base.
  for (size_t i = 0; i < queries.size(); ++i) {
    if (queries[i].max_distance != 31) continue;
    REQUIRE_FALSE(serial[i].empty());
    CHECK(serial[i][0].distance == Hamming(queries[i].hash, hashes[size_t(serial[i][0].frame_id)]));
    CHECK(serial[i][0].distance <= 29);
  }
}
