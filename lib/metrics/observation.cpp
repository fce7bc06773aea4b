// BusCore's observation hooks (see bus_core.hpp): per-topic counts and the
// post-to-delivery latency, switched on by EventBus::track_topics and
// track_latency. Everything here runs only while something is tracked; the
// core pays one relaxed load and one branch per post and per call otherwise.
#include <chrono>
#include <mutex>

#include "courier/detail/bus_core.hpp"
#include "metrics/bus_metrics.hpp"

namespace courier::detail {
namespace {

std::int64_t steady_nanoseconds() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

BusMetrics& BusCore::metrics() {
  const std::lock_guard lock(metrics_mutex_);
  if (metrics_owner_ == nullptr) {
    metrics_owner_ = std::make_unique<BusMetrics>(max_tracked_topics_);
    metrics_.store(metrics_owner_.get(), std::memory_order_release);
  }
  return *metrics_owner_;
}

// The metrics are published (release) before the flag that sends the hooks
// to them; the hooks load both with acquire, so a hook that sees a bit sees
// the metrics and the generation stored before it.
void BusCore::track_topics(bool on) {
  metrics();
  if (on) {
    observing_.fetch_or(kObservingTopics, std::memory_order_release);
  } else {
    observing_.fetch_and(~kObservingTopics, std::memory_order_release);
  }
  reroute_for_topic_counts();
}

void BusCore::track_latency(bool on) {
  BusMetrics& observed = metrics();
  const std::lock_guard lock(metrics_mutex_);  // one switch at a time: generation, then flag
  if (on) {
    if ((observing_.load(std::memory_order_relaxed) & kObservingLatency) != 0) return;
    observed.latency_generation.fetch_add(1, std::memory_order_relaxed);
    observing_.fetch_or(kObservingLatency, std::memory_order_release);
  } else {
    observing_.fetch_and(~kObservingLatency, std::memory_order_release);
  }
  // No reroute: a synchronous bus records no latency, and an asynchronous
  // one has no shortest path.
}

// The synchronous shortest path does not count topics: it runs only on a
// route that the general path armed while they were not counted
// (SyncPath::deliver_now), and a new routing version disarms every route. A
// post that reads this version (acquire) sees the flag stored before it. An
// asynchronous bus has no shortest path, and is spared the new snapshot.
void BusCore::reroute_for_topic_counts() {
  if (!synchronous_) return;
  const std::lock_guard lock(routing_mutex_);  // a version has one snapshot
  routing_version_.fetch_add(1, std::memory_order_release);
}

bool BusCore::counting_topics() const noexcept {
  return (observing_.load(std::memory_order_relaxed) & kObservingTopics) != 0;
}

std::vector<TopicCounts> BusCore::topic_stats() const {
  const BusMetrics* observed = metrics_.load(std::memory_order_acquire);
  return observed == nullptr ? std::vector<TopicCounts>{} : observed->topics.snapshot();
}

LatencySnapshot BusCore::latency_stats() const {
  const BusMetrics* observed = metrics_.load(std::memory_order_acquire);
  return observed == nullptr ? LatencySnapshot{} : observed->latency.snapshot();
}

std::int64_t BusCore::observation_clock() const noexcept {
  return (observing_.load(std::memory_order_relaxed) & kObservingLatency) != 0
             ? steady_nanoseconds()
             : 0;
}

void BusCore::observe_post(Envelope* envelope, const void* event, const EventOps& ops) noexcept {
  const std::uint32_t observing = observing_.load(std::memory_order_acquire);
  BusMetrics* observed = metrics_.load(std::memory_order_acquire);
  if (observed == nullptr) return;
  if ((observing & kObservingTopics) != 0)
    observed->topics.count(ops.topic(event), TopicCounters::Count::Posted);
  if ((observing & kObservingLatency) == 0 || envelope == nullptr) return;
  try {
    Envelope::PostStamp& stamp = envelope->post_stamp();
    stamp.generation = observed->latency_generation.load(std::memory_order_relaxed);
    stamp.nanoseconds = steady_nanoseconds();
  } catch (...) {
    // No memory for the envelope's Spill: this event goes untimed.
  }
}

void BusCore::observe_delivery(const void* event, const EventOps& ops, const Envelope* envelope,
                               std::int64_t started) noexcept {
  const std::uint32_t observing = observing_.load(std::memory_order_acquire);
  BusMetrics* observed = metrics_.load(std::memory_order_acquire);
  if (observed == nullptr) return;
  if ((observing & kObservingTopics) != 0)
    observed->topics.count(ops.topic(event), TopicCounters::Count::Delivered);
  if ((observing & kObservingLatency) == 0 || envelope == nullptr) return;
  const Envelope::PostStamp* stamp = envelope->post_stamp_if_any();
  if (stamp == nullptr ||
      stamp->generation != observed->latency_generation.load(std::memory_order_relaxed))
    return;
  if (started == 0) started = steady_nanoseconds();
  observed->latency.record(std::chrono::nanoseconds(started - stamp->nanoseconds));
}

void BusCore::observe_failure(std::string_view topic) noexcept {
  if ((observing_.load(std::memory_order_acquire) & kObservingTopics) == 0) return;
  if (BusMetrics* observed = metrics_.load(std::memory_order_acquire))
    observed->topics.count(topic, TopicCounters::Count::Failed);
}

void BusCore::observe_drop(std::string_view topic) noexcept {
  if ((observing_.load(std::memory_order_acquire) & kObservingTopics) == 0) return;
  if (BusMetrics* observed = metrics_.load(std::memory_order_acquire))
    observed->topics.count(topic, TopicCounters::Count::Dropped);
}

}  // namespace courier::detail
