// The synchronous EventBus (issue 2, semantic 4): delivery on the posting
// thread before post() returns; posts made by handlers are queued on that
// thread, not delivered recursively.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "courier/detail/delivery/exclusive_lock.hpp"
#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::BusClosed;
using courier::DeadEvent;
using courier::DeliveryError;
using courier::Event;
using courier::EventBus;
using courier::Options;
using courier::Stats;
using courier_test::ConcurrencyProbe;
using courier_test::finishes_promptly;
using courier_test::Gate;
using courier_test::iota_vector;
using courier_test::RecordingSubscriber;
using courier_test::run_on_thread;
using courier_test::SharedLog;
using courier_test::still_blocked;

// Where (position) `entry` is in `log`; log.size() if absent.
std::size_t position_of(const std::vector<std::string>& log, const std::string& entry) {
  return static_cast<std::size_t>(std::find(log.begin(), log.end(), entry) - log.begin());
}

// The thread every invocation ran on, in order.
class ThreadRecorder {
 public:
  void operator()(const Event<int>&) { threads_->push_back(std::this_thread::get_id()); }
  std::shared_ptr<std::vector<std::thread::id>> threads_ =
      std::make_shared<std::vector<std::thread::id>>();
};

TEST(SynchronousBus, EverySubscriberRunsOnThePostingThreadBeforePostReturns) {
  ThreadRecorder first;
  ThreadRecorder second;
  EventBus bus(Options{.synchronous = true});
  bus.subscribe<int>("jobs", first);
  bus.subscribe<int>("jobs", second);

  bus.post(Event<int>("jobs", 1));
  EXPECT_EQ(*first.threads_, std::vector{std::this_thread::get_id()});
  EXPECT_EQ(*second.threads_, std::vector{std::this_thread::get_id()});

  const std::thread::id poster = run_on_thread([&] {
                                   bus.post(Event<int>("jobs", 2));
                                   return std::this_thread::get_id();
                                 }).get();
  EXPECT_EQ(*first.threads_, (std::vector{std::this_thread::get_id(), poster}));
  EXPECT_EQ(*second.threads_, (std::vector{std::this_thread::get_id(), poster}));
}

TEST(SynchronousBus, PostFromAHandlerIsDeliveredAfterTheCurrentEventFinishes) {
  std::vector<std::string> log;
  EventBus bus(Options{.synchronous = true});
  bus.subscribe<int>("first", [&](const Event<int>&) {
    log.push_back("poster got first");
    bus.post(Event<int>("second", 2));
    log.push_back("poster done with first");
  });
  bus.subscribe<int>("first", [&](const Event<int>&) { log.push_back("bystander got first"); });
  bus.subscribe<int>("second", [&](const Event<int>&) { log.push_back("listener got second"); });

  bus.post(Event<int>("first", 1));

  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log.back(), "listener got second");
  EXPECT_EQ(position_of(log, "poster done with first"), position_of(log, "poster got first") + 1);
  EXPECT_LT(position_of(log, "bystander got first"), 3u);
}

TEST(SynchronousBus, AllSubscribersSeeEventsInOneOrder) {
  // Each subscriber answers "step.one" with a post of its own. Delivered
  // recursively, whichever ran first would make the other see its answer
  // before "step.one".
  std::vector<std::string> seen_by_x;
  std::vector<std::string> seen_by_y;
  EventBus bus(Options{.synchronous = true});
  bus.subscribe<int>("step.*", [&](const Event<int>& event) {
    seen_by_x.emplace_back(event.topic());
    if (event.topic() == "step.one") bus.post(Event<int>("step.x", 0));
  });
  bus.subscribe<int>("step.*", [&](const Event<int>& event) {
    seen_by_y.emplace_back(event.topic());
    if (event.topic() == "step.one") bus.post(Event<int>("step.y", 0));
  });

  bus.post(Event<int>("step.one", 0));

  ASSERT_EQ(seen_by_x.size(), 3u);
  EXPECT_EQ(seen_by_x.front(), "step.one");
  EXPECT_EQ(seen_by_x, seen_by_y);
}

