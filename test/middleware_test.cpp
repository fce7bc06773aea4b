// Middleware (middleware.hpp): order, changing headers, vetoes and their
// count, throwing middleware, typed middleware, temporary middleware, and
// adding and removing while events flow.
#include "courier/middleware.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::DeliveryError;
using courier::Event;
using courier::EventBus;
using courier::MiddlewareCookie;
using courier::Options;
using courier::PostedEvent;
using courier::Verdict;

Options synchronous_bus() { return Options{.synchronous = true}; }

// What a synchronous bus delivered to "a.>" subscribers of int: data and the
// "trail" header.
struct Received {
  std::vector<int> data;
  std::vector<std::string> trails;
};

courier::Subscription record_into(EventBus& bus, Received& received) {
  return bus.subscribe<int>("a.>", [&received](const Event<int>& event) {
    received.data.push_back(event.data());
    const std::string* trail = event.headers().find("trail");
    received.trails.push_back(trail != nullptr ? *trail : "");
  });
}

// A middleware appending `mark` to the "trail" header.
courier::Middleware appending(std::string mark) {
  return [mark = std::move(mark)](PostedEvent& event) {
    const std::string* trail = event.headers().find("trail");
    event.set_header("trail", (trail != nullptr ? *trail : "") + mark);
    return Verdict::Pass;
  };
}

TEST(Middleware, RunsInInsertionOrderBeforeSubscribersAndMayChangeHeaders) {
  EventBus bus(synchronous_bus());
  Received received;
  auto subscription = record_into(bus, received);
  bus.add_middleware(appending("1"));
  bus.add_middleware(appending("2"));
  bus.add_middleware(appending("3"));
  bus.post<int>("a.b", 5);
  EXPECT_EQ(received.data, std::vector<int>{5});
  EXPECT_EQ(received.trails, std::vector<std::string>{"123"});
}

TEST(Middleware, AVetoedEventReachesNoSubscriberAndCountsAsVetoedNotPosted) {
  EventBus bus(Options{.threads = 2});
  std::atomic<int> delivered{0};
  auto subscription =
      bus.subscribe<int>("a.>", [&delivered](const Event<int>&) { delivered.fetch_add(1); });
  bus.add_middleware([](PostedEvent& event) {
    return event.as<int>()->data() % 2 == 0 ? Verdict::Pass : Verdict::Veto;
  });
  for (int i = 0; i < 10; ++i) bus.post<int>("a.b", i);
  EXPECT_TRUE(bus.try_post(Event<int>("a.b", 11)));
  bus.wait_idle();
  EXPECT_EQ(delivered.load(), 5);
  const courier::Stats stats = bus.stats();
  EXPECT_EQ(stats.vetoed, 6U);
  EXPECT_EQ(stats.posted, 5U);
  EXPECT_EQ(stats.dead, 0U);
}

TEST(Middleware, AThrowingMiddlewareVetoesItsEventAndReportsToOnError) {
  EventBus bus(synchronous_bus());
  Received received;
  auto subscription = record_into(bus, received);
  std::vector<std::string> reports;
  auto hook = bus.on_error([&reports](const DeliveryError& error) {
    reports.push_back(std::string(error.topic) + "|" + error.subscriber + "|" + error.message());
  });
  const MiddlewareCookie thrower = bus.add_middleware([](PostedEvent& event) -> Verdict {
    if (event.topic() == "a.bad") throw std::runtime_error("no bad topics");
    return Verdict::Pass;
  });
  bus.post<int>("a.bad", 1);
  bus.post<int>("a.good", 2);
  EXPECT_EQ(received.data, std::vector<int>{2});
  ASSERT_EQ(reports.size(), 1U);
  EXPECT_EQ(reports[0], "a.bad|middleware " + std::to_string(thrower.number()) + "|no bad topics");
  EXPECT_EQ(bus.stats().vetoed, 1U);
}

TEST(Middleware, RemovedByCookieItNeverRunsAgainAndOthersStay) {
  EventBus bus(synchronous_bus());
  Received received;
  auto subscription = record_into(bus, received);
  const MiddlewareCookie first = bus.add_middleware(appending("1"));
  bus.add_middleware(appending("2"));
  EXPECT_TRUE(bus.remove_middleware(first));
  EXPECT_FALSE(bus.remove_middleware(first));
  EXPECT_FALSE(bus.remove_middleware(MiddlewareCookie()));
  bus.post<int>("a.b", 1);
  EXPECT_EQ(received.trails, std::vector<std::string>{"2"});
}

