#include "core/input_walker.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <unistd.h>

namespace fs = std::filesystem;

namespace celmatch {
namespace {

// The name a file is reported under: the path as given on the command line
// joined with the path inside it, a leading "./" left out. Unique in a run
// (two arguments holding x.png give two names) and the key of --resume.
std::string DisplayName(const fs::path& p) {
  std::string s = p.string();
  while (s.size() > 2 && s[0] == '.' && s[1] == '/') s.erase(0, 2);
  return s;
}

bool IsInside(const fs::path& root_canonical, const fs::path& target_canonical) {
  auto r = root_canonical.begin();
  auto t = target_canonical.begin();
  for (; r != root_canonical.end(); ++r, ++t) {
    if (t == target_canonical.end() || *r != *t) return false;
  }
  return true;
}

void WalkFolder(const fs::path& root, const fs::path& root_canonical, const fs::path& folder,
                std::vector<InputFile>* out) {
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  fs::directory_iterator it(folder, fs::directory_options::none, ec);
  if (ec) {
    InputFile f;
    f.path = folder.string();
    f.display_path = DisplayName(folder);
    f.relative = folder.lexically_relative(root).string();
    f.root = root.string();
    f.named = folder == root;
    f.error = "cannot list folder: " + std::error_code(errno, std::generic_category()).message();
    out->push_back(std::move(f));
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    entries.push_back(*it);
  }
  std::sort(entries.begin(), entries.end(),
            [](const fs::directory_entry& a, const fs::directory_entry& b) { return a.path() < b.path(); });
  for (const auto& e : entries) {
    const fs::path& p = e.path();
    InputFile f;
    f.path = p.string();
    f.display_path = DisplayName(p);
    f.relative = p.lexically_relative(root).string();
    f.root = root.string();
    std::error_code lec;
    fs::file_status ls = fs::symlink_status(p, lec);
    if (fs::is_symlink(ls)) {
      std::error_code cec;
      fs::path target = fs::canonical(p, cec);
      if (cec) {
        f.skip_reason = "broken symbolic link";
      } else if (fs::is_directory(target)) {
        f.skip_reason = "symbolic link to a folder (not followed)";
      } else if (!IsInside(root_canonical, target)) {
        f.skip_reason = "symbolic link pointing outside the input tree (not followed)";
      }
      out->push_back(std::move(f));
      continue;
    }
    if (fs::is_directory(ls)) {
      WalkFolder(root, root_canonical, p, out);
      continue;
    }
    if (!fs::is_regular_file(ls)) f.skip_reason = "not a regular file";
    out->push_back(std::move(f));
  }
}

}  // namespace

std::vector<InputFile> WalkInputs(const std::vector<std::string>& paths) {
  std::vector<InputFile> out;
  for (const std::string& arg : paths) {
    fs::path root(arg);
    std::error_code ec;
    fs::file_status st = fs::status(root, ec);
    if (ec || !fs::exists(st)) {
      InputFile f;
      f.path = arg;
      f.display_path = DisplayName(root);
      f.relative = arg;
      f.root = arg;
      f.named = true;
      f.error = "no such file or folder";
      out.push_back(std::move(f));
      continue;
    }
    if (fs::is_directory(st)) {
      fs::path canon = fs::canonical(root, ec);
      WalkFolder(root, ec ? root : canon, root, &out);
    } else {
      InputFile f;
      f.path = arg;
      f.display_path = DisplayName(root);
      f.relative = root.filename().string();
      f.root = arg;
      f.named = true;
      if (!fs::is_regular_file(st)) f.skip_reason = "not a regular file";
      else if (::access(arg.c_str(), R_OK) != 0) f.error = "cannot read: " + std::error_code(errno, std::generic_category()).message();
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace celmatch
