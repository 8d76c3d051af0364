// `celmatch serve` under load on loopback: 100 concurrent clients, every
// answer equal to the record `celmatch match` writes for the same file; 401
// without the token, 413 above --max-body, 503 when the queue is full, the
// server alive after hostile bodies; no listening beyond loopback without a
// token.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <opencv2/imgcodecs.hpp>

#include "child_process.h"
#include "cli_runner.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch::testing;

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A running `celmatch serve`, stopped with SIGTERM at the end.
struct Server {
  pid_t pid = -1;
  int port = 0;
  std::string err_path;
  Server(const std::vector<std::string>& args, const std::string& err) : err_path(err) {
    pid = SpawnCelmatch(args, "", err);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string text = ReadAll(err);
      const size_t at = text.find("listening on http://127.0.0.1:");
      if (at != std::string::npos) {
        port = std::atoi(text.c_str() + at + std::strlen("listening on http://127.0.0.1:"));
        return;
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  bool alive() const { return pid > 0 && ::kill(pid, 0) == 0; }
  ~Server() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      WaitOrKill(pid, 30);
    }
  }
};

// `s` for a URL's query string.
std::string UrlEncoded(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(char(c));
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The record without what differs between two runs on the same file.
nlohmann::json Comparable(nlohmann::json j) {
  j.erase("elapsed");
  j.erase("file");
  return j;
}

}  // namespace

