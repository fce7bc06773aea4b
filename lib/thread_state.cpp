#include "thread_state.hpp"

namespace courier::detail {

ThreadEntry& ThreadCache::install(std::uint64_t bus_id, std::shared_ptr<CounterBlock> counters) {
  ThreadEntry& victim = entries_[next_victim_];
  next_victim_ = (next_victim_ + 1) % kEntries;
  if (victim.bus_id != 0) retire(std::move(victim));
  victim = ThreadEntry{bus_id, nullptr, std::move(counters)};
  return victim;
}

void ThreadCache::retire(ThreadEntry&& entry) {
  if (innermost_sync_frame() != nullptr) retired_.push_back(std::move(entry));
  entry = ThreadEntry{};
}

void ThreadCache::retire(std::shared_ptr<const RoutingTable>&& routes) {
  if (innermost_sync_frame() != nullptr) retired_.push_back(ThreadEntry{0, std::move(routes), {}});
  routes.reset();
}

ThreadCache& thread_cache() noexcept {
  thread_local ThreadCache cache;
  return cache;
}

SyncFrame*& innermost_sync_frame() noexcept {
  thread_local SyncFrame* frame = nullptr;
  return frame;
}

InvocationScope*& innermost_invocation() noexcept {
  thread_local InvocationScope* scope = nullptr;
  return scope;
}

const BusCore*& executor_of_this_thread() noexcept {
  thread_local const BusCore* bus = nullptr;
  return bus;
}

InvocationScope::InvocationScope(const BusCore* running_bus,
                                 const SubscriptionCore* running_subscription) noexcept
    : bus(running_bus), subscription(running_subscription), outer(innermost_invocation()) {
  innermost_invocation() = this;
}

InvocationScope::~InvocationScope() { innermost_invocation() = outer; }

bool inside_invocation_of(const SubscriptionCore& subscription) noexcept {
  for (const InvocationScope* scope = innermost_invocation(); scope; scope = scope->outer) {
    if (scope->subscription == &subscription) return true;
  }
  return false;
}

}  // namespace courier::detail
