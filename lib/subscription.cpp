#include "courier/subscription.hpp"

#include "courier/detail/bus_core.hpp"

namespace courier {

void Subscription::cancel() {
  const auto subscription = subscription_.lock();
  if (subscription == nullptr) return;
  if (const auto bus = bus_.lock()) {
    bus->cancel(*subscription);
  } else {
    subscription->close();
  }
}

bool Subscription::active() const noexcept {
  const auto subscription = subscription_.lock();
  return subscription != nullptr && !subscription->closed() && !bus_.expired();
}

}  // namespace courier
