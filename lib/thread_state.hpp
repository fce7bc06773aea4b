// What each thread remembers about the buses it uses (private to lib/).
//
//  - ThreadCache: per bus, the routing snapshot this thread last used and this
//    thread's CounterBlock. A post looks its bus up here (a scan of a few
//    entries), compares one version number and is done: no lock, no shared
//    reference count.
//  - SyncFrame: the synchronous deliveries running on this thread, innermost
//    first; a post to a bus that has a frame here is deferred to that frame.
//  - InvocationScope: the handlers running on this thread, innermost first, so
//    that unsubscribe(), shutdown() and wait_idle() know when they are called
//    from inside a handler and must not wait for it.
//
// A snapshot may be referenced by a synchronous delivery further up this
// thread's stack while a handler makes this thread replace or evict it; such
// entries are parked in `retired` until the outermost synchronous frame ends.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "courier/detail/bus_core.hpp"

namespace courier::detail {

struct ThreadEntry {
  std::uint64_t bus_id = 0;
  std::shared_ptr<const RoutingTable> routes;
  std::shared_ptr<CounterBlock> counters;
};

class ThreadCache {
 public:
  ThreadEntry* find(std::uint64_t bus_id) noexcept {
    for (ThreadEntry& entry : entries_) {
      if (entry.bus_id == bus_id) return &entry;
    }
    return nullptr;
  }

  ThreadEntry& install(std::uint64_t bus_id, std::shared_ptr<CounterBlock> counters);

  // Lets go of a snapshot or entry, unless a synchronous delivery on this
  // thread may still be reading it.
  void retire(ThreadEntry&& entry);
  void retire(std::shared_ptr<const RoutingTable>&& routes);
  void clear_retired() noexcept { retired_.clear(); }

 private:
  static constexpr std::size_t kEntries = 4;
  std::array<ThreadEntry, kEntries> entries_;
  std::size_t next_victim_ = 0;
  std::vector<ThreadEntry> retired_;
};

struct SyncFrame {
  const BusCore* bus;
  SyncFrame* outer;
  // Posts made by handlers during this frame, delivered in order; a vector
  // (not a deque, whose empty state allocates) read from `next_deferred`.
  std::vector<std::unique_ptr<HeldEvent>> deferred;
  std::size_t next_deferred = 0;
};

struct InvocationScope {
  InvocationScope(const BusCore* running_bus,
                  const SubscriptionCore* running_subscription) noexcept;
  ~InvocationScope();
  InvocationScope(const InvocationScope&) = delete;
  InvocationScope& operator=(const InvocationScope&) = delete;

  const BusCore* bus;
  const SubscriptionCore* subscription;
  InvocationScope* outer;
};

// This thread's state. Each is a function-local thread_local.
ThreadCache& thread_cache() noexcept;
SyncFrame*& innermost_sync_frame() noexcept;
InvocationScope*& innermost_invocation() noexcept;
const BusCore*& executor_of_this_thread() noexcept;

// True if this thread is running `subscription`'s handler (anywhere up its stack).
bool inside_invocation_of(const SubscriptionCore& subscription) noexcept;

}  // namespace courier::detail
