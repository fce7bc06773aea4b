#include "courier/detail/routing_table.hpp"

namespace courier::detail {

RoutingTable::RoutingTable(std::uint64_t version,
                           std::vector<std::shared_ptr<SubscriptionCore>> subscriptions)
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
}

}  // namespace courier::detail
