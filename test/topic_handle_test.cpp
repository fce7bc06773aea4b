#include "courier/topic_handle.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "courier/event_bus.hpp"

namespace {

using courier::Event;
using courier::EventBus;
using courier::Options;

// Records (topic, data) pairs; a synchronous bus calls it on the posting thread.
struct Log {
  std::mutex mutex;
  std::vector<std::pair<std::string, int>> entries;

  auto recorder() {
    return [this](const Event<int>& event) {
      std::lock_guard lock(mutex);
      entries.emplace_back(event.topic(), event.data());
    };
  }
  std::vector<std::pair<std::string, int>> snapshot() {
    std::lock_guard lock(mutex);
    return entries;
  }
};

TEST(TopicHandle, ReachesExactAndWildcardSubscribers) {
  EventBus bus(Options{.threads = 2});
  Log exact, wildcard, other;
  bus.subscribe<int>("metrics.cpu", exact.recorder());
  bus.subscribe<int>("metrics.*", wildcard.recorder());
  bus.subscribe<int>("metrics.disk", other.recorder());

  const courier::Topic cpu = bus.topic("metrics.cpu");
  EXPECT_EQ(cpu.name(), "metrics.cpu");
  bus.post(cpu, 1);
  EXPECT_TRUE(bus.try_post(cpu, 2));
  bus.wait_idle();

  const std::vector<std::pair<std::string, int>> expected{{"metrics.cpu", 1}, {"metrics.cpu", 2}};
  EXPECT_EQ(exact.snapshot(), expected);
  EXPECT_EQ(wildcard.snapshot(), expected);
  EXPECT_TRUE(other.snapshot().empty());
}

TEST(TopicHandle, SeesSubscriptionsMadeAfterTheHandleAndNotCancelledOnes) {
  EventBus bus(Options{.synchronous = true});
  const courier::Topic ticks = bus.topic("ticks");
  Log early, late;
  courier::Subscription early_subscription = bus.subscribe<int>("ticks", early.recorder());
  bus.post(ticks, 1);
  bus.subscribe<int>(">", late.recorder());
  early_subscription.cancel();
  bus.post(ticks, 2);

  EXPECT_EQ(early.snapshot(), (std::vector<std::pair<std::string, int>>{{"ticks", 1}}));
  EXPECT_EQ(late.snapshot(), (std::vector<std::pair<std::string, int>>{{"ticks", 2}}));
}

TEST(TopicHandle, ReachesOnlySubscribersOfThePostedPayloadType) {
  EventBus bus(Options{.synchronous = true});
  Log ints;
  int strings = 0;
  bus.subscribe<int>("mixed", ints.recorder());
  bus.subscribe<std::string>("mixed", [&](const Event<std::string>&) { ++strings; });
  const courier::Topic mixed = bus.topic("mixed");

  bus.post(mixed, 7);
  bus.post(mixed, 3.5);  // a double: nobody takes it

  EXPECT_EQ(ints.snapshot(), (std::vector<std::pair<std::string, int>>{{"mixed", 7}}));
  EXPECT_EQ(strings, 0);
  EXPECT_EQ(bus.stats().dead, 1u);
}

TEST(TopicHandle, PostFromAHandlerOfASynchronousBusIsDeferred) {
  EventBus bus(Options{.synchronous = true});
  const courier::Topic echo = bus.topic("echo");
  std::vector<int> order;
  bus.subscribe<int>("echo", [&](const Event<int>& event) {
    order.push_back(event.data());
    if (event.data() < 3) bus.post(echo, event.data() + 1);
    order.push_back(-event.data());  // the nested post has not run yet
  });

  bus.post(echo, 1);

  EXPECT_EQ(order, (std::vector<int>{1, -1, 2, -2, 3, -3}));
}

TEST(TopicHandle, RejectsAnInvalidTopicNamingIt) {
  EventBus bus(Options{.threads = 1});
  try {
    bus.topic("not a topic");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("\"not a topic\""), std::string::npos);
  }
}

TEST(TopicHandle, RejectsAHandleOfAnotherBus) {
  EventBus first(Options{.threads = 1});
  EventBus second(Options{.threads = 1});
  const courier::Topic foreign = first.topic("shared.name");
  EXPECT_THROW(second.post(foreign, 1), std::invalid_argument);
  EXPECT_THROW((void)second.try_post(foreign, 1), std::invalid_argument);
  EXPECT_EQ(second.stats().posted, 0u);
}

TEST(TopicHandle, SameNameGivesEquivalentHandles) {
  EventBus bus(Options{.synchronous = true});
  Log log;
  bus.subscribe<int>("a.b", log.recorder());
  const courier::Topic first = bus.topic("a.b");
  const courier::Topic second = bus.topic("a.b");
  bus.post(first, 1);
  bus.post(second, 2);
  EXPECT_EQ(log.snapshot(), (std::vector<std::pair<std::string, int>>{{"a.b", 1}, {"a.b", 2}}));
}

}  // namespace
