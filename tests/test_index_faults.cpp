// Damaged index files: every file the manifest seals is in turn truncated,
// has bytes flipped in its header or its tables, is deleted or replaced by a
// symbolic link. `index check` must name it (a deleted embedding file is a
// state a killed writer leaves, and is accepted); `match` and `index add` must not
// crash and must answer as with the intact index (a FAISS cache, rebuilt from
// the catalog) or stop with an error that names the file (the embedding
// files, which are read by celmatch's own parser and are not all caches).
#include <sys/wait.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <vector>

#include <catch2/catch.hpp>
#include <faiss/IndexBinaryFlat.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <opencv2/imgcodecs.hpp>
#include <sqlite3.h>

#include "cli_runner.h"
#include "index/durable_files.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch::testing;

namespace {

std::vector<uint8_t> ReadBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Flips every byte of [at, at + n) (clamped to the file).
void FlipBytes(const fs::path& p, size_t at, size_t n) {
  std::vector<uint8_t> b = ReadBytes(p);
  for (size_t i = at; i < at + n && i < b.size(); ++i) b[i] ^= 0xA5;
  WriteFileBytes(p.string(), b);
}

struct Damage {
  const char* name;
  void (*apply)(const fs::path& file, const fs::path& other);
};

const Damage kDamages[] = {
    {"truncated", [](const fs::path& f, const fs::path&) { fs::resize_file(f, fs::file_size(f) / 2); }},
    {"header flipped", [](const fs::path& f, const fs::path&) { FlipBytes(f, 4, 24); }},
    {"tables flipped", [](const fs::path& f, const fs::path&) {
       const size_t size = size_t(fs::file_size(f));
       FlipBytes(f, size - std::min<size_t>(size, 64), 16);  // hash tables / ids sit at the end of FAISS files
       FlipBytes(f, size / 2, 8);
     }},
    {"deleted", [](const fs::path& f, const fs::path&) { fs::remove(f); }},
    {"symbolic link to another file", [](const fs::path& f, const fs::path& other) {
       fs::remove(f);
       fs::create_symlink(other, f);
     }},
};

}  // namespace

TEST_CASE("damaged index files: index check names them, match and index add never crash") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage/Tin Island";
  fs::create_directories(footage);
  REQUIRE(celmatch::WriteSyntheticVideo(footage + "/episode_01.mp4", 41, 12.0, 12, 4.0).ok());
  const std::string intact = tmp.str() + "/intact";
  CliRun build = RunCelmatch({"index", "build", "--index", intact, "--jobs", "1", tmp.str() + "/footage"});
  INFO(build.out);
  REQUIRE(build.exit_code == 0);
  REQUIRE(RunCelmatch({"index", "check", "--index", intact}).exit_code == 0);

  // A query the intact index places, and footage for `index add`.
  const std::string query = tmp.str() + "/leak.png";
  REQUIRE(cv::imwrite(query, celmatch::SyntheticCartoonFrame(41 * 1000u + 1, 1.0, 640, 360)));
  const std::string more = tmp.str() + "/more/Tin Island";
  fs::create_directories(more);
  REQUIRE(celmatch::WriteSyntheticVideo(more + "/episode_02.mp4", 43, 4.0, 12, 4.0).ok());
  const std::string results = tmp.str() + "/results.jsonl";
  auto match = [&](const std::string& index) {
    fs::remove(results);
    return RunCelmatch({"match", "--index", index, "--jobs", "1", "--out", results, query});
  };
  CliRun reference = match(intact);
  REQUIRE(reference.exit_code == 0);
  const nlohmann::json want = ReadJsonl(results).at(query);
  REQUIRE(want["status"] == "match");

  const fs::path other = tmp.path() / "other.bin";
  WriteFileBytes(other.string(), std::vector<uint8_t>(4096, 7));
  std::vector<std::string> files;
  for (const char* name : {"pdq.faissbin", "words_color.bin", "words_line.bin", "embeddings.f32",
                           "embedding_whitening.bin", "embeddings.faiss"}) {
    if (fs::exists(fs::path(intact) / name)) files.push_back(name);
  }
  REQUIRE(files.size() >= 3);  // the PDQ and visual-word caches at least
  int case_no = 0;
  for (const std::string& name : files) {
    // Caches: rebuilt from the catalog (the PDQ search file, the feature
    // layers' vocabularies of visual words).
    const bool cache = name.find(".faissbin") != std::string::npos || name.rfind("words_", 0) == 0;
    for (const Damage& damage : kDamages) {
      const std::string dir = tmp.str() + "/case" + std::to_string(case_no++);
      fs::copy(intact, dir, fs::copy_options::recursive);
      fs::remove(fs::path(dir) / "LOCK");
      damage.apply(fs::path(dir) / name, other);
      INFO(name << " " << damage.name);

      CliRun check = RunCelmatch({"index", "check", "--index", dir});
      INFO("check: " << check.out);
      REQUIRE(check.exit_code < 128);
      // A missing embedding file is a state a killed writer leaves (frames
      // without vectors; the whitening and search files are refitted), so
      // check accepts it; every other damage is named.
      if (cache || std::string(damage.name) != "deleted") {
        CHECK(check.exit_code == 1);
        CHECK(check.out.find(name) != std::string::npos);
      }

      CliRun m = match(dir);
      INFO("match: " << m.out);
      REQUIRE(m.exit_code < 128);  // exited, not killed by a signal (sh reports 128 + N)
      if (cache) {
        REQUIRE(m.exit_code == 0);
        const nlohmann::json got = ReadJsonl(results).at(query);
        CHECK(got["status"] == want["status"]);
        CHECK(got["matches"][0]["source"] == want["matches"][0]["source"]);
        CHECK(got["matches"][0]["time"] == want["matches"][0]["time"]);
      } else if (m.exit_code != 0) {
        CHECK(m.out.find(name) != std::string::npos);
      }

      // `index add` on the damaged index: repairs a cache (then check passes)
      // or stops naming the file; never crashes. Once per file (it indexes).
      if (damage.apply == kDamages[2].apply) {
        CliRun add = RunCelmatch({"index", "add", "--index", dir, "--jobs", "1", tmp.str() + "/more"});
        INFO("add: " << add.out);
        REQUIRE(add.exit_code < 128);
        if (cache) {
          CHECK(add.exit_code == 0);
          CliRun again = RunCelmatch({"index", "check", "--index", dir});
          INFO("check after add: " << again.out);
          CHECK(again.exit_code == 0);
        } else if (add.exit_code != 0) {
          CHECK(add.out.find(name) != std::string::npos);
        }
      }
      fs::remove_all(dir);
    }
  }
}

