// Per-topic counts and the latency histogram under concurrency (issue 16,
// item 8), for ThreadSanitizer: posters on several threads, executors
// delivering, a stream dropping, and another thread switching both kinds of
// tracking on and off meanwhile. Nothing crashes or races; once everything is
// idle again, counting resumes exactly.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"

namespace {

using courier::EventBus;
using courier::Options;
using courier::TopicCounts;

constexpr int kPosters = 3;
constexpr int kPostsPerPoster = 3000;
constexpr int kTopics = 6;

std::string topic_of(int i) { return "load." + std::to_string(i % kTopics); }

std::map<std::string, TopicCounts> by_topic(const std::vector<TopicCounts>& rows) {
  std::map<std::string, TopicCounts> map;
  for (const TopicCounts& row : rows) map[row.topic] = row;
  return map;
}

class ObservedLoad : public ::testing::Test {
 protected:
  ObservedLoad() {
    subscriptions_.push_back(bus_.subscribe<int>("load.*", [](const courier::Event<int>&) {}));
    subscriptions_.push_back(bus_.subscribe<int>(
        "load.1", [](const courier::Event<int>&) {}, courier::Concurrency::Concurrent));
    subscriptions_.push_back(bus_.subscribe<int>(
        "load.1", [](const courier::Event<int>&) {}, courier::Concurrency::Concurrent));
    subscriptions_.push_back(bus_.subscribe<int>("load.2", [](const courier::Event<int>& event) {
      if (event.data() % 3 == 0) throw std::runtime_error("every third");
    }));
  }

  void post_from_threads(int posters, int per_poster) {
    std::latch start(posters);
    std::vector<std::thread> threads;
    for (int p = 0; p < posters; ++p)
      threads.emplace_back([&, p] {
        start.arrive_and_wait();
        for (int i = 0; i < per_poster; ++i) bus_.post<int>(topic_of(i + p), i);
      });
    for (std::thread& thread : threads) thread.join();
  }

  EventBus bus_{Options{.threads = 2, .queue_capacity = 256}};
  courier::Stream<int> stream_ =
      bus_.stream<int>("load.3", {.depth = 4, .overflow = courier::Overflow::DropOldest});
  boost::signals2::scoped_connection errors_ = bus_.on_error([](const courier::DeliveryError&) {});
  boost::signals2::scoped_connection drops_ = bus_.on_drop([](const courier::DroppedEvents&) {});
  std::vector<courier::Subscription> subscriptions_;
};

TEST_F(ObservedLoad, SwitchingWhileEventsFlowThenExactOnceIdle) {
  std::atomic<bool> posting{true};
  std::thread switcher([&] {
    for (int round = 0; posting.load(); ++round) {
      bus_.track_topics(round % 2 == 0);
      bus_.track_latency(round % 3 != 0);
      (void)bus_.topic_stats();
      (void)bus_.stats();
    }
  });
  post_from_threads(kPosters, kPostsPerPoster);
  posting = false;
  switcher.join();
  bus_.wait_idle();

  // What was counted while switching never exceeds what happened.
  const courier::Stats during = bus_.stats();
  std::uint64_t posted = 0, delivered = 0, failed = 0, dropped = 0;
  for (const TopicCounts& row : during.topics) {
    posted += row.posted;
    delivered += row.delivered;
    failed += row.failed;
    dropped += row.dropped;
  }
  EXPECT_LE(posted, during.posted);
  EXPECT_LE(delivered, during.delivered);
  EXPECT_LE(failed, during.failed);
  EXPECT_LE(dropped, during.dropped);
  EXPECT_LE(during.latency.count, during.delivered);

  // Both on, from idle: the next traffic is counted exactly.
  bus_.track_topics(true);
  bus_.track_latency(true);
  const auto before = by_topic(bus_.topic_stats());
  const courier::Stats stats_before = bus_.stats();
  post_from_threads(kPosters, kPostsPerPoster);
  bus_.wait_idle();
  const auto after = by_topic(bus_.topic_stats());
  const courier::Stats stats_after = bus_.stats();

  const std::uint64_t per_topic = kPosters * kPostsPerPoster / kTopics;
  for (int t = 0; t < kTopics; ++t) {
    const std::string topic = topic_of(t);
    const TopicCounts& was = before.count(topic) ? before.at(topic) : TopicCounts{};
    const TopicCounts& now = after.at(topic);
    EXPECT_EQ(now.posted - was.posted, per_topic) << topic;
    const std::uint64_t calls = (t == 1 ? 3 : t == 2 ? 2 : t == 3 ? 2 : 1) * per_topic;
    EXPECT_EQ(now.delivered - was.delivered, calls) << topic;
  }
  EXPECT_EQ(after.at("load.2").failed - (before.count("load.2") ? before.at("load.2").failed : 0),
            per_topic / 3);
  EXPECT_EQ(stats_after.latency.count - stats_before.latency.count,
            stats_after.delivered - stats_before.delivered);
  EXPECT_EQ(after.at("load.3").dropped - (before.count("load.3") ? before.at("load.3").dropped : 0),
            stats_after.dropped - stats_before.dropped);
}

}  // namespace
