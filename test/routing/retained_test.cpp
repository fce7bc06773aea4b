// Retained events: EventBus::post_retained, clear_retained, Options::max_retained
// and what a new subscription receives first (retained_store.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::Event;
using courier::EventBus;
using courier::Options;

using Received = std::vector<std::pair<std::string, int>>;

// Records what a subscription receives, from any thread, in the order it
// receives it.
class Recorder {
 public:
  auto callable() {
    return [this](const Event<int>& event) {
      log_.add({std::string(event.topic()), event.data()});
    };
  }
  Received received() const { return log_.entries(); }

 private:
  courier_test::SharedLog<std::pair<std::string, int>> log_;
};

Options asynchronous() { return Options{.threads = 2, .queue_capacity = 64}; }
Options synchronous() { return Options{.synchronous = true}; }

class RetainedOnEachBus : public ::testing::TestWithParam<bool> {
 protected:
  RetainedOnEachBus() : bus_(GetParam() ? synchronous() : asynchronous()) {}
  // Whatever was posted has been delivered.
  void settle() { bus_.wait_idle(); }
  EventBus bus_;
};

INSTANTIATE_TEST_SUITE_P(Buses, RetainedOnEachBus, ::testing::Values(false, true),
                         [](const auto& bus_kind) {
                           return bus_kind.param ? "Synchronous" : "Pool";
                         });

TEST_P(RetainedOnEachBus, NewSubscriptionGetsTheLastRetainedEventThenLiveOnes) {
  bus_.post_retained<int>("sensor.a", 1);
  bus_.post_retained(Event<int>("sensor.a", 2));
  Recorder recorder;
  bus_.subscribe<int>("sensor.a", recorder.callable());
  bus_.post<int>("sensor.a", 3);
  settle();
  EXPECT_EQ(recorder.received(), (Received{{"sensor.a", 2}, {"sensor.a", 3}}));
}

TEST_P(RetainedOnEachBus, RetainedPostsReachExistingSubscribersAsPostsDo) {
  Recorder recorder;
  bus_.subscribe<int>("sensor.*", recorder.callable());
  bus_.post_retained<int>("sensor.a", 1);
  settle();
  EXPECT_EQ(recorder.received(), (Received{{"sensor.a", 1}}));
  EXPECT_EQ(bus_.stats().posted, 1u);
}

TEST_P(RetainedOnEachBus, RetainedEventsComeInTopicOrderBeforeLiveEvents) {
  bus_.post_retained<int>("room.c", 3);
  bus_.post_retained<int>("room.a", 1);
  bus_.post_retained<int>("room.b.x", 2);
  bus_.post_retained<int>("hall.a", 9);
  Recorder recorder;
  bus_.subscribe<int>("room.>", recorder.callable());
  bus_.post<int>("room.a", 10);
  settle();
  EXPECT_EQ(recorder.received(),
            (Received{{"room.a", 1}, {"room.b.x", 2}, {"room.c", 3}, {"room.a", 10}}));
}

TEST_P(RetainedOnEachBus, OnlyRetainedEventsOfTheSubscriptionsPayloadType) {
  bus_.post_retained<int>("mixed.a", 1);
  bus_.post_retained<std::string>("mixed.b", "text");
  Recorder recorder;
  bus_.subscribe<int>("mixed.*", recorder.callable());
  std::vector<std::string> texts;
  bus_.subscribe<std::string>(
      "mixed.*", [&texts](const Event<std::string>& event) { texts.push_back(event.data()); });
  settle();
  EXPECT_EQ(recorder.received(), (Received{{"mixed.a", 1}}));
  EXPECT_EQ(texts, std::vector<std::string>{"text"});
}

