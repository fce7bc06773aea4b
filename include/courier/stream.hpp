/// \class courier::Stream
/// Stream<T>: a subscription its consumer reads, instead of a callback.
///
/// \code
///   courier::Stream<Reading> stream = bus.stream<Reading>("scan.>", {.depth = 256});
///   for (const courier::Event<Reading>& event : stream) { ... }  // ends when closed
///   std::optional<courier::Event<Reading>> e = stream.next(100ms); // nullopt: timeout or end
///   auto item = co_await stream.async_next(boost::asio::use_awaitable);
/// \endcode
///
/// A stream is a Serial subscriber with a bounded queue of its own
/// (StreamOptions::depth): the bus delivers each event matching its patterns
/// into that queue, in post order, and the consumer takes them out in that
/// order. When the queue is full, StreamOptions::overflow decides: Block
/// holds back the stream's deliveries (never an executor thread) until the
/// consumer makes room, DropNewest and DropOldest drop and count.
///
/// End of a stream. close() (and the destructor) cancels the subscription and
/// drops what the stream still holds; iteration, next() and a pending
/// async_next() end. Once its bus has shut down (every accepted event
/// delivered), a stream still hands out what it holds, then ends. shutdown()
/// hands every accepted event to its streams without waiting for their
/// consumers, except to a rendezvous (depth 0), which it waits for as for a
/// slow callback. wait_idle() waits for a Block stream's consumer to take
/// its events (see Overflow::Block).
///
/// Thread safety: distinct objects: safe. Shared objects: one consumer per
/// stream is the contract: next(), next_item(), async_next() and iteration
/// from several threads at once are safe (no data race) but promise no order
/// between those threads; one async_next() may be pending at a time (a second
/// completes at once with boost::asio::error::already_started). close() and
/// stats() are safe from any thread, also while the consumer waits.
#pragma once

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/signals2/connection.hpp>
#include <boost/system/error_code.hpp>

#include "courier/detail/bus_core.hpp"
#include "courier/detail/delivery/envelope.hpp"
#include "courier/detail/delivery/handler.hpp"
#include "courier/detail/small_text.hpp"
#include "courier/detail/streams/awaitable_next.hpp"
#include "courier/detail/streams/lane_stream.hpp"
#include "courier/detail/streams/stream_queue.hpp"
#include "courier/detail/streams/stream_source.hpp"
#include "courier/event.hpp"
#include "courier/stream_options.hpp"
#include "courier/subscription.hpp"

namespace courier {

/// What a stream yields through next_item() and async_next(): an event, or a
/// heartbeat (StreamOptions::heartbeat) telling that nothing arrived lately.
template <class T>
class StreamItem {
 public:
  /// A heartbeat.
  StreamItem() noexcept = default;
  /// Made by the stream: an event, or a heartbeat if `taken` holds none.
  explicit StreamItem(detail::Taken<T>&& taken) noexcept : taken_(std::move(taken)) {}

  /// True for a heartbeat, false for an event.
  bool is_heartbeat() const noexcept { return !taken_.event.has_value(); }

  ///@{
  /// The event. Throws std::logic_error on a heartbeat.
  const Event<T>& event() const& { return checked(); }
  Event<T>&& event() && { return std::move(checked()); }
  ///@}

 private:
  Event<T>& checked() const {
    if (!taken_.event) throw std::logic_error("courier: a heartbeat carries no event");
    return const_cast<Event<T>&>(*taken_.event);
  }

  detail::Taken<T> taken_;
};

template <class T>
class Stream {
 public:
  /// The clock of timeouts and heartbeats.
  using Clock = std::chrono::steady_clock;

  /// An empty stream: ended at once. EventBus::stream makes real ones.
  Stream() = default;
  /// Takes the stream over; `other` is left empty.
  Stream(Stream&&) noexcept = default;
  /// Closes this stream, then takes `other` over.
  Stream& operator=(Stream&& other) noexcept {
    if (this != &other) {
      close();
      queue_ = std::move(other.queue_);
      subscription_ = std::move(other.subscription_);
      bus_ = std::move(other.bus_);
      subscriber_ = std::move(other.subscriber_);
      end_connection_ = std::move(other.end_connection_);
    }
    return *this;
  }
  ~Stream() { close(); }

  /// The next event: waits for one; nullopt once the stream has ended.
  /// Heartbeats are skipped.
  std::optional<Event<T>> next() { return take_event(std::nullopt); }

  /// The same, waiting at most `timeout`: nullopt on timeout too.
  template <class Rep, class Period>
  std::optional<Event<T>> next(std::chrono::duration<Rep, Period> timeout) {
    return take_event(deadline_after(timeout));
  }

