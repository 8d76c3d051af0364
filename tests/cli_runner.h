// Runs the celmatch binary from tests and captures what it prints.
#pragma once

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>

#include <nlohmann/json.hpp>

namespace celmatch::testing {

struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

inline std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q.push_back(c);
  }
  return q + "'";
}

// Runs a shell command line (through /bin/sh, stderr not captured unless the
// line redirects it); its output and exit code.
inline CliRun RunShell(const std::string& cmd) {
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `args` are quoted one by one; the command runs through /bin/sh.
inline CliRun RunCelmatch(const std::vector<std::string>& args) {
  std::string cmd = ShellQuote(CELMATCH_BINARY);
  for (const std::string& a : args) cmd += " " + ShellQuote(a);
  return RunShell(cmd + " 2>&1");
}

// Reads a JSON Lines file into records keyed by their "file" field (run
// records left out), with
// `root` + "/" left out where a name starts with it (`match ROOT` names
// ROOT/x.png, the tests look up x.png).
inline std::map<std::string, nlohmann::json> ReadJsonl(const std::string& path, const std::string& root = "") {
  std::map<std::string, nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  const std::string prefix = root.empty() || root.back() == '/' ? root : root + "/";
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("celmatch_run")) continue;  // a run's first line (output/run_record.h)
    std::string file = j["file"].get<std::string>();
    if (!prefix.empty() && file.rfind(prefix, 0) == 0) file.erase(0, prefix.size());
    out[file] = j;
  }
  return out;
}

}  // namespace celmatch::testing
