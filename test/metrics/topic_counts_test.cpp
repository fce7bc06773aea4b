// Per-topic counts (issue 16, item 8): EventBus::track_topics and
// topic_stats(), exact once the bus is idle, on both kinds of bus; the bound
// on the topics counted apart; switching off and on.
#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/metrics/topic_counts.hpp"

namespace {

using courier::Concurrency;
using courier::EventBus;
using courier::Options;
using courier::TopicCounts;

TopicCounts row(std::string topic, std::uint64_t posted, std::uint64_t delivered,
                std::uint64_t dropped = 0, std::uint64_t failed = 0) {
  return {.topic = std::move(topic),
          .posted = posted,
          .delivered = delivered,
          .dropped = dropped,
          .failed = failed};
}

std::string describe(const std::vector<TopicCounts>& rows) {
  std::string text;
  for (const TopicCounts& r : rows)
    text += r.topic + " posted " + std::to_string(r.posted) + " delivered " +
            std::to_string(r.delivered) + " dropped " + std::to_string(r.dropped) + " failed " +
            std::to_string(r.failed) + "\n";
  return text;
}

// Subscribers of every kind the core delivers to differently: two Serial
// callbacks on a.* and a.b (one throws on odd payloads), two Concurrent
// callbacks of the exact topic c.d (a group lane on an asynchronous bus), a
// stream that holds one event and drops the newest, and no one on z.z.
class CountedTraffic {
 public:
  explicit CountedTraffic(EventBus& bus)
      : bus_(bus),
        errors_(bus.on_error([](const courier::DeliveryError&) {})),
        dead_(bus.on_dead_event([](const courier::DeadEvent&) {})),
        drops_(bus.on_drop([](const courier::DroppedEvents&) {})) {
    subscriptions_.push_back(bus.subscribe<int>("a.*", [](const courier::Event<int>&) {}));
    subscriptions_.push_back(bus.subscribe<int>("a.b", [](const courier::Event<int>& event) {
      if (event.data() % 2 != 0) throw std::runtime_error("odd");
    }));
    // Of a payload type without wildcard subscriptions: only such a type's
    // Concurrent subscribers of one topic share a group lane.
    for (int i = 0; i < 2; ++i)
      subscriptions_.push_back(bus.subscribe<long>(
          "c.d", [](const courier::Event<long>&) {}, Concurrency::Concurrent));
  }

  // Posts 10 on a.b, 3 on a.c, 4 on c.d, 5 on s.x (to `stream`), 2 on z.z.
  void post_all() {
    for (int i = 0; i < 10; ++i) bus_.post<int>("a.b", i);
    for (int i = 0; i < 3; ++i) bus_.post<int>("a.c", i);
    for (long i = 0; i < 4; ++i) bus_.post<long>("c.d", i);
    for (int i = 0; i < 5; ++i) bus_.post<int>("s.x", i);
    for (int i = 0; i < 2; ++i) bus_.post<int>("z.z", i);
  }

  static std::vector<TopicCounts> expected() {
    return {row("a.b", 10, 20, 0, 5), row("a.c", 3, 3), row("c.d", 4, 8), row("s.x", 5, 5, 4),
            row("z.z", 2, 0)};
  }