// A post from a handler is moved into the frame's queue and delivered later:
// its topic and key, past the 24 bytes an event keeps in itself, must survive
// the move.
TEST(SynchronousBus, AHeldEventKeepsATopicAndKeyLongerThanTheInlineText) {
  const std::string answer = "step.answer-0123456789abcdefghij";  // 31 bytes
  const std::string key = "a-key-longer-than-twenty-four";        // 29 bytes
  std::vector<std::pair<std::string, std::string>> seen;
  EventBus bus(Options{.synchronous = true});
  const courier::Topic answer_handle = bus.topic(answer);
  bus.subscribe<int>("step.>", [&](const Event<int>& event) {
    seen.emplace_back(event.topic(), event.ordering_key());
    if (event.data() == 0) {
      bus.post(Event<int>(answer, 1, key));
      bus.post(answer_handle, 2, key);
    }
  });

  bus.post(Event<int>("step.one", 0));

  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{
                      {"step.one", ""}, {answer, key}, {answer, key}}));
}

TEST(SynchronousBus, AHandlerPostingManyTimesDoesNotRecurse) {
  constexpr int kChainLength = 2000;
  int depth = 0;
  int deepest = 0;
  std::vector<int> received;
  EventBus bus(Options{.synchronous = true});
  bus.subscribe<int>("chain", [&](const Event<int>& event) {
    deepest = std::max(deepest, ++depth);
    received.push_back(event.data());
    if (event.data() + 1 < kChainLength) bus.post(Event<int>("chain", event.data() + 1));
    --depth;
  });

  bus.post(Event<int>("chain", 0));

  EXPECT_EQ(deepest, 1);
  EXPECT_EQ(received, iota_vector(kChainLength));
  EXPECT_EQ(bus.stats().posted, static_cast<std::uint64_t>(kChainLength));
}

TEST(SynchronousBus, ExceptionIsReportedAndTheOtherSubscribersStillRun) {
  std::vector<std::string> errors;
  auto bystander = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(Options{.synchronous = true});
  const auto hook = bus.on_error([&](const DeliveryError& error) {
    errors.push_back(std::string(error.topic) + " " + std::string(error.pattern) + " " +
                     error.message());
  });
  bus.subscribe<int>("alerts.*", [](const Event<int>&) { throw std::runtime_error("boom"); });
  bus.subscribe(bystander, "alerts.>");

  EXPECT_NO_THROW(bus.post(Event<int>("alerts.disk", 1)));
  EXPECT_NO_THROW(bus.post(Event<int>("alerts.disk", 2)));

  EXPECT_EQ(errors, (std::vector<std::string>(2, "alerts.disk alerts.* boom")));
  EXPECT_EQ(bystander->received(), (std::vector<int>{1, 2}));
  EXPECT_EQ(bus.stats().failed, 2u);
}

TEST(SynchronousBus, DeadEventIsReportedBeforePostReturns) {
  std::vector<int> dead;
  EventBus bus(Options{.synchronous = true});
  const auto hook = bus.on_dead_event([&](const DeadEvent& event) {
    if (const Event<int>* as_int = event.as<int>()) dead.push_back(as_int->data());
  });
  bus.subscribe<std::string>("numbers", [](const Event<std::string>&) {});

  bus.post(Event<int>("numbers", 5));
  EXPECT_EQ(dead, std::vector{5});
  bus.post(Event<int>("elsewhere", 6));
  EXPECT_EQ(dead, (std::vector{5, 6}));
  EXPECT_EQ(bus.stats().dead, 2u);
}

TEST(SynchronousBus, AfterShutdownPostThrowsBusClosedAndTryPostReturnsFalse) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(Options{.synchronous = true});
  bus.subscribe(subscriber, "jobs");
  for (int i = 1; i <= 3; ++i) bus.post(Event<int>("jobs", i));  // the third: the shortest path

  bus.shutdown();
  bus.shutdown();

  EXPECT_THROW(bus.post(Event<int>("jobs", 4)), BusClosed);
  EXPECT_FALSE(bus.try_post(Event<int>("jobs", 5)));
  EXPECT_EQ(subscriber->received(), (std::vector{1, 2, 3}));
}

