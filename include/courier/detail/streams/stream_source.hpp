// StreamSource<T>: what a Stream<T> (stream.hpp) reads from, whichever way
// the bus fills it: a StreamQueue (stream_queue.hpp), which executors fill
// under the stream's overflow policy, or a LaneStream (lane_stream.hpp), whose
// consumer drains the stream's lane of the bus itself.
//
// Thread safety: as Stream's. offer() is called by whoever delivers to the
// stream (an executor, the posting thread of a synchronous bus, or a
// LaneStream's own consumer).
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "courier/detail/small_text.hpp"
#include "courier/detail/streams/async_waiter.hpp"
#include "courier/event.hpp"
#include "courier/stream_options.hpp"

namespace courier::detail {

// Appends to `events` (a vector or a deque) a copy of `event`, made from
// `topic` and the payload alone if `topic` is given (see StreamSource::offer).
template <class T, class Events>
void copy_to_back(Events& events, const Event<T>& event, const SmallText* topic) {
  if (topic != nullptr) {
    events.emplace_back(ValidatedTopic{}, *topic, event.data());
  } else {
    events.push_back(event);
  }
}

template <class T>
class StreamSource {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~StreamSource() = default;

  // The bus side: `event` is delivered to the stream. `topic`, if given, is
  // its topic, and the event is that topic and its payload, nothing more
  // (EventOps::rebuildable_from_payload): the stream's copy is made from
  // those (copy_to_back), without reading the event's texts. False: declined
  // for now; the bus keeps it in the stream's lane and parks the lane until
  // the consumer makes room (BusCore::park, resume_deliveries).
  virtual bool offer(const Event<T>& event, const SmallText* topic) = 0;

  // The consumer side: the next item, or nothing once the stream has ended
  // (closed, or the bus shut down and the stream is empty) or `deadline`
  // passed. A heartbeat comes only with `heartbeats`, after
  // StreamOptions::heartbeat of idleness.
  virtual std::optional<Taken<T>> take(std::optional<Clock::time_point> deadline,
                                       bool heartbeats) = 0;
  // The same without heartbeats, for next(): the event itself, moved once
  // into the caller's optional when one is at hand (one return object for
  // both paths, so that the compiler builds it in the caller's place).
  std::optional<Event<T>> take_event(std::optional<Clock::time_point> deadline) {
    std::optional<Event<T>> event = take_at_hand();
    if (!event) {
      if (std::optional<Taken<T>> taken = take(deadline, false)) event = std::move(taken->event);
    }
    return event;
  }
  // The consumer side's common case, for next() and a coroutine's
  // async_next: the next event if the consumer already holds it (drained,
  // or batched, on its own side), built in place in the optional returned.
  // Nothing if taking it needs more (the stream's mutex, a drain, a wait)
  // or the stream is closed: the caller then goes on to take() or poll(),
  // which tell what there is, and drop what a closed stream still held.
  // An implementation never returns an event while an earlier one waits
  // elsewhere in the stream. Why apart from take(): passing the event
  // through Outcome and Taken costs a move through a stack temporary each,
  // and each such move stalls on the store of the one before.
  virtual std::optional<Event<T>> take_at_hand() { return std::nullopt; }
  // The consumer side, without waiting: the outcome take_async would
  // complete a waiter with at once, or nothing if it would have to wait (or
  // another consumer waits). An async wait tries this first: an item already
  // there needs no waiter.
  virtual std::optional<Outcome<T>> poll() = 0;
  // Completes `waiter` with the next item, or with operation_aborted
  // (closed, or cancelled), eof (the bus shut down and the stream is empty)
  // or already_started (another waiter waits).
  virtual void take_async(std::unique_ptr<AsyncWaiter<T>> waiter) = 0;

  virtual StreamStats stats() const = 0;
  // Ends the stream: what it holds is dropped, waits end. True the first time.
  virtual bool close() = 0;
  virtual bool closed() const = 0;
};

}  // namespace courier::detail
