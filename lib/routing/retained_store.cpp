// The retained events' store: see courier/detail/routing/retained_store.hpp.
#include "courier/detail/routing/retained_store.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "courier/detail/bus_core.hpp"
#include "courier/errors.hpp"
#include "delivery/thread_state.hpp"

namespace courier::detail {
namespace {

bool inside_sync_delivery_of(const BusCore& bus) noexcept {
  for (const SyncFrame* frame = innermost_sync_frame(); frame != nullptr; frame = frame->outer) {
    if (frame->bus == &bus) return true;
  }
  return false;
}

}  // namespace

void RetainedStore::keep_and_post(RetainedEvent kept, void (*post)(void* context), void* context) {
  const std::lock_guard lock(mutex_);
  const std::string_view topic = kept.ops->topic(kept.event.get());
  auto found = events_.find(topic);
  if (found == events_.end()) {
    if (events_.size() >= max_retained_) {
      throw LimitExceeded("Options::max_retained", max_retained_, events_.size() + 1);
    }
    // Kept first, so that what `post` routes is already what a subscriber
    // that comes next finds; taken back if the post fails.
    found = events_.emplace(std::string(topic), std::move(kept)).first;
    size_.store(events_.size(), std::memory_order_relaxed);
    try {
      post(context);
    } catch (...) {
      events_.erase(found);
      size_.store(events_.size(), std::memory_order_relaxed);
      throw;
    }
    return;
  }
  RetainedEvent previous = std::exchange(found->second, std::move(kept));
  try {
    post(context);
  } catch (...) {
    found->second = std::move(previous);
    throw;
  }
}

// Routed under the mutex (the post finds this frame and holds the event with
// the routing of that instant), delivered once it is released. From inside a
// synchronous delivery of the bus, the frame of that delivery holds it, as it
// holds any post made there.
void RetainedStore::keep_and_post_sync(BusCore& bus, RetainedEvent kept,
                                       void (*post)(void* context), void* context) {
  if (inside_sync_delivery_of(bus)) return keep_and_post(std::move(kept), post, context);
  SyncFrame frame(&bus);
  keep_and_post(std::move(kept), post, context);
  bus.deliver_held_events(frame);
}

std::shared_ptr<SubscriberCore> RetainedStore::subscribe(
    BusCore& bus, std::shared_ptr<SubscriberCore> candidate) {
  // What the retained events' handlers post is held, then routed again once
  // the subscription is visible: it reaches the subscription too, as it
  // would on an asynchronous bus, where those handlers run later.
  std::optional<SyncFrame> frame;
  if (bus.synchronous()) frame.emplace(&bus);
  std::shared_ptr<SubscriberCore> subscribed;
  {
    const std::lock_guard lock(mutex_);
    if (!events_.empty()) {
      const BusCore::SubscriptionPlan plan = bus.plan_subscription(candidate);
      if (plan.target != nullptr) {
        // The candidate is not shared yet: its patterns need no lock.
        bus.replay(*plan.target, matching_locked(candidate->type(),
                                                 candidate->patterns_while_routing(), plan.had));
      }
    }
    subscribed = bus.subscribe(std::move(candidate));
  }
  if (frame) {
    bus.route_held_events_again(*frame);
    bus.deliver_held_events(*frame);
  }
  return subscribed;
}

bool RetainedStore::clear(std::string_view topic) {
  validate_topic(topic);
  const std::lock_guard lock(mutex_);
  const auto found = events_.find(topic);
  if (found == events_.end()) return false;
  events_.erase(found);
  size_.store(events_.size(), std::memory_order_relaxed);
  return true;
}

std::vector<RetainedEvent> RetainedStore::matching_locked(
    const std::type_info& type, const std::vector<TopicPattern>& wanted,
    const std::vector<TopicPattern>& had) const {
  const auto matches = [](const std::vector<TopicPattern>& patterns, std::string_view topic) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const TopicPattern& pattern) { return pattern.matches(topic); });
  };
  std::vector<RetainedEvent> found;
  for (const auto& [topic, event] : events_) {
    if (event.ops->type == type && matches(wanted, topic) && !matches(had, topic)) {
      found.push_back(event);
    }
  }
  return found;
}

}  // namespace courier::detail
