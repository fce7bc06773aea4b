// The screen a subscription may put in front of its deliveries
// (SubscribeOptions, issue 15): a filter, evaluated on the posting thread
// before the event takes room in the subscriber's lane (BusCore::admits), and
// an owner it tracks, checked there too and again, locked, around each call
// (lib/routing/tracking.hpp). A subscriber without either has no Screen at all, and
// the routing snapshot marks the routes that hold a screened one, so that a
// post through an unscreened route never looks (CachedRoute::screened).
//
// Thread safety: immutable once the subscriber is made; the filter itself
// must be safe to call from several threads (subscribe_options.hpp).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "courier/audience.hpp"
#include "courier/detail/export.hpp"
#include "courier/event.hpp"
#include "courier/subscribe_options.hpp"

namespace courier::detail {

// The type-erased filter: `event` points at an Event<T> of the filter's T.
class EventFilter {
 public:
  virtual ~EventFilter() = default;
  virtual bool admits(const void* event) const = 0;  // may throw
};

template <class T>
class EventFilterOf final : public EventFilter {
 public:
  explicit EventFilterOf(std::function<bool(const Event<T>&)> filter)
      : filter_(std::move(filter)) {}
  bool admits(const void* event) const override {
    return filter_(*static_cast<const Event<T>*>(event));
  }

 private:
  std::function<bool(const Event<T>&)> filter_;
};

struct Screen {
  std::unique_ptr<const EventFilter> filter;  // null: none
  std::weak_ptr<const void> owner;            // meaningful only if `tracked`
  bool tracked = false;

  // True if tracking an owner that is gone.
  bool owner_gone() const noexcept { return tracked && owner.expired(); }
};

// SubscribeOptions without their payload type, as the library takes them.
// The identity is not part of the Screen: only an event with an audience
// looks at it, on a path of its own (BusCore::publish_to_audience), so that
// an identified subscriber costs events without one nothing.
struct SubscriberSettings {
  std::unique_ptr<const Screen> screen;  // null: no filter, no tracking
  int priority = 0;
  std::unique_ptr<const Identity> identity;  // null: none (audience.hpp)
  std::function<void()> on_disconnect;       // empty: none

  bool any() const noexcept {
    return screen != nullptr || priority != 0 || identity != nullptr || on_disconnect;
  }
};

// Adds a stream's identity and on_disconnect (StreamOptions) to `settings`
// (from its SubscribeOptions); std::invalid_argument if both set one.
COURIER_EXPORT void add_stream_settings(SubscriberSettings& settings,
                                        std::optional<Identity> identity,
                                        std::function<void()> on_disconnect);

// True unless `owner` is a default (empty) weak_ptr: one made from an owner
// that has since gone is still tracking.
inline bool tracks_something(const std::weak_ptr<const void>& owner) noexcept {
  const std::weak_ptr<const void> none;
  return owner.owner_before(none) || none.owner_before(owner);
}

template <class T>
SubscriberSettings settings_of(SubscribeOptions<T> options) {
  SubscriberSettings settings;
  if (options.identity) {
    options.identity->validate();  // first: nothing is subscribed if it throws
    settings.identity = std::make_unique<const Identity>(std::move(*options.identity));
  }
  settings.on_disconnect = std::move(options.on_disconnect);
  settings.priority = options.priority;
  const bool tracked = tracks_something(options.track);
  if (options.filter || tracked) {
    auto screen = std::make_unique<Screen>();
    if (options.filter) {
      screen->filter = std::make_unique<EventFilterOf<T>>(std::move(options.filter));
    }
    screen->owner = std::move(options.track);
    screen->tracked = tracked;
    settings.screen = std::move(screen);
  }
  return settings;
}

}  // namespace courier::detail
