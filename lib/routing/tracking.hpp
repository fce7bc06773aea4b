// TrackedHandler: the handler of a subscription that tracks an owner
// (SubscribeOptions::track), private to lib/. It wraps the subscriber's own
// handler, so that only tracked subscribers pay for tracking: around each
// call it locks the owner, which keeps it alive while the call runs, and if
// the owner is gone it skips the call and expires the subscription
// (BusCore::expire). The publishing path also screens a gone owner out before
// the event takes room in the lane (BusCore::admits); this catches an owner
// that went between the post and the call.
//
// Thread safety: invoke() as any Handler's (the bus's invocation protocol);
// bind() once, before the subscriber is added to the bus.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "courier/detail/bus_core.hpp"
#include "courier/detail/delivery/handler.hpp"

namespace courier::detail {

class TrackedHandler final : public Handler {
 public:
  TrackedHandler(std::unique_ptr<Handler> inner, std::weak_ptr<const void> owner)
      : inner_(std::move(inner)), owner_(std::move(owner)) {}

  // The subscriber this handler belongs to (which owns it, and so outlives
  // every call) and its bus.
  void bind(std::weak_ptr<BusCore> bus, SubscriberCore& subscriber) noexcept {
    bus_ = std::move(bus);
    subscriber_ = &subscriber;
  }

  bool invoke(const void* event, const EventOps& ops) override;
  std::string describe() const override { return inner_->describe(); }

 private:
  std::unique_ptr<Handler> inner_;
  std::weak_ptr<const void> owner_;
  std::weak_ptr<BusCore> bus_;
  SubscriberCore* subscriber_ = nullptr;
};

}  // namespace courier::detail
