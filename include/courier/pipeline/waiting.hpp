/// \file
/// Waiting for one event: courier::next_event (a std::future) and
/// courier::async_next_event (any Asio completion token).
///
/// \code
///   std::future<courier::Event<Job>> done = courier::next_event<Job>(
///       bus, "job.done", [id](const Job& job) { return job.id == id; }, 5s);
///   bus.post<Job>("job.start", Job{id});
///   courier::Event<Job> event = done.get();  // throws courier::Timeout after 5 s
///
///   // in a coroutine:
///   std::optional<courier::Event<Job>> event = co_await courier::async_next_event<Job>(
///       bus, "job.done", is_mine, 5s, courier::shared_timer_thread(), boost::asio::use_awaitable);
/// \endcode
///
/// Each wait makes a temporary Serial subscription to the pattern, with the
/// bus's usual contract: it sees the events posted after the call returns
/// (for async_next_event: after the operation is launched). It ends when the
/// first event for which the predicate returns true arrives, or when the
/// timeout passes; the subscription is cancelled, and the timeout timer
/// cancelled, before the result is handed over, so whoever sees the result
/// finds EventBus::has_subscribers and Stats::subscriptions without it.
/// The bus and the timer service must outlive the wait.
#pragma once

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/async_result.hpp>

#include "courier/event.hpp"
#include "courier/event_bus.hpp"
#include "courier/pipeline/detail/event_wait.hpp"
#include "courier/pipeline/detail/handler_completion.hpp"
#include "courier/pipeline/detail/receiver.hpp"
#include "courier/pipeline/operators.hpp"
#include "courier/pipeline/timeout.hpp"
#include "courier/pipeline/timer_service.hpp"
#include "courier/pipeline/timer_thread.hpp"

namespace courier {

/// A predicate that takes any event: next_event's default.
struct AnyEvent {
  /// Always true.
  template <class Item>
  bool operator()(const Item& /*item*/) const noexcept {
    return true;
  }
};

namespace detail {

// Subscribes, arms the timeout, and hands both to the wait. Throws what
// subscribe throws (an invalid pattern: std::invalid_argument) before any of
// it exists.
template <class T, class Predicate>
void start_wait(EventBus& bus, std::string_view pattern, Predicate predicate,
                TimerService::Duration timeout, TimerService& timers,
                const std::shared_ptr<EventWait<T>>& wait) {
  checked_positive("next_event's timeout", timeout);
  Subscription subscription = bus.subscribe<T>(
      pattern, [wait, predicate = std::move(predicate)](const Event<T>& event) mutable {
        if (call_with(predicate, event)) wait->finish(nullptr, event);
      });
  const TimerService::TimerId timer =
      timers.schedule_after(timeout, [wait, timed_out = Timeout(std::string(pattern), timeout)] {
        wait->finish(std::make_exception_ptr(timed_out), std::nullopt);
      });
  wait->attach(std::move(subscription), timer);
}

template <class T>
struct PromiseCompletion {
  std::promise<Event<T>> promise;
  void operator()(std::exception_ptr error, std::optional<Event<T>> event) && {
    if (error) {
      promise.set_exception(std::move(error));
    } else {
      promise.set_value(std::move(*event));
    }
  }
};

}  // namespace detail

/// A future of the first event on `pattern` (posted after this call returns)
/// for which `predicate` returns true; it takes the event or its payload by
/// const reference, and runs on a bus executor, one event at a time. If none
/// comes within `timeout` (by `timers`' clock), the future throws
/// courier::Timeout, naming the pattern and the timeout. Either way the
/// temporary subscription is gone once the future is ready. Thread-safe.
/// Throws std::invalid_argument for an invalid pattern or a timeout that is
/// not positive, courier::LimitExceeded past Options::max_subscriptions. A
/// predicate that throws is reported by the bus (EventBus::on_error) and the
/// wait goes on.
template <class T, class Predicate = AnyEvent>
std::future<Event<T>> next_event(EventBus& bus, std::string_view pattern, Predicate predicate,
                                 TimerService::Duration timeout,
                                 TimerService& timers = shared_timer_thread()) {
  std::promise<Event<T>> promise;
  std::future<Event<T>> future = promise.get_future();
  auto wait = std::make_shared<detail::EventWaitFor<T, detail::PromiseCompletion<T>>>(
      timers, detail::PromiseCompletion<T>{std::move(promise)});
  detail::start_wait<T>(bus, pattern, std::move(predicate), timeout, timers, wait);
  return future;
}

/// next_event for any event on `pattern`: no predicate.
template <class T>
std::future<Event<T>> next_event(EventBus& bus, std::string_view pattern,
                                 TimerService::Duration timeout,
                                 TimerService& timers = shared_timer_thread()) {
  return next_event<T>(bus, pattern, AnyEvent{}, timeout, timers);
}

/// next_event with any Asio completion token: a callback, use_future,
/// use_awaitable, deferred (the wait begins when the operation is launched;
/// `bus` and `timers` must still be alive then). Signature:
/// void(std::exception_ptr, std::optional<Event<T>>): on success no
/// exception and the event; on timeout a courier::Timeout and nullopt (so
/// use_future and use_awaitable throw the Timeout). The handler runs on its
/// associated executor, never inside this call. Not cancellable through a
/// cancellation slot: it ends by an event or its timeout. Throws as
/// next_event does (with deferred, when launched).
template <class T, class Predicate, class CompletionToken>
auto async_next_event(EventBus& bus, std::string_view pattern, Predicate predicate,
                      TimerService::Duration timeout, TimerService& timers,
                      CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken,
                                     void(std::exception_ptr, std::optional<Event<T>>)>(
      [&bus, &timers, timeout](auto handler, std::string pattern_copy, Predicate predicate_copy) {
        using Completion = detail::HandlerCompletion<Event<T>, std::decay_t<decltype(handler)>>;
        auto wait = std::make_shared<detail::EventWaitFor<T, Completion>>(
            timers, Completion(std::move(handler)));
        detail::start_wait<T>(bus, pattern_copy, std::move(predicate_copy), timeout, timers, wait);
      },
      token, std::string(pattern), std::move(predicate));
}

}  // namespace courier
