#include "thread_state.hpp"

#include <atomic>

namespace courier::detail {

// this_thread is defined in delivery.cpp: see there why.

std::uint64_t next_thread_number() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void LastRoute::fill(const RoutingTable& table, std::uint64_t version, const std::type_info& type,
                     std::size_t topic_id, Grouping grouping, std::string_view topic) {
  version_ = 0;  // until filled: push_back and assign may throw
  subscriptions_.clear();
  group_ = nullptr;
  auto add = [this](SubscriptionCore& subscription) { subscriptions_.push_back(&subscription); };
  if (grouping == Grouping::Grouped) {
    table.for_each_route(type, topic_id, topic, add,
                         [this](ConcurrentGroup& group) { group_ = &group; });
  } else {
    table.for_each_match(type, topic_id, topic, add);
  }
  if (topic_id == RoutingTable::kNoTopic) topic_.assign(topic);
  type_ = &type;
  topic_id_ = topic_id;
  grouping_ = grouping;
  version_ = version;
}

ThreadCache::~ThreadCache() {
  // A post from a later thread_local destructor must not find a dead entry.
  this_thread.last_entry = nullptr;
  this_thread.last_bus_id = 0;
}

ThreadEntry& ThreadCache::install(std::uint64_t bus_id, std::shared_ptr<CounterBlock> counters) {
  ThreadEntry& victim = entries_[next_victim_];
  next_victim_ = (next_victim_ + 1) % kEntries;
  if (victim.bus_id != 0) retire(std::move(victim));
  victim = ThreadEntry{bus_id, 0, nullptr, std::move(counters), {}};
  return *remember(victim);
}

void ThreadCache::retire(ThreadEntry&& entry) {
  if (this_thread.innermost_frame != nullptr) {
    retired_.push_back(std::move(entry));
    this_thread.has_retired = true;
  }
  entry = ThreadEntry{};
}

void ThreadCache::retire(std::shared_ptr<const RoutingTable>&& routes) {
  if (this_thread.innermost_frame != nullptr) {
    retired_.push_back(ThreadEntry{0, 0, std::move(routes), {}, {}});
    this_thread.has_retired = true;
  }
  routes.reset();
}

ThreadCache& thread_cache() noexcept {
  thread_local ThreadCache cache;
  return cache;
}

bool inside_invocation_of(const SubscriptionCore& subscription) noexcept {
  for (const InvocationScope* scope = this_thread.innermost_invocation; scope;
       scope = scope->outer) {
    if (scope->subscription == &subscription) return true;
  }
  return false;
}

}  // namespace courier::detail
