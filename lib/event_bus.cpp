#include "courier/event_bus.hpp"

#include <cstdio>
#include <cstdlib>

namespace courier {

EventBus::EventBus(Options options) : core_(std::make_shared<detail::BusCore>(options)) {}

EventBus::~EventBus() {
  if (core_->on_own_thread()) {
    std::fputs(
        "courier: an EventBus was destroyed from one of its own handlers; "
        "its executor threads cannot join themselves\n",
        stderr);
    std::abort();
  }
  core_->shutdown();
  core_->release_subscribers();
}

Subscription EventBus::add(const std::type_info& type, std::string_view topic_pattern,
                           Concurrency concurrency, std::unique_ptr<detail::Handler> handler,
                           const void* identity) {
  auto candidate = std::make_shared<detail::SubscriptionCore>(
      type, TopicPattern(topic_pattern), concurrency, core_->concurrent_lanes(), std::move(handler),
      identity);
  return Subscription(core_, core_->subscribe(std::move(candidate)));
}

}  // namespace courier
