// subscribe_until (pipeline/subscribe_until.hpp): a subscription that ends
// when a stop token is stopped or a future becomes ready.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stop_token>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/pipeline/manual_clock.hpp"
#include "courier/pipeline/subscribe_until.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using courier::Concurrency;
using courier::Event;
using courier::EventBus;
using courier::ManualClock;
using courier::Options;

Options synchronous() { return Options{.synchronous = true}; }

TEST(SubscribeUntil, AStopRequestEndsTheSubscription) {
  EventBus bus(synchronous());
  std::stop_source stop;
  std::vector<int> seen;
  courier::subscribe_until<int>(bus, stop.get_token(), "n",
                                [&](const Event<int>& event) { seen.push_back(event.data()); });
  bus.post<int>("n", 1);
  stop.request_stop();
  EXPECT_FALSE(bus.has_subscribers("n"));
  EXPECT_EQ(bus.stats().subscriptions, 0U);
  bus.post<int>("n", 2);
  EXPECT_EQ(seen, (std::vector<int>{1}));
}

TEST(SubscribeUntil, AStopAlreadyRequestedSubscribesNothingThatLasts) {
  EventBus bus(synchronous());
  std::stop_source stop;
  stop.request_stop();
  courier::subscribe_until<int>(bus, stop.get_token(), "n", [](const Event<int>&) {});
  EXPECT_FALSE(bus.has_subscribers("n"));
}

TEST(SubscribeUntil, AReadyFutureEndsTheSubscriptionAtTheNextCheck) {
  EventBus bus(synchronous());
  ManualClock clock;
  std::promise<void> done;
  std::vector<int> seen;
  courier::subscribe_until<int>(
      bus, done.get_future().share(), "n",
      [&](const Event<int>& event) { seen.push_back(event.data()); }, Concurrency::Serial, clock,
      10ms);
  bus.post<int>("n", 1);
  clock.advance(50ms);
  EXPECT_TRUE(bus.has_subscribers("n"));  // checked five times, not ready
  done.set_value();
  bus.post<int>("n", 2);  // not delivered: the future is ready
  clock.advance(10ms);
  EXPECT_FALSE(bus.has_subscribers("n"));
  EXPECT_EQ(seen, (std::vector<int>{1}));
  EXPECT_EQ(clock.pending(), 0U);  // no more checks
}

TEST(SubscribeUntil, CancellingEarlyStopsTheChecks) {
  EventBus bus(synchronous());
  ManualClock clock;
  std::promise<int> done;
  courier::Subscription subscription = courier::subscribe_until<int>(
      bus, done.get_future().share(), "n", [](const Event<int>&) {}, Concurrency::Serial, clock,
      10ms);
  subscription.cancel();
  clock.advance(10ms);
  EXPECT_EQ(clock.pending(), 0U);
}

TEST(SubscribeUntil, RejectsAnInvalidFuture) {
  EventBus bus;
  EXPECT_THROW(
      courier::subscribe_until<int>(bus, std::shared_future<void>(), "n", [](const Event<int>&) {}),
      std::invalid_argument);
  EXPECT_EQ(bus.stats().subscriptions, 0U);
}

}  // namespace
