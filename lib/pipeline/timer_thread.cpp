#include "courier/pipeline/timer_thread.hpp"

#include <utility>

#include "timer_queue.hpp"

namespace courier {

TimerThread::TimerThread()
    : timers_(std::make_unique<detail::TimerQueue>()), thread_([this] { run(); }) {}

TimerThread::~TimerThread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

TimerService::TimePoint TimerThread::now() const { return Clock::now(); }

TimerService::TimerId TimerThread::schedule_at(TimePoint due, std::function<void()> task) {
  TimerId id = 0;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    id = timers_->add(due, std::move(task));
    wake = due < sleeping_until_;
  }
  if (wake) changed_.notify_all();
  return id;
}

bool TimerThread::cancel(TimerId id) {
  std::lock_guard lock(mutex_);
  return timers_->remove(id);
}

std::size_t TimerThread::pending() const {
  std::lock_guard lock(mutex_);
  return timers_->size();
}

TimerThread& shared_timer_thread() {
  // Never destroyed: see the header.
  static TimerThread* const timers = new TimerThread();  // NOLINT(cppcoreguidelines-owning-memory)
  return *timers;
}

void TimerThread::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    sleeping_until_ = TimePoint::min();
    if (auto due = timers_->take_due(Clock::now())) {
      lock.unlock();
      due->second();  // without the lock: a task may schedule or cancel timers
      due.reset();    // its captures go before the lock is taken again
      lock.lock();
      continue;
    }
    if (const auto earliest = timers_->earliest()) {
      sleeping_until_ = *earliest;
      changed_.wait_until(lock, *earliest);
    } else {
      sleeping_until_ = TimePoint::max();
      changed_.wait(lock);
    }
  }
  // Dropped without the lock: a task's captures may cancel timers as they go.
  detail::TimerQueue dropped = std::move(*timers_);
  lock.unlock();
}

}  // namespace courier