TEST_P(RetainedOnEachBus, TheSubscriptionsFilterApplies) {
  bus_.post_retained<int>("level.a", 5);
  bus_.post_retained<int>("level.b", -5);
  Recorder recorder;
  bus_.subscribe<int>("level.*", recorder.callable(),
                      {.filter = [](const Event<int>& event) { return event.data() >= 0; }});
  settle();
  EXPECT_EQ(recorder.received(), (Received{{"level.a", 5}}));
}

TEST_P(RetainedOnEachBus, SeveralMatchingPatternsGiveEachRetainedEventOnce) {
  bus_.post_retained<int>("a.b", 1);
  bus_.post_retained<int>("a.c", 2);
  Recorder recorder;
  bus_.subscribe<int>({"a.b", "a.*", "a.>"}, recorder.callable());
  settle();
  EXPECT_EQ(recorder.received(), (Received{{"a.b", 1}, {"a.c", 2}}));
}

TEST_P(RetainedOnEachBus, AnObjectSubscribedAgainGetsOnlyWhatItsNewPatternsAdd) {
  bus_.post_retained<int>("x.a", 1);
  bus_.post_retained<int>("y.a", 2);
  auto subscriber = std::make_shared<courier_test::RecordingSubscriber<int>>();
  bus_.subscribe(subscriber, "x.*");
  bus_.subscribe(subscriber, {"x.a", "y.*"});
  settle();
  EXPECT_EQ(subscriber->received(), (std::vector<int>{1, 2}));
}

TEST_P(RetainedOnEachBus, ClearRetainedForgetsTheTopic) {
  bus_.post_retained<int>("gone.a", 1);
  bus_.post_retained<int>("kept.a", 2);
  EXPECT_TRUE(bus_.clear_retained("gone.a"));
  EXPECT_FALSE(bus_.clear_retained("gone.a"));
  EXPECT_FALSE(bus_.clear_retained("never.posted"));
  Recorder recorder;
  bus_.subscribe<int>("*.a", recorder.callable());
  settle();
  EXPECT_EQ(recorder.received(), (Received{{"kept.a", 2}}));
  EXPECT_THROW(bus_.clear_retained("bad..topic"), std::invalid_argument);
}

TEST_P(RetainedOnEachBus, StatsCountRetainedTopicsAndReplaysAsPosts) {
  bus_.post_retained<int>("count.a", 1);
  bus_.post_retained<int>("count.a", 2);
  bus_.post_retained<int>("count.b", 3);
  EXPECT_EQ(bus_.stats().retained, 2u);
  Recorder recorder;
  bus_.subscribe<int>("count.*", recorder.callable());
  settle();
  const courier::Stats stats = bus_.stats();
  EXPECT_EQ(stats.posted, 5u);  // three posts, two replays
  EXPECT_EQ(stats.posted, stats.delivered_events + stats.dead);
  bus_.clear_retained("count.a");
  EXPECT_EQ(bus_.stats().retained, 1u);
}

TEST_P(RetainedOnEachBus, StreamsGetRetainedEventsFirst) {
  bus_.post_retained<int>("feed.a", 1);
  bus_.post_retained<int>("feed.b", 2);
  auto stream = bus_.stream<int>("feed.*", courier::StreamOptions{.depth = 8});
  bus_.post<int>("feed.a", 3);
  std::vector<int> got;
  for (int i = 0; i < 3; ++i) {
    auto event = stream.next(courier_test::kBoundedWait);
    ASSERT_TRUE(event.has_value());
    got.push_back(event->data());
  }
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
}

TEST_P(RetainedOnEachBus, SubscriberObjectsGetRetainedEvents) {
  bus_.post_retained<int>("obj.a", 7);
  auto subscriber = std::make_shared<courier_test::RecordingSubscriber<int>>();
  bus_.subscribe(subscriber, "obj.a");
  settle();
  EXPECT_EQ(subscriber->received(), std::vector<int>{7});
}

