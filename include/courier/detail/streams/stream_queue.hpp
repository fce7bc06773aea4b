// StreamQueue: the bounded queue between a pull stream's subscription (the
// bus side, which offers events) and its consumer (stream.hpp).
//
// The bus offers each event matching the stream's patterns through
// StreamHandler::invoke, on an executor (or on the posting thread of a
// synchronous bus). Offer and take meet under one mutex; the consumer waits
// on a condition variable (next), or leaves one Asio completion handler
// (async_next) that the next offer completes.
//
// When the queue is full the overflow policy decides:
//   DropNewest  the offered event is dropped;
//   DropOldest  the oldest queued event is dropped and the new one queued;
//   Block       on an asynchronous bus the offer is declined: the bus keeps
//               the event where it is, in the stream's lane, and parks the
//               lane (BusCore::park), so no executor thread waits, the
//               event keeps its slot of the bus's bounded queue (which is
//               how backpressure reaches post()), and the stream's later
//               events wait behind it in order. The consumer's next take
//               resumes the lane (BusCore::resume_deliveries). On a
//               synchronous bus there is no lane to park: the posting
//               thread waits until the consumer makes room.
// Depth 0 with Block is a rendezvous: an offer is taken only while the
// consumer waits in next() or async_next(), and a consumer that starts to
// wait resumes the lane.
//
// Batches. Meeting the bus under the mutex for every event would make the
// consumer and the delivering executor trade the mutex's cache line (and
// often a wake-up) per event. So, on an asynchronous bus, a consumer that
// finds events queued moves them all over at once, under the mutex, into
// its batch, and takes them from there one by one without it. The batch
// still counts against the depth: `batch_taken_` says how many of it were
// taken, and the consumer claims each event by compare-exchange on it, as
// does a DropOldest offer that drops the oldest event (the batch's next
// one: the consumer then skips it), and close() (which marks the batch
// closed). A Block offer that finds the queue full flags its decline and
// then looks at `batch_taken_` again, while the consumer claims an event and
// then looks at the flag, all sequentially consistent: one of them sees the
// other, so a take that makes room while the bus declines always resumes
// the lane.
//
// Counters (guarded by the mutex, batch_taken_ read under it):
// received = delivered + dropped + depth, exactly, at every instant the
// mutex is free. A declined offer is not received yet: it is offered again.
//
// The queue ends when the consumer closes the stream (what is queued is
// dropped) or when the bus has shut down (what is queued is still handed
// out, then the consumer sees the end).
//
// An async waiter is numbered. Its heartbeat timer and its cancellation slot
// (Asio's per-operation cancellation) both end the wait through that number,
// under the mutex, so that a late timer or signal meant for a waiter that an
// offer already completed ends nothing: the event it got still reaches it.
//
// Thread safety: every member is safe from any thread. One consumer per
// stream is the contract (stream.hpp); a second one is safe (consumer calls
// take turns on `consumer_lock_`: a second next() waits while the first
// waits), but no order between them is promised.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "courier/detail/delivery/exclusive_lock.hpp"
#include "courier/detail/delivery/handler.hpp"
#include "courier/detail/delivery/subscriber_core.hpp"
#include "courier/detail/export.hpp"
#include "courier/detail/spin.hpp"
#include "courier/detail/streams/async_waiter.hpp"
#include "courier/detail/streams/stream_source.hpp"
#include "courier/event.hpp"
#include "courier/stream_options.hpp"

namespace courier::detail {

class BusCore;

// The non-template half: counters, state, waking, resuming, drop reports.
class COURIER_EXPORT StreamQueueBase {
 public:
  using Clock = std::chrono::steady_clock;

  explicit StreamQueueBase(const StreamOptions& options, bool synchronous_bus);
  virtual ~StreamQueueBase() = default;
  StreamQueueBase(const StreamQueueBase&) = delete;
  StreamQueueBase& operator=(const StreamQueueBase&) = delete;

  // Set once by the bus before the first offer: resumes the parked lane (from
  // the consumer's thread, the bus perhaps gone), and reports a drop (topic,
  // count dropped so far by this stream; only from offer(), that is from
  // within the bus's delivery).
  void connect(std::function<void()> resume,
               std::function<void(std::string_view topic, std::uint64_t dropped)> report_drop);

