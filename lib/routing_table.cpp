#include "courier/detail/routing_table.hpp"

namespace courier::detail {

RoutingTable::RoutingTable(std::uint64_t version,
                           std::vector<std::shared_ptr<SubscriptionCore>> subscriptions,
                           const std::vector<std::string>& topics, std::size_t group_lanes)
    : version_(version), owners_(std::move(subscriptions)) {
  for (const auto& subscription : owners_) {
    TypeRoutes* routes = const_cast<TypeRoutes*>(find(subscription->type()));
    if (routes == nullptr) routes = &types_.emplace_back(TypeRoutes{&subscription->type(), {}, {}});
    if (subscription->pattern().is_exact()) {
      routes->exact[subscription->pattern().str()].subscriptions.push_back(subscription.get());
    } else {
      routes->wildcards.push_back(subscription.get());
    }
  }
  if (group_lanes != 0) gather_concurrent_groups(group_lanes);
  resolved_.resize(topics.size());
  for (std::size_t id = 0; id < topics.size(); ++id) {
    for (const TypeRoutes& routes : types_) {
      for_each_match(*routes.type, topics[id], [&](SubscriptionCore& subscription) {
        resolved_[id].push_back(&subscription);
      });
    }
  }
}

void RoutingTable::gather_concurrent_groups(std::size_t group_lanes) {
  for (TypeRoutes& routes : types_) {
    if (!routes.wildcards.empty()) continue;  // an exact entry is not the whole list
    for (auto& [topic, route] : routes.exact) {
      std::vector<std::shared_ptr<SubscriptionCore>> members;
      for (SubscriptionCore* subscription : route.subscriptions) {
        if (subscription->concurrency() == Concurrency::Concurrent) {
          members.push_back(subscription->shared_from_this());
        }
      }
      if (members.size() >= 2) {
        route.group = std::make_shared<ConcurrentGroup>(std::move(members), group_lanes);
      }
    }
  }
}

}  // namespace courier::detail