// The middlewares see a retained post once, as a post: what they change is
// in the copy kept, and a replay is not shown to them again.
TEST_P(RetainedOnEachBus, TheKeptCopyCarriesWhatTheMiddlewaresChanged) {
  std::atomic<int> middleware_calls{0};
  bus_.add_middleware([&middleware_calls](courier::PostedEvent& event) {
    middleware_calls.fetch_add(1);
    event.set_header("checked", "yes");
    return courier::Verdict::Pass;
  });
  bus_.post_retained<int>("middleware.a", 1);
  courier_test::SharedLog<std::string> headers;
  bus_.subscribe<int>("middleware.a", [&headers](const Event<int>& event) {
    const std::string* checked = event.headers().find("checked");
    headers.add(checked != nullptr ? *checked : "(none)");
  });
  settle();
  EXPECT_EQ(headers.entries(), std::vector<std::string>{"yes"});
  EXPECT_EQ(middleware_calls.load(), 1);
}

TEST_P(RetainedOnEachBus, AVetoedRetainedPostIsNeitherPostedNorKept) {
  bus_.post_retained<int>("veto.a", 1);
  bus_.add_middleware([](courier::PostedEvent& event) {
    return event.as<int>()->data() == 2 ? courier::Verdict::Veto : courier::Verdict::Pass;
  });
  Recorder live;
  bus_.subscribe<int>("veto.a", live.callable());
  bus_.post_retained<int>("veto.a", 2);
  Recorder later;
  bus_.subscribe<int>("veto.a", later.callable());
  settle();
  EXPECT_EQ(live.received(), (Received{{"veto.a", 1}}));
  EXPECT_EQ(later.received(), (Received{{"veto.a", 1}}));
  EXPECT_EQ(bus_.stats().vetoed, 1u);
  EXPECT_EQ(bus_.stats().retained, 1u);
}

// A middleware that throws vetoes the retained post as it vetoes a post: the
// error is reported once, and the topic keeps its previous retained event.
TEST_P(RetainedOnEachBus, AThrowingMiddlewareKeepsTheRetainedPostOutAndReportsIt) {
  bus_.post_retained<int>("thrown.a", 1);
  courier_test::SharedLog<std::string> reports;
  auto hook = bus_.on_error([&reports](const courier::DeliveryError& error) {
    reports.add(std::string(error.topic) + "|" + error.message());
  });
  bus_.add_middleware([](courier::PostedEvent& event) -> courier::Verdict {
    if (event.as<int>()->data() == 2) throw std::runtime_error("two is refused");
    return courier::Verdict::Pass;
  });
  bus_.post_retained<int>("thrown.a", 2);
  Recorder later;
  bus_.subscribe<int>("thrown.a", later.callable());
  settle();
  EXPECT_EQ(later.received(), (Received{{"thrown.a", 1}}));
  EXPECT_EQ(reports.entries(), std::vector<std::string>{"thrown.a|two is refused"});
  EXPECT_EQ(bus_.stats().vetoed, 1u);
  EXPECT_EQ(bus_.stats().retained, 1u);
}

// On a stamping bus the live delivery and a later replay are the same event:
// one id, one timestamp.
TEST(Retained, AStampingBusStampsTheRetainedPostOnce) {
  EventBus bus(Options{.synchronous = true, .stamp_events = true});
  std::vector<std::uint64_t> ids;
  std::vector<std::chrono::system_clock::time_point> stamps;
  auto record = [&](const Event<int>& event) {
    ids.push_back(event.id());
    stamps.push_back(event.timestamp());
  };
  auto live = bus.subscribe<int>("stamp.a", record);
  bus.post_retained<int>("stamp.a", 1);
  auto later = bus.subscribe<int>("stamp.a", record);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_NE(ids[0], 0u);
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_NE(stamps[0], std::chrono::system_clock::time_point{});
  EXPECT_EQ(stamps[1], stamps[0]);
}

