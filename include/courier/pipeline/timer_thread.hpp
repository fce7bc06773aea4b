/// \file
/// TimerThread: a TimerService that runs every timer scheduled on it on one
/// thread of its own, however many pipelines and waits share it.
///
/// \code
///   courier::TimerThread timers;  // declare it before the bus: it must outlive it
///   courier::EventBus bus;
///   bus.subscribe<int>("c.*", courier::pipe<int>(courier::buffer(1000, 1s, timers), sink));
/// \endcode
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "courier/detail/export.hpp"
#include "courier/pipeline/timer_service.hpp"

namespace courier {

namespace detail {
class TimerQueue;
}  // namespace detail

/// A TimerService on steady_clock: one thread, started by the constructor,
/// runs each timer's task when it falls due, one at a time, in due order
/// (ties in schedule order). A task that runs long delays the ones after it.
///
/// Thread safety: distinct objects: safe. Shared objects: safe; destroying
/// the service while another thread uses it, or from one of its own tasks,
/// is not.
class COURIER_EXPORT TimerThread final : public TimerService {
 public:
  /// Starts the thread.
  TimerThread();
  /// Stops the thread, waiting for a task that is running to return; timers
  /// still pending are dropped without running.
  ~TimerThread() override;
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  /// steady_clock::now(). Thread-safe. Never blocks.
  TimePoint now() const override;
  /// See TimerService::schedule_at: the task runs on the service's thread.
  /// Thread-safe.
  TimerId schedule_at(TimePoint due, std::function<void()> task) override;
  /// See TimerService::cancel. Thread-safe.
  bool cancel(TimerId id) override;

  /// The timers scheduled and not yet run nor cancelled. Thread-safe.
  std::size_t pending() const;

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::unique_ptr<detail::TimerQueue> timers_;  // guarded by mutex_
  bool stopping_ = false;                       // guarded by mutex_
  // What the thread sleeps until: schedule_at wakes it only for a timer due
  // before that (a wake per timer would cost a context switch each, while
  // timers scheduled later than the earliest are the common case). The
  // clock's minimum while it is awake, which never wakes it: it looks at
  // the queue again before it sleeps. Guarded by mutex_.
  TimePoint sleeping_until_ = TimePoint::min();
  std::thread thread_;
};

/// A TimerThread for the whole program, started on first use and never
/// destroyed (so that pipelines and waits ended during static destruction
/// still find it): the default of next_event and subscribe_until.
/// Thread-safe.
COURIER_EXPORT TimerThread& shared_timer_thread();

}  // namespace courier
