#include "courier/detail/routing/routing_table.hpp"

#include <algorithm>

namespace courier::detail {
namespace {

// A group of the groupable (Concurrent, unscreened) subscriptions of `type`
// in `list`, if there are two or more; null otherwise.
std::shared_ptr<ConcurrentGroup> group_of(const std::vector<SubscriberCore*>& list,
                                          const std::type_info& type, std::size_t group_lanes) {
  std::vector<std::shared_ptr<SubscriberCore>> members;
  for (SubscriberCore* subscription : list) {
    if (subscription->type() == type && subscription->groupable()) {
      members.push_back(subscription->shared_from_this());
    }
  }
  if (members.size() < 2) return nullptr;
  return std::make_shared<ConcurrentGroup>(std::move(members), group_lanes);
}

}  // namespace

RoutingTable::RoutingTable(std::uint64_t version,
                           std::vector<std::shared_ptr<SubscriberCore>> subscribers,
                           const std::vector<std::string>& topics, std::size_t group_lanes)
    : version_(version), owners_(std::move(subscribers)) {
  // Ranked first, so that every list built from them is (see the header).
  std::sort(owners_.begin(), owners_.end(),
            [](const auto& a, const auto& b) { return SubscriberCore::ranks_before(*a, *b); });
  // The texts of each type's wildcard patterns, in the order of its
  // `wildcards`; views into the subscribers' patterns, read while the caller
  // holds the routing mutex (the trie copies what it keeps).
  std::vector<std::vector<std::string_view>> wildcard_patterns;
  for (const auto& subscriber : owners_) {
    const TypeRoutes* routes = find(subscriber->type());
    if (routes == nullptr) {
      types_.emplace_back().type = &subscriber->type();
      wildcard_patterns.emplace_back();
      routes = &types_.back();
    }
    add_routes(*subscriber, wildcard_patterns[static_cast<std::size_t>(routes - types_.data())]);
  }
  for (std::size_t i = 0; i < types_.size(); ++i) {
    types_[i].wildcard_trie = TopicTrie(wildcard_patterns[i]);
  }
  if (group_lanes != 0) gather_concurrent_groups(group_lanes);
  resolved_.resize(topics.size());
  for (std::size_t id = 0; id < topics.size(); ++id) {
    resolve_topic(resolved_[id], topics[id], group_lanes);
  }
}

void RoutingTable::add_routes(SubscriberCore& subscriber,
                              std::vector<std::string_view>& wildcard_patterns) {
  TypeRoutes& routes = *const_cast<TypeRoutes*>(find(subscriber.type()));
  const auto& patterns = subscriber.patterns_while_routing();
  bool has_wildcard = false;
  for (const TopicPattern& pattern : patterns) {
    if (pattern.is_exact()) {
      routes.exact[pattern.str()].subscriptions.push_back(&subscriber);
    } else {
      routes.wildcards.push_back(&subscriber);
      wildcard_patterns.push_back(pattern.str());
      has_wildcard = true;
    }
  }
  if (has_wildcard && patterns.size() > 1) routes.overlapping = true;
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
    for_each_match(*routes.type, topic, [&](SubscriberCore& subscription) {
      resolved.subscriptions.push_back(&subscription);
    });
    if (group_lanes == 0) continue;
    if (auto group = group_of(resolved.subscriptions, *routes.type, group_lanes)) {
      resolved.groups.push_back({routes.type, std::move(group)});
    }
  }
}

}  // namespace courier::detail
