// LaneStream: a Block stream on an asynchronous bus, whose consumer drains
// the stream's lane of the bus itself instead of leaving that to the
// executors.
//
// Why. A stream filled by the executors (StreamQueue) passes each event
// through two hands: the posting thread to an executor (the lane), the
// executor to the consumer (the queue). A Block stream holds back what does
// not fit, in its lane, anyway. So here the lane is the queue: the bus hands
// the lane, once it has work, to this LanePuller instead of the run queue
// (take_lane), and the consumer, when it wants events and has none left,
// drains the lane on its own thread (BusCore::drain_pulled) into `local_`,
// then takes them from there. One hand-off per event, as for a callback, and
// no executor thread at all.
//
// The lane. `lane_state_` says who has it: Idle (nobody, or the consumer
// draining it), Ready (handed over, not yet drained), Released (the stream
// is closed: the executors take the lane from now on, and deliver nothing,
// the subscription being cancelled). The bus sets Ready (take_lane) only
// when it hands the lane over, which happens once per scheduling; the
// consumer claims it back (Ready to Idle) before draining. close() exchanges
// in Released and, if the lane was Ready, gives it to the executors.
//
// Depth. The drain declines an event once `local_` holds `depth` events; the
// bus then parks the lane, holding that event and the later ones in place
// (and their slots of the bounded queue: backpressure reaches post()). The
// consumer resumes the lane (resume_deliveries, which hands it over again)
// once it has taken everything.
//
// Waking. A consumer with nothing left spins briefly for the lane, then
// sleeps: it sets `sleeping_` and looks at `lane_state_` once more, while
// take_lane sets Ready and then looks at `sleeping_` (all sequentially
// consistent: one sees the other), and wakes it under the mutex. An async
// consumer leaves its waiter instead; take_lane hands the waiter back to the
// consumer's executor (AsyncWaiter::defer), where it drains and completes.
//
// Shutdown. Once the bus closes (bus_closing), it must deliver what it
// accepted without waiting for the consumer, which may be the very thread
// that shuts the bus down. So the lane goes to the executors (Released), a
// lane the consumer parked is resumed, and from then on every offer, from
// an executor or the consumer's last drain, goes to `handoff_`, under the
// mutex, without a depth limit (no event can be accepted any more, so the
// bus's capacity bounds it). The consumer hands out local_, then handoff_.
//
// Counters: received (moved into local_), delivered (taken out), dropped
// (what close() let go of) are written by the consumer only, and read by
// stats() delivered first, received last, so depth = received - delivered -
// dropped is never negative and the identity holds exactly; handoff_ keeps
// its own three under the mutex.
//
// Thread safety: as StreamQueue's. Consumer calls take turns on
// `consumer_lock_`; offer() runs on the consumer's thread, inside its drain.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/error.hpp>

#include "courier/detail/bus_core.hpp"
#include "courier/detail/cache_line.hpp"
#include "courier/detail/delivery/exclusive_lock.hpp"
#include "courier/detail/delivery/subscriber_core.hpp"
#include "courier/detail/spin.hpp"
#include "courier/detail/streams/async_waiter.hpp"
#include "courier/detail/streams/stream_queue.hpp"
#include "courier/detail/streams/stream_source.hpp"
#include "courier/event.hpp"
#include "courier/stream_options.hpp"

