// Waiting for one event (pipeline/waiting.hpp): next_event's future and
// async_next_event's completion tokens, completed by the first matching
// event or a Timeout on a ManualClock, the temporary subscription gone in
// every case.
#include <gtest/gtest.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <optional>
#include <string>

#include "courier/event_bus.hpp"
#include "courier/pipeline/manual_clock.hpp"
#include "courier/pipeline/waiting.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using courier::Event;
using courier::EventBus;
using courier::ManualClock;
using courier::Options;
using courier::Timeout;
using courier_test::finishes_promptly;
using courier_test::mentions;

bool is_big(int value) { return value > 10; }

class NextEvent : public ::testing::TestWithParam<bool> {
 protected:
  Options options() const {
    return GetParam() ? Options{.synchronous = true} : Options{.threads = 2, .queue_capacity = 64};
  }
};
INSTANTIATE_TEST_SUITE_P(Buses, NextEvent, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& bus) {
                           return bus.param ? "synchronous" : "pool";
                         });

TEST_P(NextEvent, CompletesWithTheFirstMatchingEventAndUnsubscribes) {
  EventBus bus(options());
  ManualClock clock;
  std::future<Event<int>> next = courier::next_event<int>(bus, "job.*", is_big, 1s, clock);
  EXPECT_TRUE(bus.has_subscribers("job.done"));
  EXPECT_EQ(bus.stats().subscriptions, 1U);
  bus.post<int>("job.done", 3);   // not matching
  bus.post<int>("job.done", 42);  // the one
  bus.post<int>("job.done", 43);
  ASSERT_TRUE(finishes_promptly(next));
  const Event<int> event = next.get();
  EXPECT_EQ(event.data(), 42);
  EXPECT_EQ(event.topic(), "job.done");
  EXPECT_FALSE(bus.has_subscribers("job.done"));
  EXPECT_EQ(bus.stats().subscriptions, 0U);
  EXPECT_EQ(clock.pending(), 0U);  // the timeout's timer is cancelled
}

TEST_P(NextEvent, ThrowsTimeoutNamingPatternAndTimeoutAndUnsubscribes) {
  EventBus bus(options());
  ManualClock clock;
  std::future<Event<int>> next = courier::next_event<int>(bus, "job.done", is_big, 250ms, clock);
  bus.post<int>("job.done", 1);
  bus.wait_idle();
  clock.advance(249ms);
  EXPECT_TRUE(courier_test::still_blocked(next));
  clock.advance(1ms);
  ASSERT_TRUE(finishes_promptly(next));
  try {
    next.get();
    FAIL() << "no Timeout";
  } catch (const Timeout& timeout) {
    EXPECT_TRUE(mentions(timeout.what(), "\"job.done\""));
    EXPECT_TRUE(mentions(timeout.what(), "250 ms"));
    EXPECT_EQ(timeout.pattern(), "job.done");
    EXPECT_EQ(timeout.timeout(), 250ms);
  }
  EXPECT_FALSE(bus.has_subscribers("job.done"));
  EXPECT_EQ(bus.stats().subscriptions, 0U);
}

TEST(NextEventArguments, WithoutAPredicateTheFirstEventCompletesIt) {
  EventBus bus(Options{.synchronous = true});
  ManualClock clock;
  std::future<Event<int>> next = courier::next_event<int>(bus, "job.*", 1s, clock);
  bus.post<int>("job.started", 1);
  ASSERT_TRUE(finishes_promptly(next));
  EXPECT_EQ(next.get().topic(), "job.started");
}

TEST(NextEventArguments, BadTimeoutOrPatternThrowsAndSubscribesNothing) {
  EventBus bus;
  ManualClock clock;
  EXPECT_THROW(courier::next_event<int>(bus, "a", courier::AnyEvent{}, 0s, clock),
               std::invalid_argument);
  EXPECT_THROW(courier::next_event<int>(bus, "a..b", courier::AnyEvent{}, 1s, clock),
               std::invalid_argument);
  EXPECT_EQ(bus.stats().subscriptions, 0U);
  EXPECT_EQ(clock.pending(), 0U);
}

TEST(AsyncNextEvent, CallbackGetsTheEventOnItsExecutor) {
  EventBus bus;
  ManualClock clock;
  boost::asio::io_context context;
  std::optional<int> got;
  courier::async_next_event<int>(
      bus, "job.done", courier::AnyEvent{}, 1s, clock,
      boost::asio::bind_executor(context,
                                 [&](std::exception_ptr error, std::optional<Event<int>> event) {
                                   EXPECT_EQ(error, nullptr);
                                   got = event->data();
                                 }));
  bus.post<int>("job.done", 7);
  context.run();  // returns once the handler ran: the wait kept it busy
  EXPECT_EQ(got, 7);
  EXPECT_FALSE(bus.has_subscribers("job.done"));
}

TEST(AsyncNextEvent, UseFutureThrowsTimeout) {
  EventBus bus;
  ManualClock clock;
  std::future<std::optional<Event<int>>> next = courier::async_next_event<int>(
      bus, "job.done", courier::AnyEvent{}, 5s, clock, boost::asio::use_future);
  clock.advance(5s);
  ASSERT_TRUE(finishes_promptly(next));
  EXPECT_THROW(next.get(), Timeout);
  EXPECT_FALSE(bus.has_subscribers("job.done"));
}

TEST(AsyncNextEvent, DeferredWaitsFromLaunchAndUseAwaitableInACoroutine) {
  EventBus bus;
  ManualClock clock;
  boost::asio::io_context context;
  auto deferred =
      courier::async_next_event<int>(bus, "job.done", is_big, 1s, clock, boost::asio::deferred);
  EXPECT_FALSE(bus.has_subscribers("job.done"));  // not launched yet
  std::optional<int> from_deferred;
  std::optional<int> from_coroutine;
  std::move(deferred)(boost::asio::bind_executor(
      context,
      [&](std::exception_ptr, std::optional<Event<int>> event) { from_deferred = event->data(); }));
  boost::asio::co_spawn(
      context,
      [&]() -> boost::asio::awaitable<void> {
        std::optional<Event<int>> event = co_await courier::async_next_event<int>(
            bus, "job.done", is_big, 1s, clock, boost::asio::use_awaitable);
        from_coroutine = event->data();
      },
      boost::asio::detached);
  context.poll();  // the coroutine starts its wait
  EXPECT_EQ(bus.stats().subscriptions, 2U);
  bus.post<int>("job.done", 11);
  context.run();
  EXPECT_EQ(from_deferred, 11);
  EXPECT_EQ(from_coroutine, 11);
  EXPECT_EQ(bus.stats().subscriptions, 0U);
}

}  // namespace