  /// The next event or heartbeat, waiting at most `timeout`; nullopt on
  /// timeout or once the stream has ended.
  template <class Rep, class Period>
  std::optional<StreamItem<T>> next_item(std::chrono::duration<Rep, Period> timeout) {
    std::optional<detail::Taken<T>> taken = take(deadline_after(timeout), true);
    if (!taken) return std::nullopt;
    return StreamItem<T>(std::move(*taken));
  }

  /// Asynchronously, the next event (or heartbeat, see StreamOptions, where
  /// the handler's executor has timers, as an io_context's has; use_future's
  /// has none), with any Asio completion token: a callback, use_future,
  /// use_awaitable, deferred (the wait begins when the deferred operation is
  /// launched).
  /// Signature: void(boost::system::error_code, StreamItem<T>). Errors:
  /// operation_aborted once the stream is closed (a pending wait completes
  /// with it) or the wait is cancelled, eof once its bus has shut down and it
  /// holds nothing more, already_started if another async_next is pending.
  /// The handler runs on its associated executor, never inside this call.
  /// With use_awaitable or as_tuple(use_awaitable), an item already there
  /// resumes the coroutine at once, without a round through its executor (at
  /// most 64 in a row on one thread; the next then goes through the executor,
  /// so that its other handlers run).
  /// Cancellation: the handler's associated cancellation slot (Asio's
  /// per-operation cancellation, e.g. bind_cancellation_slot or an awaitable
  /// operator) ends a pending wait with operation_aborted, for any
  /// cancellation type: a wait has taken nothing until it completes, so
  /// nothing is lost; an event that reached the wait before the signal is
  /// still handed to it. Emit the signal from the handler's executor, as Asio
  /// requires of every cancellation slot. Asio's awaitable operators discard
  /// the loser's result: in `co_await (stream.async_next(use_awaitable) ||
  /// timer.async_wait(use_awaitable))`, an event that reached the wait
  /// before the cancellation did is lost to the consumer, though
  /// StreamStats::delivered counts it. To wait with a limit and lose nothing,
  /// make the stream with StreamOptions::heartbeat (one interval for the
  /// whole stream: a heartbeat ends a wait on an idle stream; it needs an
  /// executor with timers, as an io_context's), or, from a thread rather
  /// than a coroutine, call next(timeout).
  template <class CompletionToken>
  auto async_next(CompletionToken&& token) {
    using Shortcut = detail::AwaitableToken<std::decay_t<CompletionToken>>;
    if constexpr (Shortcut::shortcut) {
      // Resumes at once if an item is there (awaitable_next.hpp).
      return Shortcut::template next<StreamItem<T>, Initiation>(queue_, token);
    } else {
      return boost::asio::async_initiate<CompletionToken,
                                         void(boost::system::error_code, StreamItem<T>)>(
          Initiation{queue_}, token);
    }
  }

  /// Ends the stream: cancels its subscription (waiting, from outside the
  /// bus's handlers, for a delivery under way), drops what it holds, ends
  /// waits. Idempotent. Thread-safe.
  void close() {
    if (queue_ == nullptr || !queue_->close()) return;
    subscription_.cancel();
    // Deliveries the stream declined are still parked in its lane: the
    // drainer now finds the subscriber closed and lets them go.
    if (auto bus = bus_.lock()) {
      if (auto subscriber = subscriber_.lock()) bus->resume_deliveries(*subscriber);
    }
    end_connection_.disconnect();
  }

  /// True once close() was called (or for an empty stream). Thread-safe.
  bool closed() const { return queue_ == nullptr || queue_->closed(); }

  /// The stream's counters. Thread-safe.
  StreamStats stats() const { return queue_ == nullptr ? StreamStats{} : queue_->stats(); }

  /// An input iterator over the events, for range-for; each step is next().
  class iterator {
   public:
    ///@{
    /// An input iterator's types.
    using iterator_category = std::input_iterator_tag;
    using value_type = Event<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = const Event<T>*;
    using reference = const Event<T>&;
    ///@}

    /// An iterator at the end.
    iterator() = default;
    ///@{
    /// The current event.
    reference operator*() const { return *current_; }
    pointer operator->() const { return &*current_; }
    ///@}
    ///@{
    /// Waits for the next event (or the stream's end).
    iterator& operator++() {
      current_ = stream_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    ///@}
    /// True once the stream has ended.
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return !it.current_.has_value();
    }

   private:
    friend class Stream;
    explicit iterator(Stream& stream) : stream_(&stream), current_(stream.next()) {}
    Stream* stream_ = nullptr;
    std::optional<Event<T>> current_;
  };
  ///@{
  /// Range-for over the events, until the stream ends: begin() waits for the
  /// first one.
  iterator begin() { return iterator(*this); }
  std::default_sentinel_t end() const noexcept { return {}; }
  ///@}

 private:
  friend class EventBus;

