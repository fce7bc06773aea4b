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
// Counters (guarded by the mutex): received = delivered + dropped + depth,
// exactly, at every instant the mutex is free. A declined offer is not
// received yet: it is offered again.
//
// The queue ends when the consumer closes the stream (what is queued is
// dropped) or when the bus has shut down (what is queued is still handed
// out, then the consumer sees the end).
//
// Thread safety: every member is safe from any thread. One consumer per
// stream is the contract (stream.hpp); a second one is safe, but no order
// between them is promised.
#pragma once

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

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "courier/detail/export.hpp"
#include "courier/detail/handler.hpp"
#include "courier/event.hpp"
#include "courier/stream_options.hpp"

namespace courier::detail {

// What the consumer gets: an event or, on a stream with a heartbeat, a
// keepalive (StreamItem in stream.hpp wraps it).
template <class T>
struct Taken {
  std::optional<Event<T>> event;  // empty: a heartbeat
};

// The consumer's Asio completion handler, waiting for the next item.
template <class T>
class AsyncWaiter {
 public:
  virtual ~AsyncWaiter() = default;
  // Completes the handler through its associated executor, never inline,
  // and lets go of the heartbeat timer, if armed.
  virtual void complete(boost::system::error_code error, Taken<T> taken) = 0;
  // Calls `due` on the handler's executor at `when` (a heartbeat's time),
  // unless the waiter completes first. Costs no thread: a timer of the
  // handler's own execution context.
  virtual void arm_heartbeat(std::chrono::steady_clock::time_point when,
                             std::function<void()> due) = 0;
};

template <class T, class Handler>
class AsyncWaiterFor final : public AsyncWaiter<T> {
 public:
  explicit AsyncWaiterFor(Handler handler)
      : work_(boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                  boost::asio::execution::outstanding_work.tracked)),
        handler_(std::move(handler)) {}

  void complete(boost::system::error_code error, Taken<T> taken) override {
    if (timer_ != nullptr) {
      // On the timer's executor: a timer is not safe to touch from another thread.
      const auto timer_executor = timer_->get_executor();
      boost::asio::post(timer_executor, [timer = std::move(timer_)] { timer->cancel(); });
    }
    boost::asio::post(work_,
                      [handler = std::move(handler_), error, taken = std::move(taken)]() mutable {
                        handler(error, std::move(taken));
                      });
  }

  void arm_heartbeat(std::chrono::steady_clock::time_point when,
                     std::function<void()> due) override {
    // An executor without timers of its own (use_future's) gets no heartbeat.
    if constexpr (std::is_constructible_v<boost::asio::steady_timer, WorkExecutor&,
                                          std::chrono::steady_clock::time_point>) {
      timer_ = std::make_shared<boost::asio::steady_timer>(work_, when);
      timer_->async_wait([due = std::move(due)](boost::system::error_code error) {
        if (!error) due();
      });
    }
  }

 private:
  // Keeps the handler's execution context from running out of work (an
  // io_context's run() returning) while the handler waits here.
  using WorkExecutor = std::decay_t<decltype(boost::asio::prefer(
      std::declval<boost::asio::associated_executor_t<Handler>>(),
      boost::asio::execution::outstanding_work.tracked))>;
  WorkExecutor work_;
  Handler handler_;
  std::shared_ptr<boost::asio::steady_timer> timer_;
};

// The non-template half: counters, state, waking, resuming, drop reports.
class COURIER_EXPORT StreamQueueBase {
 public:
  using Clock = std::chrono::steady_clock;

  explicit StreamQueueBase(const StreamOptions& options, bool synchronous_bus);
  virtual ~StreamQueueBase() = default;
  StreamQueueBase(const StreamQueueBase&) = delete;
  StreamQueueBase& operator=(const StreamQueueBase&) = delete;

  // Set once by the bus before the first offer: resumes the parked lane, and
  // reports a drop (topic, count dropped so far by this stream).
  void connect(std::function<void()> resume,
               std::function<void(std::string_view topic, std::uint64_t dropped)> report_drop);

  bool closed() const {
    const std::lock_guard lock(mutex_);
    return closed_;
  }
  // The bus shut down: no offer will come; the consumer's waits end once
  // the queue is empty.
  virtual void end() = 0;

