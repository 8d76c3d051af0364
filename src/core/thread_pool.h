// The one thread pool: a fixed set of workers taking tasks from a queue.
// Used to process files in parallel (`--jobs`). Submit from one thread;
// Wait() blocks until every submitted task has run. Tasks must not throw.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace celmatch {

class ThreadPool {
 public:
  explicit ThreadPool(size_t threads);
  ~ThreadPool();  // waits for queued tasks, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task);
  void Wait();
  size_t size() const { return workers_.size(); }

  // Hardware threads, at least 1.
  static size_t DefaultThreads();

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable work_cv_, idle_cv_;
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace celmatch
