// SubscribeOptions (issue 15, subscribe_options.hpp): filters on callables,
// objects and streams, evaluated on the publishing path before the event
// takes room in the subscriber's queue; a throwing filter reported as a
// throwing subscriber is; priority on the synchronous bus; tracking an owner;
// on_disconnect (issue 16 item 2), once however the subscription ends.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::Concurrency;
using courier::DeliveryError;
using courier::Event;
using courier::EventBus;
using courier::Options;
using courier::Overflow;
using courier::Stream;
using courier::SubscribeOptions;
using courier::Subscription;
using courier_test::Gate;
using courier_test::kBoundedWait;
using courier_test::mentions;
using courier_test::RecordingSubscriber;
using courier_test::run_on_thread;
using courier_test::SharedLog;

Options pool() { return Options{.threads = 2, .queue_capacity = 64}; }
Options synchronous() { return Options{.synchronous = true}; }

bool is_even(const Event<int>& event) { return event.data() % 2 == 0; }

class Filters : public ::testing::TestWithParam<bool> {
 protected:
  Options options() const { return GetParam() ? synchronous() : pool(); }
};
INSTANTIATE_TEST_SUITE_P(Buses, Filters, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& bus) {
                           return bus.param ? "synchronous" : "pool";
                         });

TEST_P(Filters, ACallableGetsOnlyWhatItsFilterAdmits) {
  EventBus bus(options());
  SharedLog<int> filtered;
  SharedLog<int> all;
  bus.subscribe<int>("n.*", [&](const Event<int>& e) { filtered.add(e.data()); },
                     {.filter = is_even});
  bus.subscribe<int>({"n.*"}, [&](const Event<int>& e) { all.add(e.data()); },
                     Concurrency::Concurrent, {.filter = {}});
  for (int i = 0; i < 6; ++i) bus.post<int>("n.x", i);
  bus.wait_idle();
  EXPECT_EQ(filtered.entries(), (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(all.entries().size(), 6U);
}

TEST_P(Filters, AnObjectGetsOnlyWhatItsFilterAdmitsAndADeclinedEventIsDeadIfNobodyElseTakesIt) {
  EventBus bus(options());
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  bus.subscribe(recorder, {"a", "b.>"}, {.filter = is_even});
  for (int i = 0; i < 4; ++i) bus.post<int>(i < 2 ? "a" : "b.c", i);
  bus.wait_idle();
  EXPECT_EQ(recorder->received(), (std::vector<int>{0, 2}));
  EXPECT_EQ(bus.stats().dead, 2U);
}

TEST_P(Filters, ConcurrentSubscribersWithAndWithoutFiltersOnOneTopic) {
  // Unfiltered Concurrent subscribers of an exact topic share a group lane;
  // a filtered one must still be screened on its own.
  EventBus bus(options());
  SharedLog<int> first, second, filtered;
  bus.subscribe<int>(
      "t", [&](const Event<int>& e) { first.add(e.data()); }, Concurrency::Concurrent);
  bus.subscribe<int>(
      "t", [&](const Event<int>& e) { second.add(e.data()); }, Concurrency::Concurrent);
  bus.subscribe<int>("t", [&](const Event<int>& e) { filtered.add(e.data()); },
                     Concurrency::Concurrent, {.filter = is_even});
  auto handle = bus.topic("t");
  for (int i = 0; i < 10; ++i) bus.post(handle, i);
  for (int i = 10; i < 20; ++i) bus.post<int>("t", i);
  bus.wait_idle();
  EXPECT_EQ(first.entries().size(), 20U);
  EXPECT_EQ(second.entries().size(), 20U);
  std::vector<int> got = filtered.entries();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18}));
}

