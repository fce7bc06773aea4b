// RetainedStore: the last retained event of each topic (EventBus::post_retained),
// and what makes a new subscription receive them first.
//
// The store lives beside the bus's core, not in it: posts of ordinary events
// never look at it. It meets the core at two places only, both under the
// store's mutex, which is what orders them:
//   post_retained:  lock;  keep the event;  route it (the core's usual path);  unlock
//   subscribe:      lock;  plan;  hand the subscription its retained events;
//                   make it visible to routing;  unlock
// A retained post that takes the mutex first is kept before the subscriber
// looks, and routed (read the routing snapshot) while the subscriber is not
// yet in it: the subscriber gets that event from the store only. One that
// comes second is routed with the subscriber in the snapshot (its
// subscribe's version bump happened before the unlock), behind the retained
// events already in the subscriber's lane. So a subscriber sees the retained
// value at subscribe, then later ones, never an older one after a newer one,
// never one twice. Live events posted after subscribe() returned are routed
// to the lane after the retained events were pushed into it, so they come
// after them (for a Concurrent subscriber, per lane: events sharing an
// ordering key).
//
// On an asynchronous bus a new subscription's retained events go into its
// lanes as events admitted beyond the queue's bound (overflow envelopes, like
// posts from handlers), so subscribing never waits for room. On a synchronous
// bus they are delivered on the subscribing thread before it becomes
// visible, inside a synchronous frame, so posts their handlers make are held
// and delivered once the store's mutex is released; a retained post is held
// the same way (routed under the mutex, delivered after it). The mutex is
// recursive: a handler called during a synchronous replay may subscribe or
// post a retained event itself.
//
// Thread safety: every member is safe from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "courier/detail/delivery/envelope.hpp"
#include "courier/detail/export.hpp"
#include "courier/event.hpp"
#include "courier/topic.hpp"

namespace courier::detail {

class BusCore;
class SubscriberCore;

// One retained event: a copy of the posted event, never changed once kept,
// shared by the store and the replays that read it.
struct RetainedEvent {
  std::shared_ptr<const void> event;  // an Event<T>
  const EventOps* ops = nullptr;
  // Moves a copy of `event` (an Event<T> of the same T) into the empty
  // `envelope`; throws what the copy throws, leaving it empty.
  void (*store_copy)(Envelope& envelope, const void* event) = nullptr;
  // The kept event's audience, or null: a replay skips a subscriber not in it.
  const Audience* audience = nullptr;
};

// A copy of `event` to keep. T must be copyable.
template <class T>
RetainedEvent retain(const Event<T>& event) {
  auto kept = std::make_shared<const Event<T>>(event);
  const Audience* audience = kept->audience();
  return {std::move(kept), &event_ops<T>,
          [](Envelope& envelope, const void* kept_event) {
            envelope.store(Event<T>(*static_cast<const Event<T>*>(kept_event)));
          },
          audience};
}

class COURIER_EXPORT RetainedStore {
 public:
  // `max_retained`: Options::max_retained.
  explicit RetainedStore(std::size_t max_retained) : max_retained_(max_retained) {}

  // Keeps `kept` as its topic's retained event, then calls `post` (which
  // routes the event) with the mutex held; if `post` throws, the topic's
  // previous retained event (or none) is restored. Throws LimitExceeded for
  // a new topic beyond the limit, before calling `post`.
  void keep_and_post(RetainedEvent kept, void (*post)(void* context), void* context);

  // The same on a synchronous bus: the event is routed under the mutex and
  // delivered after it is released (see above).
  void keep_and_post_sync(BusCore& bus, RetainedEvent kept, void (*post)(void* context),
                          void* context);

  // Subscribes `candidate` (BusCore::subscribe) once its retained events are
  // in its lanes (or, synchronously, delivered): those of its payload type
  // whose topic matches one of its patterns, in topic order, each once, and
  // for a subscriber object that already had patterns, only those that none
  // of its patterns matched before. Throws what BusCore::subscribe throws;
  // then nothing was delivered.
  std::shared_ptr<SubscriberCore> subscribe(BusCore& bus,
                                            std::shared_ptr<SubscriberCore> candidate);

  // Forgets `topic`'s retained event (validated: std::invalid_argument).
  // True if there was one.
  bool clear(std::string_view topic);

  // Topics retained now.
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  struct Replay;
  // The retained events of `type` on topics some of `wanted` match and none
  // of `had` does, in topic order. The caller holds the mutex.
  std::vector<RetainedEvent> matching_locked(const std::type_info& type,
                                             const std::vector<TopicPattern>& wanted,
                                             const std::vector<TopicPattern>& had) const;

  const std::size_t max_retained_;
  mutable std::recursive_mutex mutex_;
  // By topic, in byte order: the order a new subscription receives them.
  std::map<std::string, RetainedEvent, std::less<>> events_;  // guarded by mutex_
  std::atomic<std::size_t> size_{0};                          // events_.size()
};

}  // namespace courier::detail
