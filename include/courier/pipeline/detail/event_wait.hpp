// EventWait: one wait for the next matching event (waiting.hpp), finished
// exactly once, by the first matching event or by its timeout, whichever
// comes first. Its temporary subscription is cancelled before the waiter
// learns the outcome, so a waiter that sees it finds the subscription gone.
//
// Thread safety: finish() and attach() may run on any thread, at once.
#pragma once

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "courier/event.hpp"
#include "courier/pipeline/timer_service.hpp"
#include "courier/subscription.hpp"

namespace courier::detail {

template <class T>
class EventWait {
 public:
  explicit EventWait(TimerService& timers) : timers_(timers) {}
  virtual ~EventWait() = default;
  EventWait(const EventWait&) = delete;
  EventWait& operator=(const EventWait&) = delete;

  // The subscription and timeout timer, once both exist. If the wait
  // finished before (an event or the timeout came first), it is settled now.
  void attach(Subscription subscription, TimerService::TimerId timer) {
    {
      std::lock_guard lock(mutex_);
      attached_ = true;
      if (!finished_) {
        subscription_ = std::move(subscription);
        timer_ = timer;
        return;
      }
    }
    settle(std::move(subscription), timer);
  }

  // The first call wins; later ones do nothing.
  void finish(std::exception_ptr error, std::optional<Event<T>> event) {
    Subscription subscription;
    TimerService::TimerId timer = 0;
    {
      std::lock_guard lock(mutex_);
      if (finished_) return;
      finished_ = true;
      error_ = std::move(error);
      event_ = std::move(event);
      if (!attached_) return;  // attach() settles it
      subscription = std::move(subscription_);
      timer = timer_;
    }
    settle(std::move(subscription), timer);
  }

 protected:
  // Called once, after the subscription is gone.
  virtual void complete(std::exception_ptr error, std::optional<Event<T>> event) = 0;

 private:
  // Not under the lock: cancelling from outside the bus's handlers waits for
  // a running handler, which may be in finish(), waiting for the lock.
  void settle(Subscription subscription, TimerService::TimerId timer) {
    subscription.cancel();
    if (timer != 0) timers_.cancel(timer);
    complete(std::move(error_), std::move(event_));  // finished_: nobody else touches them
  }

  TimerService& timers_;
  std::mutex mutex_;
  bool finished_ = false;            // guarded by mutex_
  bool attached_ = false;            // guarded by mutex_
  Subscription subscription_;        // guarded by mutex_
  TimerService::TimerId timer_ = 0;  // guarded by mutex_
  std::exception_ptr error_;         // written once, under mutex_, before settle()
  std::optional<Event<T>> event_;    // the same
};

template <class T, class Completion>
class EventWaitFor final : public EventWait<T> {
 public:
  EventWaitFor(TimerService& timers, Completion completion)
      : EventWait<T>(timers), completion_(std::move(completion)) {}

 private:
  void complete(std::exception_ptr error, std::optional<Event<T>> event) override {
    std::move(completion_)(std::move(error), std::move(event));
  }

  Completion completion_;
};

}  // namespace courier::detail
