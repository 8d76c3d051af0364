// libFuzzer target: opening and checking an index directory whose files are
// damaged. The input is the three files, each prefixed with its length
// (4 bytes, little-endian): manifest.json, catalog.sqlite, pdq.faissbin.
// tools/sanitize-and-fuzz.sh packs a real index this way as the seed.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "index/reference_index.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path dir = [] {
    char tmpl[] = "/tmp/celmatch-fuzz-index-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    return fs::path(d ? d : "/tmp/celmatch-fuzz-index");
  }();
  const char* names[] = {"manifest.json", "catalog.sqlite", "pdq.faissbin"};
  size_t at = 0;
  for (const char* name : names) {
    const fs::path p = dir / name;
    fs::remove(p);
    fs::remove(dir / (std::string(name) + "-journal"));
    if (at + 4 > size) continue;
    uint32_t n = uint32_t(data[at]) | uint32_t(data[at + 1]) << 8 | uint32_t(data[at + 2]) << 16 |
                 uint32_t(data[at + 3]) << 24;
    at += 4;
    n = uint32_t(std::min<size_t>(n, size - at));
    if (std::FILE* f = std::fopen(p.c_str(), "wb")) {
      std::fwrite(data + at, 1, n, f);
      std::fclose(f);
    }
    at += n;
  }
  auto ix = celmatch::ReferenceIndex::OpenForRead(dir.string());
  if (ix.ok()) (void)(*ix)->Check();
  return 0;
}
