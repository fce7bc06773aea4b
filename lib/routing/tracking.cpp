#include "routing/tracking.hpp"

namespace courier::detail {

bool TrackedHandler::invoke(const void* event, const EventOps& ops) {
  const std::shared_ptr<const void> owner = owner_.lock();
  if (owner == nullptr) {
    // Handled, as far as the bus is concerned: the subscription is over.
    if (const auto bus = bus_.lock()) {
      bus->expire(*subscriber_);
    } else {
      subscriber_->close();
      subscriber_->notify_disconnected();
    }
    return true;
  }
  return inner_->invoke(event, ops);
}

}  // namespace courier::detail