TEST_CASE("celmatch serve: 100 concurrent clients get match's answers, with auth, body limit, queue and hostile bodies") {
  TempDir tmp;
  fs::create_directories(tmp.str() + "/footage/Show");
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/Show/ep1.mp4", 91, 6.0, 12, 3.0).ok());
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/Show/ep2.mp4", 92, 6.0, 12, 3.0).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, "--no-embedding", tmp.str() + "/footage"}).exit_code == 0);

  // The queries: frames of both episodes (one mirrored, one cropped), an
  // unrelated picture, a file that is not media, a damaged JPEG.
  const std::string q = tmp.str() + "/q";
  fs::create_directories(q);
  std::vector<std::string> files;
  for (int i = 0; i < 6; ++i) {
    cv::Mat f = SyntheticCartoonFrame((i % 2 ? 92u : 91u) * 1000u + uint32_t(i / 2 % 2), 0.4 * i, 640, 360);
    if (i == 3) cv::flip(f, f, 1);
    if (i == 5) f = f(cv::Rect(80, 40, 480, 280)).clone();
    files.push_back(q + "/frame" + std::to_string(i) + (i % 2 ? ".png" : ".jpg"));
    REQUIRE(cv::imwrite(files.back(), f));
  }
  files.push_back(q + "/other.png");
  REQUIRE(cv::imwrite(files.back(), SyntheticCartoonFrame(5555, 1.0, 320, 180)));
  files.push_back(q + "/notes.txt");
  WriteFileBytes(files.back(), {'r', 'e', 't', 'a', 'k', 'e', '\n'});
  files.push_back(q + "/broken.jpg");
  {
    std::vector<uint8_t> jpeg = ReadFileBytes(files[0]);
    jpeg.resize(jpeg.size() / 3);
    WriteFileBytes(files.back(), jpeg);
  }
  const std::string results = tmp.str() + "/match.jsonl";
  REQUIRE(RunCelmatch({"match", "--index", index, "--no-embedding", "--out", results, q}).exit_code == 0);
  std::map<std::string, nlohmann::json> want = ReadJsonl(results);
  REQUIRE(want.size() == files.size());
  int matched = 0;
  for (const auto& [file, j] : want) matched += j["status"] == "match";
  REQUIRE(matched >= 4);

  const std::string token = "s3cret-token-0123456789";
  WriteFileBytes(tmp.str() + "/token", std::vector<uint8_t>(token.begin(), token.end()));
  Server server({"serve", "--index", index, "--no-embedding", "--listen", "127.0.0.1:0", "--jobs", "2", "--queue",
                 "200", "--max-body", "2M", "--token-file", tmp.str() + "/token"},
                tmp.str() + "/serve.err");
  INFO(ReadAll(server.err_path));
  REQUIRE(server.port > 0);
  const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
  std::vector<std::string> bodies;
  for (const std::string& f : files) bodies.push_back(ReadAll(f));

  // 100 clients at once, each sending every query in its own order.
  std::atomic<int> right{0}, wrong{0}, failed{0};
  std::vector<std::string> problems(100);
  std::vector<std::thread> clients;
  for (int c = 0; c < 100; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client cli("127.0.0.1", server.port);
      cli.set_connection_timeout(30);
      cli.set_read_timeout(120);
      std::vector<size_t> order(files.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937(uint32_t(c)));
      for (size_t i : order) {
        // Named as `match` names it, so that error messages agree too.
        const auto sent = std::chrono::steady_clock::now();
        auto res = cli.Post(("/v1/match?name=" + UrlEncoded(files[i])).c_str(), auth, bodies[i],
                            "application/octet-stream");
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
        if (!res || res->status != 200) {
          ++failed;
          problems[size_t(c)] = res ? std::to_string(res->status) + " " + res->body
                                    : files[i] + ": no answer after " + std::to_string(took) +
                                          " s: " + httplib::to_string(res.error());
          continue;
        }
        const nlohmann::json got = nlohmann::json::parse(res->body, nullptr, false);
        if (!got.is_discarded() && Comparable(got) == Comparable(want.at(files[i]))) {
          ++right;
        } else {
          ++wrong;
          problems[size_t(c)] = files[i] + ": " + res->body + " want " + want.at(files[i]).dump();
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  std::string first_problem;
  for (const std::string& p : problems)
    if (!p.empty()) first_problem = p;
  INFO(first_problem);
  CHECK(failed == 0);
  CHECK(wrong == 0);
  CHECK(right == int(100 * files.size()));

  httplib::Client cli("127.0.0.1", server.port);
  cli.set_read_timeout(60);
  // The token.
  auto none = cli.Post("/v1/match", bodies[0], "application/octet-stream");
  REQUIRE(none);
  CHECK(none->status == 401);
  auto bad = cli.Post("/v1/match", {{"Authorization", "Bearer not-the-token-at-all"}}, bodies[0],
                      "application/octet-stream");
  REQUIRE(bad);
  CHECK(bad->status == 401);
  CHECK(nlohmann::json::parse(bad->body)["status"] == "error");
  // --max-body.
  auto big = cli.Post("/v1/match", auth, std::string(3 << 20, 'x'), "application/octet-stream");
  REQUIRE(big);
  CHECK(big->status == 413);
  // Hostile bodies: answered as `match` answers such files, never a crash.
  std::mt19937 rng(7);
  std::vector<std::string> hostile = {std::string(1, '\0'), std::string("\x89PNG\r\n\x1a\n", 8),
                                      bodies[0].substr(0, 200), bodies[1].substr(0, bodies[1].size() / 2)};
  {
    // A PNG header declaring 100000 x 100000 pixels (a decompression bomb).
    std::string png = bodies[1];
    png[16] = png[20] = 0;
    png[17] = png[21] = 0x01;
    png[18] = png[22] = char(0x86);
    png[19] = png[23] = char(0xA0);
    hostile.push_back(png);
  }
  for (int i = 0; i < 20; ++i) {
    std::string junk(size_t(rng() % 50000 + 1), '\0');
    for (char& ch : junk) ch = char(rng());
    hostile.push_back(junk);
  }
  for (const std::string& h : hostile) {
    auto res = cli.Post("/v1/match", auth, h, "application/octet-stream");
    REQUIRE(res);
    CHECK(res->status == 200);
    const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j["status"] != "match");
  }
  auto empty = cli.Post("/v1/match", auth, "", "application/octet-stream");
  REQUIRE(empty);
  CHECK(empty->status == 400);
  auto health = cli.Get("/v1/health", auth);
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(nlohmann::json::parse(health->body)["frames"].get<int>() > 0);
  CHECK(server.alive());
  // PDQ hashes, as `celmatch hash` prints them.
  auto hash = cli.Post("/v1/hash?dihedral=1", auth, bodies[1], "application/octet-stream");
  REQUIRE(hash);
  REQUIRE(hash->status == 200);
  const nlohmann::json hj = nlohmann::json::parse(hash->body);
  CHECK(hj["hashes"].size() == 8);
  CliRun printed = RunCelmatch({"hash", files[1]});
  CHECK(printed.out.rfind(hj["hashes"][0]["hash"].get<std::string>(), 0) == 0);
}

TEST_CASE("celmatch serve: a full queue answers 503, and no listening beyond loopback without a token") {
  TempDir tmp;
  fs::create_directories(tmp.str() + "/footage/Show");
  REQUIRE(celmatch::WriteSyntheticVideo(tmp.str() + "/footage/Show/ep1.mp4", 95, 6.0, 12, 3.0).ok());
  const std::string index = tmp.str() + "/index";
  REQUIRE(RunCelmatch({"index", "build", "--index", index, "--no-embedding", tmp.str() + "/footage"}).exit_code == 0);
  CliRun open = RunCelmatch({"serve", "--index", index, "--no-embedding", "--listen", "0.0.0.0:0"});
  CHECK(open.exit_code == 2);
  CHECK(open.out.find("without --token-file") != std::string::npos);

  // One slot, no queue: while a clip is matched, the others are refused.
  Server server({"serve", "--index", index, "--no-embedding", "--listen", "127.0.0.1:0", "--jobs", "1", "--queue", "0"},
                tmp.str() + "/serve.err");
  REQUIRE(server.port > 0);
  const std::string clip = ReadAll(tmp.str() + "/footage/Show/ep1.mp4");
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      httplib::Client cli("127.0.0.1", server.port);
      cli.set_read_timeout(120);
      auto res = cli.Post("/v1/match", clip, "application/octet-stream");
      if (res && res->status == 200 && nlohmann::json::parse(res->body)["status"] == "match") ++ok;
      else if (res && res->status == 503 && res->has_header("Retry-After")) ++busy;
      else ++other;
    });
  }
  for (std::thread& t : clients) t.join();
  CHECK(other == 0);
  CHECK(ok >= 1);
  CHECK(busy >= 1);
  CHECK(server.alive());
}
