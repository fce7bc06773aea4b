// What each thread remembers about the buses it uses (private to lib/).
//
//  - ThreadState: the few pointers a post reads, in one constant-initialised,
//    trivially destructible thread_local, so that reading them costs one TLS
//    access and no initialisation guard.
//  - ThreadCache: per bus, the routing snapshot this thread last used, the
//    route of the topic it posted last (LastRoute, for synchronous and
//    asynchronous posts alike) and this thread's CounterBlock. A post looks
//    its bus up here (ThreadState keeps the entry used last, so usually no
//    scan at all), compares one version number and is done: no lock, no
//    shared reference count.
//  - SyncFrame: the synchronous deliveries running on this thread, innermost
//    first; a post to a bus that has a frame here is deferred to that frame.
//  - CauseScope: the event an executor's handler is running for, so that
//    what the handler posts never overtakes it (issue 13).
//  - InvocationScope: the handlers running on this thread, innermost first, so
//    that unsubscribe(), shutdown() and wait_idle() know when they are called
//    from inside a handler and must not wait for it. A SyncFrame that calls
//    a handler itself (the synchronous post's shortest path) stands for one
//    while `calling` is set: BusCore::on_own_thread() looks at both.
//
// A snapshot may be referenced by a synchronous delivery further up this
// thread's stack while a handler makes this thread replace or evict it; such
// entries are parked in `retired` until the outermost synchronous frame ends.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "courier/detail/bus_core.hpp"
#include "courier/detail/delivery/catch_up_pacing.hpp"

namespace courier::detail {

class SyncFrame;
struct InvocationScope;

// Where a routing snapshot sends an event: subscriptions to deliver to one by
// one and, for an unkeyed event on an asynchronous bus, the ConcurrentGroup
// that stands for the topic's Concurrent subscriptions (null if none).
// `screened`: some of the subscriptions have a Screen (event_filter.hpp), so
// each must pass BusCore::admits first; an unscreened route (nearly every
// one) skips that with one predictable branch per post.
struct CachedRoute {
  std::span<SubscriberCore* const> subscriptions;
  ConcurrentGroup* group = nullptr;
  bool screened = false;
};

// How an event is routed: Grouped for unkeyed events on an asynchronous bus
// (RoutingTable::for_each_route), Ungrouped otherwise (for_each_match).
enum class Grouping : bool { Ungrouped, Grouped };

// The route that the snapshot of `version` gives the topic (and payload type)
// of this thread's last post on a bus, so that a post repeating the previous
// one's topic skips the routing table's hashing and matching. The pointers are
// valid while that snapshot is: a route handed out stays readable while
// handlers run even if they make this thread evict or refresh the entry,
// because the cache then parks the entry (and so this buffer) or the snapshot
// until the outermost synchronous frame ends.
class LastRoute {
 public:
  // `topic_of()` gives the event's topic; it is called to compare only for
  // an event posted without a topic handle, and for every refill.
  template <class TopicOf>
  CachedRoute route(const RoutingTable& table, std::uint64_t version, const std::type_info& type,
                    std::size_t topic_id, Grouping grouping, TopicOf&& topic_of) {
    if (!holds(version, type, topic_id, grouping, topic_of)) {
      fill(table, Query{version, &type, topic_id, grouping, topic_of()});
    } else {
      armed_serial_ = lone_serial_;  // the topic repeats: worth the shortest path's try
    }
    return {subscriptions_, group_, screened_};
  }

  // For the synchronous post's shortest path: the route's one subscription
  // when it has exactly one and that one is Serial and unscreened, if the
  // route is the one
  // route() would return for an Ungrouped query without a refill; else null.
  // Null also until route() served the route a second time: a thread whose
  // topics change from post to post skips the shortest path's checks after
  // their first.
  // `version` is the bus's current routing version. A route filled at that
  // version is of the entry's snapshot (and so kept alive by it), because
  // every fill uses the entry's snapshot and version, the entry's snapshot
  // only moves forward to the current one, and a version has one snapshot
  // (versions change under the routing mutex, see BusCore::current_routes).
  template <class TopicOf>
  SubscriberCore* sole_serial(std::uint64_t version, const std::type_info& type,
                              std::size_t topic_id, TopicOf&& topic_of) const {
    if (armed_serial_ == nullptr || !holds(version, type, topic_id, Grouping::Ungrouped, topic_of))
      return nullptr;
    return armed_serial_;
  }

  // Until route() serves the route again: sole_serial() returns null.
  void disarm() noexcept { armed_serial_ = nullptr; }

