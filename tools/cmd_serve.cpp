// `celmatch serve`: the matcher as an HTTP service over one index, for
// platforms and analysts' pipelines (as Meta's HMA serves PDQ matching).
//
//   POST /v1/match   body: the file's bytes  -> one record, as a line of `match`
//   POST /v1/hash    body: an image or video -> its PDQ hashes
//   GET  /v1/health                          -> {"status":"ok", index, version}
//
// Requests need `Authorization: Bearer TOKEN` when --token-file is given
// (401 otherwise); without a token the service listens on loopback only.
// Bodies above --max-body get 413. --jobs requests are matched at once,
// --queue more wait, and one beyond that gets 503 with Retry-After: the
// service stays responsive under load instead of queueing without bound.
// Every answer is JSON, errors included; a body that is not media, or is
// damaged, gets the same record `match` writes for such a file.
//
// The index is read when the service starts: footage added later with
// `index add` is seen after a restart.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>

#include "cli_common.h"
#include "core/interrupt.h"
#include "frames/keyframe_sampler.h"
#include "index/reference_index.h"
#include "match/matcher.h"
#include "media/image_decoder.h"
#include "media/media_probe.h"
#include "media/video_decoder.h"
#include "output/jsonl_writer.h"

namespace celmatch::cli {
namespace {

struct ServeArgs {
  std::string index_dir;
  std::string listen = "127.0.0.1:8080";
  std::string token_file;
  int64_t max_body = 64LL << 20;
  int jobs = DefaultJobs();
  int queue = 64;
  bool no_dihedral = false;
  MatchOptions options;
  QueryEmbedding embedding;
};

// Matching slots: `jobs` requests run, `queue` wait; Enter says no beyond.
class Admission {
 public:
  Admission(int running, int waiting) : free_(running), max_waiting_(waiting) {}
  bool Enter() {
    std::unique_lock<std::mutex> lock(mu_);
    if (free_ == 0 && waiting_ >= max_waiting_) return false;
    ++waiting_;
    cv_.wait(lock, [&] { return free_ > 0; });
    --waiting_;
    --free_;
    return true;
  }
  void Leave() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
  int waiting_ = 0;
  const int max_waiting_;
};

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Compares without stopping at the first difference (no timing oracle).
bool SameToken(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= uint8_t(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

void Reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "application/json");
}

nlohmann::json ErrorBody(const std::string& message) { return {{"status", "error"}, {"error", message}}; }

// The PDQ hashes of an image (its eight dihedral variants with
// ?dihedral=1) or of a video's frames, one a second, as `celmatch hash`.
nlohmann::json HashBody(const PdqHasher& hasher, const std::string& name,
                        const std::shared_ptr<const std::vector<uint8_t>>& bytes, bool dihedral,
                        const MediaLimits& limits, int* status) {
  static const char* kNames[8] = {"original", "rotate90", "rotate180", "rotate270",
                                  "flip_x",   "flip_y",   "flip_plus1", "flip_minus1"};
  *status = 200;
  Result<MediaProbe> probe = ProbeMediaBuffer(name, bytes->data(), bytes->size());
  if (!probe.ok() || probe->kind == MediaKind::kOther || probe->kind == MediaKind::kDocument) {
    *status = 422;
    return ErrorBody(probe.ok() ? name + ": not an image or video" : probe.status().message());
  }
  nlohmann::json out = {{"kind", MediaKindName(probe->kind)}};
  if (probe->kind == MediaKind::kImage) {
    Result<cv::Mat> img = DecodeImageFromBuffer(name, *bytes, nullptr, limits);
    if (!img.ok()) {
      *status = 422;
      return ErrorBody(img.status().message());
    }
    const std::array<PdqResult, 8> v = hasher.ComputeDihedral(*img);
    nlohmann::json hashes = nlohmann::json::array();
    for (int i = 0; i < (dihedral ? 8 : 1); ++i) {
      hashes.push_back({{"hash", v[size_t(i)].hash.ToHex()}, {"quality", v[0].quality}, {"transform", kNames[i]}});
    }
    out["hashes"] = std::move(hashes);
    return out;
  }
  Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::OpenBuffer(name, bytes, limits);
  if (!dec.ok()) {
    *status = 422;
    return ErrorBody(dec.status().message());
  }
  Result<QuerySamplingResult> sampled = SampleQueryFrames(**dec, hasher, 1.0, 1 << 30, 0);
  if (!sampled.ok()) {
    *status = 422;
    return ErrorBody(sampled.status().message());
  }
  nlohmann::json frames = nlohmann::json::array();
  for (const QuerySample& s : sampled->samples) {
    frames.push_back({{"time", std::round(s.time_s * 1000) / 1000}, {"hash", s.pdq[0].hash.ToHex()},
                      {"quality", s.pdq[0].quality}});
  }
  out["frames"] = std::move(frames);
  return out;
}

int RunServe(ServeArgs a) {
  const size_t colon = a.listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == a.listen.size()) {
    std::fprintf(stderr, "celmatch: error: --listen %s: give ADDRESS:PORT (e.g. 127.0.0.1:8080; port 0: any free)\n",
                 a.listen.c_str());
    return kExitUsage;
  }
  std::string host = a.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    port = std::stoi(a.listen.substr(colon + 1));
  } catch (const std::exception&) {
  }
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "celmatch: error: --listen %s: the port must be 0..65535\n", a.listen.c_str());
    return kExitUsage;
  }
  std::string token;
  if (!a.token_file.empty()) {
    std::ifstream in(a.token_file);
    if (!in) return Fatal(Status::IoError(a.token_file + ": cannot read the token file"));
    std::getline(in, token);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    if (token.size() < 16) return Fatal(Status::InvalidArgument(a.token_file + ": the token must be 16 characters or more"));
  } else if (!IsLoopback(host)) {
    std::fprintf(stderr,
                 "celmatch: error: refusing to listen on %s without --token-file: anyone who reaches it could "
                 "query the index; give a token or listen on 127.0.0.1\n",
                 host.c_str());
    return kExitUsage;
  }

  Result<std::unique_ptr<ReferenceIndex>> index = ReferenceIndex::OpenForRead(a.index_dir);
  if (!index.ok()) return Fatal(index.status());
  a.options.dihedral = !a.no_dihedral;
  Result<std::shared_ptr<EmbeddingModelPool>> model = LoadQueryEmbedding(**index, a.index_dir, a.embedding);
  if (!model.ok()) return Fatal(model.status());
  a.options.embedding = *model;
  const Matcher matcher(**index, a.options);
  const PdqHasher hasher;
  Admission admission(a.jobs, a.queue);
  const int64_t frames = (*index)->frame_count();
  Result<IndexStats> stats = (*index)->Stats();
  const int64_t sources = stats.ok() ? stats->sources : 0;

  httplib::Server server;
  // Threads: the running and the waiting requests, and a few for health
  // checks and refusals while all of those are busy.
  const size_t threads = size_t(a.jobs + a.queue + 4);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(size_t(a.max_body));
  // A client keeps its connection for many requests (cpp-httplib's default
  // is 5 requests a connection).
  server.set_keep_alive_max_count(100);
  server.set_read_timeout(60, 0);
  server.set_write_timeout(60, 0);
  server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (token.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0 && SameToken(auth.substr(7), token))
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    Reply(res, 401, ErrorBody("unauthorized: send Authorization: Bearer TOKEN"));
    return httplib::Server::HandlerResponse::Handled;
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    // cpp-httplib parses a form-encoded body (curl --data-binary's default
    // type) and refuses one over 8 KiB.
    if (res.status == 413 && req.get_header_value("Content-Type") == "application/x-www-form-urlencoded") {
      return Reply(res, 413, ErrorBody("form-encoded bodies stop at 8 KiB: send the file's bytes with "
                                       "Content-Type: application/octet-stream"));
    }
    const char* what = res.status == 413 ? "body larger than --max-body"
                       : res.status == 404 ? "no such endpoint (POST /v1/match, POST /v1/hash, GET /v1/health)"
                       : res.status == 405 ? "method not allowed"
                                           : "request refused";
    Reply(res, res.status, ErrorBody(what));
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what += std::string(": ") + e.what();
    } catch (...) {
    }
    Reply(res, 500, ErrorBody(what));
  });
  server.Get("/v1/health", [&](const httplib::Request&, httplib::Response& res) {
    Reply(res, 200,
          {{"status", "ok"}, {"celmatch", CELMATCH_VERSION}, {"index", a.index_dir}, {"frames", frames},
           {"sources", sources}, {"embedding", a.options.embedding != nullptr}, {"jobs", a.jobs}, {"queue", a.queue}});
  });
  auto body_of = [](const httplib::Request& req) {
    return std::make_shared<const std::vector<uint8_t>>(req.body.begin(), req.body.end());
  };
  // A request with a body takes a slot (or waits in the queue) for `work`;
  // 400 without a body, 503 when the slots and the queue are full.
  auto admitted = [&](const httplib::Request& req, httplib::Response& res, const std::function<void()>& work) {
    if (req.body.empty()) return Reply(res, 400, ErrorBody("empty body: send the file's bytes"));
    if (!admission.Enter()) {
      res.set_header("Retry-After", "1");
      return Reply(res, 503, ErrorBody("busy: every matching slot and the queue are taken; retry"));
    }
    struct Release {  // also when `work` throws (answered 500 by the exception handler)
      Admission& admission;
      ~Release() { admission.Leave(); }
    } release{admission};
    work();
  };
  server.Post("/v1/match", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.has_param("name") ? req.get_param_value("name") : "upload";
    admitted(req, res, [&] { Reply(res, 200, FileResultToJson(matcher.MatchBytes(name, body_of(req)))); });
  });
  server.Post("/v1/hash", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.has_param("name") ? req.get_param_value("name") : "upload";
    admitted(req, res, [&] {
      int status = 200;
      nlohmann::json body = HashBody(hasher, name, body_of(req), req.get_param_value("dihedral") == "1",
                                     a.options.limits, &status);
      Reply(res, status, body);
    });
  });

  // cpp-httplib 0.11 listens with a backlog of 5: a burst of new clients
  // would see connections reset. The listening socket is kept here and its
  // backlog raised once bound (listen() again on Linux updates it).
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t fd) {
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = fd;
  });
  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) return Fatal(Status::IoError("cannot listen on " + a.listen + ": address in use or not available"));
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  std::fprintf(stderr, "celmatch serve: listening on http://%s:%d (index %s: %lld frames, %lld sources%s)\n",
               host.find(':') != std::string::npos ? ("[" + host + "]").c_str() : host.c_str(), bound,
               a.index_dir.c_str(), (long long)frames, (long long)sources,
               a.options.embedding ? ", with the embedding" : "");
  std::fflush(stderr);
  // SIGINT/SIGTERM: stop accepting, let the requests in flight finish.
  InstallStopHandlers();
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (StopRequested()) {
        server.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  const bool ok = server.listen_after_bind();
  done = true;
  watcher.join();
  if (StopRequested()) {
    std::fprintf(stderr, "celmatch serve: stopped\n");
    return kExitOk;
  }
  return ok ? kExitOk : Fatal(Status::IoError("the server stopped listening on " + a.listen));
}

}  // namespace

