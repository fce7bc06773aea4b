// Screening (issue 15): the filter and tracked owner a subscriber may put in
// front of its deliveries, applied on the publishing path (BusCore::publish,
// and SyncPath's delivery) to routes that hold a screened subscriber only.
#include <exception>
#include <mutex>

#include "courier/detail/bus_core.hpp"

namespace courier::detail {

bool BusCore::admits(SubscriberCore& subscription, const void* event, const EventOps& ops,
                     CounterBlock& counters) noexcept {
  const Screen* screen = subscription.screen();
  if (screen == nullptr) return true;
  if (screen->owner_gone()) {
    expire(subscription);
    return false;
  }
  if (screen->filter == nullptr) return true;
  try {
    return screen->filter->admits(event);
  } catch (...) {
    counters.failed.increment();
    report_error(subscription, event, ops, std::current_exception());
    return false;
  }
}

// Closing without waiting (and on_disconnect run at once, on this thread): the call that finds the
// owner gone may be the subscriber's own delivery (TrackedHandler), which must not wait for itself.
// Nothing is left to wait for anyway: a call that starts finds the owner
// gone and skips, and one that locked the owner first keeps it alive.
void BusCore::expire(SubscriberCore& subscriber) noexcept {
  try {
    const std::lock_guard lock(routing_mutex_);
    remove_locked(subscriber);
  } catch (...) {
    // Only std::mutex::lock throws here; routing then lets go of the
    // subscriber at the next sweep (remove_gone_locked) instead.
  }
  subscriber.close();
  subscriber.notify_disconnected();
}

}  // namespace courier::detail
