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
// Order (issue 15): an event's matches are visited by rank, highest priority
// first, then the subscriber subscribed first (SubscriberCore::ranks_before).
// The snapshot lists subscribers in that order, so an exact topic's list is
// ranked as built; only a type with wildcard patterns, whose matches come
// from the trie in its own order, gathers them and sorts them per lookup,
// and a lookup is made only when a thread's route is refilled, never on a
// post that repeats its topic (lib/delivery/thread_state.hpp). A screened subscriber
// (event_filter.hpp) is never one of a group's members.
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

#include "courier/detail/delivery/concurrent_group.hpp"
#include "courier/detail/delivery/subscriber_core.hpp"
#include "courier/detail/routing/topic_trie.hpp"

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
    if (!routes->wildcards.empty()) return for_each_match_ranked(*routes, topic, visit);
    // Skipped when empty: a lookup hashes even an empty map.
    if (!routes->exact.empty()) {
      if (auto exact = routes->exact.find(topic); exact != routes->exact.end()) {
        for (SubscriberCore* subscription : exact->second.subscriptions) visit(*subscription);
      }
    }
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
    // A type with wildcards has no groups.
    if (!routes->wildcards.empty()) return for_each_match_ranked(*routes, topic, visit);
    auto exact = routes->exact.find(topic);
    if (exact != routes->exact.end()) {
      const Route& route = exact->second;
      for (SubscriberCore* subscription : route.subscriptions) {
        if (route.group == nullptr || !subscription->groupable()) visit(*subscription);
      }
      if (route.group != nullptr) return visit_group(*route.group);
    }
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
      if (group == nullptr || !subscription->groupable()) visit(*subscription);
    }
    if (group != nullptr) visit_group(*group);
  }

  // An exact topic's subscriptions, ranked; `group` is set only when they are
  // the topic's whole list, and holds two or more groupable ones among them.
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

  // for_each_match for a type with wildcard patterns: gathers the matches,
  // once each (an overlapping type may list one twice), and visits them by
  // rank.
  template <class Visit>
  static void for_each_match_ranked(const TypeRoutes& routes, std::string_view topic,
                                    Visit& visit) {
    boost::container::small_vector<SubscriberCore*, 8> matches;
    auto gather = [&](SubscriberCore& subscriber) {
      if (routes.overlapping &&
          std::find(matches.begin(), matches.end(), &subscriber) != matches.end())
        return;
      matches.push_back(&subscriber);
    };
    if (!routes.exact.empty()) {
      if (auto exact = routes.exact.find(topic); exact != routes.exact.end()) {
        for (SubscriberCore* subscriber : exact->second.subscriptions) gather(*subscriber);
      }
    }
    for_each_wildcard_match(routes, topic, gather);
    if (matches.size() > 1) {
      std::sort(matches.begin(), matches.end(),
                [](const SubscriberCore* a, const SubscriberCore* b) {
                  return SubscriberCore::ranks_before(*a, *b);
                });
    }
    for (SubscriberCore* subscriber : matches) visit(*subscriber);
  }

  void add_routes(SubscriberCore& subscriber, std::vector<std::string_view>& wildcard_patterns);
  void gather_concurrent_groups(std::size_t group_lanes);
  void resolve_topic(ResolvedTopic& resolved, std::string_view topic, std::size_t group_lanes);

  std::uint64_t version_;
  std::vector<TypeRoutes> types_;
  std::vector<ResolvedTopic> resolved_;                  // by topic id
  std::vector<std::shared_ptr<SubscriberCore>> owners_;  // ranked; keeps the pointers above valid
};

}  // namespace courier::detail