void RegisterServeCommand(CLI::App& app, CommandRegistry& registry) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Match over HTTP: POST /v1/match (file bytes -> the record `match` writes), POST /v1/hash, GET /v1/health");
  cmd->add_option("--index", a->index_dir, "Index directory")->required();
  cmd->add_option("--listen", a->listen, "ADDRESS:PORT to listen on (default 127.0.0.1:8080; port 0: any free port)");
  cmd->add_option("--token-file", a->token_file,
                  "File whose first line is the token requests must send as `Authorization: Bearer TOKEN`; "
                  "needed to listen beyond loopback");
  cmd->add_option("--max-body", a->max_body, "Largest request body, bytes; suffixes k, M, G (default 64M); 413 above")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--jobs,-j", a->jobs, "Requests matched at once (default: all cores)")->check(JobsValidator());
  cmd->add_option("--queue", a->queue, "Requests waiting for a slot; one more gets 503 (default 64)")
      ->check(CLI::Range(0, 100000));
  cmd->add_flag("--no-dihedral", a->no_dihedral, "Do not search flipped and rotated variants");
  cmd->add_option("--max-pixels", a->options.limits.max_pixels, "Largest image or video frame in pixels (default 1e8)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-frames", a->options.limits.max_frames, "Most frames decoded per video (default 500000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-pages", a->options.limits.max_pages,
                  "Most pages of a PDF matched; the record's note names any left (default 1000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-seconds-per-file", a->options.limits.max_decode_wall_s,
                  "Wall time spent decoding one video or rendering one PDF's pages, seconds (default 600)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-memory-per-file", a->options.limits.max_memory_bytes,
                  "Estimated decoding memory per request, bytes; suffixes k, M, G (default 2G)")
      ->transform(CLI::AsSizeValue(false));
  CLI::Option* model = cmd->add_option("--model", a->embedding.model,
                                       "The learned-embedding model (ONNX) the index was built with, when not found "
                                       "where celmatch looks");
  cmd->add_flag("--no-embedding", a->embedding.none, "Match without the learned embedding")->excludes(model);
  registry.Add(cmd, [a] {
    a->options.limits.max_file_bytes = a->max_body;
    return RunServe(*a);
  });
}

}  // namespace celmatch::cli
