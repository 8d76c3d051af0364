// The installed program: `cmake --install` puts celmatch in PREFIX/bin and
// the embedding model in PREFIX/share/celmatch/models, where the installed
// binary finds it (no --model, no warning); CELMATCH_MODEL points elsewhere;
// without the model, match stops naming it unless --no-embedding. The .deb
// that CPack builds holds the same tree and its binary runs.
#include <cstdlib>
#include <filesystem>

#include <catch2/catch.hpp>

#include "cli_runner.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch::testing;

namespace {

// A shell command line with its stderr; its output and exit code.
CliRun Shell(const std::string& cmd) { return RunShell(cmd + " 2>&1"); }

std::string Q(const std::string& s) { return ShellQuote(s); }

}  // namespace

TEST_CASE("cmake --install and the .deb: the installed celmatch finds its model") {
  const std::string model_src = std::string(CELMATCH_SOURCE_DIR) + "/models/celmatch-embed-v2.onnx";
  if (!fs::exists(model_src)) CELMATCH_SKIP("no " + model_src);
  TempDir tmp;
  const std::string prefix = tmp.str() + "/prefix";
  CliRun install = Shell("cmake --install " + Q(CELMATCH_BUILD_DIR) + " --prefix " + Q(prefix));
  INFO(install.out);
  REQUIRE(install.exit_code == 0);
  const std::string bin = prefix + "/bin/celmatch";
  REQUIRE(fs::exists(bin));
  REQUIRE(fs::exists(prefix + "/share/celmatch/models/celmatch-embed-v2.onnx"));

  // An index built and matched by the installed binary, from another folder.
  fs::create_directories(tmp.str() + "/footage/Show");
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/Show/ep.mp4", 51, 4.0, 12, 4.0).ok());
  const std::string index = tmp.str() + "/index", out = tmp.str() + "/r.jsonl";
  const std::string cd = "cd " + Q(tmp.str()) + " && ";
  CliRun build = Shell(cd + Q(bin) + " index build --index " + Q(index) + " --jobs 1 " + Q(tmp.str() + "/footage"));
  INFO(build.out);
  REQUIRE(build.exit_code == 0);
  CHECK(build.out.find("celmatch-embed-v2") != std::string::npos);
  CliRun match = Shell(cd + Q(bin) + " match --index " + Q(index) + " --out " + Q(out) + " " +
                       Q(tmp.str() + "/footage/Show/ep.mp4"));
  INFO(match.out);
  REQUIRE(match.exit_code == 0);
  CHECK(match.out.find("warning") == std::string::npos);
  CHECK(ReadJsonl(out).begin()->second["embedding"] == true);

  // The model moved away: match stops and names it; CELMATCH_MODEL finds it;
  // --no-embedding goes on without it.
  const std::string moved = tmp.str() + "/elsewhere/celmatch-embed-v2.onnx";
  fs::create_directories(tmp.str() + "/elsewhere");
  fs::rename(prefix + "/share/celmatch/models/celmatch-embed-v2.onnx", moved);
  fs::rename(prefix + "/share/celmatch/models/celmatch-embed-v2.json", tmp.str() + "/elsewhere/celmatch-embed-v2.json");
  const std::string query = " --index " + Q(index) + " --out " + Q(out) + " " + Q(tmp.str() + "/footage/Show/ep.mp4");
  CliRun gone = Shell(cd + Q(bin) + " match" + query);
  INFO(gone.out);
  CHECK(gone.exit_code == 1);
  CHECK(gone.out.find("celmatch-embed-v2.onnx is not found") != std::string::npos);
  CHECK(gone.out.find("--no-embedding") != std::string::npos);
  CliRun env = Shell(cd + "CELMATCH_MODEL=" + Q(moved) + " " + Q(bin) + " match" + query);
  INFO(env.out);
  CHECK(env.exit_code == 0);
  CHECK(ReadJsonl(out).begin()->second["embedding"] == true);
  CliRun without = Shell(cd + Q(bin) + " match --no-embedding" + query);
  INFO(without.out);
  CHECK(without.exit_code == 0);
  CHECK(ReadJsonl(out).begin()->second["embedding"] == false);

  // The .deb: the same tree under /usr, and its binary runs (unpacked into a
  // folder: installing it would change this machine).
  const std::string pkg = tmp.str() + "/pkg";
  CliRun cpack = Shell("cd " + Q(CELMATCH_BUILD_DIR) + " && cpack -G DEB -B " + Q(pkg));
  INFO(cpack.out);
  REQUIRE(cpack.exit_code == 0);
  std::string deb;
  for (const auto& e : fs::directory_iterator(pkg))
    if (e.path().extension() == ".deb") deb = e.path().string();
  REQUIRE(!deb.empty());
  CliRun info = Shell("dpkg-deb --info " + Q(deb));
  INFO(info.out);
  CHECK(info.out.find("Package: celmatch") != std::string::npos);
  CHECK(info.out.find("Depends:") != std::string::npos);
  const std::string root = tmp.str() + "/root";
  REQUIRE(Shell("dpkg-deb -x " + Q(deb) + " " + Q(root)).exit_code == 0);
  REQUIRE(fs::exists(root + "/usr/share/celmatch/models/celmatch-embed-v2.onnx"));
  CliRun deb_match = Shell(cd + Q(root + "/usr/bin/celmatch") + " match" + query);
  INFO(deb_match.out);
  CHECK(deb_match.exit_code == 0);
  CHECK(ReadJsonl(out).begin()->second["embedding"] == true);
}