namespace courier::detail {

template <class T>
class LaneStream final : public StreamQueueBase,
                         public StreamSource<T>,
                         public LanePuller,
                         public std::enable_shared_from_this<LaneStream<T>> {
 public:
  using Clock = StreamQueueBase::Clock;

  // For a Block stream of depth 1 or more on an asynchronous bus.
  explicit LaneStream(const StreamOptions& options) : StreamQueueBase(options, false) {}

  std::shared_ptr<LanePuller> puller() override { return this->shared_from_this(); }
  void attach(std::weak_ptr<BusCore> bus, std::weak_ptr<SubscriberCore> subscriber) override {
    bus_ = std::move(bus);
    subscriber_ = std::move(subscriber);
  }

  bool take_lane() noexcept override;

  // Runs on the consumer's thread, inside its drain; once the bus closes or
  // the stream is closed, on an executor too (see Shutdown above).
  bool offer(const Event<T>& event, const SmallText* topic) override {
    if (closed_flag_.load(std::memory_order_acquire)) return true;
    if (closing_.load(std::memory_order_acquire)) [[unlikely]]
      return hand_off(event);
    if (local_.size() - local_taken_ >= options_.depth) {
      declined_ = true;
      return false;
    }
    copy_to_back(local_, event, topic);
    bump(received_);
    return true;
  }

  std::optional<Taken<T>> take(std::optional<Clock::time_point> deadline, bool heartbeats) override;
  // What poll_consuming does first, alone. local_ holds the earliest events
  // (handoff_ only later ones), and while an async waiter waits local_ is
  // empty, so no check of sleeping_ is needed; a closed stream's local_ is
  // left to poll_consuming to drop.
  std::optional<Event<T>> take_at_hand() override {
    const BiasedGuard consuming(consumer_lock_);
    if (!holds_local() || closed_flag_.load(std::memory_order_acquire)) return std::nullopt;
    return pop_local();
  }
  std::optional<Outcome<T>> poll() override {
    const BiasedGuard consuming(consumer_lock_);
    if (sleeping_.load(std::memory_order_acquire)) return std::nullopt;  // another one waits
    return poll_consuming();
  }
  void take_async(std::unique_ptr<AsyncWaiter<T>> waiter) override;

  StreamStats stats() const override {
    const std::lock_guard lock(mutex_);
    const std::uint64_t delivered = delivered_.load(std::memory_order_acquire);
    const std::uint64_t dropped = dropped_.load(std::memory_order_acquire);
    const std::uint64_t received = received_.load(std::memory_order_acquire);
    return {received + handoff_received_, delivered + handoff_delivered_,
            dropped + handoff_dropped_, received - delivered - dropped + handoff_.size()};
  }

  bool close() override;
  bool closed() const override { return closed_flag_.load(std::memory_order_acquire); }
  void end() override;
  void bus_closing() override;

 private:
  enum class LaneState : unsigned char { Idle, Ready, Released };
  static constexpr std::chrono::microseconds kSpinBeforeSleep{20};

  // Counters written by the consumer only (under consumer_lock_).
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_release);
  }

  // Consumer side, consumer_lock_ held.
  bool holds_local() const noexcept { return local_taken_ != local_.size(); }
  // The next event of local_, built in place in the optional returned (by
  // name: no copy, and no empty optional first, which GCC zeroes whole).
  std::optional<Event<T>> pop_local() {
    std::optional<Event<T>> event(std::in_place, std::move(local_[local_taken_]));
    if (++local_taken_ == local_.size()) forget_local();
    bump(delivered_);
    if (options_.heartbeat.count() > 0) {
      const std::lock_guard lock(mutex_);
      last_activity_ = Clock::now();
    }
    return event;
  }
  void drop_local() {
    bump(dropped_, local_.size() - local_taken_);
    forget_local();
  }
  void forget_local() noexcept {
    local_.clear();
    local_taken_ = 0;
  }
  bool lane_ready() const noexcept {
    return lane_state_.load(std::memory_order_seq_cst) == LaneState::Ready;
  }
  // Something for the consumer to look at (but handoff_, which the mutex
  // guards: see has_news_locked).
  bool has_news() const noexcept {
    return lane_ready() || declined_ || closed_flag_.load(std::memory_order_acquire) ||
           ended_flag_.load(std::memory_order_acquire);
  }
  bool has_news_locked() const noexcept { return has_news() || !handoff_.empty(); }
  // Any thread, after the bus closed: queues `event` in handoff_, or hands
  // it to a waiting async consumer.
  bool hand_off(const Event<T>& event);
  // Consumer side: the next handed-off event, if any.
  std::optional<Event<T>> take_handed_off() {
    const std::lock_guard lock(mutex_);
    if (handoff_.empty()) return std::nullopt;
    Event<T> event = std::move(handoff_.front());
    handoff_.pop_front();
    ++handoff_delivered_;
    return event;
  }
  // Resumes the lane if this stream declined its last event (local_ is
  // empty now), then drains it if it is this consumer's. True if it drained.
  bool pull();
  // Consumer side, consumer_lock_ held: the next event (pulling the lane if
  // need be), the end (operation_aborted once closed, eof once ended and
  // empty), or nothing for now.
  std::optional<Outcome<T>> poll_consuming();

  // mutex_ held through `lock`: sleeps until there is news, a heartbeat is
  // due (`beats`) or `deadline` passed.
  Wait sleep(std::unique_lock<std::mutex>& lock, std::optional<Clock::time_point> deadline,
             bool beats);

  // Wakes a consumer asleep in take(), or hands a waiting async consumer
  // back to its executor.
  void wake_consumer();

  std::weak_ptr<BusCore> bus_;                // set once, before routing
  std::weak_ptr<SubscriberCore> subscriber_;  // set once, before routing
  // What the posting thread touches at each hand-over (take_lane), on a
  // cache line of its own, apart from the consumer's fields below, which
  // the consumer writes at each take.
  alignas(kCacheLine) std::atomic<LaneState> lane_state_{LaneState::Idle};
  std::atomic<bool> sleeping_{false};  // a consumer sleeps or an async waiter waits
  std::atomic<bool> closed_flag_{false};
  std::atomic<bool> ended_flag_{false};
  std::atomic<bool> closing_{false};  // the bus closed: see Shutdown above

  // One consumer call at a time; the consumer's thread enters through the
  // lock's bias, with plain stores (exclusive_lock.hpp).
  alignas(kCacheLine) BiasedLock consumer_lock_;
  // Consumer side: the events drained from the lane, from local_taken_ on.
  // The consumer drains only once it took them all, so the vector is
  // emptied (keeping its capacity) before it fills again: no allocation
  // per event, unlike a deque's.
  std::vector<Event<T>> local_;
  std::size_t local_taken_ = 0;
  bool declined_ = false;  // consumer side: the lane is parked on a declined event
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> dropped_{0};

  std::deque<Event<T>> handoff_;         // guarded by mutex_
  std::uint64_t handoff_received_ = 0;   // guarded by mutex_
  std::uint64_t handoff_delivered_ = 0;  // guarded by mutex_
  std::uint64_t handoff_dropped_ = 0;    // guarded by mutex_
};

