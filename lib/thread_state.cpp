#include "thread_state.hpp"

namespace courier::detail {

constinit thread_local ThreadState this_thread;

ThreadCache::~ThreadCache() {
  // A post from a later thread_local destructor must not find a dead entry.
  this_thread.last_entry = nullptr;
  this_thread.last_bus_id = 0;
}

ThreadEntry& ThreadCache::install(std::uint64_t bus_id, std::shared_ptr<CounterBlock> counters) {
  ThreadEntry& victim = entries_[next_victim_];
  next_victim_ = (next_victim_ + 1) % kEntries;
  if (victim.bus_id != 0) retire(std::move(victim));
  victim = ThreadEntry{bus_id, 0, nullptr, std::move(counters)};
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
    retired_.push_back(ThreadEntry{0, 0, std::move(routes), {}});
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
