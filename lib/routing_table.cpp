#include "courier/detail/routing_table.hpp"

namespace courier::detail {
namespace {

std::vector<std::string_view> patterns_of(const std::vector<SubscriptionCore*>& subscriptions) {
  std::vector<std::string_view> patterns;
  patterns.reserve(subscriptions.size());
  for (const SubscriptionCore* subscription : subscriptions) {
    patterns.push_back(subscription->pattern().str());
  }
  return patterns;
}

// A group of the Concurrent subscriptions of `type` in `list`, if there are
// two or more; null otherwise.
std::shared_ptr<ConcurrentGroup> group_of(const std::vector<SubscriptionCore*>& list,
                                          const std::type_info& type, std::size_t group_lanes) {
  std::vector<std::shared_ptr<SubscriptionCore>> members;
  for (SubscriptionCore* subscription : list) {
    if (subscription->type() == type && subscription->concurrency() == Concurrency::Concurrent) {
      members.push_back(subscription->shared_from_this());
    }
  }
  if (members.size() < 2) return nullptr;
  return std::make_shared<ConcurrentGroup>(std::move(members), group_lanes);
}

}  // namespace

RoutingTable::RoutingTable(std::uint64_t version,
                           std::vector<std::shared_ptr<SubscriptionCore>> subscriptions,
                           const std::vector<std::string>& topics, std::size_t group_lanes)
    : version_(version), owners_(std::move(subscriptions)) {
  for (const auto& subscription : owners_) {
    TypeRoutes* routes = const_cast<TypeRoutes*>(find(subscription->type()));
    if (routes == nullptr) {
      routes = &types_.emplace_back();
      routes->type = &subscription->type();
    }
    const TopicPattern& pattern = subscription->pattern();
    if (pattern.is_exact()) {
      routes->exact[pattern.str()].subscriptions.push_back(subscription.get());
    } else {
      routes->wildcards.push_back(subscription.get());
    }
  }
  for (TypeRoutes& routes : types_) routes.wildcard_trie = TopicTrie(patterns_of(routes.wildcards));
  if (group_lanes != 0) gather_concurrent_groups(group_lanes);
  resolved_.resize(topics.size());
  for (std::size_t id = 0; id < topics.size(); ++id) {
    resolve_topic(resolved_[id], topics[id], group_lanes);
  }
}

void RoutingTable::gather_concurrent_groups(std::size_t group_lanes) {
  for (TypeRoutes& routes : types_) {
    if (!routes.wildcards.empty()) continue;  // an exact entry is not the whole list
    for (auto& [topic, route] : routes.exact) {
      route.group = group_of(route.subscriptions, *routes.type, group_lanes);
    }
  }
}

void RoutingTable::resolve_topic(ResolvedTopic& resolved, std::string_view topic,
                                 std::size_t group_lanes) {
  for (const TypeRoutes& routes : types_) {
    for_each_match(*routes.type, topic, [&](SubscriptionCore& subscription) {
      resolved.subscriptions.push_back(&subscription);
    });
    if (group_lanes == 0) continue;
    if (auto group = group_of(resolved.subscriptions, *routes.type, group_lanes)) {
      resolved.groups.push_back({routes.type, std::move(group)});
    }
  }
}

}  // namespace courier::detail
