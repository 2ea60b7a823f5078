// A deterministic parallel loop over independent work items (spec/core.md [CORE-THREADS]).
//
// Items are claimed from an atomic counter by up to `threads` workers. Each item must write only
// its own outputs, so results do not depend on the thread count or on scheduling. The first
// exception thrown by an item is rethrown on the calling thread after all workers stop.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace touchstone {

// Threads to use when the caller passes 0: TOUCHSTONE_THREADS if set to a positive integer, else
// std::thread::hardware_concurrency().
inline int default_thread_count() {
  if (const char* env = std::getenv("TOUCHSTONE_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

template <class F>
void parallel_for(std::int64_t items, int threads, F&& body) {
  if (items <= 0) return;
  if (threads <= 0) threads = default_thread_count();
  threads = static_cast<int>(std::min<std::int64_t>(threads, items));
  std::atomic<std::int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (;;) {
      const std::int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= items) return;
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next.store(items, std::memory_order_relaxed);
        return;
      }
    }
  };
  if (threads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads - 1));
    for (int k = 1; k < threads; ++k) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace touchstone
