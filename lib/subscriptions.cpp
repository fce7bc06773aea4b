// Subscription bookkeeping: adding, finding and cancelling subscriptions.
#include <algorithm>

#include "courier/detail/bus_core.hpp"
#include "thread_state.hpp"

namespace courier::detail {

SubscriptionCore::SubscriptionCore(const std::type_info& type, TopicPattern pattern,
                                   Concurrency concurrency, std::size_t concurrent_lanes,
                                   std::unique_ptr<Handler> handler, const void* identity)
    : type_(type),
      pattern_(std::move(pattern)),
      concurrency_(concurrency),
      identity_(identity),
      lane_count_(concurrency == Concurrency::Serial ? 1
                                                     : std::max<std::size_t>(concurrent_lanes, 1)),
      lanes_(std::make_unique<Lane[]>(lane_count_)),
      handler_(std::move(handler)) {
  for (std::size_t i = 0; i < lane_count_; ++i) lanes_[i].owner = this;
}

void SubscriptionCore::wait_until_quiet() noexcept {
  for (int active = active_.load(std::memory_order_seq_cst); active != 0;
       active = active_.load(std::memory_order_seq_cst)) {
    active_.wait(active, std::memory_order_seq_cst);
  }
  // Synchronous invocations under a lane's mutex are not counted in active_:
  // taking each mutex once waits out the one running, and any later holder
  // finds `closed` set (see invoke_synchronously).
  for (std::size_t i = 0; i < lane_count_; ++i) {
    const std::lock_guard wait_out(lanes_[i].exclusive);
  }
}

std::shared_ptr<SubscriptionCore> BusCore::subscribe(std::shared_ptr<SubscriptionCore> candidate) {
  std::lock_guard lock(routing_mutex_);
  if (const void* identity = candidate->identity()) {
    auto& same_subscriber = by_identity_[identity];
    for (const auto& existing : same_subscriber) {
      if (existing->type() == candidate->type() && existing->pattern() == candidate->pattern()) {
        return existing;
      }
    }
    same_subscriber.push_back(candidate);
  }
  subscriptions_.emplace(candidate.get(), candidate);
  // Release: a post that reads the new version (acquire) rebuilds its snapshot
  // and so sees this subscription; one made after subscribe() returns will.
  routing_version_.fetch_add(1, std::memory_order_release);
  return candidate;
}

std::size_t BusCore::register_topic(std::string_view topic) {
  validate_topic(topic);
  std::lock_guard lock(routing_mutex_);
  if (auto found = topic_ids_.find(topic); found != topic_ids_.end()) return found->second;
  const std::size_t id = topics_.size();
  topics_.emplace_back(topic);
  topic_ids_.emplace(topics_.back(), id);
  routing_version_.fetch_add(1, std::memory_order_release);  // the next snapshot resolves it
  return id;
}

bool BusCore::remove_locked(SubscriptionCore& subscription) {
  if (subscriptions_.erase(&subscription) == 0) return false;
  if (const void* identity = subscription.identity()) {
    auto found = by_identity_.find(identity);
    if (found != by_identity_.end()) {
      std::erase_if(found->second, [&](const auto& each) { return each.get() == &subscription; });
      if (found->second.empty()) by_identity_.erase(found);
    }
  }
  routing_version_.fetch_add(1, std::memory_order_release);
  return true;
}

void BusCore::cancel(SubscriptionCore& subscription) {
  std::shared_ptr<SubscriptionCore> removed;
  {
    std::lock_guard lock(routing_mutex_);
    auto found = subscriptions_.find(&subscription);
    if (found != subscriptions_.end()) removed = found->second;
    remove_locked(subscription);
  }
  if (removed) {
    finish_cancel({removed});
  } else {
    finish_cancel({subscription.shared_from_this()});
  }
}

void BusCore::unsubscribe(const void* identity, const std::type_info& type) {
  std::vector<std::shared_ptr<SubscriptionCore>> removed;
  {
    std::lock_guard lock(routing_mutex_);
    auto found = by_identity_.find(identity);
    if (found == by_identity_.end()) return;
    for (const auto& subscription : found->second) {
      if (subscription->type() == type) removed.push_back(subscription);
    }
    for (const auto& subscription : removed) remove_locked(*subscription);
  }
  finish_cancel(removed);
}

// Closes the subscriptions, then, unless called from a handler of this bus
// (which must not wait: the subscription may be its own, or a handler on
// another thread may be cancelling this one), waits out running invocations
// and lets go of the subscribers.
void BusCore::finish_cancel(const std::vector<std::shared_ptr<SubscriptionCore>>& removed) {
  for (const auto& subscription : removed) subscription->close();
  if (on_own_thread()) return;
  for (const auto& subscription : removed) {
    subscription->wait_until_quiet();
    subscription->drop_handler();
  }
}

bool BusCore::is_subscribed(const void* identity, const std::type_info& type) const {
  std::lock_guard lock(routing_mutex_);
  auto found = by_identity_.find(identity);
  if (found == by_identity_.end()) return false;
  return std::any_of(found->second.begin(), found->second.end(),
                     [&](const auto& subscription) { return subscription->type() == type; });
}

void BusCore::release_subscribers() noexcept {
  std::vector<std::shared_ptr<SubscriptionCore>> all;
  {
    std::lock_guard lock(routing_mutex_);
    for (const auto& [raw, subscription] : subscriptions_) all.push_back(subscription);
    subscriptions_.clear();
    by_identity_.clear();
    snapshot_.reset();
    routing_version_.fetch_add(1, std::memory_order_release);
  }
  finish_cancel(all);
}

}  // namespace courier::detail
