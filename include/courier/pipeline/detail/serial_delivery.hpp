// SerialDelivery: the output side of a stateful operator, courier's
// operator-level strand. Items queued in one order reach the next stage in
// that order, one call at a time, from whichever thread finds nobody
// delivering (a bus executor or the timer service's thread), and no thread
// ever waits for another's delivery except close().
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "courier/pipeline/detail/receiver.hpp"

namespace courier::detail {

template <class Item>
class SerialDelivery {
 public:
  explicit SerialDelivery(std::shared_ptr<Receiver<Item>> next) : next_(std::move(next)) {}

  // The caller holds its stage's lock, so that items queue in the order the
  // stage decided on them.
  void enqueue(Item item) {
    std::lock_guard lock(mutex_);
    if (!closed_) queue_.push_back(std::move(item));
  }

  // Hands the queued items to the next stage, unless another thread is doing
  // so already (it will hand over these too). An exception from the next
  // stage propagates; the items after it wait for the next deliver().
  void deliver() {
    std::unique_lock lock(mutex_);
    if (delivering_) return;
    delivering_ = true;
    deliverer_ = std::this_thread::get_id();
    try {
      while (!closed_ && !queue_.empty()) {
        Item item = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        next_->receive(item);
        lock.lock();
      }
    } catch (...) {
      if (!lock.owns_lock()) lock.lock();
      finish_delivering();
      throw;
    }
    finish_delivering();
  }

  // Drops what is queued; once it returns no call to the next stage runs or
  // starts, except one on the calling thread (a stage that closes its own
  // pipeline), which it cannot wait for.
  void close() {
    std::unique_lock lock(mutex_);
    closed_ = true;
    queue_.clear();
    idle_.wait(lock, [this] { return !delivering_ || deliverer_ == std::this_thread::get_id(); });
  }

 private:
  void finish_delivering() {
    delivering_ = false;
    idle_.notify_all();
  }

  const std::shared_ptr<Receiver<Item>> next_;
  std::mutex mutex_;
  std::condition_variable idle_;
  std::deque<Item> queue_;     // guarded by mutex_
  bool delivering_ = false;    // guarded by mutex_
  std::thread::id deliverer_;  // guarded by mutex_
  bool closed_ = false;        // guarded by mutex_
};

}  // namespace courier::detail
