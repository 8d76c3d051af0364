// Expands the paths given on a command line into the files to process.
//
// Folders are walked recursively in a stable (sorted) order. Symbolic links
// to folders are never followed (so no loops); a symbolic link to a file is
// followed only when its target lies inside the same PATH argument's tree.
// Everything not followed is still reported, as a skipped entry with the
// reason, so a dump's every entry appears in the output.
#pragma once

#include <string>
#include <vector>

namespace celmatch {

struct InputFile {
  std::string path;          // as opened: the argument joined with the relative part
  std::string display_path;  // as reported: the PATH argument as given joined with the
                             // path inside it ("dump/a/x.png"; a leading "./" left out),
                             // so unique in a run; the key of --resume and --shard
  std::string relative;      // the path inside the PATH argument that held it (the
                             // argument's own file name when it is a file): what
                             // `index build` names productions and sources by
  std::string root;          // the PATH argument
  std::string skip_reason;   // non-empty: not to be opened (symlink out of tree, ...)
  std::string error;         // non-empty: could not be listed (permission, ...)
  bool named = false;        // the PATH argument itself (a missing or unreadable one
                             // makes `match` exit non-zero; an entry inside a folder does not)
  // Non-empty: the member of that name of the archive at `path` (display_path
  // is then "archive!/member"); see core/archive_reader.h.
  std::string archive_member;
};

// Never fails as a whole: unreadable folders and missing arguments become
// entries with `error` set.
std::vector<InputFile> WalkInputs(const std::vector<std::string>& paths);

}  // namespace celmatch
