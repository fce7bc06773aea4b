// BusCore: construction, the asynchronous path, executor threads, lifecycle.
// Synchronous delivery and invocation live in delivery.cpp, subscription
// bookkeeping in subscriptions.cpp.
#include "courier/detail/bus_core.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include "courier/detail/spin.hpp"
#include "courier/errors.hpp"
#include "thread_state.hpp"

namespace courier::detail {
namespace {

std::atomic<std::uint64_t> next_bus_id{1};

// Slot indices are 32-bit; Envelope::kOverflowIndex is reserved.
constexpr std::size_t kMaxQueueCapacity = std::size_t{1} << 30;
constexpr std::size_t kMaxConcurrentLanes = 64;

const Options& validated(const Options& options) {
  if (!options.synchronous && options.threads == 0) {
    throw std::invalid_argument("courier: Options::threads must be at least 1, got 0");
  }
  if (options.queue_capacity == 0 || options.queue_capacity > kMaxQueueCapacity) {
    throw std::invalid_argument("courier: Options::queue_capacity must be between 1 and " +
                                std::to_string(kMaxQueueCapacity) + ", got " +
                                std::to_string(options.queue_capacity));
  }
  return options;
}

}  // namespace

BusCore::BusCore(const Options& options)
    : id_(next_bus_id.fetch_add(1, std::memory_order_relaxed)),
      synchronous_(validated(options).synchronous),
      slot_count_(synchronous_ ? 0 : options.queue_capacity),
      concurrent_lanes_(std::clamp<std::size_t>(options.threads, 1, kMaxConcurrentLanes)),
      free_slots_(std::max<std::size_t>(slot_count_, 1)) {
  if (synchronous_) return;
  slots_ = std::make_unique<Envelope[]>(slot_count_);
  for (std::size_t i = 0; i < slot_count_; ++i) {
    slots_[i].index = static_cast<std::uint32_t>(i);
    free_slots_.push(static_cast<std::uint32_t>(i));
  }
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
//   poster:   e = epoch;  poster_asleep = true;  try to take a slot;  sleep while epoch == e
//   releaser: push the slot back;  if (poster_asleep.exchange(false)) { epoch++;  wake all }
// All sequentially consistent: either the releaser sees the flag, or the
// poster's attempt sees the slot. Only the first release after a poster falls
// asleep pays for the wake-up (libstdc++ 12's atomic notify always makes a
// system call), and posters raise the flag only after a spin, so a saturated
// bus whose slots free within microseconds makes no system calls at all. A
// woken poster that still finds no slot raises the flag again.
Envelope* BusCore::wait_for_slot() {
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
    if ((envelope = try_take_slot()) != nullptr) return envelope;
    if (!closed_.load(std::memory_order_seq_cst)) {
      release_epoch_.wait(epoch, std::memory_order_seq_cst);
    }
  }
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

void BusCore::publish(Envelope& envelope, std::size_t topic_id) {
  ThreadEntry& entry = thread_entry();
  const RoutingTable& table = routes(entry);
  const void* event = envelope.event();
  const EventOps& ops = envelope.ops();
  const std::string& key = ops.ordering_key(event);
  envelope.lane_hint = key.empty() ? envelope.index : std::hash<std::string>{}(key);

  std::size_t targets = 0;
  try {
    table.for_each_match(ops.type, topic_id, ops.topic(event), [&](SubscriptionCore& subscription) {
      if (subscription.closed()) return;
      envelope.reserve_nodes(targets + 1);
      DeliveryNode& node = envelope.node(targets++);
      node.envelope = &envelope;
      node.lane = &subscription.lane_for(envelope);
    });
  } catch (...) {
    recycle(envelope);
    throw;
  }
  CounterBlock& counters = *entry.counters;
  counters.posted.increment();
  if (targets == 0) {
    report_dead(event, ops, counters);
    recycle(envelope);
    return;
  }
  envelope.reached.store(false, std::memory_order_relaxed);
  envelope.pending.store(static_cast<std::uint32_t>(targets), std::memory_order_relaxed);
  for (std::size_t i = 0; i < targets; ++i) {
    DeliveryNode& node = envelope.node(i);
    Lane& lane = *node.lane;  // read before the push: the node may be recycled right after
    lane.mailbox.push(node);
    if (!lane.scheduled.load(std::memory_order_seq_cst) &&
        !lane.scheduled.exchange(true, std::memory_order_seq_cst)) {
      schedule(lane);
    }
  }
}

void BusCore::schedule(Lane& lane) {
  lane.keep_alive = lane.owner->shared_from_this();
  run_queue_.push(lane);
}

// ---------------------------------------------------------------------------
// Releasing slots and waking waiters

void BusCore::release(Envelope& envelope, CounterBlock& counters) noexcept {
  // The only delivery left needs no read-modify-write: nobody else counts down.
  if (envelope.pending.load(std::memory_order_acquire) != 1 &&
      envelope.pending.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  if (envelope.reached.load(std::memory_order_relaxed)) {
    counters.delivered_events.increment();
  } else {
    report_dead(envelope.event(), envelope.ops(), counters);
  }
  recycle(envelope);
}

void BusCore::recycle(Envelope& envelope) noexcept {
  envelope.clear();
  if (envelope.index == Envelope::kOverflowIndex) {
    delete &envelope;
    overflow_in_flight_.fetch_sub(1, std::memory_order_seq_cst);
  } else {
    free_slots_.push(envelope.index);
  }
  notify_waiters();
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
  SubscriptionCore& subscription = *lane.owner;
  bool open = subscription.enter();
  std::size_t handled = 0;
  for (;;) {
    DeliveryNode* node = lane.mailbox.pop();
    if (node == nullptr) {
      // A lane kept busy by a steady producer should stay scheduled: wait a
      // moment for the next event rather than going idle and being handed
      // back through the run queue for each one. Not while other lanes wait.
      if (run_queue_.has_waiting() ||
          !spin_until([&] { return lane.mailbox.maybe_nonempty(); }, 64)) {
        break;
      }
      node = lane.mailbox.pop();
      if (node == nullptr) break;
    }
    Envelope& envelope = *node->envelope;
    if (open && subscription.closed()) {
      subscription.leave();  // let a waiting unsubscribe return now
      open = false;
    }
    if (open) {
      envelope.reached.store(true, std::memory_order_relaxed);
      invoke(subscription, envelope.event(), envelope.ops(), counters);
    }
    release(envelope, counters);
    // Past a batch, give other lanes their turn; with none waiting, keep going:
    // handing the lane back through the run queue would wake another worker
    // for nothing.
    if (++handled % kBatch == 0 && run_queue_.has_waiting()) break;
  }
  if (open) subscription.leave();
  finish_lane(lane, handled != 0);
}

void BusCore::finish_lane(Lane& lane, bool made_progress) {
  if (lane.mailbox.maybe_nonempty()) {
    // More work, or a producer between its exchange and its link: stay
    // scheduled, but let the others go first.
    if (!made_progress) std::this_thread::yield();
    run_queue_.push(lane);
    return;
  }
  const std::shared_ptr<SubscriptionCore> hold = std::move(lane.keep_alive);
  lane.scheduled.store(false, std::memory_order_seq_cst);
  // From here another thread may own the lane: look only at what producers write.
  if (lane.mailbox.pushed_since_empty() &&
      !lane.scheduled.exchange(true, std::memory_order_seq_cst)) {
    lane.keep_alive = hold;
    run_queue_.push(lane);
  }
}

// ---------------------------------------------------------------------------
// Lifecycle

bool BusCore::on_own_thread() const noexcept {
  if (executor_of_this_thread() == this) return true;
  for (const InvocationScope* scope = innermost_invocation(); scope; scope = scope->outer) {
    if (scope->bus == this) return true;
  }
  return false;
}

void BusCore::shutdown() {
  closed_.store(true, std::memory_order_seq_cst);
  release_epoch_.fetch_add(1, std::memory_order_seq_cst);  // blocked posters: wake up, see closed
  release_epoch_.notify_all();
  if (synchronous_ || on_own_thread()) return;  // a handler cannot wait for itself
  std::lock_guard lock(shutdown_mutex_);
  if (joined_) return;
  wait_until_idle();
  run_queue_.stop();
  pool_->join();
  joined_ = true;
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
      stats.posted += block->posted.read();
      stats.delivered += block->delivered.read();
      stats.delivered_events += block->delivered_events.read();
      stats.dead += block->dead.read();
      stats.failed += block->failed.read();
    }
  }
  if (!synchronous_) {
    stats.queued = slot_count_ - std::min(slot_count_, free_slots_.size()) +
                   overflow_in_flight_.load(std::memory_order_relaxed);
  }
  std::lock_guard lock(routing_mutex_);
  stats.subscriptions = subscriptions_.size();
  return stats;
}

// ---------------------------------------------------------------------------
// Per-thread state

ThreadEntry& BusCore::thread_entry() {
  if (ThreadEntry* entry = last_entry_of(id_)) return *entry;
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
    std::vector<std::shared_ptr<SubscriptionCore>> open;
    open.reserve(subscriptions_.size());
    for (const auto& [raw, subscription] : subscriptions_) open.push_back(subscription);
    snapshot_ = std::make_shared<const RoutingTable>(version, std::move(open), topics_);
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
