/// \file
/// SubscribeOptions: what a subscription may ask for beyond its topic
/// patterns: a filter, a priority, an owner it tracks, an identity
/// (audience.hpp) and a callback for its end.
///
/// \code
///   auto owner = std::make_shared<Panel>();
///   bus.subscribe<Reading>("scan.>", [raw = owner.get()](const auto& e) { raw->show(e); },
///                          {.filter = [](const courier::Event<Reading>& e) { return e.data().ok;
///                          },
///                           .priority = 10,
///                           .track = owner});   // ends by itself once `owner` is gone
/// \endcode
///
/// A subscription that sets none of them costs nothing more on any post.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "courier/audience.hpp"
#include "courier/event.hpp"

namespace courier {

/// Options for EventBus::subscribe (every form, as an optional last
/// argument) and EventBus::stream. They belong to the subscriber: a
/// Subscriber object keeps the options of its first subscription on a bus
/// (for its payload type), and subscribing it again with options set throws
/// std::invalid_argument.
///
/// Thread safety: a plain aggregate; the bus copies it.
template <class T>
struct SubscribeOptions {
  /// If set, an event reaches the subscriber only if filter(event) is true.
  /// It runs on the posting thread, before the event takes any room in the
  /// subscriber's queue (its lane, or a stream's queue, which then does not
  /// count it as received), and may run on several posting threads at once:
  /// it must be thread-safe, quick, and must not post to or block on the bus.
  /// If it throws, the exception is reported as a throwing subscriber's is
  /// (Stats::failed, EventBus::on_error naming the pattern), and the event
  /// skips this subscriber only.
  std::function<bool(const Event<T>&)> filter = {};

  /// Higher runs first. Where the subscribers of an event run on one thread
  /// (a synchronous bus), they run by priority, highest first, then in the
  /// order they were first subscribed. On an asynchronous bus, it is the
  /// order in which the posting thread hands the event to their lanes, and
  /// nothing more: the lanes run on several threads, in no order between
  /// them.
  int priority = 0;

  /// If set (from a shared_ptr or weak_ptr to any object), the subscription
  /// ends by itself once that object is gone, like Boost.Signals2's track():
  /// no call starts after the bus sees it gone, EventBus::is_subscribed and
  /// has_subscribers stop counting it at once, and the bus lets go of the
  /// subscriber at the next event bound for it or the next subscribe. While
  /// a call runs, the bus holds the object alive (it locks this weak_ptr
  /// before the call, and skips the call if it cannot). Subscribed with an
  /// owner already gone, the subscription is over from the start.
  std::weak_ptr<const void> track = {};

  /// Who the subscription is: an event with an audience (Event::set_audience)
  /// reaches it only if `identity->user` is in that audience, and
  /// EventBus::presence lists it. Without an identity, the subscription
  /// receives only events without an audience. Validated at subscribe time
  /// (Identity::validate: std::invalid_argument naming the bad value, and
  /// nothing is subscribed).
  std::optional<Identity> identity = std::nullopt;

  /// Runs exactly once when the subscription ends, however it ends:
  /// Subscription::cancel (or ScopedSubscription, SubscriptionGroup),
  /// EventBus::unsubscribe of its subscriber, its tracked owner gone
  /// (`track`), its stream closed or destroyed, the bus shut down (once
  /// shutdown() has delivered every accepted event) or destroyed. Never if
  /// subscribe() threw.
  ///
  /// It runs on the thread that ends the subscription, after the bus's locks
  /// are released: the caller of cancel, unsubscribe or Stream::close (once the
  /// subscription's running call has returned, unless that caller is a
  /// handler of the bus), of shutdown() or of the bus's destructor; for a
  /// tracked owner gone, the thread that finds it gone: a posting thread
  /// inside post() (as a filter runs), an executor before a call, or a
  /// subscribe(). So it must be quick and must not block on the bus
  /// (wait_idle, shutdown, or unsubscribe from outside a handler), nor post
  /// to, subscribe on or unsubscribe from the bus: hand such work to another
  /// thread. An exception it throws is caught and reported on stderr.
  std::function<void()> on_disconnect = {};
};

}  // namespace courier
