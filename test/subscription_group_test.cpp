// SubscriptionGroup (issue 15, subscription_group.hpp): one owner that
// cancels many subscriptions at once, on cancel(), destruction and move
// assignment; safe to fill from several threads.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/subscription_group.hpp"
#include "test_support.hpp"

namespace {

using courier::Event;
using courier::EventBus;
using courier::Options;
using courier::SubscriptionGroup;
using courier_test::Gate;
using courier_test::kBoundedWait;
using courier_test::RecordingSubscriber;
using courier_test::run_on_thread;

Options pool() { return Options{.threads = 2, .queue_capacity = 64}; }

// Subscribes a counting callable on each of `patterns` into `group`.
void fill(EventBus& bus, SubscriptionGroup& group, std::atomic<int>& calls,
          std::initializer_list<const char*> patterns) {
  for (const char* pattern : patterns) {
    group.add(bus.subscribe<int>(pattern, [&calls](const Event<int>&) { ++calls; }));
  }
}

TEST(SubscriptionGroup, CancelEndsEverySubscriptionItHolds) {
  EventBus bus(pool());
  SubscriptionGroup group;
  EXPECT_TRUE(group.empty());
  std::atomic<int> calls{0};
  fill(bus, group, calls, {"a", "b.*", "c.>"});
  auto object = std::make_shared<RecordingSubscriber<int>>();
  group.add(bus.subscribe(object, "d"));
  EXPECT_EQ(group.size(), 4U);
  EXPECT_EQ(bus.stats().subscriptions, 4U);
  group.cancel();
  EXPECT_TRUE(group.empty());
  EXPECT_EQ(bus.stats().subscriptions, 0U);
  EXPECT_FALSE(bus.is_subscribed(object));
  for (const char* topic : {"a", "b.x", "c.x.y", "d"}) bus.post<int>(topic, 1);
  bus.wait_idle();
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(bus.stats().dead, 4U);
}

TEST(SubscriptionGroup, DestructionCancels) {
  EventBus bus(pool());
  std::atomic<int> calls{0};
  {
    SubscriptionGroup group;
    fill(bus, group, calls, {"a", "b"});
    bus.post<int>("a", 1);
    bus.wait_idle();
  }
  EXPECT_FALSE(bus.has_subscribers("a"));
  EXPECT_FALSE(bus.has_subscribers("b"));
  bus.post<int>("b", 1);
  bus.wait_idle();
  EXPECT_EQ(calls.load(), 1);
}

TEST(SubscriptionGroup, MovesHandOverAndAssignmentCancelsWhatWasHeld) {
  EventBus bus(pool());
  std::atomic<int> calls{0};
  SubscriptionGroup first;
  fill(bus, first, calls, {"a", "b"});
  SubscriptionGroup second(std::move(first));
  EXPECT_TRUE(first.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(second.size(), 2U);
  first.cancel();  // cancels nothing: it holds nothing
  EXPECT_TRUE(bus.has_subscribers("a"));

  SubscriptionGroup third;
  fill(bus, third, calls, {"c"});
  third = std::move(second);  // cancels "c", takes "a" and "b"
  EXPECT_FALSE(bus.has_subscribers("c"));
  EXPECT_TRUE(bus.has_subscribers("a"));
  EXPECT_EQ(third.size(), 2U);
  third.cancel();
  EXPECT_EQ(bus.stats().subscriptions, 0U);
}

TEST(SubscriptionGroup, WaitsOutARunningCallWhenCancelledFromOutside) {
  EventBus bus(pool());
  Gate entered, released;
  auto released_guard = released.open_on_exit();
  std::atomic<bool> running{false};
  SubscriptionGroup group;
  group.add(bus.subscribe<int>("t", [&](const Event<int>&) {
    running = true;
    entered.open();
    released.wait();
    running = false;
  }));
  bus.post<int>("t", 1);
  ASSERT_TRUE(entered.wait_for(kBoundedWait));
  auto cancelled = run_on_thread([&] { group.cancel(); });
  EXPECT_EQ(cancelled.wait_for(courier_test::kStillBlocked), std::future_status::timeout);
  released.open();
  ASSERT_TRUE(courier_test::finishes_promptly(cancelled));
  EXPECT_FALSE(running.load());
}

TEST(SubscriptionGroup, CanBeFilledAndCancelledFromSeveralThreadsAndFromAHandler) {
  EventBus bus(pool());
  SubscriptionGroup group;
  std::atomic<int> calls{0};
  std::vector<std::future<void>> fillers;
  for (int thread = 0; thread < 4; ++thread) {
    fillers.push_back(run_on_thread([&] {
      for (int i = 0; i < 25; ++i) {
        group.add(bus.subscribe<int>("t", [&calls](const Event<int>&) { ++calls; }));
        (void)group.size();
      }
    }));
  }
  for (auto& filler : fillers) filler.get();
  EXPECT_EQ(group.size(), 100U);
  // A handler cancels the group (including its own subscription's peers).
  auto canceller = bus.subscribe<int>("stop", [&](const Event<int>&) { group.cancel(); });
  bus.post<int>("stop", 0);
  bus.wait_idle();
  EXPECT_TRUE(group.empty());
  bus.post<int>("t", 1);
  bus.wait_idle();
  EXPECT_EQ(calls.load(), 0);
  canceller.cancel();
}

}  // namespace