  Stream(std::shared_ptr<detail::StreamSource<T>> queue, Subscription subscription,
         std::weak_ptr<detail::BusCore> bus, std::weak_ptr<detail::SubscriberCore> subscriber,
         boost::signals2::connection end_connection)
      : queue_(std::move(queue)),
        subscription_(std::move(subscription)),
        bus_(std::move(bus)),
        subscriber_(std::move(subscriber)),
        end_connection_(std::move(end_connection)) {}

  /// Turns the queue's Taken<T> into the StreamItem<T> of the public signature.
  template <class Handler>
  struct Adapter {
    Handler handler;
    using executor_type = boost::asio::associated_executor_t<Handler>;
    executor_type get_executor() const noexcept {
      return boost::asio::get_associated_executor(handler);
    }
    using cancellation_slot_type = boost::asio::associated_cancellation_slot_t<Handler>;
    cancellation_slot_type get_cancellation_slot() const noexcept {
      return boost::asio::get_associated_cancellation_slot(handler);
    }
    void operator()(boost::system::error_code error, detail::Taken<T> taken) {
      std::move(handler)(error, StreamItem<T>(std::move(taken)));
    }
  };

  /// async_next's start of the wait, for async_initiate.
  struct Initiation {
    std::shared_ptr<detail::StreamSource<T>> queue;

    template <class CompletionHandler>
    void operator()(CompletionHandler handler) const {
      using Handler = Adapter<CompletionHandler>;
      if (queue == nullptr) {
        return detail::complete_soon(Handler{std::move(handler)},
                                     detail::Outcome<T>{boost::asio::error::operation_aborted, {}});
      }
      // An item already there needs no waiter (nor its allocation).
      if (std::optional<detail::Outcome<T>> ready = queue->poll()) {
        return detail::complete_soon(Handler{std::move(handler)}, std::move(*ready));
      }
      queue->take_async(
          std::make_unique<detail::AsyncWaiterFor<T, Handler>>(Handler{std::move(handler)}));
    }
  };

  template <class Rep, class Period>
  static Clock::time_point deadline_after(std::chrono::duration<Rep, Period> timeout) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  }

  std::optional<detail::Taken<T>> take(std::optional<Clock::time_point> deadline, bool heartbeats) {
    if (queue_ == nullptr) return std::nullopt;
    return queue_->take(deadline, heartbeats);
  }

  std::optional<Event<T>> take_event(std::optional<Clock::time_point> deadline) {
    if (queue_ == nullptr) return std::nullopt;
    return queue_->take_event(deadline);
  }

  std::shared_ptr<detail::StreamSource<T>> queue_;
  Subscription subscription_;
  std::weak_ptr<detail::BusCore> bus_;
  std::weak_ptr<detail::SubscriberCore> subscriber_;
  boost::signals2::scoped_connection end_connection_;
};

namespace detail {

/// The bus side of a stream: offers each event to its queue. A stream on one
/// exact topic knows every event's topic, and tells it to the queue for the
/// events that are that topic and a payload alone: the queue copies those
/// without reading their texts, which stay in the posting core's cache
/// (detail/delivery/envelope.hpp).
template <class T>
class StreamHandler final : public Handler {
 public:
  // `only_topic` must be only_topic_of the patterns the handler is
  // subscribed on: an event that is a payload alone reaches the queue as
  // that topic and payload, so any other value would change its topic.
  StreamHandler(std::shared_ptr<StreamSource<T>> queue, std::optional<SmallText> only_topic)
      : queue_(std::move(queue)), only_topic_(std::move(only_topic)) {}
  bool invoke(const void* event, const EventOps& ops) override {
    const SmallText* topic = ops.rebuildable_from_payload && only_topic_ ? &*only_topic_ : nullptr;
    return queue_->offer(*static_cast<const Event<T>*>(event), topic);
  }
  std::string describe() const override { return "stream of " + readable_type_name(typeid(T)); }

 private:
  std::shared_ptr<StreamSource<T>> queue_;
  const std::optional<SmallText> only_topic_;
};

// A new stream's source, seen as what its consumer reads and as what the bus
// links to (StreamQueueBase: resumes, drop reports, the end, a puller).
template <class T>
struct StreamSourceOf {
  std::shared_ptr<StreamSource<T>> source;
  std::shared_ptr<StreamQueueBase> link;
};

// A Block stream of some depth on an asynchronous bus drains its lane itself
// (lane_stream.hpp); the others are filled by the executors (stream_queue.hpp).
template <class T>
StreamSourceOf<T> make_stream_source(const StreamOptions& options, bool synchronous_bus) {
  if (!synchronous_bus && options.overflow == Overflow::Block && options.depth > 0) {
    auto stream = std::make_shared<LaneStream<T>>(options);
    return {stream, stream};
  }
  auto queue = std::make_shared<StreamQueue<T>>(options, synchronous_bus);
  return {queue, queue};
}

}  // namespace detail
}  // namespace courier
