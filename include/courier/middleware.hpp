/// \file
/// Middleware: functions that see every event a bus accepts before any
/// subscriber does, and may change its headers or veto it (asyncutils'
/// middleware, an interceptor chain).
///
/// \code
///   // Every event gets a tenant header; events without a trace id are vetoed.
///   courier::MiddlewareCookie tenant = bus.add_middleware([](courier::PostedEvent& event) {
///     event.set_header("tenant", "acme");
///     return event.headers().contains("trace-id") ? courier::Verdict::Pass
///                                                 : courier::Verdict::Veto;
///   });
///   // Typed: only Event<Order>s on "orders.>", with their payload.
///   bus.add_middleware<Order>("orders.>", [](courier::Event<Order>& event) {
///     return event.data().quantity > 0 ? courier::Verdict::Pass : courier::Verdict::Veto;
///   });
///   bus.remove_middleware(tenant);
/// \endcode
///
/// Contract (EventBus::add_middleware and the overloads below):
/// - A middleware runs on the posting thread, inside post() or try_post(),
///   before the event takes a place in the bus's queue, after the bus
///   stamped it (Options::stamp_events). Middlewares run in the order they
///   were added; each sees what those before it changed.
/// - Verdict::Veto: the event goes no further, reaches no subscriber, and is
///   counted in Stats::vetoed (not in posted, nor dead); post() returns
///   normally and try_post() returns true. A middleware that throws vetoes
///   the event the same way, and its exception is reported to the
///   EventBus::on_error hooks (DeliveryError::subscriber names the middleware).
/// - Adding and removing are safe from any thread, while events flow, from
///   inside a middleware or a handler too: a post that has started runs the
///   middlewares present when it started (a removed one may run once more
///   for a post already under way, never for a post that starts after
///   remove_middleware returned).
/// - A middleware may run on several posting threads at once: it must be
///   thread-safe. It may post to the bus: that post runs the chain again, and
///   is accepted before the event the middleware is looking at (which the
///   bus accepts only once the chain has passed it).
/// - A typed middleware may change the payload and the headers, not the
///   topic or the ordering key: a post through a Topic handle is routed by
///   the handle's topic, and a stream on one exact topic takes every event
///   it gets to be on that topic.
/// - With no middleware (and no stamping), a post pays one relaxed load of
///   a flag.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <typeinfo>

#include "courier/detail/event_metadata.hpp"
#include "courier/event.hpp"
#include "courier/headers.hpp"

namespace courier {

/// What a middleware decides for an event.
enum class Verdict {
  Pass,  ///< on to the next middleware, then to the subscribers
  Veto,  ///< no further: the event is counted in Stats::vetoed and dropped
};

/// Names one middleware of one bus, for EventBus::remove_middleware. A
/// default-constructed cookie names none.
class MiddlewareCookie {
 public:
  MiddlewareCookie() noexcept = default;
  /// Made by the bus: `number` is unique among its middlewares, never 0.
  explicit MiddlewareCookie(std::uint64_t number) noexcept : number_(number) {}
  /// The middleware's number (0 for none).
  std::uint64_t number() const noexcept { return number_; }
  /// Names the same middleware.
  friend bool operator==(MiddlewareCookie, MiddlewareCookie) = default;

 private:
  std::uint64_t number_ = 0;
};

/// An event of any payload type on its way through the middleware chain:
/// what an untyped middleware receives. Valid during the call only.
///
/// Thread safety: used by the one posting thread that runs the chain.
class PostedEvent {
 public:
  /// Made by the bus from the Event<T> being posted.
  template <class T>
  explicit PostedEvent(Event<T>& event) noexcept
      : event_(&event),
        type_(&typeid(T)),
        topic_(event.topic()),
        ordering_key_(event.ordering_key()),
        metadata_(&detail::metadata_of(event)) {}

  /// The event's topic.
  std::string_view topic() const noexcept { return topic_; }
  /// Its ordering key (empty: none).
  std::string_view ordering_key() const noexcept { return ordering_key_; }
  /// Its payload type.
  const std::type_info& type() const noexcept { return *type_; }
  /// Its id (0: none; see Event::id).
  std::uint64_t id() const noexcept { return *metadata_ ? metadata_->get()->id : 0; }
  /// Its headers.
  const Headers& headers() const noexcept {
    return *metadata_ ? metadata_->get()->headers : detail::no_headers();
  }
  /// Sets a header, as Event::set_header does (same errors).
  void set_header(std::string_view key, std::string_view value) {
    metadata_->writable().headers.set(key, value);
  }
  /// Removes a header; true if it was there.
  bool erase_header(std::string_view key) {
    return !headers().empty() && metadata_->writable().headers.erase(key);
  }
  /// The event itself, if its payload type is T (to read or change its
  /// payload); null otherwise.
  template <class T>
  Event<T>* as() noexcept {
    return *type_ == typeid(T) ? static_cast<Event<T>*>(event_) : nullptr;
  }

 private:
  void* event_;
  const std::type_info* type_;
  std::string_view topic_;
  std::string_view ordering_key_;
  detail::MetadataPointer* metadata_;
};

/// An untyped middleware: sees every event.
using Middleware = std::function<Verdict(PostedEvent&)>;

}  // namespace courier
