// SubscriberCore and Lane: one subscriber as the dispatch path sees it.
//
// A subscriber here is what a user calls one: a Subscriber<T> object (per
// payload type), or one call's callable. However many patterns it is
// subscribed to, it has one SubscriberCore: one handler, one set of lanes,
// one invocation protocol. That is what makes a Serial subscriber one
// subscriber across its topics (issue 13): its events, whichever pattern
// brought them, queue in the same lane, so they never run at once and keep
// post order; and a Concurrent one's keyed events hash to the same lane
// whichever pattern brought them. The routing snapshot lists a subscriber
// once per event, however many of its patterns match (routing_table.hpp).
//
// A Lane is courier's unit of serialisation (what Asio calls a strand): a
// mailbox that at most one thread drains at a time, in FIFO order. A Serial
// subscriber has one lane; a Concurrent one has one lane per executor thread,
// and an event picks its lane by the hash of its ordering key (keyed events:
// same key, same lane, so per-key order and exclusion) or by its slot number
// (unkeyed events: spread over the lanes, so they run in parallel).
//
// Scheduling handshake. `scheduled` is true while the lane is in the run queue
// or being drained, and whoever flips it from false to true hands the lane to
// the run queue:
//   poster:  mailbox.push(node);  if (!scheduled && !scheduled.exchange(true)) schedule
//   drainer: ... pop until empty;  scheduled = false;
//            if (mailbox.pushed_since_empty() && !scheduled.exchange(true)) schedule
// All four steps are sequentially consistent, so a node pushed while the
// drainer is leaving is seen by one side or the other and is never stranded.
//
// Invocation protocol (what makes unsubscribe wait out running calls):
//   invoker:      active++;  if (!closed) { call... };  active--
//   unsubscriber: closed = true;  wait until active == 0;  lock and unlock
//                 each lane's `exclusive` lock
// Again sequentially consistent: an invoker either saw `closed` and called
// nothing, or is counted in `active` and waited for. A synchronous bus calls
// Serial subscribers (and keyed events) under the lane's lock instead of
// counting, checking `closed` under it; the unsubscriber's lock waits for it.
//
// Narrowing. Cancelling some of a subscriber's patterns, while others remain,
// leaves it open but *narrowed*: events already in its lanes may have come
// through a cancelled pattern, so from then on each delivery first checks
// the event's topic against the patterns the subscriber still has (under
// patterns_mutex_). A subscriber that never lost a pattern pays one load of
// its state per delivery, the same load that checks `closed`.
//
// Settings (SubscribeOptions, issue 15): a subscriber may carry a Screen
// (a filter, a tracked owner: event_filter.hpp) and a priority; with the
// order in which the bus first saw it (its sequence), the priority ranks it
// among the matches of an event when the routing snapshot is built
// (ranks_before). A screened subscriber never joins a ConcurrentGroup: its
// screen is applied per subscriber, before its own lane takes the event.
//
// Audience and presence (issue 16 item 2): a subscriber may carry an
// Identity, read only by an event with an audience (which is routed around
// groups, to each subscriber's own lanes: BusCore::publish_to_audience) and
// by EventBus::presence; and an on_disconnect callback, which whoever ends
// the subscriber runs once (notify_disconnected), after closing it.
//
// Thread safety: the fields are atomics or are guarded as commented.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "courier/detail/cache_line.hpp"
#include "courier/detail/delivery/catch_up_pacing.hpp"
#include "courier/detail/delivery/envelope.hpp"
#include "courier/detail/delivery/exclusive_lock.hpp"
#include "courier/detail/delivery/handler.hpp"
#include "courier/detail/delivery/mailbox.hpp"
#include "courier/detail/routing/event_filter.hpp"
#include "courier/subscriber.hpp"
#include "courier/topic.hpp"

namespace courier::detail {

class SubscriberCore;
class ConcurrentGroup;

// A consumer that drains a lane itself, on its own thread, instead of the
// executors (a Block stream: detail/streams/lane_stream.hpp). Wherever the bus would
// hand the lane to the executors through the run queue, it offers it to the
// puller first.
class LanePuller {
 public:
  // The lane has work and, if this returns true, is the puller's to drain
  // (BusCore::drain_pulled). False: the puller has closed; the executors
  // drain the lane instead. Called by whichever thread owns the lane, once
  // per hand-over.
  virtual bool take_lane() noexcept = 0;