template <class T>
bool LaneStream<T>::take_lane() noexcept {
  LaneState idle = LaneState::Idle;
  if (!lane_state_.compare_exchange_strong(idle, LaneState::Ready, std::memory_order_seq_cst)) {
    return false;  // Released: the stream is closed
  }
  if (sleeping_.load(std::memory_order_seq_cst)) wake_consumer();
  return true;
}

template <class T>
void LaneStream<T>::wake_consumer() {
  std::unique_lock lock(mutex_);
  std::unique_ptr<AsyncWaiter<T>> waiter = waiter_of<T>(take_waiter_locked());
  if (waiting_ == 0) sleeping_.store(false, std::memory_order_seq_cst);
  lock.unlock();
  changed_.notify_all();
  if (waiter == nullptr) return;
  AsyncWaiter<T>& deferred = *waiter;
  deferred.defer([self = this->shared_from_this()](
                     std::unique_ptr<AsyncWaiter<T>> again) { self->take_async(std::move(again)); },
                 std::move(waiter));
}

template <class T>
bool LaneStream<T>::pull() {
  if (std::exchange(declined_, false)) after_take(true);  // hands the lane over again
  LaneState ready = LaneState::Ready;
  if (!lane_state_.compare_exchange_strong(ready, LaneState::Idle, std::memory_order_seq_cst)) {
    return false;
  }
  const std::shared_ptr<BusCore> bus = bus_.lock();
  const std::shared_ptr<SubscriberCore> subscriber = subscriber_.lock();
  if (bus == nullptr || subscriber == nullptr) return false;
  bus->drain_pulled(subscriber->lane_for_key_hash(0));
  return true;
}

template <class T>
StreamQueueBase::Wait LaneStream<T>::sleep(std::unique_lock<std::mutex>& lock,
                                           std::optional<Clock::time_point> deadline, bool beats) {
  ++waiting_;
  sleeping_.store(true, std::memory_order_seq_cst);
  const Wait result = wait_locked(lock, deadline, beats, [this] { return has_news_locked(); });
  if (--waiting_ == 0 && !waiter_waits_locked()) sleeping_.store(false, std::memory_order_seq_cst);
  return result;
}

template <class T>
std::optional<Outcome<T>> LaneStream<T>::poll_consuming() {
  for (;;) {
    if (closed_flag_.load(std::memory_order_acquire)) {
      drop_local();
      return Outcome<T>{boost::asio::error::operation_aborted, {}};
    }
    if (holds_local()) return Outcome<T>{{}, Taken<T>{pop_local()}};
    if (closing_.load(std::memory_order_acquire)) {
      if (std::optional<Event<T>> event = take_handed_off()) {
        return Outcome<T>{{}, Taken<T>{std::move(event)}};
      }
    }
    if (pull()) continue;
    if (ended_flag_.load(std::memory_order_acquire)) return Outcome<T>{boost::asio::error::eof, {}};
    return std::nullopt;
  }
}

