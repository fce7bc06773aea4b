#include "delivery/thread_state.hpp"

#include <algorithm>
#include <atomic>

namespace courier::detail {

// this_thread is defined in delivery.cpp: see there why.

std::uint64_t current_thread_number() noexcept { return this_thread_number(); }

std::uint64_t next_thread_number() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void LastRoute::fill(const RoutingTable& table, const Query& query) {
  version_ = 0;  // until filled: push_back and assign may throw
  subscriptions_.clear();
  group_ = nullptr;
  lone_serial_ = armed_serial_ = nullptr;
  auto add = [this](SubscriberCore& subscription) { subscriptions_.push_back(&subscription); };
  if (query.grouping == Grouping::Grouped) {
    table.for_each_route(*query.type, query.topic_id, query.topic, add,
                         [this](ConcurrentGroup& group) { group_ = &group; });
  } else {
    table.for_each_match(*query.type, query.topic_id, query.topic, add);
  }
  if (query.topic_id == RoutingTable::kNoTopic) topic_.assign(query.topic);
  screened_ = std::any_of(subscriptions_.begin(), subscriptions_.end(),
                          [](const SubscriberCore* each) { return each->screen() != nullptr; });
  if (query.grouping == Grouping::Ungrouped && subscriptions_.size() == 1 && !screened_ &&
      subscriptions_[0]->concurrency() == Concurrency::Serial) {
    lone_serial_ = subscriptions_[0];
  }
  type_ = query.type;
  topic_id_ = query.topic_id;
  grouping_ = query.grouping;
  version_ = query.version;
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
  victim = ThreadEntry{bus_id, 0, nullptr, std::move(counters), {}, {}};
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
    retired_.push_back(ThreadEntry{0, 0, std::move(routes), {}, {}, {}});
    this_thread.has_retired = true;
  }
  routes.reset();
}

ThreadCache& thread_cache() noexcept {
  thread_local ThreadCache cache;
  return cache;
}

}  // namespace courier::detail
