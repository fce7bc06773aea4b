// BusCore: the engine behind EventBus, compiled once in lib/.
//
// How an event travels on an asynchronous bus:
//
//   post(event)                                  executor threads (Asio thread_pool)
//   1. acquire a slot: pop a free index    ┐
//      from free_slots_ (blocks if none)   │      4. pop a ready lane from the RunQueue
//   2. move the event into that Envelope   │      5. drain up to kBatch nodes from its
//   3. route: for every matching           │         mailbox, calling process() for each,
//      subscription, push a DeliveryNode   │         then hand the lane back or let it idle
//      into its lane's mailbox and, if the │      6. the last delivery of an envelope
//      lane was idle, put the lane on the  │         ends the event and pushes the
//      RunQueue                            ┘         slot index back to free_slots_
//
// Routing happens on the posting thread (a thread posting to the same topic
// as its previous post reuses that post's route, see lib/delivery/thread_state.hpp),
// so a lane's mailbox receives events in the order their posts happened; a
// lane is drained by one thread at a time, in mailbox order; hence post order
// per Serial subscriber and per ordering key.
// The bound on the queue is the number of slots: an event holds its slot from
// acceptance until its last delivery, so `queue_capacity` bounds everything the
// bus holds, however many subscribers an event fans out to.
//
// Several Concurrent subscribers of one exact topic share a group lane for
// unkeyed events: one node per event instead of one per subscriber, and the
// drainer calls each member (see concurrent_group.hpp).
//
// A synchronous bus has no pool and no slots: post() walks the same routing
// snapshot and calls each subscriber on the posting thread (see post_sync).
//
// A lane with a LanePuller (a Block stream, lane_stream.hpp) is drained by
// the stream's consumer on its own thread: wherever a lane is handed to the
// run queue, hand_over() offers it to its puller first, and the consumer
// drains it through drain_pulled().
//
// Subscription settings (issue 15) reach the core through three hooks only:
// a route holding a screened subscriber (a filter or a tracked owner,
// event_filter.hpp) passes each of them through admits() before the event
// takes room in its lane, or, synchronously, before the call; expire() ends a
// subscriber whose tracked owner is gone (lib/routing/tracking.hpp); and the
// snapshot ranks subscribers by priority when it is built (routing_table.hpp).
//
// Observation (issue 16 item 8: per-topic counts, post-to-delivery latency)
// reaches the core through hooks of one shape: a relaxed load of
// `observing_`, zero unless EventBus::track_topics or track_latency turned
// something on, and a branch marked unlikely to a function out of line
// (lib/metrics/observation.cpp). One on each post (publish, and the
// synchronous posts), one on each call of a subscriber (invoke_guarded,
// invoke_each); failures and drops are counted from report_error and
// report_drop, already out of the way. The synchronous shortest path has
// none: switching topic counts changes a synchronous bus's routing version,
// and the general path does not arm the shortest path while they are on (a
// synchronous bus records no latency).
//
// Thread safety: every public member is safe from any thread unless it says
// otherwise; what may be called from inside a handler is stated per member.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <boost/signals2/signal.hpp>

#include "courier/detail/cache_line.hpp"
#include "courier/detail/delivery/envelope.hpp"
#include "courier/detail/delivery/index_ring.hpp"
#include "courier/detail/delivery/run_queue.hpp"
#include "courier/detail/delivery/subscriber_core.hpp"
#include "courier/detail/export.hpp"
#include "courier/detail/routing/routing_table.hpp"
#include "courier/hooks.hpp"
#include "courier/metrics/latency_histogram.hpp"
#include "courier/metrics/topic_counts.hpp"
#include "courier/options.hpp"
#include "courier/stats.hpp"

