// Calling subscribers: the synchronous path, and the guarded invocation both
// paths share (exceptions caught and reported, dead events reported).
#include <boost/core/demangle.hpp>
#include <cstdio>

#include "courier/detail/bus_core.hpp"
#include "courier/errors.hpp"
#include "thread_state.hpp"

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

std::string readable_type_name(const std::type_info& type) {
  return boost::core::demangle(type.name());
}

// ---------------------------------------------------------------------------
// Synchronous delivery (Guava's per-thread queued dispatch)

namespace {

SyncFrame* frame_of(const BusCore* bus) noexcept {
  for (SyncFrame* frame = innermost_sync_frame(); frame; frame = frame->outer) {
    if (frame->bus == bus) return frame;
  }
  return nullptr;
}

}  // namespace

bool BusCore::dispatching_on_this_thread() const noexcept { return frame_of(this) != nullptr; }

void BusCore::defer(std::unique_ptr<HeldEvent> held) {
  if (closed()) throw BusClosed();
  ThreadEntry& entry = thread_entry();
  routes(entry);                // brings entry.routes up to date
  held->routes = entry.routes;  // held->topic_id was set by the caller
  entry.counters->posted.increment();
  frame_of(this)->deferred.push_back(std::move(held));
}

void BusCore::deliver_now(const void* event, const EventOps& ops, std::size_t topic_id) {
  if (closed()) throw BusClosed();
  SyncFrame frame{this, innermost_sync_frame(), {}, 0};
  innermost_sync_frame() = &frame;
  struct PopFrame {
    SyncFrame& frame;
    ~PopFrame() {
      innermost_sync_frame() = frame.outer;
      if (frame.outer == nullptr && this_thread.has_retired) thread_cache().clear_retired();
    }
  } pop{frame};

  // The entry's counter block stays this thread's for the whole frame: if a
  // handler evicts the entry, the cache parks it instead of dropping it.
  ThreadEntry* cached = last_entry_of(id_);
  ThreadEntry& entry =
      cached ? *cached : thread_entry();  // not used once handlers have run: they may evict it
  CounterBlock& counters = *entry.counters;
  counters.posted.increment();
  deliver_one(event, ops, topic_id, routes(entry), counters);
  while (frame.next_deferred < frame.deferred.size()) {
    // Moved out first: handlers may append to `deferred` while it is delivered.
    const std::unique_ptr<HeldEvent> held = std::move(frame.deferred[frame.next_deferred++]);
    deliver_one(held->event, *held->ops, held->topic_id, *held->routes, counters);
  }
}

void BusCore::deliver_one(const void* event, const EventOps& ops, std::size_t topic_id,
                          const RoutingTable& table, CounterBlock& counters) {
  bool reached = false;
  table.for_each_match(ops.type, topic_id, ops.topic(event), [&](SubscriptionCore& subscription) {
    reached |= invoke_synchronously(subscription, event, ops, counters);
  });
  if (reached) {
    counters.delivered_events.increment();
  } else {
    report_dead(event, ops, counters);
  }
}

// Serial subscribers, and keyed events to Concurrent ones, run under their
// lane's mutex. The mutex alone also serves the invocation protocol there: an
// invoker checks `closed` under it, and wait_until_quiet() takes it once after
// closing, so one lock and one unlock per call and no counter traffic (the
// counter protocol would add two more read-modify-writes per call).
bool BusCore::invoke_synchronously(SubscriptionCore& subscription, const void* event,
                                   const EventOps& ops, CounterBlock& counters) {
  Lane* exclusive_lane = nullptr;
  if (subscription.concurrency() == Concurrency::Serial) {
    exclusive_lane = &subscription.lane_for_key_hash(0);
  } else if (const std::string& key = ops.ordering_key(event); !key.empty()) {
    exclusive_lane = &subscription.lane_for_key_hash(std::hash<std::string>{}(key));
  }
  if (exclusive_lane != nullptr) {
    const std::lock_guard lock(exclusive_lane->exclusive);
    if (subscription.closed()) return false;
    invoke(subscription, event, ops, counters);
    return true;
  }
  if (!subscription.enter()) return false;
  struct Leave {
    SubscriptionCore& subscription;
    ~Leave() { subscription.leave(); }
  } leave{subscription};
  invoke(subscription, event, ops, counters);
  return true;
}

// ---------------------------------------------------------------------------
// Guarded invocation and reports

void BusCore::invoke(SubscriptionCore& subscription, const void* event, const EventOps& ops,
                     CounterBlock& counters) {
  const InvocationScope scope(this, &subscription);
  counters.delivered.increment();
  try {
    subscription.invoke(event);
  } catch (...) {
    counters.failed.increment();
    report_error(subscription, event, ops, std::current_exception());
  }
}

void BusCore::report_error(SubscriptionCore& subscription, const void* event, const EventOps& ops,
                           std::exception_ptr error) noexcept {
  try {
    DeliveryError report{ops.topic(event), subscription.pattern().str(), subscription.describe(),
                         error};
    if (error_hook.empty()) {
      std::fprintf(stderr, "courier: %s (pattern \"%s\") threw on topic \"%s\": %s\n",
                   report.subscriber.c_str(), subscription.pattern().str().c_str(),
                   ops.topic(event).c_str(), report.message().c_str());
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