 protected:
  // Called with the mutex held: whether an offer fits now.
  bool has_room(std::size_t queued) const noexcept;
  // After a take (mutex released): resumes the bus's lane if it declined.
  void after_take(bool resume) const;

  const StreamOptions options_;
  const bool synchronous_bus_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t received_ = 0;   // guarded by mutex_
  std::uint64_t delivered_ = 0;  // guarded by mutex_
  std::uint64_t dropped_ = 0;    // guarded by mutex_
  std::size_t waiting_ = 0;      // consumers waiting now; guarded by mutex_
  bool declined_ = false;        // the bus holds an offer this queue declined; guarded
  bool closed_ = false;          // guarded by mutex_
  bool ended_ = false;           // guarded by mutex_
  Clock::time_point last_activity_ = Clock::now();  // guarded by mutex_
  std::function<void()> resume_;                    // set once, before offers
  std::function<void(std::string_view, std::uint64_t)> report_drop_;
};

template <class T>
class StreamQueue final : public StreamQueueBase,
                          public std::enable_shared_from_this<StreamQueue<T>> {
 public:
  using StreamQueueBase::StreamQueueBase;

  // The bus side. False: declined (Block, full, asynchronous bus).
  bool offer(const Event<T>& event);

  // The consumer side: the next item, or nothing once the queue has ended
  // (closed, or the bus shut down and the queue is empty) or `deadline`
  // passed. A heartbeat comes only with `heartbeats`, after options.heartbeat
  // of idleness.
  std::optional<Taken<T>> take(std::optional<Clock::time_point> deadline, bool heartbeats);

  // Completes `handler` with the next item, or with operation_aborted
  // (closed) or eof (the bus shut down and the queue is empty).
  template <class Handler>
  void take_async(Handler handler);

  StreamStats stats() const {
    const std::lock_guard lock(mutex_);
    return {received_, delivered_, dropped_, events_.size()};
  }

  // See StreamQueueBase::close and end; these also finish an async waiter.
  bool close() {
    std::unique_lock lock(mutex_);
    if (closed_) return false;
    closed_ = true;
    dropped_ += events_.size();
    events_.clear();
    finish_waiter(lock, boost::asio::error::operation_aborted);
    return true;
  }
  void end() override {
    std::unique_lock lock(mutex_);
    ended_ = true;
    if (events_.empty()) return finish_waiter(lock, boost::asio::error::eof);
    lock.unlock();
    changed_.notify_all();
  }

 private:
  // With the mutex held: the front event, counted as delivered.
  Taken<T> pop_locked() {
    Taken<T> taken{std::move(events_.front())};
    events_.pop_front();
    ++delivered_;
    last_activity_ = Clock::now();
    return taken;
  }
  // Ends the wait of an async waiter, if any, with `error`; releases `lock`.
  void finish_waiter(std::unique_lock<std::mutex>& lock, boost::system::error_code error) {
    std::unique_ptr<AsyncWaiter<T>> waiter = std::move(waiter_);
    if (waiter != nullptr) --waiting_;
    lock.unlock();
    changed_.notify_all();
    if (waiter != nullptr) waiter->complete(error, {});
  }
  std::deque<Event<T>> events_;             // guarded by mutex_
  std::unique_ptr<AsyncWaiter<T>> waiter_;  // the one async consumer waiting; guarded
  std::uint64_t waiter_number_ = 0;         // counts the waiters stored; guarded

  // The heartbeat timer of waiter number `number` fired.
  void heartbeat_due(std::uint64_t number);
};