  // The bus shut down: no offer will come; the consumer's waits end once
  // the queue is empty.
  virtual void end() = 0;
  // The bus began to shut down: it accepts no more events and delivers
  // those it holds.
  virtual void bus_closing() {}
  // A stream whose consumer drains its lane itself (lane_stream.hpp) gives
  // the bus its LanePuller, and learns its bus and subscriber, before the
  // subscriber is first routed to.
  virtual std::shared_ptr<LanePuller> puller() { return nullptr; }
  virtual void attach(std::weak_ptr<BusCore> /*bus*/,
                      std::weak_ptr<SubscriberCore> /*subscriber*/) {}

 protected:
  // mutex_ held: whether an async consumer waits.
  bool waiter_waits_locked() const noexcept { return waiter_ != nullptr; }
  // mutex_ held: stores `waiter` as the one waiting, numbered, its heartbeat
  // due one heartbeat after the last activity; `self` is this source, for
  // the heartbeat and cancellation callbacks (a no-op once it is gone, or
  // once that waiter no longer waits).
  void store_waiter_locked(std::unique_ptr<AsyncWaiterBase> waiter,
                           std::weak_ptr<StreamQueueBase> self);
  // mutex_ held: the waiting waiter, taken out; nullptr if none waits.
  std::unique_ptr<AsyncWaiterBase> take_waiter_locked() noexcept {
    if (waiter_ != nullptr) --waiting_;
    return std::move(waiter_);
  }
  enum class Wait { News, Heartbeat, TimedOut };
  // mutex_ held through `lock`: sleeps on changed_ until `news()` holds, a
  // heartbeat is due (`beats`: one heartbeat after the last activity, which
  // then counts as activity) or `deadline` passed.
  template <class News>
  Wait wait_locked(std::unique_lock<std::mutex>& lock, std::optional<Clock::time_point> deadline,
                   bool beats, News news) {
    for (;;) {
      if (news()) return Wait::News;
      const Clock::time_point now = Clock::now();
      std::optional<Clock::time_point> wake = deadline;
      if (beats) {
        const Clock::time_point beat = last_activity_ + options_.heartbeat;
        if (now >= beat) {
          last_activity_ = now;
          return Wait::Heartbeat;
        }
        if (!wake || beat < *wake) wake = beat;
      }
      if (deadline && now >= *deadline) return Wait::TimedOut;
      if (wake) {
        changed_.wait_until(lock, *wake);
      } else {
        changed_.wait(lock);
      }
    }
  }
  // Called with the mutex held: whether an offer fits now.
  bool has_room(std::size_t queued) const noexcept;
  // After a take (mutex released): resumes the bus's lane if it declined.
  void after_take(bool resume) const;

  const StreamOptions options_;
  const bool synchronous_bus_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t waiting_ = 0;                         // consumers waiting now; guarded by mutex_
  bool closed_ = false;                             // guarded by mutex_
  bool ended_ = false;                              // guarded by mutex_
  Clock::time_point last_activity_ = Clock::now();  // guarded by mutex_
  std::function<void()> resume_;                    // set once, before offers
  std::function<void(std::string_view, std::uint64_t)> report_drop_;

 private:
  // Waiter number `number`'s heartbeat is due: a heartbeat, if it still
  // waits (an arrival completes it with the event instead).
  void heartbeat_due(std::uint64_t number);
  // Waiter number `number` was cancelled: operation_aborted if it still
  // waits; if an event reached it first, its completion carries the event.
  void cancel_waiter(std::uint64_t number);

