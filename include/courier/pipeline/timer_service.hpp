/// \file
/// TimerService: the clock and the timers that courier's timing operators
/// (operators.hpp: throttle, debounce, buffer) and waits with a timeout
/// (waiting.hpp) run on.
///
/// Two services implement it: TimerThread (timer_thread.hpp), one thread of
/// its own shared by every timer scheduled on it, for programs; ManualClock
/// (manual_clock.hpp), whose time moves only when told to, for tests. Either
/// costs no thread per subscription: many pipelines share one service.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "courier/detail/export.hpp"

namespace courier {

/// A clock and a set of one-shot timers on it.
///
/// Thread safety: distinct objects: safe. Shared objects: safe; every member
/// may be called from any thread, including from inside a timer's task.
///
/// Lifetime: a service must outlive everything that schedules on it (the
/// pipelines and waits given it), as an Asio io_context must outlive its
/// timers.
class COURIER_EXPORT TimerService {
 public:
  /// Time points are steady_clock's, whatever the service.
  using Clock = std::chrono::steady_clock;
  /// A point in the service's time.
  using TimePoint = Clock::time_point;
  /// A length of the service's time.
  using Duration = Clock::duration;
  /// Names a scheduled timer, for cancel(). Never 0.
  using TimerId = std::uint64_t;

  /// Implementations drop the timers still pending (see each).
  virtual ~TimerService();

  /// The service's time now. Thread-safe. Never blocks.
  virtual TimePoint now() const = 0;

  /// Runs `task` once, at `due` or soon after (at once if `due` has passed),
  /// on the service's own thread of execution (see the implementation), never
  /// inside this call. Timers due at the same time run in the order they were
  /// scheduled. `task` must not throw (std::terminate). Thread-safe.
  virtual TimerId schedule_at(TimePoint due, std::function<void()> task) = 0;

  /// Removes the timer `id`: true if it had not started to run (it never
  /// will), false if it has run, is running or is unknown. Does not wait for
  /// a running task. Thread-safe.
  virtual bool cancel(TimerId id) = 0;

  /// schedule_at(now() + delay, task). Thread-safe.
  TimerId schedule_after(Duration delay, std::function<void()> task) {
    return schedule_at(now() + delay, std::move(task));
  }

 protected:
  ///@{
  /// For implementations only (an interface is not made or copied by itself).
  TimerService() = default;
  TimerService(const TimerService&) = default;
  TimerService& operator=(const TimerService&) = default;
  ///@}
};

}  // namespace courier
