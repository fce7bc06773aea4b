// RunQueue: the lanes that have work, waiting for an executor thread.
//
// A FIFO of lanes threaded through Lane::next_ready under one mutex, with a
// condition variable for idle workers. It is touched once per lane hand-off,
// not once per event: a worker drains a whole batch from a lane before it comes
// back here, and a busy lane stays scheduled, so posters reach this mutex only
// when a lane goes from idle to busy.
//
// Idle workers spin on `size_` before they sleep: the first of them for up to
// kLeadSpin (20 us), the others briefly, so that a bus keeps at most one core
// spinning while its events come at least every 20 us, and none once they
// stop. A push notifies only when someone sleeps and no spinner will take the
// lane: a bus under load makes no system calls to wake threads, and a bus at
// rest sleeps.
//
// Thread safety: distinct objects: safe. Shared objects: safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

#include "courier/detail/delivery/subscriber_core.hpp"

namespace courier::detail {

class RunQueue {
 public:
  // Thread-safe. Never blocks for long (takes the mutex).
  void push(Lane& lane);

  // Thread-safe. Blocks until a lane is ready; null once stop() was called and
  // the queue is empty.
  Lane* pop_wait();

  // Thread-safe. Never blocks. True if lanes are waiting (approximate).
  bool has_waiting() const noexcept { return size_.load(std::memory_order_relaxed) != 0; }

  // Thread-safe. Wakes every worker; pop_wait() returns null once empty.
  void stop();

 private:
  // How long the first idle worker spins before it sleeps (see pop_wait).
  static constexpr std::chrono::microseconds kLeadSpin{20};

  Lane* pop_locked() noexcept;

  std::mutex mutex_;
  std::condition_variable ready_;
  Lane* front_ = nullptr;     // guarded by mutex_
  Lane* back_ = nullptr;      // guarded by mutex_
  std::size_t sleepers_ = 0;  // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  std::atomic<std::size_t> size_{0};
  std::atomic<std::size_t> spinning_{0};  // workers in pop_wait's spin
};

}  // namespace courier::detail
