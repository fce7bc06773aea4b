/// \file
/// Operators on a subscription (asyncutils' Observable operators): filter,
/// map, on_change, throttle, debounce, buffer. Each is one stage of a
/// pipeline that courier::pipe (pipeline.hpp) puts between the bus and a
/// sink; the timing ones run on a TimerService (timer_service.hpp).
///
/// \code
///   courier::TimerThread timers;  // one thread for every timing operator
///   courier::EventBus bus;
///   bus.subscribe<Reading>("scan.>", courier::pipe<Reading>(
///       courier::filter([](const Reading& r) { return r.ok; }),
///       courier::map([](const Reading& r) { return r.value; }),   // now Event<double>
///       courier::buffer(100, 1s, timers),                         // std::vector<Event<double>>
///       [](const std::vector<courier::Event<double>>& batch) { store(batch); }));
/// \endcode
///
/// Items. A stage takes items and hands items on: at first the subscription's
/// `Event<T>`s, after map an `Event<U>` (or what the function returns), after
/// buffer a `std::vector` of the items before it. A function given to an
/// operator (and the sink) takes the item by const reference or, for an
/// event, its payload: `[](const Reading& r)` or
/// `[](const courier::Event<Reading>& e)`.
///
/// Thread safety and order. The bus calls a pipeline as it calls any callable
/// subscriber: a Serial subscription (the default) one event at a time, in
/// post order; a Concurrent one on several threads at once.
///  - filter and map are stateless: they run on the calling thread, so behind
///    a Concurrent subscription their functions run concurrently and must be
///    thread-safe.
///  - on_change, throttle, debounce and buffer keep state under a lock of
///    their own: safe behind a Concurrent subscription, where "earlier" and
///    "latest" mean in the order events reach the stage, not post order.
///    They hand their output on one call at a time, in the order they decided
///    on it, on whichever thread gets there first: a bus executor, or (for
///    debounce and buffer, whose timers emit) the TimerService's thread. So
///    the stages after them and the sink are never called concurrently, but
///    not always on a bus thread, and no thread waits for another's call.
///  - What a timer emits: an exception from the stages after it cannot reach
///    the bus's on_error, and is reported on stderr; the item is lost.
///    Thrown on a bus thread, it is reported by the bus (EventBus::on_error).
///
/// Not guaranteed: debounce and buffer hold events, so what they emit may
/// reach the sink after a later event through another path (another
/// subscription, or a stage that emits at once).
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "courier/detail/export.hpp"
#include "courier/pipeline/detail/basic_stages.hpp"
#include "courier/pipeline/detail/receiver.hpp"
#include "courier/pipeline/detail/timing_stages.hpp"
#include "courier/pipeline/timer_service.hpp"

