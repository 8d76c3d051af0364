// Archives in a dump (issue 7): zip and tar.gz members are matched in place
// and reported as "archive!/member"; path traversal and bombs are refused.
#include <archive.h>
#include <archive_entry.h>

#include <filesystem>

#include <catch2/catch.hpp>

#include "cli_runner.h"
#include "core/archive_reader.h"
#include "hostile_corpus.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

// Writes an archive with libarchive: `zip` or tar.gz.
void WriteArchive(const std::string& path, bool zip,
                  const std::vector<std::pair<std::string, std::vector<uint8_t>>>& members) {
  archive* a = archive_write_new();
  if (zip) {
    archive_write_set_format_zip(a);
  } else {
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
  }
  REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
  for (const auto& [name, bytes] : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, la_int64_t(bytes.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    REQUIRE(archive_write_data(a, bytes.data(), bytes.size()) == la_ssize_t(bytes.size()));
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

}  // namespace

TEST_CASE("zip and tar.gz members are matched in place, traversal and bombs refused") {
  TempDir tmp;
  const std::string video = tmp.str() + "/footage/Show/ep1.mp4";
  fs::create_directories(tmp.path() / "footage" / "Show");
  REQUIRE(celmatch::WriteSyntheticVideo(video, 81, 6.0, 10.0).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, "--jobs", "1", tmp.str() + "/footage"}).exit_code == 0);

  // Good members come from the hostile corpus's good files.
  const fs::path corpus = tmp.path() / "corpus";
  WriteHostileCorpus(corpus, tmp.path() / "outside", {video, 81, 2.0});
  fs::permissions(corpus / "unreadable" / "locked.png", fs::perms::owner_all);
  const std::vector<uint8_t> png = ReadFileBytes((corpus / "good" / "frame.png").string());
  const std::vector<uint8_t> jpg = ReadFileBytes((corpus / "good" / "frame.jpg").string());
  const std::vector<uint8_t> mp4 = ReadFileBytes(video);
  const std::vector<uint8_t> pdf = ReadFileBytes((corpus / "good" / "notes.pdf").string());  // the frame on page 2
  const std::vector<uint8_t> zeros(64u << 20, 0);  // 64 MiB of zeros: deflates ~1000:1
  const std::string text = "readme\n";

  const fs::path dump = tmp.path() / "dump";
  fs::create_directories(dump);
  WriteArchive((dump / "leak.zip").string(), true,
               {{"cels/a.png", png},
                {"clips/c.mp4", mp4},
                {"../../etc/evil.png", png},
                {"/abs/evil.png", png},
                {"notes.txt", std::vector<uint8_t>(text.begin(), text.end())},
                {"notes/retake.pdf", pdf},
                {"bomb.bmp", zeros},
                {"empty.png", {}}});
  WriteArchive((dump / "more.tar.gz").string(), false, {{"deep/b.jpg", jpg}, {"x/../../up.png", png}});
  // A Word document is a zip archive: its pictures are members.
  const std::string xml = "<w:document/>";
  WriteArchive((dump / "notes.docx").string(), true,
               {{"word/document.xml", std::vector<uint8_t>(xml.begin(), xml.end())}, {"word/media/image1.png", png}});

  const std::string out = tmp.str() + "/out.jsonl";
  CliRun r = RunCelmatch({"match", "--index", index, "--out", out, "--jobs", "2", dump.string()});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  std::map<std::string, nlohmann::json> rec = ReadJsonl(out, dump.string());
  CHECK(rec.size() == 12);
  CHECK(rec["leak.zip!/cels/a.png"]["status"] == "match");
  CHECK(rec["leak.zip!/clips/c.mp4"]["status"] == "match");
  CHECK(rec["leak.zip!/clips/c.mp4"]["kind"] == "video");
  CHECK(rec["more.tar.gz!/deep/b.jpg"]["status"] == "match");
  for (const char* evil : {"leak.zip!/../../etc/evil.png", "leak.zip!//abs/evil.png", "more.tar.gz!/x/../../up.png"}) {
    INFO(evil);
    REQUIRE(rec.count(evil) == 1);
    CHECK(rec[evil]["status"] == "skipped");
    CHECK(rec[evil]["error"].get<std::string>().find("path traversal") != std::string::npos);
  }
  CHECK(rec["leak.zip!/notes.txt"]["status"] == "skipped");
  CHECK(rec["leak.zip!/notes/retake.pdf"]["kind"] == "document");
  REQUIRE(rec["leak.zip!/notes/retake.pdf"]["status"] == "match");
  CHECK(rec["leak.zip!/notes/retake.pdf"]["matches"][0]["page"] == 2);
  CHECK(rec["notes.docx!/word/media/image1.png"]["status"] == "match");
  CHECK(rec["notes.docx!/word/document.xml"]["status"] == "skipped");
  CHECK(rec["leak.zip!/bomb.bmp"]["status"] == "error");
  CHECK(rec["leak.zip!/bomb.bmp"]["error"].get<std::string>().find("max_ratio") != std::string::npos);
  CHECK(rec["leak.zip!/empty.png"]["status"] == "error");
  // Nothing was extracted beside the archives.
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(dump)) files += e.is_regular_file();
  CHECK(files == 3);

  // A member over the size limit is refused before it is read.
  std::vector<std::pair<std::string, std::vector<uint8_t>>> big = {{"a.png", png}};
  Result<std::vector<ArchiveMember>> listed = ListArchive((dump / "leak.zip").string(), {.max_member_bytes = 1000});
  REQUIRE(listed.ok());
  for (const ArchiveMember& m : *listed) {
    if (m.name == "cels/a.png") CHECK(m.skip_reason.find("max_member_bytes") != std::string::npos);
  }
}
