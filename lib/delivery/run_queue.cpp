#include "courier/detail/delivery/run_queue.hpp"

#include "courier/detail/spin.hpp"

namespace courier::detail {

void RunQueue::push(Lane& lane) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    lane.next_ready = nullptr;
    if (back_ != nullptr) {
      back_->next_ready = &lane;
    } else {
      front_ = &lane;
    }
    back_ = &lane;
    const std::size_t waiting = size_.fetch_add(1, std::memory_order_relaxed) + 1;
    // A spinning worker takes the lane without a wake-up (a system call that
    // also preempts this thread on a busy machine); wake a sleeper only for
    // lanes the spinners cannot cover. A spinner that stops spinning re-checks
    // the queue under the mutex before it sleeps, so nothing is stranded.
    wake = sleepers_ != 0 && waiting > spinning_.load(std::memory_order_relaxed);
  }
  if (wake) ready_.notify_one();
}

Lane* RunQueue::pop_locked() noexcept {
  Lane* lane = front_;
  if (lane == nullptr) return nullptr;
  front_ = lane->next_ready;
  if (front_ == nullptr) back_ = nullptr;
  size_.fetch_sub(1, std::memory_order_relaxed);
  return lane;
}

Lane* RunQueue::pop_wait() {
  // A spin catches the next hand-off without a sleep and a wake-up, which cost
  // microseconds each (8 us on a virtual machine of the benchmarks). The first
  // worker to run out of work spins for up to kLeadSpin, long enough to catch
  // events that come tens of microseconds apart; the others stop after a short
  // spin, so that at most one of this bus's workers spins long. Both are
  // bounded: a bus at rest sleeps.
  const bool lead = spinning_.fetch_add(1, std::memory_order_relaxed) == 0;
  const auto waiting = [this] { return has_waiting(); };
  if (!spin_until(waiting) && lead) spin_for(kLeadSpin, waiting);
  spinning_.fetch_sub(1, std::memory_order_relaxed);
  std::unique_lock lock(mutex_);
  for (;;) {
    if (Lane* lane = pop_locked()) return lane;
    if (stopping_) return nullptr;
    ++sleepers_;
    ready_.wait(lock);
    --sleepers_;
  }
}

void RunQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
}

}  // namespace courier::detail