 private:
  template <class TopicOf>
  bool holds(std::uint64_t version, const std::type_info& type, std::size_t topic_id,
             Grouping grouping, TopicOf& topic_of) const {
    // The type's address first: the same type_info object is the common case,
    // and comparing two of them by value reads their names.
    return version_ == version && topic_id_ == topic_id && grouping_ == grouping &&
           (type_ == &type || *type_ == type) &&
           (topic_id != RoutingTable::kNoTopic || same_text(topic_, topic_of()));
  }

  // Inline, a word at a time: memcmp is a call into glibc that costs more
  // than comparing a short topic. Forced: g++ stopped inlining it once the
  // code around it grew (11 more instructions and a call per post, W1 with
  // string topics 7% slower).
  [[gnu::always_inline]] static bool same_text(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    std::size_t i = 0;
    for (; i + sizeof(std::uint64_t) <= a.size(); i += sizeof(std::uint64_t)) {
      std::uint64_t word_a, word_b;
      std::memcpy(&word_a, a.data() + i, sizeof word_a);
      std::memcpy(&word_b, b.data() + i, sizeof word_b);
      if (word_a != word_b) return false;
    }
    for (; i < a.size(); ++i) {
      if (a[i] != b[i]) return false;
    }
    return true;
  }

  // A refill's arguments, in one object: as separate arguments they overflow
  // the argument registers, and pushing the rest for this one cold call made
  // every post keep a frame pointer (one register fewer for the hot path).
  struct Query {
    std::uint64_t version;
    const std::type_info* type;
    std::size_t topic_id;
    Grouping grouping;
    std::string_view topic;
  };
  void fill(const RoutingTable& table, const Query& query);

  std::uint64_t version_ = 0;  // 0: nothing yet (bus routing versions start at 1)
  const std::type_info* type_ = nullptr;
  std::size_t topic_id_ = RoutingTable::kNoTopic;
  Grouping grouping_ = Grouping::Ungrouped;
  std::string topic_;  // for posts without a topic handle
  std::vector<SubscriberCore*> subscriptions_;
  ConcurrentGroup* group_ = nullptr;
  bool screened_ = false;                   // see CachedRoute
  SubscriberCore* lone_serial_ = nullptr;   // the route's, if one unscreened Serial one
  SubscriberCore* armed_serial_ = nullptr;  // lone_serial_ once the route served a repeat
};

struct ThreadEntry {
  std::uint64_t bus_id = 0;
  std::uint64_t routes_version = 0;  // routes->version(), 0 while routes is null
  std::shared_ptr<const RoutingTable> routes;
  std::shared_ptr<CounterBlock> counters;
  LastRoute last_route;  // of `routes`
  // Whether this thread, finding the queue full, lets a batch of slots come
  // back first (BusCore::let_slots_come_back): it stops doing so for a while
  // after waits that saw no batch.
  CatchUpPacing refill_pacing;
};

struct ThreadState {
  SyncFrame* innermost_frame = nullptr;
  InvocationScope* innermost_invocation = nullptr;
  const BusCore* executor = nullptr;
  // The entry of thread_cache() this thread used last, and its bus's id (0:
  // none). Every change of an entry's bus goes through ThreadCache, which
  // keeps these two in step.
  ThreadEntry* last_entry = nullptr;
  std::uint64_t last_bus_id = 0;
  // The event whose delivery this executor is making (see CauseScope).
  const Envelope* cause = nullptr;
  bool has_retired = false;  // thread_cache() has parked entries to let go of
  std::uint64_t number = 0;  // see this_thread_number(); 0 until first asked
};

// Defined in delivery.cpp (see there why).
extern constinit thread_local ThreadState this_thread;

std::uint64_t next_thread_number() noexcept;

// A number for this thread, unique for the process's lifetime (unlike an
// address, which a later thread may reuse): a BiasedLock's owner.
inline std::uint64_t this_thread_number() noexcept {
  if (this_thread.number == 0) [[unlikely]]
    this_thread.number = next_thread_number();
  return this_thread.number;
}

class ThreadCache {
 public:
  ThreadCache() = default;
  ThreadCache(const ThreadCache&) = delete;
  ThreadCache& operator=(const ThreadCache&) = delete;
  ~ThreadCache();

  ThreadEntry* find(std::uint64_t bus_id) noexcept {
    for (ThreadEntry& entry : entries_) {
      if (entry.bus_id == bus_id) return remember(entry);
    }
    return nullptr;
  }

  ThreadEntry& install(std::uint64_t bus_id, std::shared_ptr<CounterBlock> counters);

  // Lets go of a snapshot or entry, unless a synchronous delivery on this
  // thread may still be reading it.
  void retire(ThreadEntry&& entry);
  void retire(std::shared_ptr<const RoutingTable>&& routes);
  void clear_retired() noexcept {
    retired_.clear();
    this_thread.has_retired = false;
  }