TEST(Retained, ANewTopicBeyondTheLimitThrowsAndChangesNothing) {
  EventBus bus(Options{.threads = 1, .max_retained = 2});
  Recorder recorder;
  bus.subscribe<int>("lim.*", recorder.callable());
  bus.post_retained<int>("lim.a", 1);
  bus.post_retained<int>("lim.b", 2);
  try {
    bus.post_retained<int>("lim.c", 3);
    FAIL() << "no LimitExceeded";
  } catch (const courier::LimitExceeded& error) {
    EXPECT_EQ(error.limit(), "Options::max_retained");
    EXPECT_EQ(error.maximum(), 2u);
    EXPECT_EQ(error.requested(), 3u);
    EXPECT_STREQ(error.what(), "courier: Options::max_retained allows at most 2, got 3");
  }
  bus.post_retained<int>("lim.a", 4);  // replacing is always allowed
  bus.wait_idle();
  EXPECT_EQ(recorder.received(), (Received{{"lim.a", 1}, {"lim.b", 2}, {"lim.a", 4}}));
  EXPECT_EQ(bus.stats().retained, 2u);
  EXPECT_EQ(bus.stats().posted, 3u);
}

TEST(Retained, ZeroMaxRetainedRefusesEveryRetainedEvent) {
  EventBus bus(Options{.synchronous = true, .max_retained = 0});
  int calls = 0;
  bus.subscribe<int>("z", [&calls](const Event<int>&) { ++calls; });
  EXPECT_THROW(bus.post_retained<int>("z", 1), courier::LimitExceeded);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(bus.stats().retained, 0u);
}

TEST(Retained, ASubscribeOverTheSubscriptionLimitDeliversNothing) {
  EventBus bus(Options{.synchronous = true, .max_subscriptions = 1});
  bus.post_retained<int>("s.a", 1);
  bus.subscribe<int>("s.a", [](const Event<int>&) {});
  int calls = 0;
  EXPECT_THROW(bus.subscribe<int>("s.a", [&calls](const Event<int>&) { ++calls; }),
               courier::LimitExceeded);
  EXPECT_EQ(calls, 0);
}

// On a synchronous bus a handler of a retained event may post: its post is
// held until subscribe() has made the subscription visible and let go of the
// store, and reaches it then as a live event.
TEST(Retained, SynchronousReplayHoldsWhatHandlersPost) {
  EventBus bus(synchronous());
  bus.post_retained<int>("echo.a", 1);
  Received received;
  bus.subscribe<int>("echo.*", [&](const Event<int>& event) {
    received.emplace_back(event.topic(), event.data());
    if (event.data() == 1) bus.post<int>("echo.b", 2);
  });
  EXPECT_EQ(received, (Received{{"echo.a", 1}, {"echo.b", 2}}));
}

TEST(Retained, PostRetainedFromAHandlerOfASynchronousBusIsHeldLikeAPost) {
  EventBus bus(synchronous());
  Received received;
  bus.subscribe<int>("h.*", [&](const Event<int>& event) {
    received.emplace_back(event.topic(), event.data());
    if (event.topic() == "h.go") bus.post_retained<int>("h.kept", 5);
    received.emplace_back("after", 0);
  });
  bus.post<int>("h.go", 0);
  EXPECT_EQ(received, (Received{{"h.go", 0}, {"after", 0}, {"h.kept", 5}, {"after", 0}}));
  Recorder late;
  bus.subscribe<int>("h.kept", late.callable());
  EXPECT_EQ(late.received(), (Received{{"h.kept", 5}}));
}

TEST(Retained, NothingIsReplayedOnceTheBusIsShutDown) {
  EventBus bus(asynchronous());
  bus.post_retained<int>("late.a", 1);
  bus.shutdown();
  Recorder recorder;
  bus.subscribe<int>("late.a", recorder.callable());
  EXPECT_TRUE(recorder.received().empty());
  EXPECT_THROW(bus.post_retained<int>("late.a", 2), courier::BusClosed);
}

}  // namespace