TEST_P(Filters, AThrowingFilterIsReportedNamingThePatternAndSkipsThatSubscriberOnly) {
  EventBus bus(options());
  SharedLog<std::string> reports;
  auto hook = bus.on_error([&](const DeliveryError& error) {
    reports.add(std::string(error.pattern) + " " + std::string(error.topic) + " " +
                error.message());
  });
  SharedLog<int> picky, other;
  bus.subscribe<int>("jobs.*", [&](const Event<int>& e) { picky.add(e.data()); },
                     {.filter = [](const Event<int>& e) {
                       if (e.data() == 1) throw std::runtime_error("bad reading");
                       return true;
                     }});
  bus.subscribe<int>("jobs.>", [&](const Event<int>& e) { other.add(e.data()); });
  for (int i = 0; i < 3; ++i) bus.post<int>("jobs.run", i);
  bus.wait_idle();
  EXPECT_EQ(picky.entries(), (std::vector<int>{0, 2}));
  EXPECT_EQ(other.entries(), (std::vector<int>{0, 1, 2}));
  ASSERT_EQ(reports.entries().size(), 1U);
  EXPECT_TRUE(mentions(reports.entries()[0], "jobs.* jobs.run bad reading"));
  EXPECT_EQ(bus.stats().failed, 1U);
}

TEST(Filter, RunsOnThePostingThreadOfAnAsynchronousBus) {
  EventBus bus(pool());
  std::atomic<int> elsewhere{0};
  const std::thread::id poster = std::this_thread::get_id();
  SharedLog<int> got;
  bus.subscribe<int>("t", [&](const Event<int>& e) { got.add(e.data()); },
                     {.filter = [&](const Event<int>&) {
                       if (std::this_thread::get_id() != poster) ++elsewhere;
                       return true;
                     }});
  for (int i = 0; i < 20; ++i) bus.post<int>("t", i);
  bus.wait_idle();
  EXPECT_EQ(got.entries().size(), 20U);
  EXPECT_EQ(elsewhere.load(), 0);
}

TEST(Filter, DeclinedEventsNeverReachAStreamsQueue) {
  EventBus bus(pool());
  // Depth 1, dropping: had the filter run after the queue took the events,
  // the odd ones would count as received and push out the even ones.
  Stream<int> stream =
      bus.stream<int>("s", {.depth = 1, .overflow = Overflow::DropNewest}, {.filter = is_even});
  bus.post<int>("s", 0);
  for (int i = 1; i < 10; i += 2) bus.post<int>("s", i);
  bus.wait_idle();
  const courier::StreamStats stats = stream.stats();
  EXPECT_EQ(stats.received, 1U);
  EXPECT_EQ(stats.dropped, 0U);
  const std::optional<Event<int>> first = stream.next(kBoundedWait);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->data(), 0);
}

TEST(Filter, AStreamCannotTrackAnOwner) {
  EventBus bus(pool());
  auto owner = std::make_shared<int>(0);
  EXPECT_THROW((void)bus.stream<int>("s", {}, {.track = owner}), std::invalid_argument);
  EXPECT_EQ(bus.stats().subscriptions, 0U);
}

TEST(Filter, OptionsForAnObjectAlreadySubscribedAreRefused) {
  EventBus bus(pool());
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  bus.subscribe(recorder, "a", {.filter = is_even});
  EXPECT_THROW(bus.subscribe(recorder, "b", {.priority = 1}), std::invalid_argument);
  EXPECT_FALSE(bus.is_subscribed(recorder, "b"));
  bus.subscribe(recorder, "b");  // no options: joins the first subscription's
  bus.post<int>("b", 1);
  bus.post<int>("b", 2);
  bus.wait_idle();
  EXPECT_EQ(recorder->received(), (std::vector<int>{2}));
}

// --- Priority ---

TEST(Priority, OnASynchronousBusHigherRunsFirstThenRegistrationOrder) {
  EventBus bus(synchronous());
  std::vector<std::string> order;  // one thread: no lock needed
  auto record = [&order](std::string name) {
    return [&order, name](const Event<int>&) { order.push_back(name); };
  };
  bus.subscribe<int>("x.y", record("exact 0"));
  bus.subscribe<int>("x.*", record("wildcard 5"), {.priority = 5});
  bus.subscribe<int>("x.>", record("wildcard -1"), {.priority = -1});
  bus.subscribe<int>("x.y", record("exact 5"), {.priority = 5});
  bus.subscribe<int>("*.y", record("wildcard 0"));
  bus.subscribe<int>("x.y", record("exact 9"), {.priority = 9});
  const std::vector<std::string> expected{"exact 9", "wildcard 5", "exact 5",
                                          "exact 0", "wildcard 0", "wildcard -1"};
  bus.post<int>("x.y", 1);
  EXPECT_EQ(order, expected);
  order.clear();
  auto handle = bus.topic("x.y");
  bus.post(handle, 2);
  EXPECT_EQ(order, expected);
}