TEST(SynchronousBus, StatsBalanceAsSoonAsPostReturns) {
  EventBus bus(Options{.synchronous = true});
  bus.subscribe<int>("live", [](const Event<int>&) {});
  bus.subscribe<int>("live", [](const Event<int>&) {});

  bus.post(Event<int>("live", 1));
  bus.post(Event<int>("dead", 2));
  bus.wait_idle();  // nothing to wait for: returns at once

  const Stats stats = bus.stats();
  EXPECT_EQ(stats.posted, 2u);
  EXPECT_EQ(stats.delivered, 2u);
  EXPECT_EQ(stats.delivered_events, 1u);
  EXPECT_EQ(stats.dead, 1u);
  EXPECT_EQ(stats.queued, 0u);
  EXPECT_EQ(stats.subscriptions, 2u);
}

// Several tests below run on both paths of a synchronous post: a thread's
// first post to a topic takes the general path (and claims the Serial lock's
// bias); its third post in a row to the topic takes the shortest, as the
// route must have served a repeat first (see try_shortest_path in
// lib/delivery/delivery.cpp). The number of warm-up posts (payload 0) picks the path.
constexpr std::array kWarmUpPosts = {0, 2};

// Without a working asymmetric fence no lock is biased (exclusive_lock.hpp)
// and the shortest path never runs: its variants would test nothing new.
bool shortest_path_runs_here() { return courier::detail::asymmetric_fence_available(); }
constexpr const char* kNoShortestPath = "no lock is biased here: the shortest path never runs";

std::string path_taken(int warm_up_posts) {
  return warm_up_posts == 0 ? "the general path" : "the shortest path";
}

void post_warm_up(EventBus& bus, const std::string& topic, int warm_up_posts) {
  for (int i = 0; i < warm_up_posts; ++i) bus.post(Event<int>(topic, 0));
}

// `warm_up_posts` zeros, then `rest`.
std::vector<int> after_warm_up(int warm_up_posts, std::vector<int> rest) {
  rest.insert(rest.begin(), static_cast<std::size_t>(warm_up_posts), 0);
  return rest;
}

// Read from inside a handler, stats include the call under way (posted and
// delivered, not yet delivered_events), whichever path made it; a throwing
// handler still delivered its event.
TEST(SynchronousBus, StatsCountTheShortestPathAsTheGeneralOne) {
  EventBus bus(Options{.synchronous = true});
  std::vector<Stats> inside;
  bus.subscribe<int>("live", [&](const Event<int>& event) {
    inside.push_back(bus.stats());
    if (event.data() == 2 || event.data() == 4) throw std::runtime_error("fails");
  });
  const auto quiet = bus.on_error([](const DeliveryError&) {});  // no report on stderr

  for (int i = 1; i <= 4; ++i) bus.post(Event<int>("live", i));  // 3 and 4: the shortest path

  ASSERT_EQ(inside.size(), 4u);
  for (std::size_t i = 0; i < inside.size(); ++i) {
    SCOPED_TRACE("inside the call for event " + std::to_string(i + 1));
    EXPECT_EQ(inside[i].posted, i + 1);
    EXPECT_EQ(inside[i].delivered, i + 1);
    EXPECT_EQ(inside[i].delivered_events, i);
  }
  const Stats after = bus.stats();
  EXPECT_EQ(after.posted, 4u);
  EXPECT_EQ(after.delivered, 4u);
  EXPECT_EQ(after.delivered_events, 4u);
  EXPECT_EQ(after.failed, 2u);
  EXPECT_EQ(after.dead, 0u);
}

// A Serial subscriber's lock, contended: a second posting thread must wait
// (asleep, once its spin is over) until the running invocation returns.
TEST(SynchronousBus, APostFromAnotherThreadWaitsForTheRunningSerialInvocation) {
  for (const int warm_up_posts : kWarmUpPosts) {
    if (warm_up_posts > 0 && !shortest_path_runs_here()) GTEST_SKIP() << kNoShortestPath;
    SCOPED_TRACE(path_taken(warm_up_posts));
    Gate first_started;
    Gate release_first;
    ConcurrencyProbe probe;
    SharedLog<int> finished;
    EventBus bus(Options{.synchronous = true});
    const auto open_on_exit = release_first.open_on_exit();
    bus.subscribe<int>("jobs", [&](const Event<int>& event) {
      const ConcurrencyProbe::Inside inside(probe);
      if (event.data() == 1) {
        first_started.open();
        release_first.wait();
      }
      finished.add(event.data());
    });

    auto first = run_on_thread([&] {
      post_warm_up(bus, "jobs", warm_up_posts);
      bus.post(Event<int>("jobs", 1));
    });
    ASSERT_TRUE(first_started.wait_for(courier_test::kBoundedWait));
    auto second = run_on_thread([&] { bus.post(Event<int>("jobs", 2)); });

    EXPECT_TRUE(still_blocked(second)) << "the second post did not wait for the first invocation";
    release_first.open();
    ASSERT_TRUE(finishes_promptly(first));
    ASSERT_TRUE(finishes_promptly(second));
    EXPECT_EQ(finished.entries(), after_warm_up(warm_up_posts, {1, 2}));
    EXPECT_EQ(probe.max_running(), 1);
  }
}