 protected:
  ~LanePuller() = default;
};

struct alignas(kCacheLine) Lane {
  Mailbox mailbox;
  std::atomic<bool> scheduled{false};
  // Whose lane this is: one subscriber's, or a group's (concurrent_group.hpp).
  SubscriberCore* owner = nullptr;
  ConcurrentGroup* group = nullptr;
  // Set before the lane is first routed to, never changed: see LanePuller.
  // Beside owner and group, which scheduling reads too.
  LanePuller* puller = nullptr;
  Lane* next_ready = nullptr;  // guarded by the RunQueue's mutex
  CatchUpPacing catch_up;      // used by the lane's drainer only
  // Keeps the owner alive while the lane has work; written only by the
  // thread that set `scheduled`, and moved out before it is cleared.
  std::shared_ptr<const void> keep_alive;
  BiasedLock exclusive;  // synchronous bus only: one invocation at a time on this lane
  // Parking (BusCore::park): the delivery its subscriber declined, kept by
  // the drainer for the next drain; and the handshake with resume_deliveries.
  DeliveryNode* parked = nullptr;  // used by the lane's drainer only
  enum class Parking : unsigned char { Running, Parked, ResumeRequested };
  std::atomic<Parking> parking{Parking::Running};
};

class SubscriberCore : public std::enable_shared_from_this<SubscriberCore> {
 public:
  // `identity` is the subscriber object for Subscriber-based subscriptions (to
  // find it again and to unsubscribe by pointer), null for callables.
  // `patterns`: one or more, without duplicates.
  SubscriberCore(const std::type_info& type, std::vector<TopicPattern> patterns,
                 Concurrency concurrency, std::size_t concurrent_lanes,
                 std::unique_ptr<Handler> handler, const void* identity,
                 SubscriberSettings settings = {});

  const std::type_info& type() const noexcept { return type_; }
  Concurrency concurrency() const noexcept { return concurrency_; }
  const void* identity() const noexcept { return identity_; }

  // --- Settings (see above). ---

  // Null unless it has a filter or tracks an owner.
  const Screen* screen() const noexcept { return screen_.get(); }
  bool has_settings() const noexcept {
    return screen_ != nullptr || priority_ != 0 || user_identity_ != nullptr || on_disconnect_;
  }
  // Null unless SubscribeOptions::identity was set.
  const Identity* user_identity() const noexcept { return user_identity_.get(); }
  // Whether an event for `audience` is for this subscriber.
  bool in(const Audience& audience) const noexcept {
    return user_identity_ != nullptr && audience.contains(user_identity_->user);
  }
  // Runs on_disconnect, the first time only; after close(). Never throws: an
  // exception from the callback is reported on stderr. Any thread, holding
  // no lock of the bus.
  void notify_disconnected() noexcept;
  // True once the owner it tracks is gone. Any thread.
  bool owner_gone() const noexcept { return screen_ != nullptr && screen_->owner_gone(); }
  // Whether a ConcurrentGroup may deliver for it.
  bool groupable() const noexcept {
    return concurrency_ == Concurrency::Concurrent && screen_ == nullptr;
  }
  // Set once, by the bus that adds it, under its routing mutex, before any
  // snapshot lists it.
  void set_sequence(std::uint64_t sequence) noexcept { sequence_ = sequence; }
  // Read under the routing mutex (or once the snapshot lists it).
  std::uint64_t sequence() const noexcept { return sequence_; }
  // Higher priority first, then the one subscribed first.
  static bool ranks_before(const SubscriberCore& a, const SubscriberCore& b) noexcept {
    return a.priority_ != b.priority_ ? a.priority_ > b.priority_ : a.sequence_ < b.sequence_;
  }

  // --- Patterns. Changed only under the bus's routing mutex and
  // patterns_mutex_ both; read under either. ---

  // The caller holds the bus's routing mutex.
  const std::vector<TopicPattern>& patterns_while_routing() const noexcept { return patterns_; }
  // Adds those of `more` it lacks; the caller holds the routing mutex. The
  // count added.
  std::size_t add_patterns(const std::vector<TopicPattern>& more);
  // Removes those of `gone` it has, narrowing the subscriber if any remain;
  // the caller holds the routing mutex. The count removed.
  std::size_t remove_patterns(const std::vector<TopicPattern>& gone);
  // True if one of its patterns is one of `patterns`. Any thread.
  bool has_any_of(const std::vector<TopicPattern>& patterns) const;
  // The text of a pattern of its that matches `topic`: the first that does,
  // or, if none does any more, its first. Any thread; for error reports.
  std::string pattern_matching(std::string_view topic) const;

