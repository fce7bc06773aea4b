// The stages of an operator pipeline that run on a TimerService: throttle,
// debounce, buffer (operators.hpp documents what each promises). Each keeps
// its state under a mutex of its own, so the bus may call it from several
// executor threads and its timers from the service's thread, and hands its
// output on through a SerialDelivery (one call at a time, in decision order).
// A timer holds only a weak_ptr to its stage: a pipeline that is gone makes
// its timers no-ops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "courier/pipeline/detail/receiver.hpp"
#include "courier/pipeline/detail/serial_delivery.hpp"
#include "courier/pipeline/timer_service.hpp"

namespace courier::detail {

// Delivers what a timer task queued; a throwing sink is reported, since a
// timer task must not throw.
template <class Item>
void deliver_from_timer(SerialDelivery<Item>& output) noexcept {
  try {
    output.deliver();
  } catch (...) {
    report_timer_delivery_failure(std::current_exception());
  }
}

template <class Item>
class ThrottleStage final : public Receiver<Item> {
 public:
  ThrottleStage(TimerService::Duration interval, TimerService& timers,
                std::shared_ptr<Receiver<Item>> next)
      : interval_(interval), timers_(timers), output_(next), next_(std::move(next)) {}

  void receive(const Item& item) override {
    {
      std::lock_guard lock(mutex_);
      const TimerService::TimePoint now = timers_.now();
      if (last_passed_ && now - *last_passed_ < interval_) return;
      last_passed_ = now;
      output_.enqueue(item);
    }
    output_.deliver();
  }

  void close() override {
    output_.close();
    next_->close();
  }

 private:
  const TimerService::Duration interval_;
  TimerService& timers_;
  std::mutex mutex_;
  std::optional<TimerService::TimePoint> last_passed_;  // guarded by mutex_
  SerialDelivery<Item> output_;
  const std::shared_ptr<Receiver<Item>> next_;
};

// Holds the latest item until `delay` passes without another. One timer at a
// time: when it fires early (items came meanwhile), it is set again for the
// new quiet time, rather than one timer per item.
template <class Item>
class DebounceStage final : public Receiver<Item>,
                            public std::enable_shared_from_this<DebounceStage<Item>> {
 public:
  DebounceStage(TimerService::Duration delay, TimerService& timers,
                std::shared_ptr<Receiver<Item>> next)
      : delay_(delay), timers_(timers), output_(next), next_(std::move(next)) {}

  void receive(const Item& item) override {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    latest_ = item;
    quiet_at_ = timers_.now() + delay_;
    if (timer_ == 0) arm_locked();
  }

  void close() override {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      latest_.reset();
      if (timer_ != 0) timers_.cancel(timer_);
    }
    output_.close();
    next_->close();
  }

 private:
  void arm_locked() {
    timer_ = timers_.schedule_at(quiet_at_, [weak = this->weak_from_this()] {
      if (const auto self = weak.lock()) self->fire();
    });
  }

  void fire() {
    {
      std::lock_guard lock(mutex_);
      timer_ = 0;
      if (closed_ || !latest_) return;
      if (timers_.now() < quiet_at_) return arm_locked();
      output_.enqueue(std::move(*latest_));
      latest_.reset();
    }
    deliver_from_timer(output_);
  }

  const TimerService::Duration delay_;
  TimerService& timers_;
  std::mutex mutex_;
  std::optional<Item> latest_;          // guarded by mutex_
  TimerService::TimePoint quiet_at_{};  // guarded by mutex_
  TimerService::TimerId timer_ = 0;     // guarded by mutex_; 0: none armed
  bool closed_ = false;                 // guarded by mutex_
  SerialDelivery<Item> output_;
  const std::shared_ptr<Receiver<Item>> next_;
};

// Gathers items into a batch, handed on when it holds `count` items or
// `interval` after its first item, whichever comes first. An empty batch is
// never handed on.
template <class Item>
class BufferStage final : public Receiver<Item>,
                          public std::enable_shared_from_this<BufferStage<Item>> {
 public:
  using Batch = std::vector<Item>;

  BufferStage(std::size_t count, TimerService::Duration interval, TimerService& timers,
              std::shared_ptr<Receiver<Batch>> next)
      : count_(count),
        interval_(interval),
        timers_(timers),
        output_(next),
        next_(std::move(next)) {}

  void receive(const Item& item) override {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      batch_.push_back(item);
      if (batch_.size() >= count_) {
        flush_locked();
      } else if (batch_.size() == 1) {
        arm_locked();
      }
    }
    output_.deliver();
  }

  void close() override {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      batch_.clear();
      disarm_locked();
    }
    output_.close();
    next_->close();
  }

 private:
  void arm_locked() {
    timer_ = timers_.schedule_after(interval_,
                                    [weak = this->weak_from_this(), generation = ++generation_] {
                                      if (const auto self = weak.lock()) self->fire(generation);
                                    });
  }

  void disarm_locked() {
    if (timer_ != 0) timers_.cancel(timer_);
    timer_ = 0;
  }

  void flush_locked() {
    disarm_locked();
    ++generation_;  // a timer already running for this batch finds it gone
    output_.enqueue(std::exchange(batch_, Batch()));
  }

  void fire(std::uint64_t generation) {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || generation != generation_ || batch_.empty()) return;
      timer_ = 0;
      flush_locked();
    }
    deliver_from_timer(output_);
  }

  const std::size_t count_;
  const TimerService::Duration interval_;
  TimerService& timers_;
  std::mutex mutex_;
  Batch batch_;                      // guarded by mutex_
  TimerService::TimerId timer_ = 0;  // guarded by mutex_; 0: none armed
  std::uint64_t generation_ = 0;     // guarded by mutex_: which batch a timer is for
  bool closed_ = false;              // guarded by mutex_
  SerialDelivery<Batch> output_;
  const std::shared_ptr<Receiver<Batch>> next_;
};

}  // namespace courier::detail