template <class T>
bool StreamQueue<T>::offer(const Event<T>& event) {
  std::unique_lock lock(mutex_);
  if (closed_) return true;         // its subscription is being cancelled
  std::uint64_t dropped_total = 0;  // set if this offer dropped an event
  if (!has_room(events_.size())) {
    if (options_.overflow == Overflow::DropNewest) {
      ++received_;
      dropped_total = ++dropped_;
      lock.unlock();
      report_drop_(event.topic(), dropped_total);
      return true;
    }
    if (options_.overflow == Overflow::DropOldest) {
      events_.pop_front();
      dropped_total = ++dropped_;
    } else if (!synchronous_bus_) {
      declined_ = true;
      return false;
    } else {
      changed_.wait(lock, [&] { return closed_ || has_room(events_.size()); });
      if (closed_) return true;
    }
  }
  events_.push_back(event);
  ++received_;
  std::unique_ptr<AsyncWaiter<T>> waiter;
  std::optional<Taken<T>> for_waiter;
  if (waiter_ != nullptr) {
    waiter = std::move(waiter_);
    --waiting_;
    for_waiter = pop_locked();
  }
  lock.unlock();
  changed_.notify_all();
  if (waiter != nullptr) waiter->complete({}, std::move(*for_waiter));
  if (dropped_total != 0) report_drop_(event.topic(), dropped_total);
  return true;
}

template <class T>
std::optional<Taken<T>> StreamQueue<T>::take(std::optional<Clock::time_point> deadline,
                                             bool heartbeats) {
  std::unique_lock lock(mutex_);
  ++waiting_;
  struct Leave {
    std::size_t& waiting;
    ~Leave() { --waiting; }
  } leave{waiting_};
  if (options_.depth == 0 && std::exchange(declined_, false)) {
    // A rendezvous: the bus holds the next event until a consumer waits.
    lock.unlock();
    after_take(true);
    lock.lock();
  }
  const bool beats = heartbeats && options_.heartbeat.count() > 0;
  for (;;) {
    if (!events_.empty()) {
      Taken<T> taken = pop_locked();
      const bool resume = std::exchange(declined_, false);
      lock.unlock();
      changed_.notify_all();  // a synchronous offer may wait for room
      after_take(resume);
      lock.lock();  // for Leave
      return taken;
    }
    if (closed_ || ended_) return std::nullopt;
    const Clock::time_point now = Clock::now();
    std::optional<Clock::time_point> wake = deadline;
    if (beats) {
      const Clock::time_point beat = last_activity_ + options_.heartbeat;
      if (now >= beat) {
        last_activity_ = now;
        return Taken<T>{};
      }
      if (!wake || beat < *wake) wake = beat;
    }
    if (deadline && now >= *deadline) return std::nullopt;
    if (wake) {
      changed_.wait_until(lock, *wake);
    } else {
      changed_.wait(lock);
    }
  }
}

template <class T>
template <class Handler>
void StreamQueue<T>::take_async(Handler handler) {
  auto waiter = std::make_unique<AsyncWaiterFor<T, Handler>>(std::move(handler));
  std::unique_lock lock(mutex_);
  if (!events_.empty()) {
    Taken<T> taken = pop_locked();
    const bool resume = std::exchange(declined_, false);
    lock.unlock();
    changed_.notify_all();
    after_take(resume);
    return waiter->complete({}, std::move(taken));
  }
  if (closed_ || ended_ || waiter_ != nullptr) {
    boost::system::error_code error = boost::asio::error::already_started;
    if (closed_) error = boost::asio::error::operation_aborted;
    if (!closed_ && ended_) error = boost::asio::error::eof;
    lock.unlock();
    return waiter->complete(error, {});
  }
  if (options_.heartbeat.count() > 0) {
    const std::uint64_t number = ++waiter_number_;
    waiter->arm_heartbeat(last_activity_ + options_.heartbeat,
                          [weak = this->weak_from_this(), number] {
                            if (auto queue = weak.lock()) queue->heartbeat_due(number);
                          });
  }
  waiter_ = std::move(waiter);
  ++waiting_;
  const bool resume = options_.depth == 0 && std::exchange(declined_, false);
  lock.unlock();
  after_take(resume);
}

// Completes the waiter with a heartbeat if it still waits, and nothing has
// arrived since it began waiting (an arrival completes it with the event).
template <class T>
void StreamQueue<T>::heartbeat_due(std::uint64_t number) {
  std::unique_lock lock(mutex_);
  if (waiter_ == nullptr || number != waiter_number_) return;
  std::unique_ptr<AsyncWaiter<T>> waiter = std::move(waiter_);
  --waiting_;
  last_activity_ = Clock::now();
  lock.unlock();
  waiter->complete({}, Taken<T>{});
}

}  // namespace courier::detail