// Records every event; event 1 waits for `release` first.
class HoldsOnToEventOne : public RecordingSubscriber<int> {
 public:
  explicit HoldsOnToEventOne(Gate& release) : release_(release) {}
  void process(const Event<int>& event) override {
    if (event.data() == 1) {
      started_one.open();
      release_.wait();
    }
    RecordingSubscriber<int>::process(event);
  }
  Gate started_one;

 private:
  Gate& release_;
};

TEST(SynchronousBus, UnsubscribeFromAnotherThreadWaitsForTheRunningInvocation) {
  for (const int warm_up_posts : kWarmUpPosts) {
    if (warm_up_posts > 0 && !shortest_path_runs_here()) GTEST_SKIP() << kNoShortestPath;
    SCOPED_TRACE(path_taken(warm_up_posts));
    Gate release;
    auto subscriber = std::make_shared<HoldsOnToEventOne>(release);
    EventBus bus(Options{.synchronous = true});
    const auto open_on_exit = release.open_on_exit();
    bus.subscribe(subscriber, "jobs");

    auto posting = run_on_thread([&] {
      post_warm_up(bus, "jobs", warm_up_posts);
      bus.post(Event<int>("jobs", 1));
    });
    ASSERT_TRUE(subscriber->started_one.wait_for(courier_test::kBoundedWait));
    auto unsubscribing = run_on_thread([&] {
      bus.unsubscribe(subscriber);
      return subscriber->received().size();  // invocations finished when it returned
    });

    EXPECT_TRUE(still_blocked(unsubscribing)) << "returned while the subscriber was running";
    release.open();
    ASSERT_TRUE(finishes_promptly(unsubscribing));
    EXPECT_EQ(unsubscribing.get(), static_cast<std::size_t>(warm_up_posts) + 1);
    ASSERT_TRUE(finishes_promptly(posting));
    bus.post(Event<int>("jobs", 2));
    EXPECT_EQ(subscriber->received(), after_warm_up(warm_up_posts, {1}));
  }
}

// A handler is inside its bus on either path: wait_idle() from it throws (it
// would wait for itself), and cancelling its own subscription returns (it
// must not wait for the call it is making).
TEST(SynchronousBus, AHandlerIsInsideItsBusOnEitherPath) {
  for (const int warm_up_posts : kWarmUpPosts) {
    if (warm_up_posts > 0 && !shortest_path_runs_here()) GTEST_SKIP() << kNoShortestPath;
    SCOPED_TRACE(path_taken(warm_up_posts));
    EventBus bus(Options{.synchronous = true});
    std::vector<std::string> seen;
    courier::Subscription subscription;
    subscription = bus.subscribe<int>("jobs", [&](const Event<int>& event) {
      if (event.data() == 0) return;
      try {
        bus.wait_idle();
        seen.emplace_back("wait_idle returned");
        return;  // cancelling would wait for this very call
      } catch (const std::logic_error&) {
        seen.emplace_back("wait_idle threw");
      }
      subscription.cancel();
      seen.emplace_back("cancelled");
    });

    auto posting = run_on_thread([&] {
      post_warm_up(bus, "jobs", warm_up_posts);
      bus.post(Event<int>("jobs", 1));
      bus.post(Event<int>("jobs", 2));  // after the cancel: dead
    });
    ASSERT_TRUE(finishes_promptly(posting)) << "a handler waited for itself";
    EXPECT_EQ(seen, (std::vector<std::string>{"wait_idle threw", "cancelled"}));
    EXPECT_EQ(bus.stats().dead, 1u);
  }
}

