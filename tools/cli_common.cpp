#include "cli_common.h"

#include <unistd.h>

#include <cstdio>

#include "core/thread_pool.h"
#include "output/jsonl_writer.h"

namespace celmatch::cli {

namespace {
std::vector<std::string>& CommandLineArgs() {
  static std::vector<std::string> args;
  return args;
}
}  // namespace

std::string ShellQuoted(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

void SetCommandLine(int argc, char** argv) {
  CommandLineArgs().assign(argv, argv + argc);
}

std::string CommandLineWith(const std::string& extra) {
  std::string out;
  bool has = false;
  for (const std::string& a : CommandLineArgs()) {
    has |= a == extra;
    out += (out.empty() ? "" : " ") + ShellQuoted(a);
  }
  if (!has && !extra.empty()) {
    // After the subcommand, before the paths: options first.
    const std::vector<std::string>& args = CommandLineArgs();
    out.clear();
    for (size_t i = 0; i < args.size(); ++i) {
      out += (out.empty() ? "" : " ") + ShellQuoted(args[i]);
      if (i == 1) out += " " + extra;
    }
  }
  return out;
}


int Fatal(const Status& st) {
  std::fprintf(stderr, "celmatch: error: %s\n", st.message().c_str());
  return kExitFatal;
}

int DefaultJobs() { return int(ThreadPool::DefaultThreads()); }

int CommandRegistry::RunParsed() const {
  for (const auto& [command, action] : actions_)
    if (command->parsed()) return action();
  return kExitUsage;
}

Progress::Progress(size_t total, bool lines, bool bar)
    : total_(total), lines_(lines), tty_(bar && ::isatty(STDERR_FILENO)), start_(Clock::now()) {}

void Progress::FileDone(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  ++done_;
  detail_.clear();
  if (!lines_ && !tty_) return;
  if (tty_) std::fputs("\r\033[K", stderr);
  if (lines_) std::fprintf(stderr, "%s\n", line.c_str());
  if (tty_) DrawBar();
  std::fflush(stderr);
}

void Progress::Detail(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!tty_) return;
  detail_ = text;
  std::fputs("\r\033[K", stderr);
  DrawBar();
  std::fflush(stderr);
}

void Progress::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (tty_) std::fputs("\r\033[K", stderr);
}

double Progress::elapsed_s() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void Progress::DrawBar() {
  const double t = elapsed_s();
  const double rate = t > 0 ? done_ / t : 0;
  const double eta = rate > 0 ? (total_ - done_) / rate : 0;
  const int width = 30;
  const int filled = total_ ? int(width * done_ / total_) : width;
  std::string bar(size_t(filled), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "[%s] %zu/%zu  %.1f files/s  ETA %s", bar.c_str(), done_, total_, rate,
               FormatTimecode(eta).substr(0, 8).c_str());
  if (!detail_.empty()) std::fprintf(stderr, "  | %s", detail_.c_str());
}

Result<std::shared_ptr<EmbeddingModelPool>> LoadQueryEmbedding(const ReferenceIndex& index, const std::string& dir,
                                                               const QueryEmbedding& choice) {
  if (!choice.none && index.embedding())
    return ChooseQueryEmbeddingModel(dir, index.embedding()->model(), choice.model, choice.model_manifest);
  if (!choice.none && !choice.model.empty()) {
    std::fprintf(stderr, "celmatch: warning: %s has no embeddings (built with --no-embedding): --model %s is not used\n",
                 dir.c_str(), choice.model.c_str());
  }
  return std::shared_ptr<EmbeddingModelPool>();
}

}  // namespace celmatch::cli
