/// \file
/// ManualClock: a TimerService whose time moves only when told to, so that
/// tests of timing operators and timeouts need no sleep.
///
/// \code
///   courier::ManualClock clock;
///   bus.subscribe<int>("n", courier::pipe<int>(courier::debounce(100ms, clock), sink));
///   bus.post<int>("n", 1);
///   bus.wait_idle();
///   clock.advance(100ms);  // the debounced event reaches `sink` inside this call
/// \endcode
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>

#include "courier/detail/export.hpp"
#include "courier/pipeline/timer_service.hpp"

namespace courier {

namespace detail {
class TimerQueue;
}  // namespace detail

/// A TimerService driven by hand: now() stays put until advance() moves it,
/// and timers run inside advance(), on the thread that calls it.
///
/// Thread safety: distinct objects: safe. Shared objects: safe; advance()
/// calls from several threads run one after the other.
class COURIER_EXPORT ManualClock final : public TimerService {
 public:
  /// A clock at `start` (by default steady_clock's epoch), with no timer.
  explicit ManualClock(TimePoint start = TimePoint{});
  /// Drops the timers still pending, without running them.
  ~ManualClock() override;
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  /// The clock's time. Thread-safe. Never blocks for long.
  TimePoint now() const override;
  /// See TimerService::schedule_at: the task runs inside the advance() that
  /// reaches `due` (or the next advance(), even by zero, if `due` has passed).
  /// Thread-safe.
  TimerId schedule_at(TimePoint due, std::function<void()> task) override;
  /// See TimerService::cancel. Thread-safe.
  bool cancel(TimerId id) override;

  /// Moves the time forward by `delay`, running every timer that falls due on
  /// the way, on this thread, in due order (ties in schedule order), with
  /// now() at its due time while it runs; a timer scheduled by a task and due
  /// within the advance runs too. Returns once now() is the old time plus
  /// `delay` and no timer is due. Thread-safe: concurrent calls take turns;
  /// not from inside one of this clock's tasks (it would wait for itself).
  /// Throws std::invalid_argument, naming it, for a negative `delay`.
  void advance(Duration delay);

  /// The timers scheduled and not yet run nor cancelled. Thread-safe.
  std::size_t pending() const;

 private:
  mutable std::mutex mutex_;
  TimePoint now_;                               // guarded by mutex_
  std::unique_ptr<detail::TimerQueue> timers_;  // guarded by mutex_
  std::mutex advancing_;                        // one advance() at a time
};

}  // namespace courier