// On the shortest path too, a handler's post waits for the current event:
// the handler is not entered again from inside itself.
TEST(SynchronousBus, OnTheShortestPathAHandlersPostIsHeldNotRecursive) {
  if (!shortest_path_runs_here()) GTEST_SKIP() << kNoShortestPath;
  EventBus bus(Options{.synchronous = true});
  std::vector<std::string> log;
  bus.subscribe<int>("jobs", [&](const Event<int>& event) {
    log.push_back("start " + std::to_string(event.data()));
    if (event.data() == 1) bus.post(Event<int>("jobs", 2));
    log.push_back("end " + std::to_string(event.data()));
  });
  post_warm_up(bus, "jobs", 2);
  log.clear();

  bus.post(Event<int>("jobs", 1));

  EXPECT_EQ(log, (std::vector<std::string>{"start 1", "end 1", "start 2", "end 2"}));
}

// More synchronous buses than a thread keeps routing for (ThreadCache):
// posting to each makes the thread evict the entry of the bus it came from.
struct OtherBuses {
  static constexpr int kCount = 9;
  OtherBuses() {
    for (int i = 0; i < kCount; ++i) {
      buses.push_back(std::make_unique<EventBus>(Options{.synchronous = true}));
      buses.back()->subscribe<int>("t", [this](const Event<int>&) { ++deliveries; });
    }
  }
  OtherBuses(const OtherBuses&) = delete;
  OtherBuses& operator=(const OtherBuses&) = delete;
  void post_to_each() {
    for (const auto& bus : buses) bus->post(Event<int>("t", 0));
  }
  std::vector<std::unique_ptr<EventBus>> buses;
  int deliveries = 0;
};

// A lone subscriber's handler, reached by the shortest path, makes this
// thread use more buses than it keeps routing for (evicting the entry the
// post was routed through) and changes its own bus's routing. ASan: nothing
// the post reads after the call (its counters, the lock) has been freed.
TEST(SynchronousBus, OnTheShortestPathAHandlerMayEvictTheRouteItWasReachedBy) {
  if (!shortest_path_runs_here()) GTEST_SKIP() << kNoShortestPath;
  OtherBuses others;
  std::vector<std::string> log;
  EventBus bus(Options{.synchronous = true});
  bus.subscribe<int>("t", [&](const Event<int>& event) {
    log.push_back("lone " + std::to_string(event.data()));
    if (event.data() != 3) return;
    others.post_to_each();
    bus.subscribe<int>("t", [&log](const Event<int>& late) {
      log.push_back("late " + std::to_string(late.data()));
    });
  });

  for (int i = 1; i <= 4; ++i) bus.post(Event<int>("t", i));  // 3: the shortest path

  std::sort(log.begin(), log.end());  // subscribers have no order
  EXPECT_EQ(log, (std::vector<std::string>{"late 4", "lone 1", "lone 2", "lone 3", "lone 4"}));
  EXPECT_EQ(others.deliveries, OtherBuses::kCount);
  const Stats stats = bus.stats();
  EXPECT_EQ(stats.posted, 4u);
  EXPECT_EQ(stats.delivered_events, 4u);
}

