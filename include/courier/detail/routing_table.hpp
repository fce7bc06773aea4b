// RoutingTable: an immutable snapshot of who receives which topic.
//
// Posting threads read routing on every post, subscribers change it rarely, so
// routing is copy-on-write: a change bumps the bus's routing version, and the
// next post to see the new version builds (or picks up) a fresh snapshot under
// the routing mutex. Each thread keeps the snapshot it last used (bus_core.hpp),
// so a post in steady state reads one version number and takes no lock and no
// reference count.
//
// Within a snapshot, per payload type: exact patterns are a hash map from topic
// to subscriptions (one hash of the whole topic), wildcard patterns a token
// trie (topic_trie.hpp) walked only when the type has any. Either way a post
// costs about the same whatever the number of subscriptions it does not match.
// For a type with no wildcard subscriptions, an exact topic's entry is its
// whole list, and the snapshot gathers the list's Concurrent subscriptions into
// a ConcurrentGroup (concurrent_group.hpp) for the asynchronous publisher; so
// it does, per type, for each topic handle's list, which is always whole.
//
// Thread safety: immutable once built; shared objects: safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "courier/detail/concurrent_group.hpp"
#include "courier/detail/subscription_core.hpp"
#include "courier/detail/topic_trie.hpp"

namespace courier::detail {

struct TransparentStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

class RoutingTable {
 public:
  // Identifies a topic resolved ahead of time (a Topic handle); kNoTopic for
  // an event posted with a plain string.
  static constexpr std::size_t kNoTopic = ~std::size_t{0};

  // Builds the snapshot of `subscriptions` (all open when the call starts),
  // resolving each of `topics` (registered topic handles, by id) in advance.
  // Groups get `group_lanes` lanes each; 0 builds no groups (synchronous bus).
  RoutingTable(std::uint64_t version, std::vector<std::shared_ptr<SubscriptionCore>> subscriptions,
               const std::vector<std::string>& topics, std::size_t group_lanes);

  std::uint64_t version() const noexcept { return version_; }

  // Calls `visit(SubscriptionCore&)` for every subscription to events of `type`
  // whose pattern matches `topic`.
  template <class Visit>
  void for_each_match(const std::type_info& type, std::string_view topic, Visit&& visit) const {
    const TypeRoutes* routes = find(type);
    if (routes == nullptr) return;
    // Each index is skipped when empty: a lookup hashes even an empty map.
    if (!routes->exact.empty()) {
      if (auto exact = routes->exact.find(topic); exact != routes->exact.end()) {
        for (SubscriptionCore* subscription : exact->second.subscriptions) visit(*subscription);
      }
    }
    for_each_wildcard_match(*routes, topic, visit);
  }

  // The same for a topic handle: a scan of the topic's pre-resolved matches,
  // no hashing, no pattern matching. A topic registered after this snapshot
  // was built is matched by name.
  template <class Visit>
  void for_each_match(const std::type_info& type, std::size_t topic_id, std::string_view topic,
                      Visit&& visit) const {
    if (topic_id >= resolved_.size()) return for_each_match(type, topic, visit);
    for (SubscriptionCore* subscription : resolved_[topic_id].subscriptions) {
      if (subscription->type() == type) visit(*subscription);
    }
  }

  // For unkeyed events on an asynchronous bus: as for_each_match, but where
  // the topic's Concurrent subscriptions form a group, calls
  // `visit_group(ConcurrentGroup&)` once instead of `visit` for each of them.
  template <class Visit, class VisitGroup>
  void for_each_route(const std::type_info& type, std::size_t topic_id, std::string_view topic,
                      Visit&& visit, VisitGroup&& visit_group) const {
    if (topic_id < resolved_.size()) {
      return for_each_resolved_route(resolved_[topic_id], type, visit, visit_group);
    }
    const TypeRoutes* routes = find(type);
    if (routes == nullptr) return;
    auto exact = routes->exact.find(topic);
    if (exact != routes->exact.end()) {
      const Route& route = exact->second;
      for (SubscriptionCore* subscription : route.subscriptions) {
        if (route.group == nullptr || subscription->concurrency() != Concurrency::Concurrent) {
          visit(*subscription);
        }
      }
      if (route.group != nullptr) return visit_group(*route.group);
    }
    for_each_wildcard_match(*routes, topic, visit);
  }

 private:
  // A topic handle's matches, every payload type, and the groups among them.
  struct ResolvedTopic {
    struct TypedGroup {
      const std::type_info* type;
      std::shared_ptr<ConcurrentGroup> group;
    };
    std::vector<SubscriptionCore*> subscriptions;
    std::vector<TypedGroup> groups;
  };

  template <class Visit, class VisitGroup>
  static void for_each_resolved_route(const ResolvedTopic& resolved, const std::type_info& type,
                                      Visit& visit, VisitGroup& visit_group) {
    ConcurrentGroup* group = nullptr;
    for (const auto& typed : resolved.groups) {
      if (*typed.type == type) group = typed.group.get();
    }
    for (SubscriptionCore* subscription : resolved.subscriptions) {
      if (subscription->type() != type) continue;
      if (group == nullptr || subscription->concurrency() != Concurrency::Concurrent) {
        visit(*subscription);
      }
    }
    if (group != nullptr) visit_group(*group);
  }

  // An exact topic's subscriptions; `group` is set only when they are the
  // topic's whole list, and holds two or more Concurrent ones among them.
  struct Route {
    std::vector<SubscriptionCore*> subscriptions;
    std::shared_ptr<ConcurrentGroup> group;
  };
  struct TypeRoutes {
    const std::type_info* type = nullptr;
    std::unordered_map<std::string, Route, TransparentStringHash, std::equal_to<>> exact;
    std::vector<SubscriptionCore*> wildcards;
    TopicTrie wildcard_trie;  // of `wildcards`: an id is an index there
  };

  const TypeRoutes* find(const std::type_info& type) const noexcept {
    for (const TypeRoutes& routes : types_) {
      if (*routes.type == type) return &routes;
    }
    return nullptr;
  }

  template <class Visit>
  static void for_each_wildcard_match(const TypeRoutes& routes, std::string_view topic,
                                      Visit& visit) {
    if (routes.wildcards.empty()) return;
    routes.wildcard_trie.for_each_match(
        topic, [&](std::uint32_t index) { visit(*routes.wildcards[index]); });
  }

  void gather_concurrent_groups(std::size_t group_lanes);
  void resolve_topic(ResolvedTopic& resolved, std::string_view topic, std::size_t group_lanes);

  std::uint64_t version_;
  std::vector<TypeRoutes> types_;
  std::vector<ResolvedTopic> resolved_;                    // by topic id
  std::vector<std::shared_ptr<SubscriptionCore>> owners_;  // keeps the raw pointers above valid
};

}  // namespace courier::detail