TEST(Priority, OrdersExactSubscriptionsAsTheSnapshotIsBuilt) {
  // No wildcard: the topic's list is used as the snapshot built it.
  EventBus bus(synchronous());
  std::vector<int> order;
  const std::vector<int> priorities{3, -2, 7, 0, 7, 1, -9, 4};
  for (std::size_t i = 0; i < priorities.size(); ++i) {
    bus.subscribe<int>("t",
                       [&order, i](const Event<int>&) { order.push_back(static_cast<int>(i)); },
                       {.priority = priorities[i]});
  }
  const std::vector<int> expected{2, 4, 7, 0, 5, 3, 1, 6};
  bus.post<int>("t", 0);
  EXPECT_EQ(order, expected);
  order.clear();
  bus.post(bus.topic("t"), 0);
  EXPECT_EQ(order, expected);
}

TEST(Priority, HoldsForEventsPostedFromAHandler) {
  EventBus bus(synchronous());
  std::vector<std::string> order;
  bus.subscribe<int>("start", [&](const Event<int>&) { bus.post<int>("next.one", 0); });
  bus.subscribe<int>("next.*", [&](const Event<int>&) { order.push_back("low"); });
  bus.subscribe<int>("next.>", [&](const Event<int>&) { order.push_back("high"); },
                     {.priority = 1});
  bus.post<int>("start", 0);
  EXPECT_EQ(order, (std::vector<std::string>{"high", "low"}));
}

// --- Tracking ---

struct Owner {
  explicit Owner(std::atomic<bool>& destroyed_flag) : destroyed(destroyed_flag) {}
  ~Owner() { destroyed = true; }
  std::atomic<bool>& destroyed;
};

TEST_P(Filters, ATrackedSubscriptionEndsOnceItsOwnerIsGone) {
  EventBus bus(options());
  std::atomic<bool> destroyed{false};
  auto owner = std::make_shared<Owner>(destroyed);
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  const Subscription subscription = bus.subscribe(recorder, "t", {.track = owner});
  bus.post<int>("t", 1);
  bus.wait_idle();
  EXPECT_TRUE(bus.is_subscribed(recorder));
  EXPECT_TRUE(bus.has_subscribers("t"));
  owner.reset();
  ASSERT_TRUE(destroyed.load());
  EXPECT_FALSE(bus.is_subscribed(recorder));
  EXPECT_FALSE(bus.is_subscribed(recorder, "t"));
  EXPECT_FALSE(bus.has_subscribers("t"));
  EXPECT_FALSE(subscription.active());
  bus.post<int>("t", 2);
  bus.wait_idle();
  EXPECT_EQ(recorder->received(), (std::vector<int>{1}));
  EXPECT_EQ(bus.stats().dead, 1U);
  EXPECT_EQ(bus.stats().subscriptions, 0U);  // routing let go of it
}

TEST_P(Filters, AnOwnerAlreadyGoneMakesASubscriptionThatNeverDelivers) {
  EventBus bus(options());
  std::weak_ptr<int> gone = std::make_shared<int>(0);
  SharedLog<int> got;
  const Subscription subscription =
      bus.subscribe<int>("t", [&](const Event<int>& e) { got.add(e.data()); }, {.track = gone});
  EXPECT_FALSE(subscription.active());
  EXPECT_FALSE(bus.has_subscribers("t"));
  bus.post<int>("t", 1);
  bus.wait_idle();
  EXPECT_TRUE(got.entries().empty());
}

TEST(Tracking, TheOwnerIsHeldAliveWhileACallRuns) {
  EventBus bus(pool());
  std::atomic<bool> destroyed{false};
  auto owner = std::make_shared<Owner>(destroyed);
  Gate entered, released;
  std::atomic<bool> destroyed_during_call{true};
  std::atomic<int> calls{0};
  bus.subscribe<int>("t",
                     [&](const Event<int>&) {
                       ++calls;
                       entered.open();
                       released.wait();
                       destroyed_during_call = destroyed.load();
                     },
                     {.track = owner});
  bus.post<int>("t", 1);
  ASSERT_TRUE(entered.wait_for(kBoundedWait));
  owner.reset();  // the test lets go while the call runs
  released.open();
  bus.wait_idle();
  EXPECT_FALSE(destroyed_during_call.load());
  EXPECT_TRUE(destroyed.load());  // and the bus let go once it returned
  bus.post<int>("t", 2);
  bus.wait_idle();
  EXPECT_EQ(calls.load(), 1);
}