// A read-only open leaves the local features in the catalog until a query
// needs them: damaged feature rows do not stop the files PDQ settles alone,
// and the files that need features are errors naming the catalog.
TEST_CASE("local features load at the first query that needs them, and their damage is named there") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage/Tin Island";
  fs::create_directories(footage);
  REQUIRE(celmatch::WriteSyntheticVideo(footage + "/episode_01.mp4", 41, 12.0, 12, 4.0).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, "--jobs", "1", tmp.str() + "/footage"}).exit_code == 0);
  // One frame as it is (PDQ decides it), and 3/4 of each side (local features verify it).
  const cv::Mat frame = celmatch::SyntheticCartoonFrame(41 * 1000u + 1, 1.0, 640, 360);
  const std::string whole = tmp.str() + "/q/whole.png", part = tmp.str() + "/q/part.png";
  fs::create_directories(tmp.path() / "q");
  REQUIRE(cv::imwrite(whole, frame));
  REQUIRE(cv::imwrite(part, frame(cv::Rect(120, 60, 480, 270)).clone()));
  const std::string results = tmp.str() + "/results.jsonl";
  auto match = [&] {
    fs::remove(results);
    CliRun m = RunCelmatch({"match", "--index", index, "--jobs", "1", "--out", results, tmp.str() + "/q"});
    INFO(m.out);
    REQUIRE(m.exit_code == 0);
    return ReadJsonl(results);
  };
  auto intact = match();
  REQUIRE(intact.at(whole)["status"] == "match");
  REQUIRE(intact.at(part)["status"] == "match");
  REQUIRE(intact.at(part)["matches"][0]["evidence"].value("inliers", 0) > 0);

  // Every stored keypoint list loses a byte: no frame's features parse.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((index + "/catalog.sqlite").c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, "UPDATE frame_features SET xy = substr(xy, 2)", nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);

  auto damaged = match();
  CHECK(damaged.at(whole)["status"] == "match");
  CHECK(damaged.at(whole)["matches"][0]["source"] == intact.at(whole)["matches"][0]["source"]);
  CHECK(damaged.at(part)["status"] == "error");
  const std::string error = damaged.at(part).value("error", "");
  CHECK(error.find("catalog.sqlite") != std::string::npos);
  CHECK(error.find("local features") != std::string::npos);
  CliRun check = RunCelmatch({"index", "check", "--index", index});
  CHECK(check.exit_code == 1);
  CHECK(check.out.find("local features") != std::string::npos);
}