namespace courier::detail {

// A counter written by one thread only, read by any: increments are a plain
// load and store, no read-modify-write, so counting costs a posting thread
// nothing it would share with another.
class OwnedCounter {
 public:
  // Always inline: a call costs more than the increment, and g++ stops
  // inlining it in a caller as large as the synchronous post.
  [[gnu::always_inline]] void increment() noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void decrement() noexcept {
    value_.store(value_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  std::uint64_t read() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// One thread's share of a bus's statistics; stats() adds up every block.
struct alignas(kCacheLine) CounterBlock {
  OwnedCounter posted, delivered, delivered_events, dead, failed;
  // Posts that the synchronous shortest path delivered to their one
  // subscriber: each counts as posted and as delivered, for one increment.
  OwnedCounter posted_and_delivered;
  // Events a stream's overflow policy dropped (Stats::dropped).
  OwnedCounter dropped;
};

// An event moved into the bus by a post made from inside a synchronous
// delivery, waiting on that thread for the current event to finish.
struct HeldEvent {
  virtual ~HeldEvent() = default;
  const void* event = nullptr;
  const EventOps* ops = nullptr;
  // Routing as it was when the event was posted: a subscription made by the
  // handler after its post must not see the event (set when it is held).
  std::shared_ptr<const RoutingTable> routes;
  std::size_t topic_id = RoutingTable::kNoTopic;
  HeldEvent* next = nullptr;  // the next event held by the same SyncFrame
  // The event's audience (in its metadata block), or null: see
  // BusCore::post_sync_to_audience.
  const Audience* audience = nullptr;
};

template <class T>
struct HeldEventOf final : HeldEvent {
  explicit HeldEventOf(Event<T>&& moved) : value(std::move(moved)) {
    event = &value;
    ops = &event_ops<T>;
    audience = value.audience();
  }
  Event<T> value;
};

// Moves the Event<T> at `event` into a new HeldEvent.
using HoldEvent = std::unique_ptr<HeldEvent> (*)(void* event);

template <class T>
std::unique_ptr<HeldEvent> hold_event(void* event) {
  return std::make_unique<HeldEventOf<T>>(std::move(*static_cast<Event<T>*>(event)));
}

struct ThreadEntry;    // lib/delivery/thread_state.hpp
class SyncFrame;       // lib/delivery/thread_state.hpp
struct RetainedEvent;  // routing/retained_store.hpp
class BusMetrics;      // lib/metrics/bus_metrics.hpp

// True if some topic matches both patterns (validated): presence's test
// (lib/routing/presence.cpp).
COURIER_EXPORT bool patterns_overlap(std::string_view a, std::string_view b);

class COURIER_EXPORT BusCore {
 public:
  enum class Admission { Wait, Try };

  explicit BusCore(const Options& options);  // throws std::invalid_argument on bad options
  ~BusCore();
  BusCore(const BusCore&) = delete;
  BusCore& operator=(const BusCore&) = delete;

  bool synchronous() const noexcept { return synchronous_; }

  // How a post proceeds, read once by each post (EventBus::post_event): a
  // synchronous or an asynchronous bus, unless something must see the event
  // first (stamping, middleware: kIntercepting, set by MiddlewareChain). One
  // byte, so that a post without middleware decides with one load and one
  // compare, on the line it reads anyway.
  static constexpr std::uint8_t kAsynchronousPost = 0;
  static constexpr std::uint8_t kSynchronousPost = 1;
  static constexpr std::uint8_t kIntercepting = 2;
  std::uint8_t post_mode() const noexcept { return post_mode_.load(std::memory_order_relaxed); }
  void set_intercepting(bool on) noexcept {
    post_mode_.store((synchronous_ ? kSynchronousPost : kAsynchronousPost) |
                         (on ? kIntercepting : std::uint8_t{0}),
                     std::memory_order_release);
  }
  std::size_t concurrent_lanes() const noexcept { return concurrent_lanes_; }

  // --- Asynchronous posting: acquire, store the event, publish. ---

  // A free slot, or null (Try: full or closed). Wait blocks while the queue is
  // full and throws BusClosed once the bus is closed; from one of this bus's own
  // executor threads it never blocks but admits the event beyond the bound, so
  // that handlers posting to a full bus cannot deadlock the pool.
  Envelope* acquire(Admission admission);
  // Gives back a slot whose event could not be stored (its move threw).
  void abandon(Envelope& envelope) noexcept;
  // Routes the stored event to its subscribers. The bus owns the envelope once
  // this returns; if it throws (out of memory), nothing was delivered and the
  // envelope is given back.
  void publish(Envelope& envelope, std::size_t topic_id = RoutingTable::kNoTopic);
  // publish() for an event with an audience (issue 16 item 2), which
  // reaches only the subscribers in it (SubscriberCore::in): routed to each
  // one's own lanes, never to a ConcurrentGroup. `audience` is the stored
  // event's own (in its metadata block, which the envelope keeps alive).
  // Cold: EventBus sends only an event with metadata this way.
  void publish_to_audience(Envelope& envelope, std::size_t topic_id, const Audience& audience);

  // --- Synchronous posting. ---

  // Delivers the Event at `event` (described by `ops`) to every match on this
  // thread, then whatever the handlers posted meanwhile. From inside a
  // synchronous delivery of this bus, it moves the event out (through `hold`)
  // and queues it, to be delivered once the current event is done. Once
  // closed: returns false (Try) or throws BusClosed (Wait).
  bool post_sync(void* event, const EventOps& ops, HoldEvent hold, std::size_t topic_id,
                 Admission admission);
  // post_sync() for an event with an audience (`audience`, the event's own):
  // only the subscribers in it are called. Cold, as publish_to_audience.
  bool post_sync_to_audience(void* event, const EventOps& ops, HoldEvent hold, std::size_t topic_id,
                             Admission admission, const Audience& audience);

  // --- Topic handles. ---

  // The id of `topic` (validated; throws std::invalid_argument), registering
  // it on first use so that every later routing snapshot resolves it ahead.
  std::size_t register_topic(std::string_view topic);
  std::uint64_t id() const noexcept { return id_; }

  // --- Subscriptions. ---

  // Adds `candidate`, or, if the same subscriber object already has a core
  // for the same payload type, adds the candidate's patterns to that core
  // and returns it (so that the object stays one subscriber).
  std::shared_ptr<SubscriberCore> subscribe(std::shared_ptr<SubscriberCore> candidate);
  // Cancels those of `patterns` that `subscriber` has: all it has left closes
  // it and waits as finish_cancel() does; some only narrows it.
  void cancel(SubscriberCore& subscriber, const std::vector<TopicPattern>& patterns);
  // Hands the lanes of `subscriber` that a declined event parked (see
  // Handler::invoke) back to the executors; a lane parking at the same time
  // goes straight back. Safe from any thread, often: a lane not parked is
  // only marked, and its next parking returns at once.
  void resume_deliveries(SubscriberCore& subscriber);
  // Drains `lane` on this thread, as an executor would, with this thread's
  // counters: a LanePuller's consumer calls it once take_lane() gave it the
  // lane (and only then). The lane goes back to the puller (take_lane) if
  // work remains, or to the executors once the puller has closed.
  void drain_pulled(Lane& lane);
  // Hands a lane the puller was given but will not drain (it closed) to
  // the executors.
  void give_to_executors(Lane& lane);
  void unsubscribe(const void* identity, const std::type_info& type);
  bool is_subscribed(const void* identity, const std::type_info& type) const;
  // Whether the subscriber of `identity` has exactly `pattern` (validated:
  // throws std::invalid_argument).
  bool is_subscribed(const void* identity, const std::type_info& type,
                     std::string_view pattern) const;
  // Whether a subscriber (to events of `type`, or of any type if null) has a
  // pattern matching `topic` (validated: throws std::invalid_argument).
  bool has_subscribers(std::string_view topic, const std::type_info* type) const;
  // The identities of the open subscribers with an identity that have a
  // pattern overlapping `pattern` (validated: throws std::invalid_argument),
  // in the order they subscribed; none once shutdown has drained
  // (lib/routing/presence.cpp).
  std::vector<Identity> presence(std::string_view pattern) const;
  // Ends `subscriber`, whose tracked owner is gone: no call starts after it,
  // and routing lets go of it. Never waits, so safe from anywhere, a
  // delivery of the subscriber itself included.
  void expire(SubscriberCore& subscriber) noexcept;

  // --- Hooks for retained events (routing/retained_store.hpp), cold paths
  // only: the store calls them under its own mutex. ---

  // Where subscribe(candidate) would put the candidate's patterns: `target`
  // is the subscriber that would take them (one of the same object and
  // payload type already subscribed, or the candidate itself) and `had` the
  // patterns it has now (none for the candidate); a null target if
  // subscribe() would throw. Removes subscribers whose tracked owner is gone
  // first, as subscribe() does, so that the answer holds until the store's
  // next subscribe() (which it serialises); cancels only make room.
  struct SubscriptionPlan {
    std::shared_ptr<SubscriberCore> target;
    std::vector<TopicPattern> had;
  };
  SubscriptionPlan plan_subscription(const std::shared_ptr<SubscriberCore>& candidate);
  // Hands `events` to `target` alone, as posts of them to it: through its
  // screen (a declined one is not counted), each counted as posted, then
  // into its lanes beyond the queue's bound (asynchronous bus: never waits)
  // or called on this thread (synchronous bus; the caller holds a SyncFrame
  // of this bus, so what handlers post is held). Nothing once closed.
  // Throws std::bad_alloc or what copying an event throws; then nothing was
  // handed over.
  void replay(SubscriberCore& target, const std::vector<RetainedEvent>& events);
  // Synchronous bus: delivers the events held by `frame`, the posts made
  // while it was the innermost frame (lib/delivery/delivery.cpp).
  void deliver_held_events(SyncFrame& frame);
  // Synchronous bus: routes the events held by `frame` again, with the
  // subscriptions of now, and hands them to the nearest outer frame of this
  // bus if there is one (to be delivered after its current event), else
  // leaves them to `frame`. For what handlers posted while a new
  // subscription received its retained events: they reach it as live events.
  void route_held_events_again(SyncFrame& frame);

  // --- Lifecycle. ---

  void shutdown();
  void wait_idle();
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  // Closes every subscription and lets go of every subscriber. After shutdown.
  void release_subscribers() noexcept;
  // True if this thread is one of this bus's executors or inside one of its
  // handlers.
  bool on_own_thread() const noexcept;
  Stats stats() const;

  boost::signals2::signal<void(const DeliveryError&)> error_hook;
  boost::signals2::signal<void(const DeadEvent&)> dead_event_hook;

  // --- Hooks for streams (stream.hpp). ---

  // Counts a stream's drop (Stats::dropped) and reports it to the drop
  // hooks, or, while none was ever connected, in a line on stderr at most
  // once a second. Any thread. A drop costs a count on this thread's own
  // counters and, without hooks, a clock read every 1024th drop of a stream:
  // a stream that drops must not slow down the thread delivering to it.
  void report_drop(std::string_view topic, std::string_view pattern,
                   std::uint64_t dropped_by_stream) noexcept;
  boost::signals2::connection connect_drop_hook(std::function<void(const DroppedEvents&)> hook);
  // Called with false once when shutdown begins (no event is accepted any
  // more), with true once shutdown has delivered every accepted event
  // (joined the pool; a synchronous bus: when it closes).
  boost::signals2::signal<void(bool drained)> shutdown_hook;
  bool drained() const noexcept { return drained_.load(std::memory_order_acquire); }

  // --- Observation (lib/metrics/observation.cpp). ---

  // Switch per-topic counting and latency recording on or off (they start
  // off). Any thread, any time; what is counted already stays.
  void track_topics(bool on);
  void track_latency(bool on);
  std::vector<TopicCounts> topic_stats() const;
  LatencySnapshot latency_stats() const;
  // The hooks' test: one relaxed load, nonzero while something is tracked.
  bool observed() const noexcept { return observing_.load(std::memory_order_relaxed) != 0; }
  // After track_topics switched: see lib/metrics/observation.cpp.
  void reroute_for_topic_counts();
  // Whether track_topics is on (observed() is: anything tracked).
  bool counting_topics() const noexcept;
  // An event accepted: `envelope` null for a synchronous post.
  [[gnu::noinline]] void observe_post(Envelope* envelope, const void* event,
                                      const EventOps& ops) noexcept;
  // A call of a subscriber that started at `started` (observation_clock(); 0:
  // now): `envelope` null for a synchronous delivery.
  [[gnu::noinline]] void observe_delivery(const void* event, const EventOps& ops,
                                          const Envelope* envelope,
                                          std::int64_t started = 0) noexcept;
  // The steady clock now, in nanoseconds, if latency is tracked; else 0.
  [[gnu::noinline]] std::int64_t observation_clock() const noexcept;

 private:
  void observe_failure(std::string_view topic) noexcept;
  void observe_drop(std::string_view topic) noexcept;
  BusMetrics& metrics();  // made on first use, under metrics_mutex_

  static constexpr std::size_t kBatch = 256;
  static constexpr std::size_t kGroupBatch = 32;

  // This thread's entry for this bus (inline, in lib/delivery/thread_state.hpp), and
  // the way to it when this thread last posted to another bus.
  inline ThreadEntry& thread_entry();
  ThreadEntry& find_thread_entry();
  const RoutingTable& routes(ThreadEntry& entry);
  std::shared_ptr<const RoutingTable> current_routes();
  std::shared_ptr<CounterBlock> register_counters();

  Envelope* try_take_slot() noexcept;
  Envelope* wait_for_slot();
  // On a full queue, before wait_for_slot takes one: waits (briefly) for a
  // batch of slots to come back.
  void let_slots_come_back() noexcept;
  Envelope* make_overflow_envelope();
  static constexpr std::uint32_t kNotASlot = ~std::uint32_t{0};
  // The index of `envelope` among slots_, or kNotASlot for an overflow one.
  std::uint32_t slot_index(const Envelope& envelope) const noexcept;
  void recycle(Envelope& envelope) noexcept;
  // Ends the event (Envelope::clear); an overflow envelope is freed (kNotASlot), a slot's
  // index is returned for the caller to give back to free_slots_.
  std::uint32_t vacate(Envelope& envelope) noexcept;
  // The end of one delivery of `envelope`; `invoked`: its subscriber ran.
  void release(Envelope& envelope, bool invoked, CounterBlock& counters) noexcept;
  void release_all(std::span<Envelope* const> envelopes, std::span<const bool> invoked,
                   CounterBlock& counters) noexcept;
  // Counts one delivery down; true if it was the last, after which the caller
  // owns the envelope and recycles it.
  bool finish_delivery(Envelope& envelope, bool invoked, CounterBlock& counters) noexcept;
  void notify_waiters() noexcept;
  bool idle() const noexcept;
  void wait_until_idle();
  // Spins (then yields) until every node of `cause` is pushed: see publish().
  static void wait_until_published(const Envelope& cause) noexcept;
  void enqueue(Lane& lane, DeliveryNode& node);
  void schedule(Lane& lane);
  // Gives a lane with work to its puller, if it has one that takes it, else
  // to the executors' run queue.
  void hand_over(Lane& lane) {
    if (lane.puller != nullptr && lane.puller->take_lane()) [[unlikely]]
      return;
    run_queue_.push(lane);
  }

  void worker_main(CounterBlock& counters);
  void drain(Lane& lane, CounterBlock& counters);
  DeliveryNode* next_node(Lane& lane) noexcept;
  DeliveryNode* pause_then_pop(Lane& lane) noexcept;
  bool had_its_turn(std::size_t handled_before, std::size_t handled) const noexcept;
  // Deliver from a lane until it is empty or has had its turn; the count.
  struct Drained {
    std::size_t handled = 0;
    bool parked = false;  // the subscriber declined an event: park the lane
  };
  Drained drain_subscription(Lane& lane, CounterBlock& counters);
  std::size_t drain_group(Lane& lane, CounterBlock& counters);
  void finish_lane(Lane& lane, bool made_progress);
  // Leaves a lane whose subscriber declined an event: it stays scheduled (no
  // producer hands it to the run queue) until resume_deliveries.
  void park(Lane& lane);

  // publish() and publish_to_audience(): one body, so that both keep one
  // protocol; the first instance is publish() as it was before audiences.
  template <bool kForAudience>
  void route_and_push(Envelope& envelope, std::size_t topic_id, const Audience* audience);

  struct SyncPath;  // lib/delivery/delivery.cpp
  // replay() on a synchronous bus: one event to one subscriber, as
  // deliver_one() would (lib/delivery/delivery.cpp).
  void deliver_to_one(SubscriberCore& subscription, const void* event, const EventOps& ops);
  void replay_asynchronously(SubscriberCore& target, const std::vector<RetainedEvent>& events);
  // post_sync() where its shortest path does not apply.
  bool post_sync_generally(void* event, const EventOps& ops, HoldEvent hold, std::size_t topic_id,
                           Admission admission);
  // False: the subscriber declined the event for now (Handler::invoke).
  bool invoke(SubscriberCore& subscription, const void* event, const EventOps& ops,
              CounterBlock& counters);
  // As invoke() for each of `events` (those of `envelopes`) in turn, until
  // the subscription is closed; sets invoked[i] for each call made. The
  // caller has entered the subscription.
  void invoke_each(SubscriberCore& subscription, std::span<Envelope* const> envelopes,
                   std::span<const void* const> events, std::span<bool> invoked,
                   CounterBlock& counters);
  // invoke_each's calls, with or without observing each (delivery.cpp).
  template <bool Observing>
  void invoke_run(SubscriberCore& subscription, std::span<Envelope* const> envelopes,
                  std::span<const void* const> events, std::span<bool> invoked,
                  CounterBlock& counters);
  void report_error(SubscriberCore& subscription, const void* event, const EventOps& ops,
                    std::exception_ptr error) noexcept;
  // For a screened subscriber (lib/routing/screening.cpp): false if its tracked
  // owner is gone (it then expires) or its filter declines the event or
  // throws (reported as a throwing subscriber is).
  bool admits(SubscriberCore& subscription, const void* event, const EventOps& ops,
              CounterBlock& counters) noexcept;
  void report_dead(const void* event, const EventOps& ops, CounterBlock& counters) noexcept;

  bool remove_locked(SubscriberCore& subscriber);
  // Throws LimitExceeded if `more` subscriptions would take the bus over
  // Options::max_subscriptions. The caller holds the routing mutex.
  void check_limit_locked(std::size_t more) const;
  // Removes the subscribers whose tracked owner is gone, and returns them
  // (to be closed once the mutex is released). The caller holds it.
  std::vector<std::shared_ptr<SubscriberCore>> remove_gone_locked();
  // What subscribe() and plan_subscription() open with: declared before the
  // lock on the routing mutex, it removes the gone subscribers (so that they
  // neither pile up nor count against the limit), and closes them and runs
  // their on_disconnect once that lock is released, whatever happens between.
  class GoneSubscribers {
   public:
    // Call with the routing mutex held.
    void remove_from(BusCore& bus) { gone_ = bus.remove_gone_locked(); }
    ~GoneSubscribers() {
      for (const auto& subscriber : gone_) {
        subscriber->close();
        subscriber->notify_disconnected();
      }
    }

   private:
    std::vector<std::shared_ptr<SubscriberCore>> gone_;
  };
  // The subscriber subscribed already with `candidate`'s identity and type,
  // or null. The caller holds the routing mutex.
  std::shared_ptr<SubscriberCore> existing_locked(const SubscriberCore& candidate) const;
  // How many of `patterns` `subscriber` lacks.
  static std::size_t count_new_patterns(const SubscriberCore& subscriber,
                                        const std::vector<TopicPattern>& patterns);
  void finish_cancel(const std::vector<std::shared_ptr<SubscriberCore>>& removed);

  const std::uint64_t id_;
  const bool synchronous_;
  std::atomic<std::uint8_t> post_mode_;  // see post_mode()
  // See wait_for_slot: whether sleepers fence for the releasers.
  const std::memory_order slot_publication_;
  const std::size_t slot_count_;
  const std::size_t concurrent_lanes_;

  alignas(kCacheLine) std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> routing_version_{1};
  // Read by every post and call, written only by track_topics/track_latency:
  // on this read-mostly line, which posts read anyway. Bits: kObservingTopics,
  // kObservingLatency (lib/metrics/bus_metrics.hpp).
  std::atomic<std::uint32_t> observing_{0};

  // The bounded queue: slots and the indices of the free ones.
  std::unique_ptr<Envelope[]> slots_;
  IndexRing free_slots_;
  alignas(kCacheLine) std::atomic<std::size_t> overflow_in_flight_{0};
  // Whether a poster may be asleep on a full queue, and how many wait_idle()
  // callers there are: a release bumps the epoch and wakes them only then.
  alignas(kCacheLine) std::atomic<bool> poster_asleep_{false};
  std::atomic<std::uint32_t> idle_waiters_{0};
  std::atomic<std::uint32_t> release_epoch_{0};

  RunQueue run_queue_;

  mutable std::mutex routing_mutex_;
  std::unordered_map<SubscriberCore*, std::shared_ptr<SubscriberCore>>
      subscribers_;                     // guarded by routing_mutex_
  std::size_t subscription_count_ = 0;  // (subscriber, pattern) pairs; guarded by routing_mutex_
  const std::size_t max_subscriptions_;
  std::size_t tracked_count_ = 0;    // subscribers tracking an owner; guarded by routing_mutex_
  std::uint64_t next_sequence_ = 0;  // see SubscriberCore::set_sequence; guarded likewise
  std::unordered_map<const void*, std::vector<std::shared_ptr<SubscriberCore>>>
      by_identity_;                               // guarded by routing_mutex_
  std::shared_ptr<const RoutingTable> snapshot_;  // guarded by routing_mutex_
  std::vector<std::string> topics_;               // guarded by routing_mutex_; index = topic id
  std::unordered_map<std::string, std::size_t, TransparentStringHash, std::equal_to<>>
      topic_ids_;  // guarded by routing_mutex_

  mutable std::mutex counters_mutex_;
  std::vector<std::shared_ptr<CounterBlock>> counter_blocks_;  // guarded by counters_mutex_

  boost::signals2::signal<void(const DroppedEvents&)> drop_hook_;
  // Set once a drop hook is connected, never reset: checking the signal
  // itself for slots would lock its mutex on every drop.
  alignas(kCacheLine) std::atomic<bool> drop_hook_connected_{false};
  std::atomic<std::int64_t> last_drop_line_{0};  // steady clock, seconds
  std::atomic<bool> drained_{false};
  void finish_drain();
  // Runs on_disconnect for every subscriber left: the bus is drained.
  void disconnect_all() noexcept;

  mutable std::mutex metrics_mutex_;
  std::unique_ptr<BusMetrics> metrics_owner_;  // guarded by metrics_mutex_; never reset
  // metrics_owner_'s object once made, for the hooks (which take no lock).
  std::atomic<BusMetrics*> metrics_{nullptr};
  const std::size_t max_tracked_topics_;

  std::mutex shutdown_mutex_;
  bool joined_ = false;  // guarded by shutdown_mutex_
  std::optional<boost::asio::thread_pool> pool_;
};

}  // namespace courier::detail
