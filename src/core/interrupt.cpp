#include "core/interrupt.h"

#include <atomic>
#include <csignal>

namespace celmatch {
namespace {

std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler stores into it");

// Async-signal-safe: one lock-free store. SA_RESETHAND restores the default
// action, so a second Ctrl-C ends the process.
void OnStopSignal(int sig) { g_stop_signal.store(sig, std::memory_order_relaxed); }

}  // namespace

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool StopRequested() { return g_stop_signal.load(std::memory_order_relaxed) != 0; }

int StopSignal() { return g_stop_signal.load(std::memory_order_relaxed); }

void RequestStop(int signal_number) { g_stop_signal.store(signal_number, std::memory_order_relaxed); }

}  // namespace celmatch