TEST(Tracking, AnOwnerGoneBetweenPostAndCallSkipsTheCall) {
  EventBus bus(pool());
  auto owner = std::make_shared<int>(0);
  Gate entered, released;
  std::atomic<int> tracked_calls{0};
  // A Serial subscriber blocked on its first event, so that the second waits
  // in its lane, already routed, while the owner goes.
  bus.subscribe<int>("t",
                     [&](const Event<int>& e) {
                       ++tracked_calls;
                       if (e.data() == 1) {
                         entered.open();
                         released.wait();
                       }
                     },
                     {.track = owner});
  bus.post<int>("t", 1);
  ASSERT_TRUE(entered.wait_for(kBoundedWait));
  bus.post<int>("t", 2);
  owner.reset();
  released.open();
  bus.wait_idle();
  EXPECT_EQ(tracked_calls.load(), 1);
}

// --- on_disconnect (issue 16 item 2) -------------------------------------------

// Counts on_disconnect runs; `ran` opens at the first.
struct Disconnects {
  std::atomic<int> count{0};
  Gate ran;
  std::function<void()> callback() {
    return [this] {
      count.fetch_add(1);
      ran.open();
    };
  }
};

void ignore_int(const Event<int>&) {}

TEST_P(Filters, OnDisconnectRunsOnceOnCancelBeforeItReturns) {
  EventBus bus(options());
  Disconnects ended;
  Subscription subscription =
      bus.subscribe<int>("t", ignore_int, {.on_disconnect = ended.callback()});
  bus.post<int>("t", 1);
  bus.wait_idle();
  EXPECT_EQ(ended.count.load(), 0);
  subscription.cancel();
  EXPECT_EQ(ended.count.load(), 1);
  subscription.cancel();
  bus.shutdown();
  EXPECT_EQ(ended.count.load(), 1);
}

TEST_P(Filters, OnDisconnectRunsAfterTheLastCallReturned) {
  EventBus bus(options());
  std::atomic<bool> calling{false};
  std::atomic<bool> overlapped{false};
  Subscription subscription =
      bus.subscribe<int>("t",
                         [&](const Event<int>&) {
                           calling = true;
                           calling = false;
                         },
                         {.on_disconnect = [&] { overlapped = calling.load(); }});
  for (int i = 0; i < 50; ++i) bus.post<int>("t", i);
  subscription.cancel();
  EXPECT_FALSE(overlapped.load());
}

TEST_P(Filters, OnDisconnectRunsOnceOnUnsubscribeOfTheObject) {
  EventBus bus(options());
  Disconnects ended;
  auto object = std::make_shared<RecordingSubscriber<int>>();
  const Subscription subscription =
      bus.subscribe(object, {"a", "b"}, {.on_disconnect = ended.callback()});
  bus.unsubscribe(object);
  EXPECT_EQ(ended.count.load(), 1);
  bus.unsubscribe(object);
  EXPECT_EQ(ended.count.load(), 1);
}

TEST_P(Filters, CancellingSomePatternsIsNotTheEnd) {
  EventBus bus(options());
  Disconnects ended;
  auto object = std::make_shared<RecordingSubscriber<int>>();
  const Subscription both = bus.subscribe(object, {"a", "b"}, {.on_disconnect = ended.callback()});
  Subscription more = bus.subscribe(object, "c");
  more.cancel();  // narrows the object's subscription only
  EXPECT_EQ(ended.count.load(), 0);
  bus.unsubscribe(object);
  EXPECT_EQ(ended.count.load(), 1);
}

TEST_P(Filters, OnDisconnectRunsOnceWhenATrackedOwnerIsFoundGone) {
  EventBus bus(options());
  Disconnects ended;
  auto owner = std::make_shared<int>(0);
  const Subscription subscription =
      bus.subscribe<int>("t", ignore_int, {.track = owner, .on_disconnect = ended.callback()});
  owner.reset();
  bus.post<int>("t", 1);  // finds it gone
  bus.post<int>("t", 2);
  bus.wait_idle();
  EXPECT_EQ(ended.count.load(), 1);
  bus.shutdown();
  EXPECT_EQ(ended.count.load(), 1);
}

