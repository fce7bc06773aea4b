// The consumer's side of a pull stream's wait for its next item, for both
// kinds of stream source (stream_queue.hpp, lane_stream.hpp): what it takes
// (Taken), and an Asio completion handler waiting for it (AsyncWaiter),
// completed through the handler's own executor, with its heartbeat timer and
// its per-operation cancellation.
//
// Thread safety: a waiter is owned by one thread at a time (the source's
// mutex guards the one waiting); complete() may run on any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "courier/event.hpp"

namespace courier::detail {

// What the consumer gets: an event or, on a stream with a heartbeat, a
// keepalive (StreamItem in stream.hpp wraps it).
template <class T>
struct Taken {
  std::optional<Event<T>> event;  // empty: a heartbeat
};

// How a wait for the next item ends: with an item (no error), or with an
// error and none (operation_aborted: closed or cancelled; eof: the bus shut
// down and the stream is empty; already_started: another waiter waits).
template <class T>
struct Outcome {
  boost::system::error_code error;
  Taken<T> taken;
};

// Completes `handler` with `outcome` through its associated executor, never
// inside this call. As a continuation (asio::defer): an io_context thread
// that initiated the wait itself, a coroutine's, queues the completion on
// its private queue, without the io_context's lock.
template <class T, class Handler>
void complete_soon(Handler handler, Outcome<T> outcome) {
  const auto executor = boost::asio::get_associated_executor(handler);
  boost::asio::defer(executor,
                     [handler = std::move(handler), outcome = std::move(outcome)]() mutable {
                       std::move(handler)(outcome.error, std::move(outcome.taken));
                     });
}

// The consumer's Asio completion handler, waiting for the next item: what
// of it does not depend on the item's type.
class AsyncWaiterBase {
 public:
  virtual ~AsyncWaiterBase() = default;
  // Completes the handler without an event: with `error`, or with a
  // heartbeat if there is none (as complete() does).
  virtual void finish(boost::system::error_code error) = 0;
  // Calls `due` on the handler's executor at `when` (a heartbeat's time),
  // unless the waiter completes first. Costs no thread: a timer of the
  // handler's own execution context.
  virtual void arm_heartbeat(std::chrono::steady_clock::time_point when,
                             std::function<void()> due) = 0;
  // Calls `cancel` if the handler's associated cancellation slot is
  // signalled (Asio's per-operation cancellation) before the waiter
  // completes. Called by the initiating thread, before the waiter is shared.
  virtual void arm_cancellation(std::function<void()> cancel) = 0;
};

template <class T>
class AsyncWaiter : public AsyncWaiterBase {
 public:
  // Completes the handler through its associated executor, never inline,
  // and lets go of the heartbeat timer, if armed.
  virtual void complete(boost::system::error_code error, Taken<T> taken) = 0;
  void finish(boost::system::error_code error) final { complete(error, {}); }
  // Runs then(self) on the handler's executor, never inside this call: hands
  // the waiter (`self`, this very waiter) back to the consumer's side.
  virtual void defer(std::function<void(std::unique_ptr<AsyncWaiter>)> then,
                     std::unique_ptr<AsyncWaiter> self) = 0;
};

// A waiter a stream source of T stored as an AsyncWaiterBase, as what it is.
template <class T>
std::unique_ptr<AsyncWaiter<T>> waiter_of(std::unique_ptr<AsyncWaiterBase> waiter) noexcept {
  return std::unique_ptr<AsyncWaiter<T>>(static_cast<AsyncWaiter<T>*>(waiter.release()));
}

template <class T, class Handler>
class AsyncWaiterFor final : public AsyncWaiter<T> {
 public:
  explicit AsyncWaiterFor(Handler handler)
      : work_(boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                  boost::asio::execution::outstanding_work.tracked)),
        cancellation_(boost::asio::get_associated_cancellation_slot(handler)),
        handler_(std::move(handler)) {}

  void complete(boost::system::error_code error, Taken<T> taken) override {
    if (timer_ != nullptr) {
      // On the timer's executor: a timer is not safe to touch from another thread.
      const auto timer_executor = timer_->get_executor();
      boost::asio::post(timer_executor, [timer = std::move(timer_)] { timer->cancel(); });
    }
    // The slot is cleared on the handler's executor, where Asio emits
    // cancellation signals, never concurrently with an emit.
    boost::asio::post(work_, [handler = std::move(handler_), slot = cancellation_, error,
                              taken = std::move(taken)]() mutable {
      if (slot.is_connected()) slot.clear();
      handler(error, std::move(taken));
    });
  }

  void arm_cancellation(std::function<void()> cancel) override {
    if (!cancellation_.is_connected()) return;
    // Any kind of cancellation may end the wait: until the waiter completes
    // it has taken nothing, so nothing is lost (terminal, partial, total).
    cancellation_.assign([cancel = std::move(cancel)](boost::asio::cancellation_type type) {
      if (type != boost::asio::cancellation_type::none) cancel();
    });
  }

  void defer(std::function<void(std::unique_ptr<AsyncWaiter<T>>)> then,
             std::unique_ptr<AsyncWaiter<T>> self) override {
    const WorkExecutor executor = work_;
    boost::asio::post(executor, [then = std::move(then), self = std::move(self)]() mutable {
      then(std::move(self));
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
  boost::asio::associated_cancellation_slot_t<Handler> cancellation_;
  Handler handler_;
  std::shared_ptr<boost::asio::steady_timer> timer_;
};

}  // namespace courier::detail
