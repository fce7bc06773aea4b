#include "courier/subscription.hpp"

#include "courier/detail/bus_core.hpp"

namespace courier {

void Subscription::cancel() {
  const auto subscriber = subscriber_.lock();
  if (subscriber == nullptr) return;
  if (const auto bus = bus_.lock()) {
    bus->cancel(*subscriber, patterns_);
  } else {
    subscriber->close();
    subscriber->notify_disconnected();
  }
}

bool Subscription::active() const noexcept {
  const auto subscriber = subscriber_.lock();
  return subscriber != nullptr && !subscriber->closed() && !subscriber->owner_gone() &&
         !bus_.expired() && subscriber->has_any_of(patterns_);
}

}  // namespace courier
