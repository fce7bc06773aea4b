/// \file
/// courier::subscribe_until: a subscription that ends by itself when a
/// std::stop_token is stopped or a future becomes ready (asyncutils'
/// subscribe_until).
///
/// \code
///   std::stop_source stop;
///   courier::subscribe_until<int>(bus, stop.get_token(), "progress.*", show);
///   ...
///   stop.request_stop();  // the subscription is gone when this returns
///
///   std::promise<void> done;
///   courier::subscribe_until<int>(bus, done.get_future().share(), "progress.*", show);
///   done.set_value();     // gone within one check interval
/// \endcode
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "courier/event.hpp"
#include "courier/event_bus.hpp"
#include "courier/pipeline/detail/until_state.hpp"
#include "courier/pipeline/operators.hpp"
#include "courier/pipeline/timer_service.hpp"
#include "courier/pipeline/timer_thread.hpp"
#include "courier/subscriber.hpp"
#include "courier/subscription.hpp"

namespace courier {

namespace detail {

struct EndOnStop {
  std::weak_ptr<UntilState> state;
  void operator()() const {
    if (const auto held = state.lock()) held->end();
  }
};

// Re-arms itself every `period` until the future is ready (then ends the
// subscription) or the subscription is gone.
template <class R>
void check_future_every(TimerService::Duration period, TimerService& timers,
                        std::weak_ptr<UntilState> weak, std::shared_future<R> until) {
  timers.schedule_after(period, [period, &timers, weak, until = std::move(until)] {
    const auto state = weak.lock();
    if (state == nullptr) return;
    if (until.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      state->end();
    } else {
      check_future_every(period, timers, weak, until);
    }
  });
}

}  // namespace detail

/// Subscribes `callable` (taking `const Event<T>&`) to `pattern` as
/// EventBus::subscribe does, until `stop` is stopped: request_stop() on
/// another thread returns once the subscription is gone (cancelled, waiting
/// out a running call as Subscription::cancel does; from inside a handler of
/// the bus, at once); no call starts once the stop is requested. Stopped
/// already, the subscription ends at once. The returned handle may cancel it
/// earlier. Thread-safe. Throws as EventBus::subscribe does.
template <class T, class F>
Subscription subscribe_until(EventBus& bus, std::stop_token stop, std::string_view pattern,
                             F&& callable, Concurrency concurrency = Concurrency::Serial) {
  struct Held {
    std::shared_ptr<detail::UntilState> state = std::make_shared<detail::UntilState>();
    std::optional<std::stop_callback<detail::EndOnStop>> on_stop;
  };
  auto held = std::make_shared<Held>();
  Subscription subscription = bus.subscribe<T>(
      pattern,
      [held, stop, callable = std::forward<F>(callable)](const Event<T>& event) mutable {
        if (!stop.stop_requested()) callable(event);
      },
      concurrency);
  held->state->attach(subscription);
  // Last: a stop already requested ends the subscription inside this call.
  held->on_stop.emplace(stop, detail::EndOnStop{held->state});
  return subscription;
}

/// Subscribes `callable` to `pattern` until `until` is ready (a value or an
/// exception): no call starts once it is ready, and the subscription is
/// cancelled within `check_every` of it, by a timer on `timers` (a
/// std::future cannot call back: it is polled, one timer per subscription at
/// a time), or at the first event after it, whichever comes first. Already
/// ready, it ends at the first check. The returned handle may cancel it
/// earlier. Thread-safe. Throws as EventBus::subscribe does, and
/// std::invalid_argument if `until` is not valid or `check_every` is not
/// positive.
template <class T, class R, class F>
Subscription subscribe_until(EventBus& bus, std::shared_future<R> until, std::string_view pattern,
                             F&& callable, Concurrency concurrency = Concurrency::Serial,
                             TimerService& timers = shared_timer_thread(),
                             TimerService::Duration check_every = std::chrono::milliseconds(10)) {
  if (!until.valid()) {
    throw std::invalid_argument("courier: subscribe_until on \"" + std::string(pattern) +
                                "\" with a future that has no state");
  }
  detail::checked_positive("subscribe_until's check_every", check_every);
  auto state = std::make_shared<detail::UntilState>();
  Subscription subscription = bus.subscribe<T>(
      pattern,
      [state, until, callable = std::forward<F>(callable)](const Event<T>& event) mutable {
        if (until.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
          state->end();
        } else {
          callable(event);
        }
      },
      concurrency);
  state->attach(subscription);
  detail::check_future_every(check_every, timers, std::weak_ptr(state), std::move(until));
  return subscription;
}

}  // namespace courier
