// Calling subscribers: the synchronous path, and the guarded invocation both
// paths share (exceptions caught and reported, dead events reported).
#include <boost/core/demangle.hpp>
#include <cstdio>

#include "courier/detail/bus_core.hpp"
#include "courier/errors.hpp"
#include "delivery/thread_state.hpp"

namespace courier {

std::string DeliveryError::message() const {
  try {
    if (exception) std::rethrow_exception(exception);
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
  return "no exception";
}

namespace detail {

// Defined here, beside the synchronous post, its busiest reader: in a static
// library linked into an executable (PIE included), the translation unit that
// defines a thread_local addresses it from the thread pointer directly, and
// any other first loads the variable's offset from the GOT, again after every
// call. callgrind, W1 --quick: 8 instructions fewer a post; side by side, W1
// with a handle 73 -> 85 M events/s. (Built as a shared library, every access
// goes through __tls_get_addr either way.)
constinit thread_local ThreadState this_thread;

std::string readable_type_name(const std::type_info& type) {
  return boost::core::demangle(type.name());
}

// ---------------------------------------------------------------------------
// Synchronous delivery (Guava's per-thread queued dispatch)

// The steps of a synchronous post. A post makes one call into the library,
// post_sync, which takes the shortest path when it can (try_shortest_path)
// and else jumps to post_sync_generally; the steps of each are inlined into
// it, up to the handler's own virtual call. A nested class of BusCore,
// defined here only, so that they see its members and are inline.
struct BusCore::SyncPath {
  // `audience`: the event's, or null (post_sync_to_audience).
  [[gnu::always_inline]] static void deliver_now(BusCore& bus, const void* event,
                                                 const EventOps& ops, std::size_t topic_id,
                                                 const Audience* audience = nullptr) {
    SyncFrame frame(&bus);
    // The entry's counter block and its LastRoute's list stay readable for
    // the whole frame: if a handler evicts or refreshes the entry, the cache
    // parks what it held instead of dropping it. The entry itself is not used
    // once handlers have run: they may reassign it to another bus.
    ThreadEntry& entry = bus.thread_entry();
    CounterBlock& counters = *entry.counters;
    if (entry.routes_version != bus.routing_version_.load(std::memory_order_acquire)) {
      bus.routes(entry);
    }
    const CachedRoute route =
        entry.last_route.route(*entry.routes, entry.routes_version, ops.type, topic_id,
                               Grouping::Ungrouped, [&] { return ops.topic(event); });
    // Counted once routed: routing may throw (std::bad_alloc), and then the
    // post throws and the event is not accepted.
    counters.posted.increment();
    if (bus.observed()) [[unlikely]] {
      if (bus.counting_topics()) entry.last_route.disarm();  // the shortest path does not count
      bus.observe_post(nullptr, event, ops);
    }
    deliver_to(bus, route, event, ops, counters, audience);
    if (frame.holds_events()) deliver_held(bus, frame, counters);
  }

  // The common case in full, or false having done nothing: this thread posted
  // to this bus last, no synchronous delivery runs on it, the bus is open, its
  // routing unchanged, the topic the one its last route was filled for and
  // has served since (see LastRoute::sole_serial), and that route a single
  // Serial subscription whose lock this thread owns the bias of. Topics are
  // not counted then (see deliver_now). Every check fails over to the general
  // path, which does the same work the long way.
  [[gnu::always_inline]] static bool try_shortest_path(BusCore& bus, const void* event,
                                                       const EventOps& ops, std::size_t topic_id) {
    // last_entry is set whenever last_bus_id is a bus's id (never 0).
    if (this_thread.last_bus_id != bus.id_ || this_thread.innermost_frame != nullptr ||
        bus.closed())
      return false;
    ThreadEntry& entry = *this_thread.last_entry;
    SubscriberCore* sole =
        entry.last_route.sole_serial(bus.routing_version_.load(std::memory_order_acquire), ops.type,
                                     topic_id, [&] { return ops.topic(event); });
    if (sole == nullptr) return false;
    BiasedLock& lock = sole->lane_for_key_hash(0).exclusive;
    if (!lock.try_enter_as_owner(this_thread.number)) return false;
    deliver_to_sole(bus, *entry.counters, *sole, lock, event, ops);
    return true;
  }

  // With the lock entered. The entry is not used once the handler has run:
  // it may reassign it to another bus. What the entry lent (the counter
  // block; the snapshot that keeps the subscription and its lock alive) stays
  // valid, as the frame exists before the call: an entry or snapshot the
  // handler makes this thread let go of is parked until the frame ends.
  [[gnu::always_inline]] static void deliver_to_sole(BusCore& bus, CounterBlock& counters,
                                                     SubscriberCore& subscription, BiasedLock& lock,
                                                     const void* event, const EventOps& ops) {
    SyncFrame frame(&bus, SyncFrame::kOutermost);  // try_shortest_path saw no frame
    if (subscription.verdict(event, ops) != SubscriberCore::Verdict::Call) [[unlikely]] {
      counters.posted.increment();
      lock.leave_biased();
      bus.report_dead(event, ops, counters);
    } else {
      counters.posted_and_delivered.increment();
      frame.calling = true;  // the frame stands for an InvocationScope
      call_reporting_errors(bus, subscription, event, ops, counters);
      frame.calling = false;
      lock.leave_biased();
      counters.delivered_events.increment();
    }
    if (frame.holds_events()) deliver_held(bus, frame, counters);
  }

  static void hold(BusCore& bus, SyncFrame& frame, std::unique_ptr<HeldEvent> held,
                   std::size_t topic_id) {
    ThreadEntry& entry = bus.thread_entry();
    bus.routes(entry);  // brings entry.routes up to date
    held->routes = entry.routes;
    held->topic_id = topic_id;
    entry.counters->posted.increment();
    if (bus.observed()) [[unlikely]]
      bus.observe_post(nullptr, held->event, *held->ops);
    frame.hold(std::move(held));
  }

  // Handlers may hold more events while these are delivered.
  [[gnu::noinline]] static void deliver_held(BusCore& bus, SyncFrame& frame,
                                             CounterBlock& counters) {
    while (const std::unique_ptr<HeldEvent> held = frame.take_held()) {
      deliver_one(bus, held->event, *held->ops, held->topic_id, *held->routes, counters,
                  held->audience);
    }
  }

  static void deliver_one(BusCore& bus, const void* event, const EventOps& ops,
                          std::size_t topic_id, const RoutingTable& table, CounterBlock& counters,
                          const Audience* audience) {
    bool reached = false;
    table.for_each_match(ops.type, topic_id, ops.topic(event), [&](SubscriberCore& subscription) {
      if (audience != nullptr && !subscription.in(*audience)) return;
      if (subscription.screen() != nullptr && !bus.admits(subscription, event, ops, counters))
        return;
      reached |= invoke(bus, subscription, event, ops, counters);
    });
    count_delivery(bus, reached, event, ops, counters);
  }

  // A screened route's subscribers pass BusCore::admits first, each just
  // before its call (so a filter sees the effects of the calls before it);
  // for an event with an audience (never on the post that has none: the
  // argument is a constant null there), every subscriber is checked
  // against it first.
  [[gnu::always_inline]] static void deliver_to(BusCore& bus, const CachedRoute& route,
                                                const void* event, const EventOps& ops,
                                                CounterBlock& counters, const Audience* audience) {
    bool reached = false;
    if (route.screened || audience != nullptr) [[unlikely]] {
      for (SubscriberCore* subscription : route.subscriptions) {
        if (audience != nullptr && !subscription->in(*audience)) continue;
        if (!bus.admits(*subscription, event, ops, counters)) continue;
        reached |= invoke(bus, *subscription, event, ops, counters);
      }
    } else {
      for (SubscriberCore* subscription : route.subscriptions) {
        reached |= invoke(bus, *subscription, event, ops, counters);
      }
    }
    count_delivery(bus, reached, event, ops, counters);
  }

  [[gnu::always_inline]] static void count_delivery(BusCore& bus, bool reached, const void* event,
                                                    const EventOps& ops, CounterBlock& counters) {
    if (reached) {
      counters.delivered_events.increment();
    } else {
      bus.report_dead(event, ops, counters);
    }
  }

  // Serial subscribers, and keyed events to Concurrent ones, run under their
  // lane's lock. The lock alone also serves the invocation protocol there: an
  // invoker checks `closed` under it, and wait_until_quiet() takes it once
  // after closing (which also ends its bias), so no counter traffic (the
  // counter protocol would add two read-modify-writes per call).
  [[gnu::always_inline]] static bool invoke(BusCore& bus, SubscriberCore& subscription,
                                            const void* event, const EventOps& ops,
                                            CounterBlock& counters) {
    Lane* exclusive_lane = nullptr;
    if (subscription.concurrency() == Concurrency::Serial) {
      exclusive_lane = &subscription.lane_for_key_hash(0);
    } else if (const std::string_view key = ops.ordering_key(event); !key.empty()) {
      exclusive_lane = &subscription.lane_for_key_hash(std::hash<std::string_view>{}(key));
    }
    if (exclusive_lane != nullptr)
      return invoke_exclusively(bus, *exclusive_lane, subscription, event, ops, counters);
    if (!subscription.enter()) return false;
    struct Leave {
      SubscriberCore& subscription;
      ~Leave() { subscription.leave(); }
    } leave{subscription};
    if (subscription.verdict(event, ops) != SubscriberCore::Verdict::Call) return false;
    invoke_guarded(bus, subscription, event, ops, counters);
    return true;
  }

  // Under the lane's lock: through its bias when this thread owns it (plain
  // stores), else taken (see exclusive_lock.hpp).
  [[gnu::always_inline]] static bool invoke_exclusively(BusCore& bus, Lane& lane,
                                                        SubscriberCore& subscription,
                                                        const void* event, const EventOps& ops,
                                                        CounterBlock& counters) {
    BiasedLock& lock = lane.exclusive;
    if (lock.try_enter_biased(this_thread_number())) {
      struct Leave {
        BiasedLock& lock;
        ~Leave() { lock.leave_biased(); }
      } leave{lock};
      if (subscription.verdict(event, ops) != SubscriberCore::Verdict::Call) return false;
      invoke_guarded(bus, subscription, event, ops, counters);
      return true;
    }
    const std::lock_guard guard(lock);
    if (subscription.verdict(event, ops) != SubscriberCore::Verdict::Call) return false;
    invoke_guarded(bus, subscription, event, ops, counters);
    return true;
  }

  // The guarded call both paths share: an exception is counted and reported.
  // False: the subscriber declined the event for now (only ever on a drain,
  // see Handler::invoke); it is then not counted as delivered.
  [[gnu::always_inline]] static bool invoke_guarded(BusCore& bus, SubscriberCore& subscription,
                                                    const void* event, const EventOps& ops,
                                                    CounterBlock& counters) {
    const InvocationScope scope(&bus);
    counters.delivered.increment();
    if (bus.observed()) [[unlikely]] {
      if (invoke_observed(bus, subscription, event, ops, counters)) return true;
    } else if (call_reporting_errors(bus, subscription, event, ops, counters)) [[likely]] {
      return true;
    }
    counters.delivered.decrement();
    return false;
  }

  // invoke_guarded's call while something is tracked: the call's start time
  // is taken before it, and it is counted once it is known not to be
  // declined (a declined event is offered again later and counted then). On
  // an executor the event's envelope is this thread's cause (CauseScope).
  [[gnu::noinline]] static bool invoke_observed(BusCore& bus, SubscriberCore& subscription,
                                                const void* event, const EventOps& ops,
                                                CounterBlock& counters) {
    const std::int64_t started = bus.observation_clock();
    if (!call_reporting_errors(bus, subscription, event, ops, counters)) return false;
    bus.observe_delivery(event, ops, bus.synchronous() ? nullptr : this_thread.cause, started);
    return true;
  }

  [[gnu::always_inline]] static bool call_reporting_errors(BusCore& bus,
                                                           SubscriberCore& subscription,
                                                           const void* event, const EventOps& ops,
                                                           CounterBlock& counters) {
    try {
      return subscription.invoke(event, ops);
    } catch (...) {
      counters.failed.increment();
      bus.report_error(subscription, event, ops, std::current_exception());
      return true;
    }
  }
};

bool BusCore::post_sync(void* event, const EventOps& ops, HoldEvent hold, std::size_t topic_id,
                        Admission admission) {
  if (SyncPath::try_shortest_path(*this, event, ops, topic_id)) [[likely]]
    return true;
  return post_sync_generally(event, ops, hold, topic_id, admission);
}

bool BusCore::post_sync_generally(void* event, const EventOps& ops, HoldEvent hold,
                                  std::size_t topic_id, Admission admission) {
  if (closed()) {
    if (admission == Admission::Try) return false;
    throw BusClosed();
  }
  for (SyncFrame* frame = this_thread.innermost_frame; frame != nullptr; frame = frame->outer) {
    if (frame->bus == this) {
      SyncPath::hold(*this, *frame, hold(event), topic_id);
      return true;
    }
  }
  SyncPath::deliver_now(*this, event, ops, topic_id);
  return true;
}

bool BusCore::post_sync_to_audience(void* event, const EventOps& ops, HoldEvent hold,
                                    std::size_t topic_id, Admission admission,
                                    const Audience& audience) {
  if (closed()) {
    if (admission == Admission::Try) return false;
    throw BusClosed();
  }
  for (SyncFrame* frame = this_thread.innermost_frame; frame != nullptr; frame = frame->outer) {
    if (frame->bus == this) {
      // The held event carries its audience (HeldEventOf).
      SyncPath::hold(*this, *frame, hold(event), topic_id);
      return true;
    }
  }
  SyncPath::deliver_now(*this, event, ops, topic_id, &audience);
  return true;
}

// Retained events for a new subscription (routing/retained_store.hpp): cold
// paths, on the SyncPath's steps.
void BusCore::deliver_held_events(SyncFrame& frame) {
  if (frame.holds_events()) SyncPath::deliver_held(*this, frame, *thread_entry().counters);
}

void BusCore::deliver_to_one(SubscriberCore& subscription, const void* event, const EventOps& ops) {
  CounterBlock& counters = *thread_entry().counters;
  counters.posted.increment();
  const bool reached = SyncPath::invoke(*this, subscription, event, ops, counters);
  SyncPath::count_delivery(*this, reached, event, ops, counters);
}

// ---------------------------------------------------------------------------
// Guarded invocation and reports

bool BusCore::invoke(SubscriberCore& subscription, const void* event, const EventOps& ops,
                     CounterBlock& counters) {
  return SyncPath::invoke_guarded(*this, subscription, event, ops, counters);
}

// One scope and one try block for the whole run of calls: on a throw, the
// error is reported and the run resumes with the next event. Each event is
// this thread's cause while its call runs (see publish()).
void BusCore::invoke_each(SubscriberCore& subscription, std::span<Envelope* const> envelopes,
                          std::span<const void* const> events, std::span<bool> invoked,
                          CounterBlock& counters) {
  const InvocationScope scope(this);
  // Read once a run (at most kGroupBatch events), not per call: a switch of
  // tracking takes effect at the next run. Two loops rather than a flag
  // tested per call: the flag did not stay in a register, and reloading it
  // cost W3 three instructions per delivery.
  if (observed()) [[unlikely]] {
    invoke_run<true>(subscription, envelopes, events, invoked, counters);
  } else {
    invoke_run<false>(subscription, envelopes, events, invoked, counters);
  }
}

template <bool Observing>
void BusCore::invoke_run(SubscriberCore& subscription, std::span<Envelope* const> envelopes,
                         std::span<const void* const> events, std::span<bool> invoked,
                         CounterBlock& counters) {
  std::size_t i = 0;
  while (i < events.size()) {
    try {
      for (; i < events.size(); ++i) {
        const SubscriberCore::Verdict verdict =
            subscription.verdict(events[i], envelopes[i]->ops());
        if (verdict == SubscriberCore::Verdict::Closed) return;
        if (verdict == SubscriberCore::Verdict::Skip) continue;
        invoked[i] = true;
        // Per call, before it, as invoke() counts: stats() read by a handler
        // or the error hook includes the call under way.
        counters.delivered.increment();
        if constexpr (Observing) observe_delivery(events[i], envelopes[i]->ops(), envelopes[i]);
        const CauseScope cause(*envelopes[i]);
        subscription.invoke(events[i], envelopes[i]->ops());
      }
    } catch (...) {
      counters.failed.increment();
      report_error(subscription, events[i], envelopes[i]->ops(), std::current_exception());
      ++i;
    }
  }
}

void BusCore::report_error(SubscriberCore& subscription, const void* event, const EventOps& ops,
                           std::exception_ptr error) noexcept {
  if (observed()) observe_failure(ops.topic(event));
  try {
    const std::string pattern = subscription.pattern_matching(ops.topic(event));
    DeliveryError report{ops.topic(event), pattern, subscription.describe(), error};
    if (error_hook.empty()) {
      std::fprintf(stderr, "courier: %s (pattern \"%s\") threw on topic \"%.*s\": %s\n",
                   report.subscriber.c_str(), pattern.c_str(),
                   static_cast<int>(report.topic.size()), report.topic.data(),
                   report.message().c_str());
    } else {
      error_hook(report);
    }
  } catch (...) {
    std::fputs("courier: the error hook threw; the error it was reporting is lost\n", stderr);
  }
}

void BusCore::report_dead(const void* event, const EventOps& ops, CounterBlock& counters) noexcept {
  counters.dead.increment();  // before the hook: it may run code that evicts this thread's entry
  if (dead_event_hook.empty()) return;
  try {
    dead_event_hook(DeadEvent(event, ops.type, ops.topic(event)));
  } catch (...) {
    std::fputs("courier: the dead-event hook threw; ignored\n", stderr);
  }
}

}  // namespace detail
}  // namespace courier
