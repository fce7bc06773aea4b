// The post-to-delivery latency (issue 16, item 8): EventBus::track_latency
// and Stats::latency. One sample per process() call while on, none while off
// or on a synchronous bus; its quantiles in order.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <latch>
#include <vector>

#include "courier/event_bus.hpp"

namespace {

using courier::Concurrency;
using courier::EventBus;
using courier::Options;

// Two Serial subscribers, two Concurrent ones (a group lane: no subscriber of
// the type has a wildcard pattern), and a stream that keeps every event: each post on "l.x" is five
// calls.
class LatencyTraffic {
 public:
  explicit LatencyTraffic(EventBus& bus)
      : bus_(bus),
        stream_(
            bus.stream<int>("l.x", {.depth = 1 << 12, .overflow = courier::Overflow::DropOldest})) {
    for (int i = 0; i < 2; ++i)
      subscriptions_.push_back(bus.subscribe<int>("l.x", [](const courier::Event<int>&) {}));
    for (int i = 0; i < 2; ++i)
      subscriptions_.push_back(bus.subscribe<int>(
          "l.x", [](const courier::Event<int>&) {}, Concurrency::Concurrent));
  }
  static constexpr std::uint64_t kCallsPerPost = 5;

  void post(int count) {
    for (int i = 0; i < count; ++i) bus_.post<int>("l.x", i);
    bus_.wait_idle();
  }

 private:
  EventBus& bus_;
  courier::Stream<int> stream_;
  std::vector<courier::Subscription> subscriptions_;
};

TEST(DeliveryLatency, NothingRecordedWhileOff) {
  EventBus bus(Options{.threads = 2});
  LatencyTraffic traffic(bus);
  traffic.post(100);
  const courier::Stats stats = bus.stats();
  EXPECT_EQ(stats.delivered, 100 * LatencyTraffic::kCallsPerPost);
  EXPECT_EQ(stats.latency.count, 0U);
  EXPECT_EQ(stats.latency.max, std::chrono::nanoseconds(0));
}

TEST(DeliveryLatency, OneSamplePerCallWhileOn) {
  EventBus bus(Options{.threads = 2});
  LatencyTraffic traffic(bus);
  traffic.post(50);  // not timed
  bus.track_latency(true);
  traffic.post(300);
  courier::Stats stats = bus.stats();
  EXPECT_EQ(stats.delivered, 350 * LatencyTraffic::kCallsPerPost);
  EXPECT_EQ(stats.latency.count, 300 * LatencyTraffic::kCallsPerPost);
  EXPECT_LE(stats.latency.p50, stats.latency.p99);
  EXPECT_LE(stats.latency.p99, stats.latency.max);
  EXPECT_GT(stats.latency.sum, std::chrono::nanoseconds(0));

  bus.track_latency(false);
  traffic.post(40);
  EXPECT_EQ(bus.stats().latency.count, 300 * LatencyTraffic::kCallsPerPost);
  bus.track_latency(true);
  traffic.post(10);
  EXPECT_EQ(bus.stats().latency.count, 310 * LatencyTraffic::kCallsPerPost);
}

// A post from inside a handler may take an envelope beyond the bound (an
// overflow envelope, made and freed per event): it is timed too.
TEST(DeliveryLatency, PostsFromHandlersOnAFullBusAreTimed) {
  EventBus bus(Options{.threads = 1, .queue_capacity = 1});
  std::atomic<int> relayed{0};
  auto relay = bus.subscribe<int>(
      "in", [&bus](const courier::Event<int>& event) { bus.post<int>("out", event.data()); });
  auto sink = bus.subscribe<int>("out", [&relayed](const courier::Event<int>&) { ++relayed; });
  bus.track_latency(true);
  for (int i = 0; i < 20; ++i) bus.post<int>("in", i);
  bus.wait_idle();
  EXPECT_EQ(relayed.load(), 20);
  EXPECT_EQ(bus.stats().latency.count, 40U);
}

// Both slots of the queue carry a stamp from a first round of tracking; an
// event posted into one of them while tracking is off, and delivered once it
// is on again, must not be timed by that stale stamp.
TEST(DeliveryLatency, EventsPostedWhileOffAreNotTimedLater) {
  EventBus bus(Options{.threads = 1, .queue_capacity = 2});
  std::latch gate_entered(1);
  std::promise<void> open_gate;
  auto gate = bus.subscribe<int>("gate", [&](const courier::Event<int>&) {
    gate_entered.count_down();
    open_gate.get_future().wait();
  });
  auto sink = bus.subscribe<int>("t", [](const courier::Event<int>&) {});
  bus.track_latency(true);
  bus.post<int>("t", 0);
  bus.post<int>("t", 0);
  bus.wait_idle();
  ASSERT_EQ(bus.stats().latency.count, 2U);

  bus.track_latency(false);
  bus.post<int>("gate", 0);  // holds the one executor
  gate_entered.wait();
  bus.post<int>("t", 1);  // the other slot, behind the gate
  bus.track_latency(true);
  open_gate.set_value();
  bus.wait_idle();
  EXPECT_EQ(bus.stats().delivered, 4U);
  EXPECT_EQ(bus.stats().latency.count, 2U);
}

TEST(DeliveryLatency, ASynchronousBusRecordsNothing) {
  EventBus bus(Options{.synchronous = true});
  auto subscription = bus.subscribe<int>("s", [](const courier::Event<int>&) {});
  bus.track_latency(true);
  for (int i = 0; i < 10; ++i) bus.post<int>("s", i);
  EXPECT_EQ(bus.stats().delivered, 10U);
  EXPECT_EQ(bus.stats().latency.count, 0U);
}

}  // namespace
