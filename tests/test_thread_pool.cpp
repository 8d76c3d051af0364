// The core's thread pool and its task groups (src/core/thread_pool.h).
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "core/thread_pool.h"

using namespace celmatch;

TEST_CASE("a task group runs every task, never more than its bound at once, and waits for them") {
  ThreadPool pool(4);
  const size_t bound = GENERATE(size_t(1), size_t(3));
  INFO("bound: " << bound);
  std::atomic<int> running{0}, most{0}, done{0};
  std::vector<int> ran(40, 0);
  {
    TaskGroup group(&pool, bound);
    for (size_t i = 0; i < ran.size(); ++i) {
      group.Submit([&, i] {
        const int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ran[i] += 1;
        --running;
        ++done;
      });
    }
    group.Wait();
    CHECK(done == int(ran.size()));  // Wait returned only once all had run
  }
  for (int r : ran) CHECK(r == 1);
  CHECK(most.load() <= int(bound));
  CHECK(most.load() >= 1);
}

TEST_CASE("two task groups share one pool, and without a pool a task runs on the caller thread") {
  ThreadPool pool(2);
  std::atomic<int> a{0}, b{0};
  {
    TaskGroup first(&pool, 2), second(&pool, 2);
    for (int i = 0; i < 20; ++i) {
      first.Submit([&] { ++a; });
      second.Submit([&] { ++b; });
    }
    second.Wait();
    CHECK(b == 20);
  }  // the destructors wait too
  CHECK(a == 20);

  TaskGroup inline_group(nullptr, 4);
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id where;
  int value = 0;
  inline_group.Submit([&] {
    where = std::this_thread::get_id();
    value = 7;
  });
  CHECK(value == 7);  // already run when Submit returns
  CHECK(where == caller);
}