// A post repeating the previous one's topic reuses its routing (per thread):
// whatever changes between posts (topic, payload type, handle, subscriptions)
// must still route each post afresh.
TEST(SynchronousBus, EachPostReachesTheSubscribersOfItsOwnTopicTypeAndRouting) {
  using Got = std::vector<std::string>;
  Got got;
  EventBus bus(Options{.synchronous = true});
  const auto note = [&got](std::string who) {
    return [&got, who](const auto&) { got.push_back(who); };
  };
  // Who got the post(s) `action` made, sorted: subscribers have no order.
  const auto deliveries = [&got](const auto& action) {
    got.clear();
    action();
    std::sort(got.begin(), got.end());
    return got;
  };
  bus.subscribe<int>("a", note("int a"));
  bus.subscribe<int>("b", note("int b"));
  bus.subscribe<std::string>("a", note("string a"));
  const auto a = bus.topic("a");
  const auto b = bus.topic("b");

  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("a", 0)); }), Got{"int a"});
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("a", 0)); }), Got{"int a"});
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("b", 0)); }), Got{"int b"});
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("a", 0)); }), Got{"int a"});
  EXPECT_EQ(deliveries([&] { bus.post(Event<std::string>("a", "")); }), Got{"string a"});
  EXPECT_EQ(deliveries([&] { bus.post(a, 0); }), Got{"int a"});
  EXPECT_EQ(deliveries([&] { bus.post(a, std::string()); }), Got{"string a"});
  EXPECT_EQ(deliveries([&] { bus.post(b, 0); }), Got{"int b"});
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("a", 0)); }), Got{"int a"});
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("a", 0)); }), Got{"int a"});
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("a", 0)); }), Got{"int a"});  // the shortest path
  bus.subscribe<int>("a", note("late int a"));
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("a", 0)); }), (Got{"int a", "late int a"}));
  EXPECT_EQ(deliveries([&] { bus.post(a, 0); }), (Got{"int a", "late int a"}));
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("c", 0)); }), Got{});

  // Same length, differing past the first eight characters, then within them.
  bus.subscribe<int>("metrics.cpu.a", note("int metrics.cpu.a"));
  bus.subscribe<int>("metrics.cpu.b", note("int metrics.cpu.b"));
  bus.subscribe<int>("metricsA.cpu.b", note("int metricsA.cpu.b"));
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("metrics.cpu.a", 0)); }),
            Got{"int metrics.cpu.a"});
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("metrics.cpu.b", 0)); }),
            Got{"int metrics.cpu.b"});
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("metricsB.cpu.b", 0)); }), Got{});
  EXPECT_EQ(deliveries([&] { bus.post(Event<int>("metricsA.cpu.b", 0)); }),
            Got{"int metricsA.cpu.b"});
}

// The handler called first for each event makes this thread use more buses
// than it keeps routing for, and changes the routing of the bus it runs on,
// while that bus still has a subscriber to call for the same event (ASan:
// nothing the delivery reads has been freed).
TEST(SynchronousBus, AHandlerUsingManyOtherBusesDoesNotDisturbTheDeliveryItRunsIn) {
  OtherBuses others;
  std::vector<std::string> log;
  EventBus bus(Options{.synchronous = true});
  int disturbed_for = 0;
  const auto disturb_once_per_event = [&](int event) {
    if (disturbed_for == event) return;
    disturbed_for = event;
    others.post_to_each();
    bus.subscribe<int>("t", [&log, event](const Event<int>& late) {
      log.push_back("late@" + std::to_string(event) + " " + std::to_string(late.data()));
    });
  };
  for (const std::string name : {"x", "y"}) {
    bus.subscribe<int>("t", [&, name](const Event<int>& event) {
      disturb_once_per_event(event.data());
      log.push_back(name + " " + std::to_string(event.data()));
    });
  }

  bus.post(Event<int>("t", 1));
  bus.post(Event<int>("t", 2));

  std::sort(log.begin(), log.end());
  EXPECT_EQ(log, (std::vector<std::string>{"late@1 2", "x 1", "x 2", "y 1", "y 2"}));
  EXPECT_EQ(others.deliveries, 2 * OtherBuses::kCount);
}

// The handler called first cancels the other subscriber, then posts again
// (which refreshes this thread's routing) while the delivery still has the
// cancelled subscriber to visit: it must skip it, and nothing the delivery
// reads may have been freed (ASan) although only the old routing holds it.
TEST(SynchronousBus, AHandlerCancellingTheNextSubscriberAndPostingAgainMidDelivery) {
  std::vector<std::string> log;
  EventBus bus(Options{.synchronous = true});
  courier::Subscription x, y;
  const auto handler = [&](const std::string& name) {
    return [&, name](const Event<int>& event) {
      log.push_back(name + " " + std::to_string(event.data()));
      if (event.data() == 1) {
        (name == "x" ? y : x).cancel();
        bus.post(Event<int>("t", 2));
      }
    };
  };
  x = bus.subscribe<int>("t", handler("x"));
  y = bus.subscribe<int>("t", handler("y"));

  bus.post(Event<int>("t", 1));

  ASSERT_EQ(log.size(), 2u);
  const std::string first = log.front().substr(0, 1);
  EXPECT_EQ(log, (std::vector<std::string>{first + " 1", first + " 2"}));
  EXPECT_EQ(bus.stats().subscriptions, 1u);
}

}  // namespace