// Damage a seal cannot see: a writer with a bug, or a hand, writes a
// well-formed file with a valid seal whose content disagrees with the catalog
// (more codes than frames, another frame's code) or points outside itself (a
// vocabulary node whose children or word lie past the end). The seal holds, so
// only the checks of sizes, counts and ids stand between these bytes and the
// readers: `index check` names the file, `match` answers as with the intact
// index (the caches are rebuilt from the catalog), and `index add` repairs it.
TEST_CASE("sealed index files whose counts or ids are out of range are named and rebuilt") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage/Tin Island";
  fs::create_directories(footage);
  REQUIRE(celmatch::WriteSyntheticVideo(footage + "/episode_01.mp4", 41, 12.0, 12, 4.0).ok());
  const std::string intact = tmp.str() + "/intact";
  REQUIRE(RunCelmatch({"index", "build", "--index", intact, "--jobs", "1", tmp.str() + "/footage"}).exit_code == 0);
  // A frame as it is (PDQ decides it) and 3/4 of each side (visual words and
  // local features place it).
  const cv::Mat frame = celmatch::SyntheticCartoonFrame(41 * 1000u + 1, 1.0, 640, 360);
  fs::create_directories(tmp.path() / "q");
  const std::string whole = tmp.str() + "/q/whole.png", part = tmp.str() + "/q/part.png";
  REQUIRE(cv::imwrite(whole, frame));
  REQUIRE(cv::imwrite(part, frame(cv::Rect(120, 60, 480, 270)).clone()));
  const std::string more = tmp.str() + "/more/Tin Island";  // footage for `index add`
  fs::create_directories(more);
  REQUIRE(celmatch::WriteSyntheticVideo(more + "/episode_02.mp4", 43, 4.0, 12, 4.0).ok());
  const std::string results = tmp.str() + "/results.jsonl";
  auto match = [&](const std::string& index) {
    fs::remove(results);
    CliRun m = RunCelmatch({"match", "--index", index, "--jobs", "1", "--out", results, tmp.str() + "/q"});
    INFO(m.out);
    REQUIRE(m.exit_code == 0);
    return ReadJsonl(results);
  };
  const auto want = match(intact);
  REQUIRE(want.at(whole)["status"] == "match");
  REQUIRE(want.at(part)["status"] == "match");

  // The PDQ codes of the intact index, as FAISS wrote them.
  std::unique_ptr<faiss::IndexBinary> pdq = celmatch::ReadSealedBinaryIndex(intact + "/pdq.faissbin");
  REQUIRE(pdq != nullptr);
  auto* flat = dynamic_cast<faiss::IndexBinaryFlat*>(pdq.get());
  REQUIRE(flat != nullptr);
  REQUIRE(flat->ntotal >= 2);
  auto write_pdq = [](const std::string& dir, const faiss::IndexBinaryFlat& index) {
    faiss::VectorIOWriter w;
    faiss::write_index_binary(&index, &w);
    REQUIRE(celmatch::WriteSealedFileAtomically(dir, dir + "/pdq.faissbin",
                                                std::string(w.data.begin(), w.data.end())).ok());
  };
  // The colour layer's vocabulary: a 48-byte training prefix, "CMVOCAB1",
  // branching and levels (i32), leaves and nodes (u64), then per node a
  // 32-byte centre, its first child, child count and word (i32 each).
  constexpr size_t kNodesAt = 48 + 8 + 4 + 4 + 8 + 8, kNodeBytes = 32 + 12;
  // Writes `value` (an i32 or a u64) at `field_at` of the payload, resealed.
  auto edit_words = [](const std::string& dir, size_t field_at, auto value) {
    const std::string path = dir + "/words_color.bin";
    celmatch::Result<std::string> bytes = celmatch::ReadSealedFile(path);
    REQUIRE(bytes.ok());
    std::string b = *bytes;
    REQUIRE(field_at + sizeof value <= b.size());
    std::memcpy(b.data() + field_at, &value, sizeof value);
    REQUIRE(celmatch::WriteSealedFileAtomically(dir, path, b).ok());
  };
  auto leaf_word_at = [&](const std::string& dir) -> size_t {
    celmatch::Result<std::string> bytes = celmatch::ReadSealedFile(dir + "/words_color.bin");
    REQUIRE(bytes.ok());
    for (size_t at = kNodesAt; at + kNodeBytes <= bytes->size(); at += kNodeBytes) {
      int32_t children = 0;
      std::memcpy(&children, bytes->data() + at + 32 + 4, sizeof children);
      if (children == 0) return at + 32 + 8;
    }
    FAIL("no leaf in the vocabulary");
    return 0;
  };

  // The filed words behind the vocabulary (feature_index.cpp): the trailer's
  // last 16 bytes give the layout's offset, which starts "CMFILED1", frames
  // F, descriptors N, words W (u64), frame ids (F x i64), each frame's first
  // descriptor (F + 1 x u64), descriptors (N x 32), keypoints (N x 8), each
  // word's first member (W + 1 x u32, to 8 bytes), members (N x u32).
  struct Layout {
    size_t frame_first = 0, members = 0;
  };
  auto layout_of = [](const std::string& dir) {
    celmatch::Result<std::string> bytes = celmatch::ReadSealedFile(dir + "/words_color.bin");
    REQUIRE(bytes.ok());
    REQUIRE(bytes->size() > 24);
    REQUIRE(bytes->compare(bytes->size() - 8, 8, "CMWORDS2") == 0);
    uint64_t at = 0, head[3] = {};
    std::memcpy(&at, bytes->data() + bytes->size() - 16, 8);
    REQUIRE(at + 32 <= bytes->size());
    std::memcpy(head, bytes->data() + at + 8, sizeof head);
    const uint64_t f = head[0], n = head[1], w = head[2];
    REQUIRE(f >= 2);
    Layout l;
    l.frame_first = size_t(at + 32 + f * 8);
    l.members = size_t(l.frame_first + (f + 1) * 8 + n * 40 + (((w + 1) * 4 + 7) & ~uint64_t(7)));
    return l;
  };

  struct Case {
    const char* name;
    const char* file;
    std::function<void(const std::string&)> apply;
  };
  const std::vector<Case> cases = {
      {"PDQ codes past the catalog's frames", "pdq.faissbin",
       [&](const std::string& dir) {
         faiss::IndexBinaryFlat more(flat->d);
         more.add(flat->ntotal, flat->xb.data());
         more.add(2, flat->xb.data());  // two frames the catalog does not hold
         write_pdq(dir, more);
       }},
      {"a PDQ code that is another frame's", "pdq.faissbin",
       [&](const std::string& dir) {
         faiss::IndexBinaryFlat swapped(flat->d);
         swapped.add(flat->ntotal, flat->xb.data());
         std::swap_ranges(swapped.xb.begin(), swapped.xb.begin() + swapped.code_size,
                          swapped.xb.begin() + swapped.code_size);
         REQUIRE(!std::equal(swapped.xb.begin(), swapped.xb.begin() + swapped.code_size, flat->xb.begin()));
         write_pdq(dir, swapped);
       }},
      {"a vocabulary node's children past the last node", "words_color.bin",
       [&](const std::string& dir) { edit_words(dir, kNodesAt + 32, int32_t(1) << 30); }},
      {"a vocabulary leaf's word past the word count", "words_color.bin",
       [&](const std::string& dir) { edit_words(dir, leaf_word_at(dir), int32_t(1) << 30); }},
      {"a frame's first descriptor past the descriptors", "words_color.bin",
       [&](const std::string& dir) { edit_words(dir, layout_of(dir).frame_first + 8, uint64_t(1) << 40); }},
      {"filed members past the descriptors", "words_color.bin",
       [&](const std::string& dir) {
         const Layout l = layout_of(dir);
         edit_words(dir, l.members, (uint64_t(1) << 31) | (uint64_t(1) << 63));  // the first two members
       }},
  };
  int case_no = 0;
  for (const Case& c : cases) {
    const std::string dir = tmp.str() + "/case" + std::to_string(case_no++);
    fs::copy(intact, dir, fs::copy_options::recursive);
    fs::remove(fs::path(dir) / "LOCK");
    c.apply(dir);
    INFO(c.name);
    REQUIRE(celmatch::VerifySealedFile(dir + "/" + c.file).ok());  // the seal holds

    CliRun check = RunCelmatch({"index", "check", "--index", dir});
    INFO("check: " << check.out);
    CHECK(check.exit_code == 1);
    CHECK(check.out.find(c.file) != std::string::npos);

    const auto got = match(dir);
    for (const std::string& q : {whole, part}) {
      INFO(q);
      CHECK(got.at(q)["status"] == want.at(q)["status"]);
      CHECK(got.at(q)["matches"][0]["source"] == want.at(q)["matches"][0]["source"]);
      CHECK(got.at(q)["matches"][0]["time"] == want.at(q)["matches"][0]["time"]);
    }
    // A writer repairs the file: `index add` succeeds and check passes after it.
    CliRun add = RunCelmatch({"index", "add", "--index", dir, "--jobs", "1", tmp.str() + "/more"});
    INFO("add: " << add.out);
    CHECK(add.exit_code == 0);
    CliRun again = RunCelmatch({"index", "check", "--index", dir});
    INFO("check after add: " << again.out);
    CHECK(again.exit_code == 0);
    fs::remove_all(dir);
  }
}
