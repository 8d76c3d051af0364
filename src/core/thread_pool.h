// The one thread pool: a fixed set of workers taking tasks from a queue.
// Used to process files in parallel (`--jobs`), and through a TaskGroup to
// spread one file's work over the cores. Submit may be called from any
// thread; Wait() blocks until every submitted task has run. Tasks must not
// throw.
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

// One caller's tasks on a shared pool: Submit blocks while `max_in_flight`
// of the group's tasks are queued or running (bounding the memory their
// inputs hold), Wait() blocks until all have run. Without a pool each task
// runs at once on the caller's thread. The tasks must not wait on groups of
// the same pool (its workers would block each other).
class TaskGroup {
 public:
  TaskGroup(ThreadPool* pool, size_t max_in_flight);
  ~TaskGroup();  // waits
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  void Submit(std::function<void()> task);
  void Wait();

 private:
  ThreadPool* pool_;
  size_t max_in_flight_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  size_t in_flight_ = 0;
};

}  // namespace celmatch