TEST(Middleware, TypedMiddlewareSeesOnlyItsPayloadTypeAndPattern) {
  EventBus bus(synchronous_bus());
  Received received;
  auto subscription = record_into(bus, received);
  std::vector<std::string> strings;
  auto string_subscription = bus.subscribe<std::string>(
      "a.>", [&strings](const Event<std::string>& event) { strings.push_back(event.data()); });
  std::vector<std::string> seen;
  bus.add_middleware<int>("a.even.*", [&seen](Event<int>& event) {
    seen.push_back(std::string(event.topic()));
    return event.data() % 2 == 0 ? Verdict::Pass : Verdict::Veto;
  });
  bus.post<int>("a.even.x", 2);
  bus.post<int>("a.even.y", 3);
  bus.post<int>("a.odd.x", 5);
  bus.post<std::string>("a.even.x", "text");
  EXPECT_EQ(seen, (std::vector<std::string>{"a.even.x", "a.even.y"}));
  EXPECT_EQ(received.data, (std::vector<int>{2, 5}));
  EXPECT_EQ(strings, std::vector<std::string>{"text"});
}

TEST(Middleware, TypedMiddlewareRejectsAnInvalidPatternNamingIt) {
  EventBus bus(synchronous_bus());
  try {
    bus.add_middleware<int>("a..b", [](Event<int>&) { return Verdict::Pass; });
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_TRUE(courier_test::mentions(error.what(), "a..b"));
  }
  EXPECT_THROW(bus.add_middleware(courier::Middleware()), std::invalid_argument);
}

TEST(Middleware, UntilAStopTokenItRunsThenNeverAgain) {
  EventBus bus(synchronous_bus());
  Received received;
  auto subscription = record_into(bus, received);
  std::stop_source stop;
  bus.add_middleware(appending("t"), stop.get_token());
  bus.post<int>("a.b", 1);
  stop.request_stop();
  bus.post<int>("a.b", 2);
  EXPECT_EQ(received.trails, (std::vector<std::string>{"t", ""}));
}

TEST(Middleware, UntilAFutureItRunsThenNeverAgain) {
  EventBus bus(synchronous_bus());
  Received received;
  auto subscription = record_into(bus, received);
  std::promise<void> done;
  const MiddlewareCookie cookie = bus.add_middleware(appending("f"), done.get_future().share());
  bus.post<int>("a.b", 1);
  done.set_value();
  bus.post<int>("a.b", 2);
  EXPECT_EQ(received.trails, (std::vector<std::string>{"f", ""}));
  EXPECT_FALSE(bus.remove_middleware(cookie));  // the post after it removed it
}

// A post made by a middleware is a post of its own, accepted before the
// event the middleware is looking at (which is not accepted until the chain
// has passed it).
TEST(Middleware, AMiddlewareMayPostAndRemoveItself) {
  EventBus bus(synchronous_bus());
  Received received;
  auto subscription = record_into(bus, received);
  MiddlewareCookie self;
  self = bus.add_middleware([&bus, &self](PostedEvent& event) {
    if (event.topic() == "a.first") {
      bus.remove_middleware(self);
      bus.post<int>("a.echo", 0);
    }
    return Verdict::Pass;
  });
  bus.post<int>("a.first", 1);
  bus.post<int>("a.first", 2);
  EXPECT_EQ(received.data, (std::vector<int>{0, 1, 2}));
}

// Middlewares added and removed on one thread while four threads post: every
// post is either delivered or vetoed, never lost, and the vetoing middleware
// sees no post that started after it was removed.
TEST(Middleware, AddingAndRemovingWhileEventsFlowLosesNothing) {
  constexpr int kPosters = 4;
  constexpr int kPerPoster = 2000;
  EventBus bus(Options{.threads = 2, .queue_capacity = 256});
  std::atomic<int> delivered{0};
  auto subscription =
      bus.subscribe<int>("a.>", [&delivered](const Event<int>&) { delivered.fetch_add(1); });
  std::atomic<bool> posting{true};
  std::thread churn([&] {
    while (posting.load()) {
      const MiddlewareCookie veto = bus.add_middleware([](PostedEvent&) { return Verdict::Veto; });
      const MiddlewareCookie pass = bus.add_middleware(appending("x"));
      EXPECT_TRUE(bus.remove_middleware(veto));
      EXPECT_TRUE(bus.remove_middleware(pass));
    }
  });
  std::vector<std::thread> posters;
  for (int p = 0; p < kPosters; ++p) {
    posters.emplace_back([&bus] {
      for (int i = 0; i < kPerPoster; ++i) bus.post<int>("a.b", i);
    });
  }
  for (auto& poster : posters) poster.join();
  posting.store(false);
  churn.join();
  bus.wait_idle();
  const courier::Stats stats = bus.stats();
  EXPECT_EQ(stats.posted + stats.vetoed, static_cast<std::uint64_t>(kPosters * kPerPoster));
  EXPECT_EQ(static_cast<std::uint64_t>(delivered.load()), stats.posted);
  bus.post<int>("a.after", 1);
  bus.wait_idle();
  EXPECT_EQ(bus.stats().vetoed, stats.vetoed);
}

}  // namespace
