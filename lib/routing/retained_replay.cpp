// BusCore's hooks for retained events (courier/detail/routing/retained_store.hpp):
// planning a subscription and handing a subscriber its retained events. Cold
// paths: a subscribe() while events are retained.
#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

#include "courier/detail/bus_core.hpp"
#include "courier/detail/routing/retained_store.hpp"
#include "delivery/thread_state.hpp"

namespace courier::detail {

// The checks of subscribe(), answered instead of thrown.
BusCore::SubscriptionPlan BusCore::plan_subscription(
    const std::shared_ptr<SubscriberCore>& candidate) {
  GoneSubscribers gone;
  std::lock_guard lock(routing_mutex_);
  gone.remove_from(*this);
  const auto& patterns = candidate->patterns_while_routing();
  const std::size_t room = max_subscriptions_ - subscription_count_;
  if (const std::shared_ptr<SubscriberCore> existing = existing_locked(*candidate)) {
    if (candidate->has_settings() || count_new_patterns(*existing, patterns) > room) return {};
    return {existing, existing->patterns_while_routing()};
  }
  if (patterns.size() > room) return {};
  return {candidate, {}};
}

void BusCore::replay(SubscriberCore& target, const std::vector<RetainedEvent>& events) {
  if (events.empty() || closed()) return;
  if (!synchronous_) return replay_asynchronously(target, events);
  for (const RetainedEvent& retained : events) {
    const void* event = retained.event.get();
    if (retained.audience != nullptr && !target.in(*retained.audience)) continue;
    if (target.screen() != nullptr &&
        !admits(target, event, *retained.ops, *thread_entry().counters)) {
      continue;
    }
    deliver_to_one(target, event, *retained.ops);
  }
}

// Every envelope is filled before any is pushed, so that a copy that throws
// leaves nothing handed over. Overflow envelopes are counted in flight
// before closed_ is read again (both sequentially consistent, as acquire()
// does): either shutdown waits for them, or this sees it closing.
void BusCore::replay_asynchronously(SubscriberCore& target,
                                    const std::vector<RetainedEvent>& events) {
  CounterBlock& counters = *thread_entry().counters;
  std::vector<Envelope*> envelopes;
  envelopes.reserve(events.size());
  struct RecycleUnpushed {
    BusCore& bus;
    std::vector<Envelope*>& envelopes;
    ~RecycleUnpushed() {
      for (Envelope* envelope : envelopes) bus.recycle(*envelope);
    }
  } recycle_unpushed{*this, envelopes};
  for (const RetainedEvent& retained : events) {
    const void* event = retained.event.get();
    if (retained.audience != nullptr && !target.in(*retained.audience)) continue;
    if (target.screen() != nullptr && !admits(target, event, *retained.ops, counters)) continue;
    envelopes.push_back(make_overflow_envelope());
    retained.store_copy(*envelopes.back(), event);
  }
  if (closed_.load(std::memory_order_seq_cst)) return;
  for (Envelope* envelope : envelopes) {
    const std::string_view key = envelope->ops().ordering_key(envelope->event());
    const std::size_t lane_hint =
        key.empty() ? reinterpret_cast<std::uintptr_t>(envelope) / sizeof(Envelope)
                    : std::hash<std::string_view>{}(key);
    counters.posted.increment();
    envelope->reached.store(false, std::memory_order_relaxed);
    envelope->published.store(true, std::memory_order_relaxed);
    envelope->pending.store(1, std::memory_order_relaxed);
    enqueue(target.lane_for(lane_hint), envelope->first_node());
  }
  envelopes.clear();
}

void BusCore::route_held_events_again(SyncFrame& frame) {
  // Nothing held (no retained event was replayed, or its handlers posted
  // nothing): the common case, and then the thread's routes need not be
  // brought up to date (its next post does that), which would build a
  // routing snapshot per subscribe() and make n subscriptions cost O(n^2).
  if (!frame.holds_events()) return;
  std::vector<std::unique_ptr<HeldEvent>> held;
  while (std::unique_ptr<HeldEvent> event = frame.take_held()) held.push_back(std::move(event));
  SyncFrame* outer = frame.outer;
  while (outer != nullptr && outer->bus != this) outer = outer->outer;
  ThreadEntry& entry = thread_entry();
  routes(entry);  // brings entry.routes up to date
  for (std::unique_ptr<HeldEvent>& event : held) {
    event->routes = entry.routes;
    (outer != nullptr ? *outer : frame).hold(std::move(event));
  }
}

}  // namespace courier::detail
