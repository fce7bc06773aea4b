#include "courier/pipeline/manual_clock.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

#include "timer_queue.hpp"

namespace courier {

ManualClock::ManualClock(TimePoint start)
    : now_(start), timers_(std::make_unique<detail::TimerQueue>()) {}

ManualClock::~ManualClock() = default;

TimerService::TimePoint ManualClock::now() const {
  std::lock_guard lock(mutex_);
  return now_;
}

TimerService::TimerId ManualClock::schedule_at(TimePoint due, std::function<void()> task) {
  std::lock_guard lock(mutex_);
  return timers_->add(due, std::move(task));
}

bool ManualClock::cancel(TimerId id) {
  std::lock_guard lock(mutex_);
  return timers_->remove(id);
}

void ManualClock::advance(Duration delay) {
  if (delay < Duration::zero()) {
    throw std::invalid_argument(
        "courier: ManualClock::advance by a negative delay: " +
        std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count()) +
        " ns");
  }
  std::lock_guard turn(advancing_);
  std::unique_lock lock(mutex_);
  const TimePoint end = now_ + delay;
  for (;;) {
    auto due = timers_->take_due(end);
    if (!due) break;
    if (due->first > now_) now_ = due->first;
    lock.unlock();
    due->second();  // without the lock: a task may schedule, cancel or read now()
    due.reset();    // its captures too
    lock.lock();
  }
  now_ = end;
}

std::size_t ManualClock::pending() const {
  std::lock_guard lock(mutex_);
  return timers_->size();
}

}  // namespace courier
