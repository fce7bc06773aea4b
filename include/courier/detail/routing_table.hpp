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
// A subscriber with several patterns sits in the snapshot once per pattern,
// but an event reaches it once (issue 13): two of its exact patterns never
// match one topic, so only a type where some subscriber has a wildcard
// pattern and another pattern besides can list one subscriber twice for a
// topic. Such a type is marked `overlapping`, and only its matches are
// checked for repeats as they are visited; a topic handle's matches, and so a
// group's members, are made free of repeats when the snapshot is built.
//
// Thread safety: immutable once built; shared objects: safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "courier/detail/concurrent_group.hpp"
#include "courier/detail/subscriber_core.hpp"
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

  // Builds the snapshot of `subscribers` (all open when the call starts; the
  // caller holds the routing mutex, which guards their patterns),
  // resolving each of `topics` (registered topic handles, by id) in advance.
  // Groups get `group_lanes` lanes each; 0 builds no groups (synchronous bus).
  RoutingTable(std::uint64_t version, std::vector<std::shared_ptr<SubscriberCore>> subscribers,
               const std::vector<std::string>& topics, std::size_t group_lanes);

  std::uint64_t version() const noexcept { return version_; }

  // Calls `visit(SubscriberCore&)` once for every subscriber to events of
  // `type` that has a pattern matching `topic`.
  template <class Visit>
  void for_each_match(const std::type_info& type, std::string_view topic, Visit&& visit) const {
    const TypeRoutes* routes = find(type);
    if (routes == nullptr) return;
    if (routes->overlapping) [[unlikely]]
      return for_each_match_once(*routes, topic, visit);
    // Each index is skipped when empty: a lookup hashes even an empty map.
    if (!routes->exact.empty()) {
      if (auto exact = routes->exact.find(topic); exact != routes->exact.end()) {
        for (SubscriberCore* subscription : exact->second.subscriptions) visit(*subscription);
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
    for (SubscriberCore* subscription : resolved_[topic_id].subscriptions) {
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
    // An overlapping type has wildcards, and so no groups.
    if (routes->overlapping) [[unlikely]]
      return for_each_match_once(*routes, topic, visit);
    auto exact = routes->exact.find(topic);
    if (exact != routes->exact.end()) {
      const Route& route = exact->second;
      for (SubscriberCore* subscription : route.subscriptions) {
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
    std::vector<SubscriberCore*> subscriptions;
    std::vector<TypedGroup> groups;
  };

  template <class Visit, class VisitGroup>
  static void for_each_resolved_route(const ResolvedTopic& resolved, const std::type_info& type,
                                      Visit& visit, VisitGroup& visit_group) {
    ConcurrentGroup* group = nullptr;
    for (const auto& typed : resolved.groups) {
      if (*typed.type == type) group = typed.group.get();
    }
    for (SubscriberCore* subscription : resolved.subscriptions) {
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
    std::vector<SubscriberCore*> subscriptions;
    std::shared_ptr<ConcurrentGroup> group;
  };
  struct TypeRoutes {
    const std::type_info* type = nullptr;
    std::unordered_map<std::string, Route, TransparentStringHash, std::equal_to<>> exact;
    std::vector<SubscriberCore*> wildcards;  // one per wildcard pattern
    TopicTrie wildcard_trie;                 // of their patterns: an id is an index in `wildcards`
    // Some subscriber has a wildcard pattern and another one besides, so a
    // topic may match it twice.
    bool overlapping = false;
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

  // for_each_match for an overlapping type: skips a subscriber already visited.
  template <class Visit>
  static void for_each_match_once(const TypeRoutes& routes, std::string_view topic, Visit& visit) {
    boost::container::small_vector<const SubscriberCore*, 8> visited;
    auto visit_once = [&](SubscriberCore& subscriber) {
      if (std::find(visited.begin(), visited.end(), &subscriber) != visited.end()) return;
      visited.push_back(&subscriber);
      visit(subscriber);
    };
    if (auto exact = routes.exact.find(topic); exact != routes.exact.end()) {
      for (SubscriberCore* subscriber : exact->second.subscriptions) visit_once(*subscriber);
    }
    for_each_wildcard_match(routes, topic, visit_once);
  }

  void add_routes(SubscriberCore& subscriber, std::vector<std::string_view>& wildcard_patterns);
  void gather_concurrent_groups(std::size_t group_lanes);
  void resolve_topic(ResolvedTopic& resolved, std::string_view topic, std::size_t group_lanes);

  std::uint64_t version_;
  std::vector<TypeRoutes> types_;
  std::vector<ResolvedTopic> resolved_;                  // by topic id
  std::vector<std::shared_ptr<SubscriberCore>> owners_;  // keeps the raw pointers above valid
};

}  // namespace courier::detail
