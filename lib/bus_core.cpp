// BusCore: construction, the asynchronous path, executor threads, lifecycle.
// Synchronous delivery and invocation live in delivery.cpp, subscription
// bookkeeping in subscriptions.cpp.
#include "courier/detail/bus_core.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include "courier/detail/delivery/exclusive_lock.hpp"
#include "courier/detail/spin.hpp"
#include "courier/errors.hpp"
#include "delivery/thread_state.hpp"
#include "metrics/bus_metrics.hpp"

namespace courier::detail {
namespace {

std::atomic<std::uint64_t> next_bus_id{1};

// Slot indices are 32-bit, and the free-slot ring's sequence arithmetic
// needs them below 2^31.
constexpr std::size_t kMaxQueueCapacity = std::size_t{1} << 30;
constexpr std::size_t kMaxConcurrentLanes = 64;
constexpr std::size_t kMaxTrackedTopics = std::size_t{1} << 20;

const Options& validated(const Options& options) {
  if (!options.synchronous && options.threads == 0) {
    throw std::invalid_argument("courier: Options::threads must be at least 1, got 0");
  }
  if (options.queue_capacity == 0 || options.queue_capacity > kMaxQueueCapacity) {
    throw std::invalid_argument("courier: Options::queue_capacity must be between 1 and " +
                                std::to_string(kMaxQueueCapacity) + ", got " +
                                std::to_string(options.queue_capacity));
  }
  if (options.max_tracked_topics > kMaxTrackedTopics) {
    throw std::invalid_argument("courier: Options::max_tracked_topics must be at most " +
                                std::to_string(kMaxTrackedTopics) + ", got " +
                                std::to_string(options.max_tracked_topics));
  }
  return options;
}

}  // namespace

BusCore::BusCore(const Options& options)
    : id_(next_bus_id.fetch_add(1, std::memory_order_relaxed)),
      synchronous_(validated(options).synchronous),
      post_mode_(synchronous_ ? kSynchronousPost : kAsynchronousPost),
      slot_publication_(asymmetric_fence_available() ? std::memory_order_release
                                                     : std::memory_order_seq_cst),
      slot_count_(synchronous_ ? 0 : options.queue_capacity),
      concurrent_lanes_(std::clamp<std::size_t>(options.threads, 1, kMaxConcurrentLanes)),
      free_slots_(std::max<std::size_t>(slot_count_, 1)),
      max_subscriptions_(options.max_subscriptions),
      max_tracked_topics_(options.max_tracked_topics) {
  if (synchronous_) return;
  slots_ = std::make_unique<Envelope[]>(slot_count_);
  for (std::size_t i = 0; i < slot_count_; ++i) free_slots_.push(static_cast<std::uint32_t>(i));
  pool_.emplace(options.threads);
  for (std::size_t i = 0; i < options.threads; ++i) {
    // Registered here, not by the worker: a pool thread that starts late would
    // otherwise allocate its block in the middle of the bus's steady state.
    boost::asio::post(*pool_, [this, counters = register_counters()] { worker_main(*counters); });
  }
}

BusCore::~BusCore() {
  // EventBus's destructor has shut down and joined; this is the backstop for
  // a core that outlived it through a Subscription handle.
  shutdown();
}

// ---------------------------------------------------------------------------
// Asynchronous posting

Envelope* BusCore::try_take_slot() noexcept {
  std::uint32_t index;
  return free_slots_.try_pop(index) ? &slots_[index] : nullptr;
}

Envelope* BusCore::acquire(Admission admission) {
  if (closed_.load(std::memory_order_acquire)) {
    if (admission == Admission::Try) return nullptr;
    throw BusClosed();
  }
  Envelope* envelope = try_take_slot();
  if (envelope == nullptr) {
    if (admission == Admission::Try) return nullptr;
    envelope = executor_of_this_thread() == this ? make_overflow_envelope() : wait_for_slot();
  }
  // Shutdown sets closed_ and then waits until every slot is back; reading
  // closed_ again after taking the slot (both sequentially consistent) means
  // either shutdown waits for this event or this post sees it closing.
  if (closed_.load(std::memory_order_seq_cst)) {
    recycle(*envelope);
    if (admission == Admission::Try) return nullptr;
    throw BusClosed();
  }
  return envelope;
}

// The sleeping side of the wake-up protocol (notify_waiters is the other):
//   poster:   e = epoch;  poster_asleep = true;  fence;  try to take a slot;  sleep while epoch ==
//   e releaser: push the slot back;  if (poster_asleep.exchange(false)) { epoch++;  wake all }
// Either the releaser sees the flag, or the poster's attempt sees the slot.
// That needs a full barrier on both sides between the store and the load;
// the releaser's side runs once per event, the poster's only before it
// sleeps, so where it can the poster pays for both: an asymmetric fence
// (exclusive_lock.hpp) lets the releaser publish the slot with a plain
// release store. Without one, the publication is sequentially consistent
// (an exchange) and the poster's flag store suffices. Only the first release
// after a poster falls asleep pays for the wake-up (libstdc++ 12's atomic
// notify always makes a system call), and posters raise the flag only after
// a spin, so a saturated bus whose slots free within microseconds makes no
// system calls at all. A woken poster that still finds no slot raises the
// flag again.
Envelope* BusCore::wait_for_slot() {
  let_slots_come_back();
  Envelope* envelope = nullptr;
  for (;;) {
    if (closed_.load(std::memory_order_seq_cst)) throw BusClosed();
    if (spin_until([&] { return (envelope = try_take_slot()) != nullptr || closed(); })) {
      if (envelope != nullptr) return envelope;
      continue;
    }
    // The epoch is read before the flag is raised: a release that clears the
    // flag (possibly raised by another poster) bumps the epoch after this
    // read, so this poster cannot sleep on a cleared flag.
    const std::uint32_t epoch = release_epoch_.load(std::memory_order_seq_cst);
    poster_asleep_.store(true, std::memory_order_seq_cst);
    if (slot_publication_ != std::memory_order_seq_cst) asymmetric_fence();
    if ((envelope = try_take_slot()) != nullptr) return envelope;
    if (!closed_.load(std::memory_order_seq_cst)) {
      release_epoch_.wait(epoch, std::memory_order_seq_cst);
    }
  }
}

// A full queue gets its slots back one at a time, as deliveries finish. A
// poster that took each as it came back would meet the releasing thread on
// the ring's lines at every event, slowing down the very thread the bus now
// waits for: W2 through a stream, whose consumer is slower than its
// producer, ran at 5 M events/s that way against 15-17 M with this wait. So
// a poster that finds the queue full first lets a batch of slots come back
// (a quarter of the queue, at most 64), looking at the ring's size only once
// every 16 pauses (spin_for would look at every pause). The batch is a hint,
// not a condition: after kRefillWait the poster goes on with what there is,
// through the wake-up protocol above, unchanged. A subscriber slow enough
// to free fewer slots than that in kRefillWait would have each post spin
// for nothing, so a wait that saw no batch makes this thread skip the next
// 16 such waits, then 32, up to 1024, as a drain's catch-up pauses do
// (catch_up_pacing.hpp); one that saw a batch resets that.
void BusCore::let_slots_come_back() noexcept {
  static constexpr std::size_t kRefillBatch = 64;
  static constexpr int kPausesBetweenLooks = 16;
  static constexpr std::chrono::microseconds kRefillWait{20};
  const std::size_t batch = std::min(kRefillBatch, slot_count_ / 4);
  if (batch <= 1) return;
  CatchUpPacing& pacing = thread_entry().refill_pacing;
  if (!pacing.should_pause()) return;
  const auto deadline = std::chrono::steady_clock::now() + kRefillWait;
  while (free_slots_.size() < batch && !closed()) {
    for (int i = 0; i < kPausesBetweenLooks; ++i) cpu_relax();
    if (std::chrono::steady_clock::now() >= deadline) return pacing.judge(false);
  }
  pacing.judge(true);
}

Envelope* BusCore::make_overflow_envelope() {
  overflow_in_flight_.fetch_add(1, std::memory_order_seq_cst);
  try {
    return new Envelope();
  } catch (...) {
    overflow_in_flight_.fetch_sub(1, std::memory_order_seq_cst);
    throw;
  }
}

void BusCore::abandon(Envelope& envelope) noexcept { recycle(envelope); }

// Causal order (issue 13). An event bound for several lanes is pushed to
// them one after another, and a subscriber in an early lane may run and post
// before the later lanes have the event: without a check, that consequence
// could reach a later lane first, and a subscriber there would see the
// effect before its cause. So an event of several lanes is `published` only
// once all its nodes are pushed, and a post from a handler (whose event is
// this thread's cause, CauseScope) waits for its cause to be published
// first; the cause cannot be recycled meanwhile, as its handler is running.
// The publisher keeps one count of `pending` for itself until it has set
// the flag, so that the envelope outlives that store. An event of one lane
// is published as it is pushed, and costs nothing more.
// For an audience, every match goes through the screening loop with the
// audience checked first, and routing is Ungrouped, as for a keyed event, so
// that each subscriber in the audience gets the event in its own lanes (a
// group would call all its members). A Concurrent subscriber has no order
// for unkeyed events anyway, so leaving its group lane changes no promise.
template <bool kForAudience>
[[gnu::always_inline]] inline void BusCore::route_and_push(Envelope& envelope, std::size_t topic_id,
                                                           const Audience* audience) {
  if (const Envelope* cause = this_thread.cause) [[unlikely]]
    wait_until_published(*cause);
  ThreadEntry& entry = thread_entry();
  const RoutingTable& table = routes(entry);
  const void* event = envelope.event();
  const EventOps& ops = envelope.ops();
  const std::string_view key = ops.ordering_key(event);
  // Unkeyed events spread over a Concurrent subscriber's lanes by address:
  // neighbouring slots, neighbouring lanes.
  const std::size_t lane_hint = key.empty()
                                    ? reinterpret_cast<std::uintptr_t>(&envelope) / sizeof(Envelope)
                                    : std::hash<std::string_view>{}(key);

  // Every target is found before any node is pushed: `pending` must be
  // final before the first delivery can count it down.
  Lane* first_lane = nullptr;
  std::uint32_t targets = 0;
  auto add_target = [&](Lane& lane) {
    if (targets == 0) {
      first_lane = &lane;
    } else {
      envelope.reserve_extra_deliveries(targets);
      envelope.extra_delivery(targets - 1).lane = &lane;
    }
    ++targets;
  };
  CounterBlock& counters = *entry.counters;
  try {
    const CachedRoute route = entry.last_route.route(
        table, entry.routes_version, ops.type, topic_id,
        key.empty() && !kForAudience ? Grouping::Grouped : Grouping::Ungrouped,
        [&] { return ops.topic(event); });
    if constexpr (kForAudience) {
      for (SubscriberCore* subscription : route.subscriptions) {
        if (!subscription->closed() && subscription->in(*audience) &&
            admits(*subscription, event, ops, counters)) {
          add_target(subscription->lane_for(lane_hint));
        }
      }
    } else if (route.screened) [[unlikely]] {
      // A screened subscriber (a filter, a tracked owner) is screened here,
      // before its lane takes the event; unscreened routes skip the check.
      for (SubscriberCore* subscription : route.subscriptions) {
        if (!subscription->closed() && admits(*subscription, event, ops, counters)) {
          add_target(subscription->lane_for(lane_hint));
        }
      }
    } else {
      for (SubscriberCore* subscription : route.subscriptions) {
        if (!subscription->closed()) add_target(subscription->lane_for(lane_hint));
      }
    }
    if (!kForAudience && route.group != nullptr && route.group->any_member_open()) {
      add_target(route.group->lane_for(lane_hint));
    }
  } catch (...) {
    recycle(envelope);
    throw;
  }
  counters.posted.increment();
  if (observed()) [[unlikely]]
    observe_post(&envelope, event, ops);
  if (targets == 0) {
    report_dead(event, ops, counters);
    recycle(envelope);
    return;
  }
  envelope.reached.store(false, std::memory_order_relaxed);
  if (targets == 1) {
    envelope.published.store(true, std::memory_order_relaxed);
    envelope.pending.store(1, std::memory_order_relaxed);
    // Once pushed, the envelope may be delivered and recycled at once:
    // nothing of it is read after that push.
    return enqueue(*first_lane, envelope.first_node());
  }
  envelope.published.store(false, std::memory_order_relaxed);
  envelope.pending.store(targets + 1, std::memory_order_relaxed);  // + this post's own
  enqueue(*first_lane, envelope.first_node());
  for (std::uint32_t i = 1; i < targets; ++i) {
    ExtraDelivery& extra = envelope.extra_delivery(i - 1);
    extra.node.envelope = &envelope;
    enqueue(*extra.lane, extra.node);
  }
  envelope.published.store(true, std::memory_order_release);
  release(envelope, false, counters);
}

void BusCore::publish(Envelope& envelope, std::size_t topic_id) {
  route_and_push<false>(envelope, topic_id, nullptr);
}

void BusCore::publish_to_audience(Envelope& envelope, std::size_t topic_id,
                                  const Audience& audience) {
  route_and_push<true>(envelope, topic_id, &audience);
}

void BusCore::wait_until_published(const Envelope& cause) noexcept {
  while (!spin_until([&] { return cause.published.load(std::memory_order_acquire); })) {
    std::this_thread::yield();  // its publisher was preempted between two pushes
  }
}

void BusCore::enqueue(Lane& lane, DeliveryNode& node) {
  lane.mailbox.push(node);
  if (!lane.scheduled.load(std::memory_order_seq_cst) &&
      !lane.scheduled.exchange(true, std::memory_order_seq_cst)) {
    schedule(lane);
  }
}

void BusCore::schedule(Lane& lane) {
  if (lane.group != nullptr) {
    lane.keep_alive = lane.group->shared_from_this();
  } else {
    lane.keep_alive = lane.owner->shared_from_this();
  }
  hand_over(lane);
}

// ---------------------------------------------------------------------------
// Releasing slots and waking waiters

void BusCore::release(Envelope& envelope, bool invoked, CounterBlock& counters) noexcept {
  if (finish_delivery(envelope, invoked, counters)) recycle(envelope);
}

bool BusCore::finish_delivery(Envelope& envelope, bool invoked, CounterBlock& counters) noexcept {
  // The only delivery left needs no read-modify-write (nobody else counts
  // down), nor the shared `reached` flag: the others' stores happened before.
  if (envelope.pending.load(std::memory_order_acquire) != 1) {
    if (invoked) envelope.reached.store(true, std::memory_order_relaxed);
    if (envelope.pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return false;
  }
  if (invoked || envelope.reached.load(std::memory_order_relaxed)) {
    counters.delivered_events.increment();
  } else {
    report_dead(envelope.event(), envelope.ops(), counters);
  }
  return true;
}

// As release() for each, but the freed slots go back to the ring together.
void BusCore::release_all(std::span<Envelope* const> envelopes, std::span<const bool> invoked,
                          CounterBlock& counters) noexcept {
  std::array<std::uint32_t, kGroupBatch> freed;
  std::size_t freed_count = 0;
  bool recycled = false;
  for (std::size_t i = 0; i < envelopes.size(); ++i) {
    if (!finish_delivery(*envelopes[i], invoked[i], counters)) continue;
    if (const std::uint32_t index = vacate(*envelopes[i]); index != kNotASlot) {
      freed[freed_count++] = index;
    }
    recycled = true;
  }
  free_slots_.push_all({freed.data(), freed_count}, slot_publication_);
  if (recycled) notify_waiters();
}

void BusCore::recycle(Envelope& envelope) noexcept {
  if (const std::uint32_t index = vacate(envelope); index != kNotASlot) {
    free_slots_.push(index, slot_publication_);
  }
  notify_waiters();
}

std::uint32_t BusCore::vacate(Envelope& envelope) noexcept {
  envelope.clear();
  const std::uint32_t index = slot_index(envelope);
  if (index == kNotASlot) {
    delete &envelope;
    overflow_in_flight_.fetch_sub(1, std::memory_order_seq_cst);
  }
  return index;
}

std::uint32_t BusCore::slot_index(const Envelope& envelope) const noexcept {
  // Unsigned: an address below the slots wraps around to a huge offset.
  const std::uintptr_t offset =
      reinterpret_cast<std::uintptr_t>(&envelope) - reinterpret_cast<std::uintptr_t>(slots_.get());
  return offset < slot_count_ * sizeof(Envelope)
             ? static_cast<std::uint32_t>(offset / sizeof(Envelope))
             : kNotASlot;
}

// The waking side: see wait_for_slot and wait_until_idle. Called after every
// release, so in the common case it is two loads and nothing else.
void BusCore::notify_waiters() noexcept {
  const bool wake_posters = poster_asleep_.load(std::memory_order_seq_cst) &&
                            poster_asleep_.exchange(false, std::memory_order_seq_cst);
  if (wake_posters || (idle_waiters_.load(std::memory_order_seq_cst) != 0 && idle())) {
    release_epoch_.fetch_add(1, std::memory_order_seq_cst);
    release_epoch_.notify_all();
  }
}

bool BusCore::idle() const noexcept {
  return free_slots_.size() == slot_count_ &&
         overflow_in_flight_.load(std::memory_order_seq_cst) == 0;
}

// As wait_for_slot, with "idle" for "a free slot": a releaser that finds
// idle waiters wakes them once it leaves the bus idle. Of two releases that
// finish last at the same time, at least one sees both slots back.
void BusCore::wait_until_idle() {
  idle_waiters_.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    const std::uint32_t epoch = release_epoch_.load(std::memory_order_seq_cst);
    if (idle()) break;
    release_epoch_.wait(epoch, std::memory_order_seq_cst);
  }
  idle_waiters_.fetch_sub(1, std::memory_order_seq_cst);
}

// ---------------------------------------------------------------------------
// Executor threads

void BusCore::worker_main(CounterBlock& counters) {
  executor_of_this_thread() = this;
  while (Lane* lane = run_queue_.pop_wait()) drain(*lane, counters);
  executor_of_this_thread() = nullptr;
}

void BusCore::drain(Lane& lane, CounterBlock& counters) {
  if (lane.group != nullptr) return finish_lane(lane, drain_group(lane, counters) != 0);
  const Drained drained = drain_subscription(lane, counters);
  if (drained.parked) [[unlikely]]
    return park(lane);
  finish_lane(lane, drained.handled != 0);
}

// The next node of a lane being drained, or null when the drain should stop.
// Having caught up with its producers, the drain may pause before it looks
// again (catch_up_pacing.hpp). Then, as before any pause, a lane kept busy by
// a steady producer stays scheduled: it waits a moment for the next event
// rather than going idle and being handed back through the run queue for
// each one. Neither wait happens while other lanes wait for a thread.
DeliveryNode* BusCore::next_node(Lane& lane) noexcept {
  if (DeliveryNode* node = lane.mailbox.pop()) return node;
  if (run_queue_.has_waiting()) return nullptr;
  if (lane.catch_up.should_pause()) {
    if (DeliveryNode* node = pause_then_pop(lane)) return node;
    if (run_queue_.has_waiting()) return nullptr;
  }
  if (!spin_until([&] { return lane.mailbox.maybe_nonempty(); }, 64)) return nullptr;
  return lane.mailbox.pop();
}

// The pause reads only the run queue's count: a lane waiting for a thread
// ends it. It is judged by what it gathered (a failed pause, if the
// producers had no room to run ahead).
DeliveryNode* BusCore::pause_then_pop(Lane& lane) noexcept {
  if (free_slots_.size() < CatchUpPacing::kRoomToRunAhead) {
    lane.catch_up.judge(false);
    return nullptr;
  }
  if (spin_for(CatchUpPacing::kPause, [this] { return run_queue_.has_waiting(); })) return nullptr;
  DeliveryNode* node = lane.mailbox.pop();
  lane.catch_up.judge(node != nullptr && lane.mailbox.maybe_nonempty());
  return node;
}

// Each batch, a drain gives other lanes their turn; with none waiting it
// keeps going: handing the lane back through the run queue would wake another
// worker for nothing. Asked once a batch only: idle workers write the run
// queue's line as they spin.
bool BusCore::had_its_turn(std::size_t handled_before, std::size_t handled) const noexcept {
  return handled / kBatch != handled_before / kBatch && run_queue_.has_waiting();
}

// The subscription is entered once for the whole batch (the invocation
// protocol of subscriber_core.hpp), and left before the lane is finished:
// once finished, the lane's keep-alive reference may be gone. A drain
// starts with the delivery its subscriber declined last, if any.
BusCore::Drained BusCore::drain_subscription(Lane& lane, CounterBlock& counters) {
  SubscriberCore& subscription = *lane.owner;
  bool open = subscription.enter();
  std::size_t handled = 0;
  DeliveryNode* node =
      lane.parked != nullptr ? std::exchange(lane.parked, nullptr) : next_node(lane);
  for (; node != nullptr; node = next_node(lane)) {
    Envelope& envelope = *node->envelope;
    bool call = false;
    if (open) {
      switch (subscription.verdict(envelope.event(), envelope.ops())) {
        case SubscriberCore::Verdict::Call:
          call = true;
          break;
        case SubscriberCore::Verdict::Skip:
          break;
        case SubscriberCore::Verdict::Closed:
          subscription.leave();  // let a waiting unsubscribe return now
          open = false;
          break;
      }
    }
    if (call) {
      const CauseScope cause(envelope);
      if (!invoke(subscription, envelope.event(), envelope.ops(), counters)) [[unlikely]] {
        lane.parked = node;
        subscription.leave();
        return {handled, true};
      }
    }
    release(envelope, call, counters);
    ++handled;
    if (had_its_turn(handled - 1, handled)) break;
  }
  if (open) subscription.leave();
  return {handled, false};
}

// A group lane is drained a few events at a time, member by member: each
// member is entered only while its calls for those events run, so that
// unsubscribing one member never waits for another member's handler. The
// events are released once every member has had them.
std::size_t BusCore::drain_group(Lane& lane, CounterBlock& counters) {
  const auto& members = lane.group->members();
  std::size_t handled = 0;
  std::array<Envelope*, kGroupBatch> batch;
  std::array<const void*, kGroupBatch> events;
  std::array<bool, kGroupBatch> invoked;
  while (DeliveryNode* first = next_node(lane)) {
    std::size_t count = 0;
    for (DeliveryNode* node = first; node != nullptr;
         node = count < kGroupBatch ? lane.mailbox.pop() : nullptr) {
      batch[count] = node->envelope;
      events[count] = node->envelope->event();
      invoked[count++] = false;
    }
    for (const auto& member : members) {
      if (!member->enter()) continue;
      invoke_each(*member, {batch.data(), count}, {events.data(), count}, {invoked.data(), count},
                  counters);
      member->leave();
    }
    release_all({batch.data(), count}, {invoked.data(), count}, counters);
    handled += count;
    if (had_its_turn(handled - count, handled)) break;
  }
  return handled;
}

void BusCore::finish_lane(Lane& lane, bool made_progress) {
  if (lane.mailbox.maybe_nonempty()) {
    // More work, or a producer between its exchange and its link: stay
    // scheduled, but let the others go first.
    if (!made_progress) std::this_thread::yield();
    hand_over(lane);
    return;
  }
  const std::shared_ptr<const void> hold = std::move(lane.keep_alive);
  lane.scheduled.store(false, std::memory_order_seq_cst);
  // From here another thread may own the lane: look only at what producers write.
  if (lane.mailbox.pushed_since_empty() &&
      !lane.scheduled.exchange(true, std::memory_order_seq_cst)) {
    lane.keep_alive = hold;
    hand_over(lane);
  }
}

// Parking. A lane whose subscriber declined an event keeps `scheduled` set,
// so that no producer hands it to the run queue, and keeps its keep-alive
// reference and the declined node; it leaves the executors until
// resume_deliveries. The two sides meet on `parking`:
//   drainer:  parked node stored;  if (!parking.compare_exchange(Running -> Parked))
//                                    { parking = Running; requeue }
//   resumer:  if (parking.exchange(ResumeRequested) == Parked) { parking = Running; requeue }
// Whichever comes second sees the other's mark and requeues the lane, so a
// resume that comes first (the consumer made room before the drainer
// finished parking) is never lost, and a lane is requeued once. A resume
// that finds the lane running only leaves its mark, which makes the next
// parking return at once: one retry at most. The drainer must not write
// Parked over a mark (an exchange would): a second resume could then take
// the lane as parked and requeue it too, and two executors would drain it
// at once (found by StreamStress.*/Block under TSan).
void BusCore::park(Lane& lane) {
  Lane::Parking running = Lane::Parking::Running;
  if (lane.parking.compare_exchange_strong(running, Lane::Parking::Parked,
                                           std::memory_order_seq_cst)) {
    return;
  }
  lane.parking.store(Lane::Parking::Running, std::memory_order_seq_cst);
  hand_over(lane);
}

void BusCore::resume_deliveries(SubscriberCore& subscriber) {
  for (std::size_t i = 0; i < subscriber.lane_count(); ++i) {
    Lane& lane = subscriber.lane_for_key_hash(i);
    if (lane.parking.exchange(Lane::Parking::ResumeRequested, std::memory_order_seq_cst) ==
        Lane::Parking::Parked) {
      lane.parking.store(Lane::Parking::Running, std::memory_order_seq_cst);
      hand_over(lane);
    }
  }
}

void BusCore::drain_pulled(Lane& lane) { drain(lane, *thread_entry().counters); }

void BusCore::give_to_executors(Lane& lane) { run_queue_.push(lane); }

// ---------------------------------------------------------------------------
// Lifecycle

bool BusCore::on_own_thread() const noexcept {
  if (executor_of_this_thread() == this) return true;
  for (const InvocationScope* scope = innermost_invocation(); scope; scope = scope->outer) {
    if (scope->bus == this) return true;
  }
  for (const SyncFrame* frame = innermost_sync_frame(); frame; frame = frame->outer) {
    if (frame->bus == this && frame->calling) return true;
  }
  return false;
}

void BusCore::shutdown() {
  if (!closed_.exchange(true, std::memory_order_seq_cst)) shutdown_hook(false);
  release_epoch_.fetch_add(1, std::memory_order_seq_cst);  // blocked posters: wake up, see closed
  release_epoch_.notify_all();
  if (synchronous_) return finish_drain();
  if (on_own_thread()) return;  // a handler cannot wait for itself
  std::lock_guard lock(shutdown_mutex_);
  if (joined_) return;
  wait_until_idle();
  run_queue_.stop();
  pool_->join();
  joined_ = true;
  finish_drain();
}

void BusCore::finish_drain() {
  if (drained_.exchange(true, std::memory_order_acq_rel)) return;
  shutdown_hook(true);
  disconnect_all();
}

void BusCore::report_drop(std::string_view topic, std::string_view pattern,
                          std::uint64_t dropped_by_stream) noexcept {
  thread_entry().counters->dropped.increment();
  if (observed()) [[unlikely]]
    observe_drop(topic);
  try {
    if (drop_hook_connected_.load(std::memory_order_acquire)) {
      return drop_hook_(DroppedEvents{topic, pattern, dropped_by_stream});
    }
    if (dropped_by_stream != 1 && dropped_by_stream % 1024 != 0) return;
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    std::int64_t last = last_drop_line_.load(std::memory_order_relaxed);
    if (now > last && last_drop_line_.compare_exchange_strong(last, now)) {
      std::fprintf(stderr,
                   "courier: a stream on \"%.*s\" dropped an event on \"%.*s\" (%llu so far; "
                   "at most one such line a second)\n",
                   static_cast<int>(pattern.size()), pattern.data(), static_cast<int>(topic.size()),
                   topic.data(), static_cast<unsigned long long>(dropped_by_stream));
    }
  } catch (...) {
    std::fputs("courier: the drop hook threw; ignored\n", stderr);
  }
}

boost::signals2::connection BusCore::connect_drop_hook(
    std::function<void(const DroppedEvents&)> hook) {
  boost::signals2::connection connection = drop_hook_.connect(std::move(hook));
  drop_hook_connected_.store(true, std::memory_order_release);
  return connection;
}

void BusCore::wait_idle() {
  if (on_own_thread()) {
    throw std::logic_error("courier: wait_idle() called from a handler would wait for itself");
  }
  if (!synchronous_) wait_until_idle();
}

Stats BusCore::stats() const {
  Stats stats;
  {
    std::lock_guard lock(counters_mutex_);
    for (const auto& block : counter_blocks_) {
      const std::uint64_t posted_and_delivered = block->posted_and_delivered.read();
      stats.posted += block->posted.read() + posted_and_delivered;
      stats.delivered += block->delivered.read() + posted_and_delivered;
      stats.delivered_events += block->delivered_events.read();
      stats.dead += block->dead.read();
      stats.failed += block->failed.read();
      stats.dropped += block->dropped.read();
    }
  }
  if (!synchronous_) {
    stats.queued = slot_count_ - std::min(slot_count_, free_slots_.size()) +
                   overflow_in_flight_.load(std::memory_order_relaxed);
  }
  {
    std::lock_guard lock(routing_mutex_);
    stats.subscriptions = subscription_count_;
  }
  stats.latency = latency_stats();
  stats.topics = topic_stats();
  return stats;
}

// ---------------------------------------------------------------------------
// Per-thread state

ThreadEntry& BusCore::find_thread_entry() {
  ThreadCache& cache = thread_cache();
  if (ThreadEntry* entry = cache.find(id_)) return *entry;
  return cache.install(id_, register_counters());
}

const RoutingTable& BusCore::routes(ThreadEntry& entry) {
  const std::uint64_t version = routing_version_.load(std::memory_order_acquire);
  if (entry.routes_version != version) {
    auto fresh = current_routes();
    thread_cache().retire(std::move(entry.routes));
    entry.routes = std::move(fresh);
    entry.routes_version = entry.routes->version();
  }
  return *entry.routes;
}

std::shared_ptr<const RoutingTable> BusCore::current_routes() {
  std::lock_guard lock(routing_mutex_);
  const std::uint64_t version = routing_version_.load(std::memory_order_relaxed);
  if (snapshot_ == nullptr || snapshot_->version() != version) {
    std::vector<std::shared_ptr<SubscriberCore>> open;
    open.reserve(subscribers_.size());
    for (const auto& [raw, subscriber] : subscribers_) open.push_back(subscriber);
    snapshot_ = std::make_shared<const RoutingTable>(version, std::move(open), topics_,
                                                     synchronous_ ? 0 : concurrent_lanes_);
  }
  return snapshot_;
}

std::shared_ptr<CounterBlock> BusCore::register_counters() {
  std::lock_guard lock(counters_mutex_);
  // A block only the bus holds belonged to a thread that has let go of it
  // (exited, or evicted this bus from its cache): hand it to this thread.
  for (const auto& block : counter_blocks_) {
    if (block.use_count() == 1) return block;
  }
  return counter_blocks_.emplace_back(std::make_shared<CounterBlock>());
}

}  // namespace courier::detail