  std::unique_ptr<AsyncWaiterBase> waiter_;  // the one async consumer waiting; guarded
  std::uint64_t waiter_number_ = 0;          // counts the waiters stored; guarded
};

template <class T>
class StreamQueue final : public StreamQueueBase,
                          public StreamSource<T>,
                          public std::enable_shared_from_this<StreamQueue<T>> {
 public:
  using Clock = StreamQueueBase::Clock;
  using StreamQueueBase::StreamQueueBase;

  // The bus side. False: declined (Block, full, asynchronous bus).
  bool offer(const Event<T>& event, const SmallText* topic) override;
  std::optional<Taken<T>> take(std::optional<Clock::time_point> deadline, bool heartbeats) override;
  std::optional<Event<T>> take_at_hand() override;
  std::optional<Outcome<T>> poll() override {
    const BiasedGuard consuming(consumer_lock_);
    std::unique_lock lock(mutex_, std::defer_lock);
    return poll_consuming(lock);
  }
  void take_async(std::unique_ptr<AsyncWaiter<T>> waiter) override;

  bool closed() const override {
    const std::lock_guard lock(mutex_);
    return closed_;
  }

  StreamStats stats() const override {
    const std::lock_guard lock(mutex_);
    const BatchCount batch = batch_count_locked();
    return {received_, delivered_ + batch.taken - batch_dropped_, dropped_,
            events_.size() + batch.remaining};
  }

  // See StreamQueueBase::close and end; these also finish an async waiter.
  bool close() override {
    std::unique_lock lock(mutex_);
    if (closed_) return false;
    closed_ = true;
    news_.store(true, std::memory_order_release);
    // The consumer's batch ends here too: what it has not taken is dropped,
    // and a take racing with this finds the mark.
    const std::uint64_t taken = batch_taken_.exchange(kBatchClosed, std::memory_order_seq_cst);
    closed_batch_taken_ = std::min<std::uint64_t>(taken, batch_size_);
    dropped_ += batch_size_ - closed_batch_taken_ + events_.size();
    events_.clear();
    finish_waiter(lock, boost::asio::error::operation_aborted);
    return true;
  }
  void end() override {
    std::unique_lock lock(mutex_);
    ended_ = true;
    news_.store(true, std::memory_order_release);
    if (events_.empty()) return finish_waiter(lock, boost::asio::error::eof);
    lock.unlock();
    changed_.notify_all();
  }

 private:
  // What the consumer's batch holds: taken (delivered or dropped from it)
  // and remaining.
  struct BatchCount {
    std::uint64_t taken;
    std::uint64_t remaining;
  };
  static constexpr std::uint64_t kBatchClosed = ~std::uint64_t{0};
  static constexpr std::chrono::microseconds kSpinBeforeSleep{20};

  // Consumer side, without the mutex: whether events were queued (or the
  // queue ended) since the consumer last looked; a hint, checked under it.
  bool has_news() const noexcept { return news_.load(std::memory_order_acquire); }

  BatchCount batch_count_locked() const noexcept {
    const std::uint64_t taken = batch_taken_.load(std::memory_order_seq_cst);
    if (taken == kBatchClosed) return {closed_batch_taken_, 0};
    const std::uint64_t clamped = std::min<std::uint64_t>(taken, batch_size_);
    return {clamped, batch_size_ - clamped};
  }
  std::size_t held_locked() const noexcept {
    return events_.size() + static_cast<std::size_t>(batch_count_locked().remaining);
  }

  // Consumer side, without the mutex: the next event of the batch, if any;
  // sets `resume` if the bus declined an offer for want of the room this
  // take makes.
  std::optional<Event<T>> pop_from_batch(bool& resume) {
    std::uint64_t taken = batch_taken_.load(std::memory_order_acquire);
    while (taken < batch_size_) {
      if (batch_taken_.compare_exchange_weak(taken, taken + 1, std::memory_order_seq_cst,
                                             std::memory_order_acquire)) {
        // seq_cst on both sides (see offer): either the bus sees this room or
        // this thread sees its decline.
        resume = declined_.load(std::memory_order_seq_cst) &&
                 declined_.exchange(false, std::memory_order_seq_cst);
        return std::move(batch_[static_cast<std::size_t>(taken)]);
      }
    }
    return std::nullopt;
  }
  // Consumer side, consumer_lock_ held, without the mutex: the next event of
  // a batching stream's batch, if any, handing the lane back to the bus if
  // this take made the room it waited for.
  std::optional<Event<T>> take_from_batch() {
    if (!batching_) return std::nullopt;
    bool resume = false;
    std::optional<Event<T>> event = pop_from_batch(resume);
    if (event) after_take(resume);
    return event;
  }
  // Consumer side, with the mutex held, once the batch is used up: the
  // events queued since become the batch.
  void refill_batch_locked() {
    if (batch_taken_.load(std::memory_order_relaxed) == kBatchClosed) return;
    delivered_ += batch_size_ - batch_dropped_;
    batch_dropped_ = 0;
    batch_.clear();
    batch_.swap(events_);
    batch_size_ = batch_.size();
    batch_taken_.store(0, std::memory_order_release);
    news_.store(false, std::memory_order_relaxed);
  }
  // With the mutex held, the queue full: drops its oldest event, which is in
  // the consumer's batch if that holds any. False if the consumer took
  // everything meanwhile: there is room now, nothing to drop.
  bool drop_oldest_locked() {
    std::uint64_t taken = batch_taken_.load(std::memory_order_acquire);
    while (taken < batch_size_) {
      if (batch_taken_.compare_exchange_weak(taken, taken + 1, std::memory_order_seq_cst,
                                             std::memory_order_acquire)) {
        ++batch_dropped_;
        ++dropped_;
        return true;
      }
    }
    if (events_.empty()) return false;
    events_.pop_front();
    ++dropped_;
    return true;
  }
  // With the mutex held: the front event, counted as delivered.
  Taken<T> pop_locked() {
    Taken<T> taken{std::move(events_.front())};
    events_.pop_front();
    ++delivered_;
    last_activity_ = Clock::now();
    return taken;
  }
  // pop_locked(), then releases `lock`, wakes a synchronous offer that may
  // wait for room, and hands the lane back to the bus if it waited for room.
  Taken<T> pop_and_unlock(std::unique_lock<std::mutex>& lock) {
    Taken<T> taken = pop_locked();
    const bool resume = declined_.exchange(false, std::memory_order_seq_cst);
    lock.unlock();
    if (synchronous_bus_) changed_.notify_all();
    after_take(resume);
    return taken;
  }
  // Ends the wait of an async waiter, if any, with `error`; releases `lock`.
  void finish_waiter(std::unique_lock<std::mutex>& lock, boost::system::error_code error) {
    std::unique_ptr<AsyncWaiterBase> waiter = take_waiter_locked();
    lock.unlock();
    changed_.notify_all();
    if (waiter != nullptr) waiter->finish(error);
  }
  // Consumer side, consumer_lock_ held, `lock` (on mutex_) not: the next
  // event, the end (operation_aborted once closed, eof once ended and
  // empty), or nothing for now, and then `lock` is held.
  std::optional<Outcome<T>> poll_consuming(std::unique_lock<std::mutex>& lock);
  // With the mutex held: waits until the queue holds events or has ended
  // (News), a heartbeat is due (`beats`) or `deadline` passed.
  Wait wait_for_events(std::unique_lock<std::mutex>& lock,
                       std::optional<Clock::time_point> deadline, bool beats);

  std::uint64_t received_ = 0;   // guarded by mutex_
  std::uint64_t delivered_ = 0;  // guarded by mutex_
  std::uint64_t dropped_ = 0;    // guarded by mutex_
  // The bus holds an offer this queue declined: set by the bus under the
  // mutex, cleared by whichever consumer take makes room (see offer).
  std::atomic<bool> declined_{false};
  std::deque<Event<T>> events_;  // guarded by mutex_
  // The consumer's batch: events it moved over from events_ in one go, to
  // take one by one without the mutex (see the comment at the top).
  BiasedLock consumer_lock_;              // one consumer call at a time; biased to the consumer
  std::deque<Event<T>> batch_;            // written by the consumer only, under both mutexes
  std::uint64_t batch_size_ = 0;          // written by the consumer under mutex_
  std::uint64_t batch_dropped_ = 0;       // DropOldest drops from the batch; guarded
  std::uint64_t closed_batch_taken_ = 0;  // batch_taken_ when closed; guarded
  // How many of the batch were taken: the consumer and a DropOldest offer
  // claim the next one by compare-exchange; kBatchClosed once closed.
  std::atomic<std::uint64_t> batch_taken_{0};
  // Set by offers, close() and end(), cleared by the consumer's refill.
  std::atomic<bool> news_{false};
  // Batches serve streams whose consumer may hold events a while: not the
  // rendezvous (depth 0), not a synchronous bus (its Block offers wait on the
  // condition variable for room), not heartbeat streams (idleness is measured
  // from the last take).
  const bool batching_ = !synchronous_bus_ && options_.depth > 0 && options_.heartbeat.count() == 0;
};

template <class T>
bool StreamQueue<T>::offer(const Event<T>& event, const SmallText* topic) {
  std::unique_lock lock(mutex_);
  if (closed_) return true;         // its subscription is being cancelled
  std::uint64_t dropped_total = 0;  // set if this offer dropped an event
  if (!has_room(held_locked())) {
    if (options_.overflow == Overflow::DropNewest) {
      ++received_;
      dropped_total = ++dropped_;
      lock.unlock();
      report_drop_(event.topic(), dropped_total);
      return true;
    }
    if (options_.overflow == Overflow::DropOldest) {
      if (drop_oldest_locked()) dropped_total = dropped_;
    } else if (!synchronous_bus_) {
      // Declined, unless the consumer made room meanwhile (seq_cst: see
      // pop_from_batch).
      declined_.store(true, std::memory_order_seq_cst);
      if (!has_room(held_locked())) return false;
      declined_.store(false, std::memory_order_relaxed);
    } else {
      changed_.wait(lock, [&] { return closed_ || has_room(events_.size()); });
      if (closed_) return true;
    }
  }
  copy_to_back(events_, event, topic);
  ++received_;
  if (batching_) news_.store(true, std::memory_order_release);
  std::unique_ptr<AsyncWaiter<T>> waiter;
  std::optional<Taken<T>> for_waiter;
  if (waiter_waits_locked()) {
    waiter = waiter_of<T>(take_waiter_locked());
    for_waiter = pop_locked();
  }
  const bool consumer_waits = waiting_ > 0;
  lock.unlock();
  if (consumer_waits) changed_.notify_all();
  if (waiter != nullptr) waiter->complete({}, std::move(*for_waiter));
  if (dropped_total != 0) report_drop_(event.topic(), dropped_total);
  return true;
}

template <class T>
StreamQueueBase::Wait StreamQueue<T>::wait_for_events(std::unique_lock<std::mutex>& lock,
                                                      std::optional<Clock::time_point> deadline,
                                                      bool beats) {
  ++waiting_;
  struct Leave {
    std::size_t& waiting;
    ~Leave() { --waiting; }
  } leave{waiting_};
  if (options_.depth == 0 && declined_.exchange(false, std::memory_order_seq_cst)) {
    // A rendezvous: the bus holds the next event until a consumer waits.
    lock.unlock();
    after_take(true);
    lock.lock();
  }
  return wait_locked(lock, deadline, beats,
                     [this] { return !events_.empty() || closed_ || ended_; });
}

template <class T>
std::optional<Taken<T>> StreamQueue<T>::take(std::optional<Clock::time_point> deadline,
                                             bool heartbeats) {
  const BiasedGuard consuming(consumer_lock_);
  const bool beats = heartbeats && options_.heartbeat.count() > 0;
  for (;;) {
    if (std::optional<Event<T>> event = take_from_batch()) return Taken<T>{std::move(event)};
    // An empty stream fed at speed gets its next events within microseconds:
    // wait that long before sleeping, so that the bus need not wake this
    // thread (a system call on the delivering thread) for each event.
    if (batching_) spin_for(kSpinBeforeSleep, [this] { return has_news(); });
    std::unique_lock lock(mutex_);
    switch (wait_for_events(lock, deadline, beats)) {
      case Wait::TimedOut:
        return std::nullopt;
      case Wait::Heartbeat:
        return Taken<T>{};
      case Wait::News:
        break;
    }
    if (events_.empty()) return std::nullopt;  // closed, or ended
    if (batching_) {
      refill_batch_locked();
      continue;  // takes from the new batch, without the mutex
    }
    return pop_and_unlock(lock);
  }
}

// The consumer's common case, as LaneStream's: an event of a batching
// stream's batch (see batching_), taken without the mutex. A closed stream's
// batch yields nothing (close() marks it).
template <class T>
std::optional<Event<T>> StreamQueue<T>::take_at_hand() {
  if (!batching_) return std::nullopt;  // before the guard: nothing to take
  const BiasedGuard consuming(consumer_lock_);
  return take_from_batch();
}

template <class T>
std::optional<Outcome<T>> StreamQueue<T>::poll_consuming(std::unique_lock<std::mutex>& lock) {
  for (;;) {
    if (std::optional<Event<T>> event = take_from_batch()) {
      return Outcome<T>{{}, Taken<T>{std::move(event)}};
    }
    lock.lock();
    if (!batching_ || events_.empty()) break;
    refill_batch_locked();
    lock.unlock();
  }
  if (!events_.empty()) return Outcome<T>{{}, pop_and_unlock(lock)};
  if (!closed_ && !ended_) return std::nullopt;
  boost::system::error_code error = boost::asio::error::eof;
  if (closed_) error = boost::asio::error::operation_aborted;
  lock.unlock();
  return Outcome<T>{error, {}};
}

template <class T>
void StreamQueue<T>::take_async(std::unique_ptr<AsyncWaiter<T>> waiter) {
  const BiasedGuard consuming(consumer_lock_);
  std::unique_lock lock(mutex_, std::defer_lock);
  if (std::optional<Outcome<T>> outcome = poll_consuming(lock)) {
    return waiter->complete(outcome->error, std::move(outcome->taken));
  }
  if (waiter_waits_locked()) {
    lock.unlock();
    return waiter->complete(boost::asio::error::already_started, {});
  }
  store_waiter_locked(std::move(waiter), this->weak_from_this());
  const bool resume = options_.depth == 0 && declined_.exchange(false, std::memory_order_seq_cst);
  lock.unlock();
  after_take(resume);
}

}  // namespace courier::detail