TEST_P(Filters, OnDisconnectRunsWhenASubscribeSweepsATrackedOwnerAway) {
  EventBus bus(options());
  Disconnects ended;
  auto owner = std::make_shared<int>(0);
  const Subscription subscription =
      bus.subscribe<int>("t", ignore_int, {.track = owner, .on_disconnect = ended.callback()});
  owner.reset();
  const Subscription other = bus.subscribe<int>("u", ignore_int);
  EXPECT_EQ(ended.count.load(), 1);
}

TEST_P(Filters, OnDisconnectRunsOnceWhenAStreamIsClosedOrDestroyed) {
  EventBus bus(options());
  Disconnects closed;
  Disconnects destroyed;
  Stream<int> stream = bus.stream<int>("s", {.on_disconnect = closed.callback()});
  { Stream<int> other = bus.stream<int>("s", {}, {.on_disconnect = destroyed.callback()}); }
  EXPECT_EQ(destroyed.count.load(), 1);
  EXPECT_EQ(closed.count.load(), 0);
  stream.close();
  EXPECT_EQ(closed.count.load(), 1);
  stream.close();
  EXPECT_EQ(closed.count.load(), 1);
}

TEST_P(Filters, OnDisconnectRunsOnceAtShutdownAndNotAgainAtDestruction) {
  Disconnects ended;
  Disconnects stream_ended;
  {
    EventBus bus(options());
    const Subscription subscription =
        bus.subscribe<int>("t", ignore_int, {.on_disconnect = ended.callback()});
    Stream<int> stream = bus.stream<int>("s", {.on_disconnect = stream_ended.callback()});
    bus.post<int>("t", 1);
    bus.shutdown();
    EXPECT_EQ(ended.count.load(), 1);
    EXPECT_EQ(stream_ended.count.load(), 1);
  }
  EXPECT_EQ(ended.count.load(), 1);
  EXPECT_EQ(stream_ended.count.load(), 1);
}

TEST_P(Filters, OnDisconnectRunsWhenTheBusIsDestroyed) {
  Disconnects ended;
  auto object = std::make_shared<RecordingSubscriber<int>>();
  {
    EventBus bus(options());
    const Subscription subscription =
        bus.subscribe(object, "t", {.on_disconnect = ended.callback()});
  }
  EXPECT_EQ(ended.count.load(), 1);
}

TEST_P(Filters, OnDisconnectNeverRunsIfSubscribeThrew) {
  Disconnects ended;
  EventBus bus(options());
  EXPECT_THROW(
      (void)bus.subscribe<int>("bad..pattern", ignore_int, {.on_disconnect = ended.callback()}),
      std::invalid_argument);
  EXPECT_THROW((void)bus.subscribe<int>(
                   "t", ignore_int,
                   {.identity = courier::Identity{.user = ""}, .on_disconnect = ended.callback()}),
               std::invalid_argument);
  bus.shutdown();
  EXPECT_EQ(ended.count.load(), 0);
}

TEST_P(Filters, OnDisconnectFromInsideItsOwnHandler) {
  EventBus bus(options());
  Disconnects ended;
  Subscription subscription;
  Gate subscribed;
  subscription = bus.subscribe<int>("t",
                                    [&](const Event<int>&) {
                                      subscribed.wait();
                                      subscription.cancel();  // returns at once from a handler
                                    },
                                    {.on_disconnect = ended.callback()});
  subscribed.open();
  bus.post<int>("t", 1);
  ASSERT_TRUE(ended.ran.wait_for(kBoundedWait));
  bus.wait_idle();
  EXPECT_EQ(ended.count.load(), 1);
}

TEST(OnDisconnect, AThrowingCallbackIsContained) {
  EventBus bus(pool());
  Subscription subscription = bus.subscribe<int>(
      "t", ignore_int, {.on_disconnect = [] { throw std::runtime_error("boom"); }});
  EXPECT_NO_THROW(subscription.cancel());
  EXPECT_FALSE(subscription.active());
}

}  // namespace
