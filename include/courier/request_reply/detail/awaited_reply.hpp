// AwaitedReply: one request's outcome, handed from the thread that finishes
// the request (an executor running the inbox, the timer thread, the thread
// destroying the Requester) to the one thread waiting in Requester::call.
//
// Why not a std::promise: its future sleeps at once, and a sleep plus a
// wake-up (two system calls and a trip through the scheduler) cost more than
// a whole round trip on a bus whose executors are awake; their idle workers
// spin for a while (RunQueue::kLeadSpin), so a server's reply usually comes
// within microseconds. So the waiter spins for kSpinBeforeSleep first, and
// only then sleeps on the flag (C++20 atomic wait), which finish() wakes.
//
// Both sides hold the object through a shared_ptr: finish() may still be
// notifying when the waiter has already returned.
//
// The waiter moves the error out before it rethrows it, so that the exception
// is owned, and in the end destroyed, by the waiting thread alone. (libstdc++
// counts an exception_ptr's references in code ThreadSanitizer does not see;
// an exception freed by the other side would be reported as a race.)
//
// Thread safety: finish() once, from any thread; take() once, from the
// waiting thread.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include "courier/detail/spin.hpp"
#include "courier/event.hpp"

namespace courier::detail {

template <class Rep>
class AwaitedReply {
 public:
  static constexpr std::chrono::microseconds kSpinBeforeSleep{50};

  void finish(std::exception_ptr error, std::optional<Event<Rep>> reply) {
    error_ = std::move(error);
    reply_ = std::move(reply);
    done_.store(true, std::memory_order_release);
    done_.notify_one();
  }

  // Waits for finish(); its reply, or its error thrown.
  Event<Rep> take() {
    if (!spin_for(kSpinBeforeSleep, [this] { return done_.load(std::memory_order_acquire); })) {
      done_.wait(false, std::memory_order_acquire);
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return std::move(*reply_);
  }

 private:
  std::atomic<bool> done_{false};
  std::exception_ptr error_;         // written before done_, read after it
  std::optional<Event<Rep>> reply_;  // likewise
};

}  // namespace courier::detail
