// Helpers shared by courier's tests: blocking primitives with bounded waits
// (a test that goes wrong fails instead of hanging), a probe that measures how
// many invocations run at once, and a subscriber that records what it gets.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <future>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "courier/event_bus.hpp"

namespace courier_test {

// How long a test waits for something that should happen promptly before it
// declares failure.
inline constexpr std::chrono::seconds kBoundedWait{10};

// How long a test watches something that should NOT happen (a blocked call
// returning) before it concludes that it is blocked.
inline constexpr std::chrono::milliseconds kStillBlocked{100};

// A one-shot gate: wait() blocks until open() is called. Waits are bounded:
// a wait that times out records a test failure and returns.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }

  bool is_open() const {
    std::lock_guard lock(mutex_);
    return open_;
  }

  // True if the gate opened within `timeout`.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    std::unique_lock lock(mutex_);
    return opened_.wait_for(lock, timeout, [this] { return open_; });
  }

  // Waits for the gate to open. If it stays closed for kBoundedWait, records a
  // failure and opens it, so that a broken test fails instead of hanging.
  void wait() {
    if (wait_for(kBoundedWait)) return;
    ADD_FAILURE() << "a gate stayed closed for " << kBoundedWait.count() << " s";
    open();
  }

  // Opens the gate when the returned guard goes out of scope, so that a test
  // failing early does not leave handlers blocked. Declare it after the bus.
  class OpenOnExit {
   public:
    explicit OpenOnExit(Gate& gate) : gate_(gate) {}
    OpenOnExit(const OpenOnExit&) = delete;
    OpenOnExit& operator=(const OpenOnExit&) = delete;
    ~OpenOnExit() { gate_.open(); }

   private:
    Gate& gate_;
  };
  [[nodiscard]] OpenOnExit open_on_exit() { return OpenOnExit(*this); }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable opened_;
  bool open_ = false;
};

// Counts down from `count`; wait_for() is bounded, unlike std::latch::wait().
class Countdown {
 public:
  explicit Countdown(std::size_t count) : remaining_(count) {}

  void count_down() {
    {
      std::lock_guard lock(mutex_);
      if (remaining_ > 0) --remaining_;
    }
    changed_.notify_all();
  }

  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return remaining_ == 0; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::size_t remaining_;
};

// Measures how many invocations run at once: each holds a Probe::Inside for
// as long as it runs.
class ConcurrencyProbe {
 public:
  class Inside {
   public:
    explicit Inside(ConcurrencyProbe& probe) : probe_(probe) {
      const int now = probe_.running_.fetch_add(1) + 1;
      int seen = probe_.max_running_.load();
      while (now > seen && !probe_.max_running_.compare_exchange_weak(seen, now)) {
      }
    }
    Inside(const Inside&) = delete;
    Inside& operator=(const Inside&) = delete;
    ~Inside() { probe_.running_.fetch_sub(1); }

   private:
    ConcurrencyProbe& probe_;
  };

  int max_running() const { return max_running_.load(); }

 private:
  std::atomic<int> running_{0};
  std::atomic<int> max_running_{0};
};

// Lets each arrival wait (bounded) until `expected` arrivals are inside at
// once. Once that happened, or one wait timed out, nobody waits any more.
class Rendezvous {
 public:
  explicit Rendezvous(int expected) : expected_(expected) {}

  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    if (++inside_ >= expected_) met_ = true;
    changed_.notify_all();
    if (!changed_.wait_for(lock, kBoundedWait, [this] { return met_ || given_up_; })) {
      given_up_ = true;
    }
    --inside_;
  }

  bool met() const {
    std::lock_guard lock(mutex_);
    return met_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  const int expected_;
  int inside_ = 0;
  bool met_ = false;
  bool given_up_ = false;
};

// A list that handlers on any thread append to and the test reads.
template <class T>
class SharedLog {
 public:
  void add(T entry) {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(entry));
  }
  std::vector<T> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<T> entries_;
};

// A subscriber that records the payload and topic of every event it gets, in
// the order it gets them.
template <class T>
class RecordingSubscriber : public courier::Subscriber<T> {
 public:
  explicit RecordingSubscriber(courier::Concurrency concurrency = courier::Concurrency::Serial)
      : courier::Subscriber<T>(concurrency) {}

  void process(const courier::Event<T>& event) override {
    std::lock_guard lock(mutex_);
    received_.push_back(event.data());
    topics_.emplace_back(event.topic());
  }

  std::vector<T> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::vector<std::string> topics() const {
    std::lock_guard lock(mutex_);
    return topics_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<T> received_;
  std::vector<std::string> topics_;
};

// A RecordingSubscriber whose every invocation first announces that it
// started, then waits for `gate` before recording the event: a slow
// subscriber the test controls.
template <class T>
class GatedSubscriber : public RecordingSubscriber<T> {
 public:
  explicit GatedSubscriber(Gate& gate,
                           courier::Concurrency concurrency = courier::Concurrency::Serial)
      : RecordingSubscriber<T>(concurrency), gate_(gate) {}

  void process(const courier::Event<T>& event) override {
    started_.open();
    gate_.wait();
    RecordingSubscriber<T>::process(event);
  }

  // True once an invocation has started (within the bounded wait).
  bool wait_until_started() const { return started_.wait_for(kBoundedWait); }

 private:
  Gate& gate_;
  Gate started_;
};

// 0, 1, ..., count - 1.
inline std::vector<int> iota_vector(int count) {
  std::vector<int> values(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) values[static_cast<std::size_t>(i)] = i;
  return values;
}

// Runs `task` on a thread of its own; the future reports its result or exception.
template <class F>
auto run_on_thread(F&& task) {
  return std::async(std::launch::async, std::forward<F>(task));
}

// Success if `text` occurs in `message` (which the failure message shows).
inline ::testing::AssertionResult mentions(const std::string& message, const std::string& text) {
  if (message.find(text) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << message << "\" does not mention \"" << text << "\"";
}

template <class T>
bool finishes_promptly(const std::future<T>& future) {
  return future.wait_for(kBoundedWait) == std::future_status::ready;
}

template <class T>
bool still_blocked(const std::future<T>& future) {
  return future.wait_for(kStillBlocked) == std::future_status::timeout;
}

}  // namespace courier_test
