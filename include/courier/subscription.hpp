/// \file
/// Subscription handles.
///
/// EventBus::subscribe returns a Subscription: a small movable handle that can
/// cancel the subscription later. Dropping it does not cancel anything (as with
/// Guava's register(), a subscription lives until it is cancelled or the bus is
/// destroyed). ScopedSubscription cancels when it is destroyed.
///
/// \code
/// // Wrong: the callable captures `this`, but nothing cancels it when *this dies.
/// bus.subscribe<int>("ticks", [this](const courier::Event<int>& e) { count_ += e.data(); });
///
/// // Right: the member handle cancels (and waits out a running call) first.
/// courier::ScopedSubscription ticks_ = courier::ScopedSubscription(
///     bus.subscribe<int>("ticks", [this](const courier::Event<int>& e) { count_ += e.data(); }));
/// \endcode
///
/// Thread safety: distinct objects: safe. Shared objects: unsafe (guard a handle
/// shared between threads yourself). cancel() may be called from any thread,
/// including from inside a handler, and on a handle that outlived its bus.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "courier/topic.hpp"

#include "courier/detail/export.hpp"

namespace courier {

namespace detail {
class BusCore;
class SubscriberCore;
}  // namespace detail

/// A handle to one subscription, which can cancel it; dropping it cancels
/// nothing. See the top of subscription.hpp for an example and its thread safety.
class COURIER_EXPORT Subscription {
 public:
  /// An empty handle: cancel() does nothing, active() is false.
  Subscription() noexcept = default;
  /// Made by EventBus::subscribe: `patterns` of `subscriber` on `bus`.
  Subscription(std::weak_ptr<detail::BusCore> bus, std::weak_ptr<detail::SubscriberCore> subscriber,
               std::vector<TopicPattern> patterns) noexcept
      : bus_(std::move(bus)), subscriber_(std::move(subscriber)), patterns_(std::move(patterns)) {}

  /// Unsubscribes the subscriber from this handle's patterns.
  ///  - If that leaves it no pattern on the bus (always so for a callable, and
  ///    for an object subscribed through this handle only): from outside its
  ///    handlers, returns once no invocation is running and none will start,
  ///    so the subscriber may be destroyed; from inside any handler of the bus,
  ///    returns at once (no invocation starts after it, but one running on
  ///    another thread may still be finishing).
  ///  - If the object keeps other patterns: returns at once. No event posted
  ///    after it returns reaches the object through these patterns; an event
  ///    already on its way reaches it only if one of the patterns it keeps
  ///    matches, except one whose call may already be starting.
  /// Idempotent; no-op on an empty handle or after the bus is gone.
  void cancel();

  /// True while the subscriber is subscribed to one of this handle's patterns.
  bool active() const noexcept;

 private:
  std::weak_ptr<detail::BusCore> bus_;
  std::weak_ptr<detail::SubscriberCore> subscriber_;
  std::vector<TopicPattern> patterns_;
};

/// A Subscription that cancels when it is destroyed (or assigned over), and
/// waits out a running call then as Subscription::cancel() does. Movable, not
/// copyable.
class ScopedSubscription {
 public:
  /// Holds no subscription.
  ScopedSubscription() noexcept = default;
  /// Takes `subscription` over.
  explicit ScopedSubscription(Subscription subscription) noexcept
      : subscription_(std::move(subscription)) {}
  ~ScopedSubscription() { subscription_.cancel(); }

  /// Takes over `other`'s subscription; `other` is left empty.
  ScopedSubscription(ScopedSubscription&& other) noexcept
      : subscription_(std::exchange(other.subscription_, Subscription())) {}
  /// Cancels the subscription held, then takes over `other`'s.
  ScopedSubscription& operator=(ScopedSubscription&& other) noexcept {
    if (this != &other) {
      subscription_.cancel();
      subscription_ = std::exchange(other.subscription_, Subscription());
    }
    return *this;
  }
  ScopedSubscription(const ScopedSubscription&) = delete;
  ScopedSubscription& operator=(const ScopedSubscription&) = delete;

  /// Subscription::cancel() on the subscription held.
  void cancel() { subscription_.cancel(); }
  /// Subscription::active() of the subscription held.
  bool active() const noexcept { return subscription_.active(); }
  /// Gives up ownership without cancelling.
  Subscription release() noexcept { return std::exchange(subscription_, Subscription()); }

 private:
  Subscription subscription_;
};

}  // namespace courier
