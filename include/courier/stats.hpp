/// \file
/// Stats: counters of one bus, read with EventBus::stats().
#pragma once

#include <cstdint>

namespace courier {

/// Counters of one bus, read with EventBus::stats().
///
/// A snapshot: each counter is exact at some instant during the stats() call, but
/// the counters are read one after the other, so while events flow they need not
/// agree with one another. Once the bus is idle (wait_idle() returned, or after
/// shutdown()), posted == delivered_events + dead holds exactly. A retained
/// event handed to a new subscription (EventBus::post_retained) counts as one
/// more posted event, once per subscription that receives it. A post that
/// throws (BusClosed, std::bad_alloc) or that try_post() refuses is not counted.
struct Stats {
  std::uint64_t posted = 0;            ///< events accepted by post() and try_post()
  std::uint64_t delivered = 0;         ///< process() invocations that ran (each subscriber counts)
  std::uint64_t delivered_events = 0;  ///< accepted events that reached at least one subscriber
  std::uint64_t dead = 0;              ///< accepted events that reached no subscriber
  std::uint64_t failed = 0;            ///< invocations that threw
  std::uint64_t dropped = 0;           ///< events streams dropped by their overflow policy
  std::uint64_t queued = 0;            ///< events accepted and not yet fully delivered, now
  std::uint64_t subscriptions = 0;     ///< (subscriber, pattern) pairs subscribed, now
  std::uint64_t retained = 0;          ///< topics with a retained event (post_retained), now
};

}  // namespace courier
