// SubscriptionCore and Lane: one subscription as the dispatch path sees it.
//
// A Lane is courier's unit of serialisation (what Asio calls a strand): a
// mailbox that at most one thread drains at a time, in FIFO order. A Serial
// subscription has one lane; a Concurrent one has one lane per executor thread,
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
// Thread safety: the fields are atomics or are guarded as commented.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <typeinfo>

#include "courier/detail/cache_line.hpp"
#include "courier/detail/catch_up_pacing.hpp"
#include "courier/detail/envelope.hpp"
#include "courier/detail/exclusive_lock.hpp"
#include "courier/detail/handler.hpp"
#include "courier/detail/mailbox.hpp"
#include "courier/subscriber.hpp"
#include "courier/topic.hpp"

namespace courier::detail {

class SubscriptionCore;
class ConcurrentGroup;

struct alignas(kCacheLine) Lane {
  Mailbox mailbox;
  std::atomic<bool> scheduled{false};
  // Whose lane this is: one subscription's, or a group's (concurrent_group.hpp).
  SubscriptionCore* owner = nullptr;
  ConcurrentGroup* group = nullptr;
  Lane* next_ready = nullptr;  // guarded by the RunQueue's mutex
  CatchUpPacing catch_up;      // used by the lane's drainer only
  // Keeps the owner alive while the lane has work; written only by the
  // thread that set `scheduled`, and moved out before it is cleared.
  std::shared_ptr<const void> keep_alive;
  BiasedLock exclusive;  // synchronous bus only: one invocation at a time on this lane
};

class SubscriptionCore : public std::enable_shared_from_this<SubscriptionCore> {
 public:
  // `identity` is the subscriber object for Subscriber-based subscriptions (to
  // find duplicates and to unsubscribe by pointer), null for callables.
  SubscriptionCore(const std::type_info& type, TopicPattern pattern, Concurrency concurrency,
                   std::size_t concurrent_lanes, std::unique_ptr<Handler> handler,
                   const void* identity);

  const std::type_info& type() const noexcept { return type_; }
  const TopicPattern& pattern() const noexcept { return pattern_; }
  Concurrency concurrency() const noexcept { return concurrency_; }
  const void* identity() const noexcept { return identity_; }

  // The lane of an event whose key hashes to `hint` (for unkeyed events, any
  // number that differs between neighbouring events, to spread them).
  Lane& lane_for(std::size_t hint) noexcept {
    return lanes_[lane_count_ == 1 ? 0 : hint % lane_count_];
  }
  Lane& lane_for_key_hash(std::size_t hash) noexcept { return lanes_[hash % lane_count_]; }

  // Invocation protocol (see above). enter() false: closed, do not call.
  bool enter() noexcept {
    active_.fetch_add(1, std::memory_order_seq_cst);
    if (!closed_.load(std::memory_order_seq_cst)) return true;
    leave();
    return false;
  }
  void leave() noexcept {
    if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        closed_.load(std::memory_order_seq_cst)) {
      active_.notify_all();
    }
  }
  bool closed() const noexcept { return closed_.load(std::memory_order_relaxed); }
  // True the first time only.
  bool close() noexcept { return !closed_.exchange(true, std::memory_order_seq_cst); }
  // Blocks until no invocation is running. After close(), none will start.
  void wait_until_quiet() noexcept;

  // Only between enter() and leave().
  void invoke(const void* event) { handler_->invoke(event); }
  std::string describe() const { return handler_->describe(); }

  // Lets go of the subscriber (or callable). Only once closed and quiet; the
  // first caller does it.
  void drop_handler() noexcept {
    if (!handler_dropped_.exchange(true, std::memory_order_acq_rel)) handler_.reset();
  }

 private:
  const std::type_info& type_;
  const TopicPattern pattern_;
  const Concurrency concurrency_;
  const void* const identity_;
  const std::size_t lane_count_;
  std::unique_ptr<Lane[]> lanes_;
  std::unique_ptr<Handler> handler_;  // reset only once closed and quiet
  // closed_ apart from active_: every post to the subscription (and to its
  // group) reads closed_, while each of its calls writes active_ on the
  // executor. Sharing a line, the posting core waited for it to come back.
  alignas(kCacheLine) std::atomic<bool> closed_{false};
  std::atomic<bool> handler_dropped_{false};
  alignas(kCacheLine) std::atomic<int> active_{0};
};

}  // namespace courier::detail
