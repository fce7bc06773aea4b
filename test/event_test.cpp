// Event (event.hpp): its metadata (id, timestamp, headers), copies that
// share it, and the bus stamping it (Options::stamp_events).
#include "courier/event.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/stream.hpp"
#include "test_support.hpp"

namespace {

using courier::Event;
using courier::EventBus;
using courier::Options;
using courier_test::kBoundedWait;
using std::chrono::system_clock;

TEST(EventMetadata, AnEventWithoutAnyHasNone) {
  const Event<int> event("a", 1);
  EXPECT_EQ(event.id(), 0U);
  EXPECT_EQ(event.timestamp(), system_clock::time_point{});
  EXPECT_TRUE(event.headers().empty());
}

TEST(EventMetadata, SettersChainOnTemporariesAndNamedEvents) {
  const auto when = system_clock::now();
  const Event<int> event = Event<int>("a", 1).set_header("k", "v").set_id(7).set_timestamp(when);
  EXPECT_EQ(event.id(), 7U);
  EXPECT_EQ(event.timestamp(), when);
  EXPECT_EQ(*event.headers().find("k"), "v");
}

TEST(EventMetadata, ACopyChangedLaterLeavesTheOriginalAsItWas) {
  Event<int> original("a", 1);
  original.set_header("k", "original");
  Event<int> copy = original;
  copy.set_header("k", "copy").set_id(3);
  EXPECT_EQ(*original.headers().find("k"), "original");
  EXPECT_EQ(original.id(), 0U);
  EXPECT_EQ(*copy.headers().find("k"), "copy");
  EXPECT_TRUE(copy.erase_header("k"));
  EXPECT_EQ(*original.headers().find("k"), "original");
}

TEST(EventMetadata, AnInvalidHeaderLeavesTheEventAsItWas) {
  Event<int> event("a", 1);
  EXPECT_THROW(event.set_header("", "v"), std::invalid_argument);
  EXPECT_THROW(event.set_header("k", "line\nbreak"), std::invalid_argument);
  EXPECT_TRUE(event.headers().empty());
  EXPECT_FALSE(event.erase_header("k"));
}

TEST(EventMetadata, HeadersAndIdsReachSubscribersAndStreams) {
  EventBus bus(Options{.threads = 2});
  std::promise<Event<int>> received;
  auto subscription =
      bus.subscribe<int>("a", [&received](const Event<int>& event) { received.set_value(event); });
  courier::Stream<int> stream = bus.stream<int>("a");
  bus.post(Event<int>("a", 1).set_header("reply-to", "r.1").set_id(42));
  auto future = received.get_future();
  ASSERT_EQ(future.wait_for(kBoundedWait), std::future_status::ready);
  const Event<int> delivered = future.get();
  EXPECT_EQ(*delivered.headers().find("reply-to"), "r.1");
  EXPECT_EQ(delivered.id(), 42U);
  const auto streamed = stream.next(kBoundedWait);
  ASSERT_TRUE(streamed.has_value());
  EXPECT_EQ(*streamed->headers().find("reply-to"), "r.1");
}

TEST(EventStamping, IsOffByDefault) {
  EventBus bus(Options{.synchronous = true});
  Event<int> seen("a", 0);
  auto subscription = bus.subscribe<int>("a", [&seen](const Event<int>& event) { seen = event; });
  bus.post<int>("a", 1);
  EXPECT_EQ(seen.id(), 0U);
  EXPECT_EQ(seen.timestamp(), system_clock::time_point{});
}

// Ids from four posting threads: all distinct, increasing in each thread's
// post order; timestamps between the test's clock reads.
TEST(EventStamping, GivesUniqueIdsIncreasingPerThreadAndThePostTime) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  EventBus bus(Options{.threads = 2, .stamp_events = true});
  std::mutex mutex;
  std::vector<std::vector<Event<int>>> by_thread(kThreads);
  auto subscription = bus.subscribe<int>("t.*", [&](const Event<int>& event) {
    std::lock_guard lock(mutex);
    by_thread[static_cast<std::size_t>(event.data())].push_back(event);
  });
  const auto before = system_clock::now();
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&bus, t] {
      for (int i = 0; i < kPerThread; ++i) bus.post<int>("t." + std::to_string(t), t);
    });
  }
  for (auto& poster : posters) poster.join();
  bus.wait_idle();
  const auto after = system_clock::now();
  std::set<std::uint64_t> ids;
  for (const auto& events : by_thread) {
    ASSERT_EQ(events.size(), static_cast<std::size_t>(kPerThread));
    for (std::size_t i = 0; i < events.size(); ++i) {
      ids.insert(events[i].id());
      if (i > 0) {
        EXPECT_LT(events[i - 1].id(), events[i].id());
      }
      EXPECT_GE(events[i].timestamp(), before);
      EXPECT_LE(events[i].timestamp(), after);
    }
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(ids.count(0), 0U);
}

TEST(EventStamping, KeepsAnIdAndTimestampTheEventHasAlready) {
  EventBus bus(Options{.synchronous = true, .stamp_events = true});
  Event<int> seen("a", 0);
  auto subscription = bus.subscribe<int>("a", [&seen](const Event<int>& event) { seen = event; });
  const system_clock::time_point long_ago{std::chrono::hours(1)};
  bus.post(Event<int>("a", 1).set_id(99).set_timestamp(long_ago));
  EXPECT_EQ(seen.id(), 99U);
  EXPECT_EQ(seen.timestamp(), long_ago);
}

}  // namespace
