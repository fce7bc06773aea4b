/// \file
/// Stats: counters of one bus, read with EventBus::stats().
#pragma once

#include <cstdint>
#include <vector>

#include "courier/metrics/latency_histogram.hpp"
#include "courier/metrics/topic_counts.hpp"

namespace courier {

/// Counters of one bus, read with EventBus::stats().
///
/// A snapshot: each counter is exact at some instant during the stats() call, but
/// the counters are read one after the other, so while events flow they need not
/// agree with one another. Once the bus is idle (wait_idle() returned, or after
/// shutdown()), posted == delivered_events + dead holds exactly. A retained
/// event handed to a new subscription (EventBus::post_retained) counts as one
/// more posted event, once per subscription that receives it. `latency` and
/// `topics` are read last, after the counters above. A post that
/// throws (BusClosed, std::bad_alloc) or that try_post() refuses is not counted.
struct Stats {
  std::uint64_t posted = 0;            ///< events accepted by post() and try_post()
  std::uint64_t delivered = 0;         ///< process() invocations that ran (each subscriber counts)
  std::uint64_t delivered_events = 0;  ///< accepted events that reached at least one subscriber
  std::uint64_t dead = 0;              ///< accepted events that reached no subscriber
  std::uint64_t failed = 0;            ///< invocations that threw
  std::uint64_t dropped = 0;           ///< events streams dropped by their overflow policy
  std::uint64_t vetoed = 0;            ///< events a middleware vetoed (not in posted)
  std::uint64_t queued = 0;            ///< events accepted and not yet fully delivered, now
  std::uint64_t subscriptions = 0;     ///< (subscriber, pattern) pairs subscribed, now
  std::uint64_t retained = 0;          ///< topics with a retained event (post_retained), now

  /// Time from post() to the start of each process() call (a stream's: to
  /// the event's handing to its queue), recorded only while
  /// EventBus::track_latency is on; empty (count 0, no buckets) if it never
  /// was. See EventBus::track_latency for what is counted.
  LatencySnapshot latency{};
  /// Per-topic counts while EventBus::track_topics was on, sorted by topic
  /// (as EventBus::topic_stats()); empty if it never was.
  std::vector<TopicCounts> topics{};
};

}  // namespace courier