  // The lane of an event whose key hashes to `hint` (for unkeyed events, any
  // number that differs between neighbouring events, to spread them).
  Lane& lane_for(std::size_t hint) noexcept {
    return lanes_[lane_count_ == 1 ? 0 : hint % lane_count_];
  }
  Lane& lane_for_key_hash(std::size_t hash) noexcept { return lanes_[hash % lane_count_]; }
  // Gives the (Serial) subscriber's lane to `puller`, before it is first
  // routed to; the subscriber keeps the puller as long as its lane.
  void set_puller(std::shared_ptr<LanePuller> puller) noexcept {
    puller_ = std::move(puller);
    lanes_[0].puller = puller_.get();
  }
  std::size_t lane_count() const noexcept { return lane_count_; }

  // Invocation protocol (see above). enter() false: closed, do not call.
  bool enter() noexcept {
    active_.fetch_add(1, std::memory_order_seq_cst);
    if (state_.load(std::memory_order_seq_cst) != State::Closed) return true;
    leave();
    return false;
  }
  void leave() noexcept {
    if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        state_.load(std::memory_order_seq_cst) == State::Closed) {
      active_.notify_all();
    }
  }
  bool closed() const noexcept { return state_.load(std::memory_order_relaxed) == State::Closed; }
  // Whether to call the subscriber with `event`, a delivery in its lanes:
  // Call; Skip (narrowed, and no pattern it still has matches the event);
  // Closed. One relaxed load unless narrowed.
  enum class Verdict { Call, Skip, Closed };
  Verdict verdict(const void* event, const EventOps& ops) const {
    const State state = state_.load(std::memory_order_relaxed);
    if (state == State::Open) [[likely]]
      return Verdict::Call;
    if (state == State::Closed) return Verdict::Closed;
    return still_matches(ops.topic(event)) ? Verdict::Call : Verdict::Skip;
  }
  // True the first time only.
  bool close() noexcept {
    return state_.exchange(State::Closed, std::memory_order_seq_cst) != State::Closed;
  }
  // Blocks until no invocation is running. After close(), none will start.
  void wait_until_quiet() noexcept;

  // Only between enter() and leave().
  // False: declined for now (Handler::invoke).
  bool invoke(const void* event, const EventOps& ops) { return handler_->invoke(event, ops); }
  std::string describe() const { return handler_->describe(); }

  // Lets go of the subscriber (or callable). Only once closed and quiet; the
  // first caller does it.
  void drop_handler() noexcept {
    if (!handler_dropped_.exchange(true, std::memory_order_acq_rel)) handler_.reset();
  }

 private:
  enum class State : unsigned char { Open, Narrowed, Closed };

  bool still_matches(std::string_view topic) const;

  const std::type_info& type_;
  const Concurrency concurrency_;
  const void* const identity_;
  const std::size_t lane_count_;
  std::unique_ptr<Lane[]> lanes_;
  std::unique_ptr<Handler> handler_;  // reset only once closed and quiet
  // After the fields every post and call reads, so as not to push them onto
  // a second cache line: only screened routes read screen_, and only
  // snapshot building reads the rank.
  const std::unique_ptr<const Screen> screen_;
  const int priority_;
  const std::unique_ptr<const Identity> user_identity_;
  std::function<void()> on_disconnect_;    // run once, by notify_disconnected
  std::atomic<bool> disconnected_{false};  // notify_disconnected ran
  std::uint64_t sequence_ = 0;             // see set_sequence
  // Whom the lane points to, if a puller drains it: kept as long as the lane.
  std::shared_ptr<LanePuller> puller_;
  mutable std::mutex patterns_mutex_;
  std::vector<TopicPattern> patterns_;  // see "Patterns" above
  // state_ apart from active_: every post to the subscriber (and to its
  // group) reads state_, while each of its calls writes active_ on the
  // executor. Sharing a line, the posting core waited for it to come back.
  alignas(kCacheLine) std::atomic<State> state_{State::Open};
  std::atomic<bool> handler_dropped_{false};
  alignas(kCacheLine) std::atomic<int> active_{0};
};

}  // namespace courier::detail