namespace courier {

namespace detail {

// Throw std::invalid_argument naming the operator and the bad value.
COURIER_EXPORT TimerService::Duration checked_positive(const char* what,
                                                       TimerService::Duration duration);
COURIER_EXPORT std::size_t checked_batch_size(std::size_t count);

// A stage before it knows its input: `output<In>` is what it hands on, and
// link<In>(next) makes the stage.
template <class Predicate>
struct FilterOperator {
  template <class In>
  using output = In;
  template <class In>
  std::shared_ptr<Receiver<In>> link(std::shared_ptr<Receiver<In>> next) && {
    return std::make_shared<FilterStage<In, Predicate>>(std::move(predicate), std::move(next));
  }
  Predicate predicate;
};

template <class Function>
struct MapOperator {
  template <class In>
  using output = typename MappedItem<Function, In>::type;
  template <class In>
  std::shared_ptr<Receiver<In>> link(std::shared_ptr<Receiver<output<In>>> next) && {
    return std::make_shared<MapStage<In, Function>>(std::move(function), std::move(next));
  }
  Function function;
};

template <class KeyFunction>
struct OnChangeOperator {
  template <class In>
  using output = In;
  template <class In>
  std::shared_ptr<Receiver<In>> link(std::shared_ptr<Receiver<In>> next) && {
    return std::make_shared<OnChangeStage<In, KeyFunction>>(std::move(key), std::move(next));
  }
  KeyFunction key;
};

struct ThrottleOperator {
  template <class In>
  using output = In;
  template <class In>
  std::shared_ptr<Receiver<In>> link(std::shared_ptr<Receiver<In>> next) && {
    return std::make_shared<ThrottleStage<In>>(interval, *timers, std::move(next));
  }
  TimerService::Duration interval;
  TimerService* timers;
};

struct DebounceOperator {
  template <class In>
  using output = In;
  template <class In>
  std::shared_ptr<Receiver<In>> link(std::shared_ptr<Receiver<In>> next) && {
    return std::make_shared<DebounceStage<In>>(delay, *timers, std::move(next));
  }
  TimerService::Duration delay;
  TimerService* timers;
};

struct BufferOperator {
  template <class In>
  using output = std::vector<In>;
  template <class In>
  std::shared_ptr<Receiver<In>> link(std::shared_ptr<Receiver<output<In>>> next) && {
    return std::make_shared<BufferStage<In>>(count, interval, *timers, std::move(next));
  }
  std::size_t count;
  TimerService::Duration interval;
  TimerService* timers;
};

}  // namespace detail

/// Passes on the items for which `predicate` returns true. Stateless: runs on
/// the calling thread (so concurrently behind a Concurrent subscription). An
/// exception from `predicate` propagates to the caller (the bus reports it
/// and the event goes no further).
template <class Predicate>
detail::FilterOperator<std::decay_t<Predicate>> filter(Predicate&& predicate) {
  return {std::forward<Predicate>(predicate)};
}

/// Passes on `function(item)` instead of each item: for an event, an event on
/// the same topic, with the same ordering key, carrying the result (or the
/// result itself, if it is an Event). Stateless, as filter.
template <class Function>
detail::MapOperator<std::decay_t<Function>> map(Function&& function) {
  return {std::forward<Function>(function)};
}

/// Passes on an item only if `key(item)` differs from the key of the item
/// before it (the first item always passes): "tell me when the state
/// changes". Keys are compared with ==. `key` runs on the calling thread,
/// outside the stage's lock; the comparison under it. Behind a Concurrent
/// subscription, "before" is the order events reach the stage.
template <class KeyFunction>
detail::OnChangeOperator<std::decay_t<KeyFunction>> on_change(KeyFunction&& key) {
  return {std::forward<KeyFunction>(key)};
}

/// Passes on an item, then drops every item that arrives less than
/// `interval` after it (by `timers`' clock), then passes the next one, and
/// so on: at most one item per interval, the first of it (a leading-edge
/// throttle; nothing is held or emitted later). Sets no timer; reads
/// `timers.now()`. Throws std::invalid_argument, naming it, unless `interval`
/// is positive. `timers` must outlive the pipeline.
COURIER_EXPORT detail::ThrottleOperator throttle(TimerService::Duration interval,
                                                 TimerService& timers);

/// Holds the latest item and passes it on once `delay` has passed with no
/// newer item (a trailing-edge debounce: a burst yields its last item, once
/// the burst is over). The item is emitted by a timer, on `timers`' thread.
/// One timer per stage at a time, whatever the rate. Throws
/// std::invalid_argument, naming it, unless `delay` is positive. `timers`
/// must outlive the pipeline. A held item is dropped if the pipeline ends
/// first.
COURIER_EXPORT detail::DebounceOperator debounce(TimerService::Duration delay,
                                                 TimerService& timers);

/// Gathers items into batches (std::vector, in arrival order) and passes a
/// batch on when it holds `count` items (on the thread of the item that
/// filled it) or `interval` after its first item (from a timer, on `timers`'
/// thread), whichever comes first; an empty batch is never passed on. So a
/// steady flow yields one batch per interval. Throws std::invalid_argument,
/// naming it, for a zero `count` or an `interval` that is not positive.
/// `timers` must outlive the pipeline. A partial batch is dropped if the
/// pipeline ends first.
COURIER_EXPORT detail::BufferOperator buffer(std::size_t count, TimerService::Duration interval,
                                             TimerService& timers);

}  // namespace courier
