// BusMetrics: what a bus observes of its own traffic while asked to
// (EventBus::track_topics, track_latency; issue 16 item 8). Private to lib/.
//
// A bus makes it the first time tracking is switched on and keeps it, counts
// included, until the bus is destroyed: switching off stops the counting and
// keeps the figures, switching on again adds to them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "courier/metrics/latency_histogram.hpp"
#include "courier/metrics/topic_counts.hpp"

namespace courier::detail {

// Bits of BusCore::observing_.
inline constexpr std::uint32_t kObservingTopics = 1;
inline constexpr std::uint32_t kObservingLatency = 2;

class BusMetrics {
 public:
  explicit BusMetrics(std::size_t max_topics) : topics(max_topics) {}

  TopicCounters topics;
  LatencyHistogram latency;
  // Bumped each time latency tracking is switched on: a post stamps its
  // envelope with the generation it saw, and a delivery records a latency
  // only from a stamp of the current one (Envelope::PostStamp). A stamp left
  // from before a switch off and on again is so never taken for the event's.
  std::atomic<std::uint32_t> latency_generation{0};
};

}  // namespace courier::detail
