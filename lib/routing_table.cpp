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

}  // namespace

RoutingTable::RoutingTable(std::uint64_t version,
                           std::vector<std::shared_ptr<SubscriptionCore>> subscriptions,
                           const std::vector<std::string>& topics)
    : version_(version), owners_(std::move(subscriptions)) {
  for (const auto& subscription : owners_) {
    TypeRoutes* routes = const_cast<TypeRoutes*>(find(subscription->type()));
    if (routes == nullptr) {
      routes = &types_.emplace_back();
      routes->type = &subscription->type();
    }
    const TopicPattern& pattern = subscription->pattern();
    if (pattern.is_exact()) {
      routes->exact[pattern.str()].push_back(subscription.get());
    } else {
      routes->wildcards.push_back(subscription.get());
    }
  }
  for (TypeRoutes& routes : types_) routes.wildcard_trie = TopicTrie(patterns_of(routes.wildcards));
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
