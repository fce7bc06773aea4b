#include "courier/detail/routing_table.hpp"

namespace courier::detail {

RoutingTable::RoutingTable(std::uint64_t version,
                           std::vector<std::shared_ptr<SubscriptionCore>> subscriptions,
                           const std::vector<std::string>& topics)
    : version_(version), owners_(std::move(subscriptions)) {
  for (const auto& subscription : owners_) {
    TypeRoutes* routes = const_cast<TypeRoutes*>(find(subscription->type()));
    if (routes == nullptr) routes = &types_.emplace_back(TypeRoutes{&subscription->type(), {}, {}});
    if (subscription->pattern().is_exact()) {
      routes->exact[subscription->pattern().str()].push_back(subscription.get());
    } else {
      routes->wildcards.push_back(subscription.get());
    }
  }
  resolved_.resize(topics.size());
  for (std::size_t id = 0; id < topics.size(); ++id) {
    for (const TypeRoutes& routes : types_) {
      for_each_match(*routes.type, topics[id], [&](SubscriptionCore& subscription) {
        resolved_[id].push_back(&subscription);
      });
    }
  }
}

}  // namespace courier::detail