 private:
  EventBus& bus_;
  boost::signals2::scoped_connection errors_, dead_, drops_;
  std::vector<courier::Subscription> subscriptions_;
};

courier::Stream<int> dropping_stream(EventBus& bus) {
  return bus.stream<int>("s.x", {.depth = 1, .overflow = courier::Overflow::DropNewest});
}

TEST(TopicCounts, OffByDefault) {
  EventBus bus(Options{.threads = 2});
  auto stream = dropping_stream(bus);
  CountedTraffic traffic(bus);
  traffic.post_all();
  bus.wait_idle();
  EXPECT_TRUE(bus.topic_stats().empty());
  EXPECT_TRUE(bus.stats().topics.empty());
}

TEST(TopicCounts, ExactOnceIdleOnAnAsynchronousBus) {
  EventBus bus(Options{.threads = 2});
  auto stream = dropping_stream(bus);
  CountedTraffic traffic(bus);
  bus.track_topics(true);
  traffic.post_all();
  bus.wait_idle();
  const std::vector<TopicCounts> rows = bus.topic_stats();
  EXPECT_EQ(rows, CountedTraffic::expected()) << describe(rows);
  const courier::Stats stats = bus.stats();
  EXPECT_EQ(stats.topics, rows);
  EXPECT_EQ(stats.posted, 24U);
  EXPECT_EQ(stats.delivered, 36U);
  EXPECT_EQ(stats.failed, 5U);
  EXPECT_EQ(stats.dropped, 4U);
}

TEST(TopicCounts, ExactOnASynchronousBus) {
  EventBus bus(Options{.synchronous = true});
  auto stream = dropping_stream(bus);
  CountedTraffic traffic(bus);
  bus.track_topics(true);
  traffic.post_all();
  EXPECT_EQ(bus.topic_stats(), CountedTraffic::expected()) << describe(bus.topic_stats());
}

// Where the synchronous bus's shortest path would serve (one Serial
// subscriber, the topic repeating: with topics counted, the general path
// does), and its held posts (made from inside a delivery).
TEST(TopicCounts, SynchronousShortestPathAndHeldPosts) {
  EventBus bus(Options{.synchronous = true});
  auto relay = bus.subscribe<int>("in", [&bus](const courier::Event<int>& event) {
    if (event.data() % 2 == 0) bus.post<int>("out", event.data());
  });
  auto sink = bus.subscribe<int>("out", [](const courier::Event<int>&) {});
  bus.track_topics(true);
  for (int i = 0; i < 6; ++i) bus.post<int>("in", i);
  const std::vector<TopicCounts> expected{row("in", 6, 6), row("out", 3, 3)};
  EXPECT_EQ(bus.topic_stats(), expected) << describe(bus.topic_stats());
}

// Tracking switched on once the shortest path serves the topic: it counts
// from the next post (the shortest path itself does not observe, switching
// leads the posts off it). Off and on again likewise.
TEST(TopicCounts, SwitchingOnReachesARouteTheShortestPathServes) {
  EventBus bus(Options{.synchronous = true});
  auto sink = bus.subscribe<int>("in", [](const courier::Event<int>&) {});
  for (int i = 0; i < 5; ++i) bus.post<int>("in", i);  // armed after the second
  bus.track_topics(true);
  for (int i = 0; i < 4; ++i) bus.post<int>("in", i);
  EXPECT_EQ(bus.topic_stats(), std::vector<TopicCounts>{row("in", 4, 4)})
      << describe(bus.topic_stats());
  bus.track_topics(false);
  for (int i = 0; i < 5; ++i) bus.post<int>("in", i);
  bus.track_topics(true);
  for (int i = 0; i < 3; ++i) bus.post<int>("in", i);
  EXPECT_EQ(bus.topic_stats(), std::vector<TopicCounts>{row("in", 7, 7)})
      << describe(bus.topic_stats());
}

// The same for another thread whose route is armed: switching on reaches
// its next post too.
TEST(TopicCounts, SwitchingOnReachesAnotherThreadsArmedRoute) {
  EventBus bus(Options{.synchronous = true});
  auto sink = bus.subscribe<int>("in", [](const courier::Event<int>&) {});
  std::promise<void> armed;
  std::promise<void> switched_on;
  std::thread poster([&] {
    for (int i = 0; i < 5; ++i) bus.post<int>("in", i);
    armed.set_value();
    switched_on.get_future().wait();
    for (int i = 0; i < 4; ++i) bus.post<int>("in", i);
  });
  armed.get_future().wait();
  bus.track_topics(true);
  switched_on.set_value();
  poster.join();
  EXPECT_EQ(bus.topic_stats(), std::vector<TopicCounts>{row("in", 4, 4)})
      << describe(bus.topic_stats());
}

TEST(TopicCounts, TopicsBeyondTheBoundShareOneRow) {
  EventBus bus(Options{.threads = 2, .max_tracked_topics = 2});
  auto all = bus.subscribe<int>("t.*", [](const courier::Event<int>&) {});
  bus.track_topics(true);
  for (int topic = 1; topic <= 5; ++topic)
    for (int i = 0; i < topic; ++i) bus.post<int>("t." + std::to_string(topic), i);
  bus.wait_idle();
  // t.1 and t.2 are counted first, so they have rows of their own.
  const std::vector<TopicCounts> expected{row("(other)", 3 + 4 + 5, 3 + 4 + 5), row("t.1", 1, 1),
                                          row("t.2", 2, 2)};
  EXPECT_EQ(bus.topic_stats(), expected) << describe(bus.topic_stats());
}

TEST(TopicCounts, ABoundOfZeroCountsEverythingTogether) {
  EventBus bus(Options{.synchronous = true, .max_tracked_topics = 0});
  auto all = bus.subscribe<int>("t.*", [](const courier::Event<int>&) {});
  bus.track_topics(true);
  bus.post<int>("t.1", 1);
  bus.post<int>("t.2", 2);
  EXPECT_EQ(bus.topic_stats(), std::vector<TopicCounts>{row("(other)", 2, 2)});
}

TEST(TopicCounts, ABoundTooLargeIsRejectedNamingIt) {
  try {
    EventBus bus(Options{.max_tracked_topics = (std::size_t{1} << 20) + 1});
    FAIL() << "accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("max_tracked_topics"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("1048577"), std::string::npos) << error.what();
  }
}

TEST(TopicCounts, SwitchingOffKeepsTheCountsAndOnAgainAddsToThem) {
  EventBus bus(Options{.threads = 2});
  auto all = bus.subscribe<int>("t", [](const courier::Event<int>&) {});
  bus.track_topics(true);
  for (int i = 0; i < 3; ++i) bus.post<int>("t", i);
  bus.wait_idle();
  bus.track_topics(false);
  for (int i = 0; i < 4; ++i) bus.post<int>("t", i);
  bus.wait_idle();
  EXPECT_EQ(bus.topic_stats(), std::vector<TopicCounts>{row("t", 3, 3)});
  bus.track_topics(true);
  for (int i = 0; i < 2; ++i) bus.post<int>("t", i);
  bus.wait_idle();
  EXPECT_EQ(bus.topic_stats(), std::vector<TopicCounts>{row("t", 5, 5)});
}

}  // namespace
