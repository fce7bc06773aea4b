// Asking the bus about its subscriptions, and bounding them (issue 15):
// is_subscribed(subscriber, pattern), has_subscribers(topic) with and without
// a payload type, and Options::max_subscriptions with courier::LimitExceeded.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::Event;
using courier::EventBus;
using courier::LimitExceeded;
using courier::Options;
using courier::Stream;
using courier::Subscription;
using courier_test::mentions;
using courier_test::RecordingSubscriber;

Options pool() { return Options{.threads = 2, .queue_capacity = 64}; }

TEST(IsSubscribed, NamesThePatternItselfNotOneItMatches) {
  EventBus bus(pool());
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  Subscription wild = bus.subscribe(recorder, {"a.*", "b"});
  EXPECT_TRUE(bus.is_subscribed(recorder, "a.*"));
  EXPECT_TRUE(bus.is_subscribed(recorder, "b"));
  EXPECT_FALSE(bus.is_subscribed(recorder, "a.b"));  // matched by a.*, not subscribed to
  EXPECT_FALSE(bus.is_subscribed(recorder, "a.>"));
  EXPECT_TRUE(bus.is_subscribed<int>(recorder, "b"));
  auto stranger = std::make_shared<RecordingSubscriber<int>>();
  EXPECT_FALSE(bus.is_subscribed(stranger, "b"));
  EXPECT_THROW((void)bus.is_subscribed(recorder, "a..b"), std::invalid_argument);
  wild.cancel();
  EXPECT_FALSE(bus.is_subscribed(recorder, "a.*"));
  EXPECT_FALSE(bus.is_subscribed(recorder));
}

TEST(IsSubscribed, FollowsPatternsCancelledOneByOne) {
  EventBus bus(pool());
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  Subscription first = bus.subscribe(recorder, "x.>");
  const Subscription second = bus.subscribe(recorder, "y");
  first.cancel();
  EXPECT_FALSE(bus.is_subscribed(recorder, "x.>"));
  EXPECT_TRUE(bus.is_subscribed(recorder, "y"));
  EXPECT_TRUE(bus.is_subscribed(recorder));
}

TEST(HasSubscribers, MatchesTopicsThroughWildcardsAndStreams) {
  EventBus bus(pool());
  EXPECT_FALSE(bus.has_subscribers("metrics.cpu"));
  Subscription star = bus.subscribe<int>("metrics.*", [](const Event<int>&) {});
  EXPECT_TRUE(bus.has_subscribers("metrics.cpu"));
  EXPECT_FALSE(bus.has_subscribers("metrics.cpu.user"));
  EXPECT_FALSE(bus.has_subscribers("metrics"));
  Stream<double> tail = bus.stream<double>("metrics.>");
  EXPECT_TRUE(bus.has_subscribers("metrics.cpu.user"));
  EXPECT_TRUE(bus.has_subscribers<double>("metrics.cpu.user"));
  EXPECT_FALSE(bus.has_subscribers<int>("metrics.cpu.user"));
  EXPECT_TRUE(bus.has_subscribers<int>("metrics.cpu"));
  EXPECT_FALSE(bus.has_subscribers<std::string>("metrics.cpu"));
  EXPECT_THROW((void)bus.has_subscribers("metrics.*"), std::invalid_argument);
  star.cancel();
  EXPECT_FALSE(bus.has_subscribers<int>("metrics.cpu"));
  tail.close();
  EXPECT_FALSE(bus.has_subscribers("metrics.cpu.user"));
}

TEST(MaxSubscriptions, GoingOverThrowsNamingTheLimitAndKeepsWhatWasThere) {
  EventBus bus(Options{.threads = 2, .queue_capacity = 64, .max_subscriptions = 3});
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  bus.subscribe(recorder, {"a", "b"});
  try {
    bus.subscribe<int>({"c", "d"}, [](const Event<int>&) {});
    ADD_FAILURE() << "a fourth subscription was accepted";
  } catch (const LimitExceeded& error) {
    EXPECT_EQ(error.limit(), "Options::max_subscriptions");
    EXPECT_EQ(error.maximum(), 3U);
    EXPECT_EQ(error.requested(), 4U);
    EXPECT_TRUE(mentions(error.what(), "Options::max_subscriptions"));
    EXPECT_TRUE(mentions(error.what(), "3"));
    EXPECT_TRUE(mentions(error.what(), "4"));
  }
  // An object's new pattern counts too; one it already has does not.
  EXPECT_NO_THROW(bus.subscribe(recorder, "a"));
  EXPECT_NO_THROW(bus.subscribe(recorder, "c"));
  EXPECT_THROW(bus.subscribe(recorder, "d"), LimitExceeded);
  EXPECT_THROW((void)bus.stream<int>("e"), LimitExceeded);
  EXPECT_EQ(bus.stats().subscriptions, 3U);
  EXPECT_FALSE(bus.is_subscribed(recorder, "d"));
  // What was there still delivers.
  for (const char* topic : {"a", "b", "c", "d"}) bus.post<int>(topic, 1);
  bus.wait_idle();
  EXPECT_EQ(recorder->received().size(), 3U);
  EXPECT_EQ(bus.stats().dead, 1U);
}

TEST(MaxSubscriptions, TrackedSubscriptionsWhoseOwnerIsGoneDoNotCount) {
  EventBus bus(Options{.synchronous = true, .max_subscriptions = 1});
  auto owner = std::make_shared<int>(0);
  bus.subscribe<int>("a", [](const Event<int>&) {}, {.track = owner});
  EXPECT_THROW(bus.subscribe<int>("b", [](const Event<int>&) {}), LimitExceeded);
  owner.reset();
  EXPECT_NO_THROW(bus.subscribe<int>("b", [](const Event<int>&) {}));
  EXPECT_EQ(bus.stats().subscriptions, 1U);
}

TEST(LimitExceededError, AStreamsDepthNamesItsLimit) {
  EventBus bus(pool());
  try {
    (void)bus.stream<int>("s", {.depth = courier::StreamOptions::kMaxDepth + 1});
    ADD_FAILURE() << "an oversized depth was accepted";
  } catch (const LimitExceeded& error) {
    EXPECT_EQ(error.limit(), "StreamOptions::depth");
    EXPECT_EQ(error.maximum(), courier::StreamOptions::kMaxDepth);
    EXPECT_EQ(error.requested(), courier::StreamOptions::kMaxDepth + 1);
  }
}

}  // namespace