 private:
  static ThreadEntry* remember(ThreadEntry& entry) noexcept {
    this_thread.last_entry = &entry;
    this_thread.last_bus_id = entry.bus_id;
    return &entry;
  }

  static constexpr std::size_t kEntries = 4;
  std::array<ThreadEntry, kEntries> entries_;
  std::size_t next_victim_ = 0;
  std::vector<ThreadEntry> retired_;
};

// The entry of `bus_id` if this thread used that bus last, else null.
inline ThreadEntry* last_entry_of(std::uint64_t bus_id) noexcept {
  return this_thread.last_bus_id == bus_id ? this_thread.last_entry : nullptr;
}

ThreadCache& thread_cache() noexcept;

// Inline: every post starts here, and nearly always returns at once.
inline ThreadEntry& BusCore::thread_entry() {
  if (ThreadEntry* entry = last_entry_of(id_)) [[likely]]
    return *entry;
  return find_thread_entry();
}

// One synchronous delivery running on this thread: constructing it pushes it
// on the thread's stack of frames, destroying it pops it (and frees the events
// still held if an exception cut the delivery short). Posts made by handlers
// during the frame are held in an intrusive list, so that a frame nobody
// posts from costs a few stores and no allocation.
class SyncFrame {
 public:
  explicit SyncFrame(const BusCore* delivering_bus) noexcept
      : bus(delivering_bus), outer(this_thread.innermost_frame) {
    this_thread.innermost_frame = this;
  }
  // For a caller that knows this thread has no frame yet: one load fewer
  // (side by side, W1 with a handle 121 -> 124 M events/s).
  struct Outermost {};
  static constexpr Outermost kOutermost{};
  SyncFrame(const BusCore* delivering_bus, Outermost) noexcept
      : bus(delivering_bus), outer(nullptr) {
    this_thread.innermost_frame = this;
  }
  [[gnu::always_inline]] ~SyncFrame() {
    this_thread.innermost_frame = outer;
    if (first_held_ != nullptr) drop_held();
    if (outer == nullptr && this_thread.has_retired) thread_cache().clear_retired();
  }
  SyncFrame(const SyncFrame&) = delete;
  SyncFrame& operator=(const SyncFrame&) = delete;

  bool holds_events() const noexcept { return first_held_ != nullptr; }
  void hold(std::unique_ptr<HeldEvent> held) noexcept {
    HeldEvent* raw = held.release();
    (last_held_ != nullptr ? last_held_->next : first_held_) = raw;
    last_held_ = raw;
  }
  // The event held longest, or null.
  std::unique_ptr<HeldEvent> take_held() noexcept {
    HeldEvent* first = first_held_;
    if (first != nullptr) {
      first_held_ = first->next;
      if (first_held_ == nullptr) last_held_ = nullptr;
    }
    return std::unique_ptr<HeldEvent>(first);
  }

  const BusCore* const bus;
  SyncFrame* const outer;
  // True while the frame calls a handler itself, which makes it stand for an
  // InvocationScope of `bus` (one store instead of a scope's push and pop).
  bool calling = false;

 private:
  void drop_held() noexcept {
    while (take_held() != nullptr) {
    }
  }

  HeldEvent* first_held_ = nullptr;
  HeldEvent* last_held_ = nullptr;
};

struct InvocationScope {
  explicit InvocationScope(const BusCore* running_bus) noexcept
      : bus(running_bus), outer(this_thread.innermost_invocation) {
    this_thread.innermost_invocation = this;
  }
  ~InvocationScope() { this_thread.innermost_invocation = outer; }
  InvocationScope(const InvocationScope&) = delete;
  InvocationScope& operator=(const InvocationScope&) = delete;

  const BusCore* bus;
  InvocationScope* outer;
};

// While a handler runs on an executor, the event it was called with: a post
// the handler makes is that event's consequence, and must not reach any lane
// before it (BusCore::publish waits until the cause is published).
class CauseScope {
 public:
  // Causes do not nest: an executor drains one lane at a time, and nothing a
  // handler calls drains another (a synchronous bus delivers without one).
  explicit CauseScope(const Envelope& cause) noexcept { this_thread.cause = &cause; }
  ~CauseScope() { this_thread.cause = nullptr; }
  CauseScope(const CauseScope&) = delete;
  CauseScope& operator=(const CauseScope&) = delete;
};

// This thread's state.
inline SyncFrame*& innermost_sync_frame() noexcept { return this_thread.innermost_frame; }
inline InvocationScope*& innermost_invocation() noexcept {
  return this_thread.innermost_invocation;
}
inline const BusCore*& executor_of_this_thread() noexcept { return this_thread.executor; }

}  // namespace courier::detail