template <class T>
std::optional<Taken<T>> LaneStream<T>::take(std::optional<Clock::time_point> deadline,
                                            bool heartbeats) {
  const BiasedGuard consuming(consumer_lock_);
  const bool beats = heartbeats && options_.heartbeat.count() > 0;
  for (;;) {
    if (std::optional<Outcome<T>> outcome = poll_consuming()) {
      if (outcome->error) return std::nullopt;  // closed, or ended
      return std::move(outcome->taken);
    }
    // A lane fed at speed has work again within microseconds: wait that
    // long before sleeping, so that the bus need not wake this thread (a
    // system call on the posting thread) for each hand-over.
    if (spin_for(kSpinBeforeSleep, [this] { return has_news(); })) continue;
    std::unique_lock lock(mutex_);
    switch (sleep(lock, deadline, beats)) {
      case Wait::News:
        break;
      case Wait::Heartbeat:
        return Taken<T>{};
      case Wait::TimedOut:
        return std::nullopt;
    }
  }
}

template <class T>
void LaneStream<T>::take_async(std::unique_ptr<AsyncWaiter<T>> waiter) {
  const BiasedGuard consuming(consumer_lock_);
  for (;;) {
    if (std::optional<Outcome<T>> outcome = poll_consuming()) {
      return waiter->complete(outcome->error, std::move(outcome->taken));
    }
    std::unique_lock lock(mutex_);
    if (waiter_waits_locked()) {
      lock.unlock();
      return waiter->complete(boost::asio::error::already_started, {});
    }
    // Registered first, then the last look (see Waking above).
    sleeping_.store(true, std::memory_order_seq_cst);
    if (has_news_locked()) {
      if (waiting_ == 0) sleeping_.store(false, std::memory_order_seq_cst);
      continue;
    }
    store_waiter_locked(std::move(waiter), this->weak_from_this());
    return;
  }
}

template <class T>
bool LaneStream<T>::close() {
  if (closed_flag_.exchange(true, std::memory_order_seq_cst)) return false;
  if (lane_state_.exchange(LaneState::Released, std::memory_order_seq_cst) == LaneState::Ready) {
    if (const std::shared_ptr<BusCore> bus = bus_.lock()) {
      if (const std::shared_ptr<SubscriberCore> subscriber = subscriber_.lock()) {
        bus->give_to_executors(subscriber->lane_for_key_hash(0));
      }
    }
  }
  // What the consumer holds is dropped now if no consumer call runs, else
  // by that call as soon as it sees the stream closed.
  if (std::unique_lock consuming(consumer_lock_, std::try_to_lock); consuming.owns_lock()) {
    drop_local();
  }
  std::unique_lock lock(mutex_);
  handoff_dropped_ += handoff_.size();
  handoff_.clear();
  std::unique_ptr<AsyncWaiterBase> waiter = take_waiter_locked();
  lock.unlock();
  changed_.notify_all();
  if (waiter != nullptr) waiter->finish(boost::asio::error::operation_aborted);
  return true;
}

template <class T>
void LaneStream<T>::bus_closing() {
  if (closing_.exchange(true, std::memory_order_seq_cst)) return;
  if (lane_state_.exchange(LaneState::Released, std::memory_order_seq_cst) == LaneState::Ready) {
    if (const std::shared_ptr<BusCore> bus = bus_.lock()) {
      if (const std::shared_ptr<SubscriberCore> subscriber = subscriber_.lock()) {
        bus->give_to_executors(subscriber->lane_for_key_hash(0));
      }
    }
  }
  after_take(true);  // a lane the consumer parked goes to the executors as well
  wake_consumer();
}

template <class T>
bool LaneStream<T>::hand_off(const Event<T>& event) {
  std::unique_lock lock(mutex_);
  if (waiter_waits_locked()) {
    std::unique_ptr<AsyncWaiter<T>> waiter = waiter_of<T>(take_waiter_locked());
    ++handoff_received_;
    ++handoff_delivered_;
    lock.unlock();
    waiter->complete({}, Taken<T>{event});
    return true;
  }
  handoff_.push_back(event);
  ++handoff_received_;
  lock.unlock();
  changed_.notify_all();
  return true;
}

template <class T>
void LaneStream<T>::end() {
  std::unique_lock lock(mutex_);
  ended_flag_.store(true, std::memory_order_seq_cst);
  std::unique_ptr<AsyncWaiterBase> waiter = take_waiter_locked();
  lock.unlock();
  changed_.notify_all();
  // The bus has delivered everything: a waiter had taken all there was.
  if (waiter != nullptr) waiter->finish(boost::asio::error::eof);
}

}  // namespace courier::detail
