// Identity and Audience (issue 16 item 2, audience.hpp): validation, the
// event's audience, and delivery to the subscriptions in it only, on both
// buses, through every route (exact, wildcard, groups of Concurrent
// subscribers, topic handles, streams, retained events, posts from handlers).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "courier/audience.hpp"
#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::Audience;
using courier::Concurrency;
using courier::Event;
using courier::EventBus;
using courier::Identity;
using courier::Options;
using courier::Stream;
using courier::Subscription;
using courier_test::kBoundedWait;
using courier_test::mentions;
using courier_test::SharedLog;

std::string message_of(auto&& action) {
  try {
    action();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "(nothing thrown)";
}

// --- Validation -----------------------------------------------------------

TEST(Identity, AValidIdentityPasses) {
  EXPECT_NO_THROW((Identity{.user = "u42", .labels = {{"role", "admin"}}}.validate()));
  EXPECT_NO_THROW((Identity{.user = "\xc3\xa9t\xc3\xa9"}.validate()));  // UTF-8
  EXPECT_NO_THROW((Identity{.user = std::string(Identity::kMaxUserBytes, 'u')}.validate()));
}

TEST(Identity, BadUserIdsThrowNamingThem) {
  EXPECT_TRUE(mentions(message_of([] { Identity{.user = ""}.validate(); }), "empty"));
  EXPECT_TRUE(mentions(message_of([] { Identity{.user = "u 42"}.validate(); }), "\"u 42\""));
  EXPECT_TRUE(mentions(message_of([] { Identity{.user = "u\n42"}.validate(); }), "\\x0a"));
  EXPECT_TRUE(mentions(message_of([] { Identity{.user = "u\x7f"}.validate(); }), "user id"));
  const std::string huge(Identity::kMaxUserBytes + 1, 'u');
  const std::string message = message_of([&] { Identity{.user = huge}.validate(); });
  EXPECT_TRUE(mentions(message, "257 bytes"));
  EXPECT_LT(message.size(), 200U);  // quoted, not copied whole
}

TEST(Identity, BadLabelsThrowNamingTheUserAndTheLabel) {
  EXPECT_TRUE(mentions(message_of([] {
                         Identity{.user = "u1", .labels = {{"ro:le", "x"}}}.validate();
                       }),
                       "\"ro:le\""));
  EXPECT_TRUE(mentions(message_of([] {
                         Identity{.user = "u1", .labels = {{"", "x"}}}.validate();
                       }),
                       "u1"));
  EXPECT_TRUE(mentions(message_of([] {
                         Identity{.user = "u1", .labels = {{"k", "a\rb"}}}.validate();
                       }),
                       "label"));
  Identity crowded{.user = "u1"};
  for (std::size_t i = 0; i <= Identity::kMaxLabels; ++i)
    crowded.labels["k" + std::to_string(i)] = "v";
  EXPECT_TRUE(mentions(message_of([&] { crowded.validate(); }), "labels"));
}

TEST(Audience, IsASortedSetOfValidUsers) {
  const Audience audience{"u7", "u42", "u7"};
  EXPECT_EQ(audience.size(), 2U);
  EXPECT_TRUE(audience.contains("u42"));
  EXPECT_TRUE(audience.contains("u7"));
  EXPECT_FALSE(audience.contains("u4"));
  EXPECT_FALSE(audience.contains(""));
  EXPECT_EQ(std::vector<std::string>(audience.begin(), audience.end()),
            (std::vector<std::string>{"u42", "u7"}));
  EXPECT_TRUE(Audience{}.empty());
}

TEST(Audience, BadOrHugeAudiencesThrowNamingTheProblem) {
  EXPECT_TRUE(mentions(message_of([] { Audience{"u1", "bad user"}; }), "\"bad user\""));
  std::vector<std::string> many;
  for (std::size_t i = 0; i <= Audience::kMaxUsers; ++i) many.push_back("u" + std::to_string(i));
  EXPECT_TRUE(mentions(message_of([&] { Audience{many}; }), "4097 users"));
  many.pop_back();
  EXPECT_EQ(Audience{many}.size(), Audience::kMaxUsers);
}

// --- The event's audience ---------------------------------------------------

TEST(EventAudience, IsNoneUntilSetAndCanBeCleared) {
  Event<int> event("t", 1);
  EXPECT_EQ(event.audience(), nullptr);
  event.set_audience({"u1"});
  ASSERT_NE(event.audience(), nullptr);
  EXPECT_TRUE(event.audience()->contains("u1"));
  event.clear_audience();
  EXPECT_EQ(event.audience(), nullptr);
  event.set_audience(Audience{});  // nobody, which is not the same as none
  ASSERT_NE(event.audience(), nullptr);
  EXPECT_TRUE(event.audience()->empty());
}

TEST(EventAudience, AnInvalidAudienceLeavesTheEventAsItWas) {
  Event<int> event("t", 1);
  event.set_audience({"u1"});
  EXPECT_THROW(event.set_audience({"u2", ""}), std::invalid_argument);
  ASSERT_NE(event.audience(), nullptr);
  EXPECT_EQ(event.audience()->size(), 1U);
  EXPECT_TRUE(event.audience()->contains("u1"));
}

TEST(EventAudience, ACopySharesItUntilOneChanges) {
  Event<int> original("t", 1);
  original.set_audience({"u1"}).set_header("k", "v");
  Event<int> copy = original;
  EXPECT_EQ(copy.audience(), original.audience());  // one block, shared
  copy.set_audience({"u2"});
  EXPECT_TRUE(original.audience()->contains("u1"));
  EXPECT_FALSE(original.audience()->contains("u2"));
  EXPECT_TRUE(copy.audience()->contains("u2"));
  EXPECT_EQ(*copy.headers().find("k"), "v");
}

// --- Delivery -------------------------------------------------------------

class Delivery : public ::testing::TestWithParam<bool> {
 protected:
  Options options() const {
    return GetParam() ? Options{.synchronous = true} : Options{.threads = 2, .queue_capacity = 64};
  }
};
INSTANTIATE_TEST_SUITE_P(Buses, Delivery, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& bus) {
                           return bus.param ? "synchronous" : "pool";
                         });

Event<int> for_users(std::string topic, int value, std::initializer_list<std::string_view> users) {
  Event<int> event(topic, value);
  event.set_audience(users);
  return event;
}

// Who got what: one log per subscription, named.
struct Recorder {
  SharedLog<std::string> log;
  auto handler(std::string name) {
    return [this, name](const Event<int>& event) {
      log.add(name + ":" + std::to_string(event.data()));
    };
  }
  std::vector<std::string> sorted() const {
    std::vector<std::string> entries = log.entries();
    std::sort(entries.begin(), entries.end());
    return entries;
  }
};

TEST_P(Delivery, AnEventWithAnAudienceReachesOnlyTheIdentitiesInIt) {
  EventBus bus(options());
  Recorder got;
  const Subscription a =
      bus.subscribe<int>("room.7", got.handler("a"), {.identity = Identity{.user = "u42"}});
  const Subscription b =
      bus.subscribe<int>("room.*", got.handler("b"), {.identity = Identity{.user = "u7"}});
  const Subscription c =
      bus.subscribe<int>("room.>", got.handler("c"), {.identity = Identity{.user = "u9"}});
  const Subscription anonymous = bus.subscribe<int>("room.7", got.handler("x"));
  bus.post(for_users("room.7", 1, {"u42", "u7"}));
  bus.post(for_users("room.7", 2, {"nobody"}));
  bus.post<int>("room.7", 3);  // no audience: everyone
  bus.wait_idle();
  EXPECT_EQ(got.sorted(), (std::vector<std::string>{"a:1", "a:3", "b:1", "b:3", "c:3", "x:3"}));
  EXPECT_EQ(bus.stats().dead, 1U);  // event 2 reached nobody
}

TEST_P(Delivery, AnEmptyAudienceReachesNobody) {
  EventBus bus(options());
  Recorder got;
  const Subscription a =
      bus.subscribe<int>("t", got.handler("a"), {.identity = Identity{.user = "u1"}});
  const Subscription x = bus.subscribe<int>("t", got.handler("x"));
  Event<int> event("t", 1);
  event.set_audience(Audience{});
  bus.post(std::move(event));
  bus.wait_idle();
  EXPECT_TRUE(got.sorted().empty());
  EXPECT_EQ(bus.stats().dead, 1U);
}

TEST_P(Delivery, ConcurrentSubscribersOfOneTopicAreCheckedOneByOne) {
  // Several Concurrent subscribers of an exact topic share a group lane for
  // unkeyed events: an audience must not reach the whole group.
  EventBus bus(options());
  Recorder got;
  std::vector<Subscription> subscriptions;
  for (const char* user : {"u1", "u2", "u3"}) {
    subscriptions.push_back(bus.subscribe<int>({"g"}, got.handler(user), Concurrency::Concurrent,
                                               {.identity = Identity{.user = user}}));
  }
  subscriptions.push_back(bus.subscribe<int>({"g"}, got.handler("x"), Concurrency::Concurrent));
  bus.post<int>("g", 0);
  bus.post(for_users("g", 1, {"u2"}));
  Event<int> keyed("g", 2, "key");
  keyed.set_audience({"u1", "u3"});
  bus.post(std::move(keyed));
  bus.wait_idle();
  EXPECT_EQ(got.sorted(),
            (std::vector<std::string>{"u1:0", "u1:2", "u2:0", "u2:1", "u3:0", "u3:2", "x:0"}));
}

TEST_P(Delivery, ThroughATopicHandleAndToAnObject) {
  EventBus bus(options());
  auto object = std::make_shared<courier_test::RecordingSubscriber<int>>();
  const Subscription s = bus.subscribe(object, "h", {.identity = Identity{.user = "u5"}});
  Recorder got;
  const Subscription x = bus.subscribe<int>("h", got.handler("x"));
  const courier::Topic handle = bus.topic("h");
  bus.post<int>(handle, 1);
  Event<int> event("h", 2);
  event.set_audience({"u5"});
  bus.post(std::move(event));
  bus.try_post(for_users("h", 3, {"u6"}));
  bus.wait_idle();
  EXPECT_EQ(object->received(), (std::vector<int>{1, 2}));
  EXPECT_EQ(got.sorted(), (std::vector<std::string>{"x:1"}));
}

TEST_P(Delivery, AStreamWithAnIdentityGetsItsEventsOnly) {
  EventBus bus(options());
  Stream<int> mine = bus.stream<int>("s", {.identity = Identity{.user = "u1"}});
  Stream<int> theirs = bus.stream<int>("s", {}, {.identity = Identity{.user = "u2"}});
  bus.post(for_users("s", 1, {"u1"}));
  bus.post(for_users("s", 2, {"u2"}));
  bus.post<int>("s", 3);
  // No wait_idle(): a Block stream's events wait for its consumer.
  std::vector<int> got_mine;
  std::vector<int> got_theirs;
  for (int i = 0; i < 2; ++i) {
    got_mine.push_back(mine.next(kBoundedWait).value().data());
    got_theirs.push_back(theirs.next(kBoundedWait).value().data());
  }
  EXPECT_EQ(got_mine, (std::vector<int>{1, 3}));
  EXPECT_EQ(got_theirs, (std::vector<int>{2, 3}));
  EXPECT_EQ(mine.stats().received, 2U);
}

TEST_P(Delivery, EventsPostedFromAHandlerKeepTheirAudience) {
  EventBus bus(options());
  Recorder got;
  const Subscription relay = bus.subscribe<int>(
      "in", [&](const Event<int>& event) { bus.post(for_users("out", event.data(), {"u2"})); });
  const Subscription a =
      bus.subscribe<int>("out", got.handler("u1"), {.identity = Identity{.user = "u1"}});
  const Subscription b =
      bus.subscribe<int>("out", got.handler("u2"), {.identity = Identity{.user = "u2"}});
  bus.post<int>("in", 1);
  bus.post<int>("in", 2);
  bus.wait_idle();
  EXPECT_EQ(got.sorted(), (std::vector<std::string>{"u2:1", "u2:2"}));
}

TEST_P(Delivery, ARetainedEventKeepsItsAudienceForLaterSubscriptions) {
  EventBus bus(options());
  bus.post_retained(for_users("r", 1, {"u1"}));
  Recorder got;
  const Subscription a =
      bus.subscribe<int>("r", got.handler("u1"), {.identity = Identity{.user = "u1"}});
  const Subscription b =
      bus.subscribe<int>("r", got.handler("u2"), {.identity = Identity{.user = "u2"}});
  const Subscription x = bus.subscribe<int>("r", got.handler("x"));
  bus.post_retained(for_users("r", 2, {"u2"}));
  bus.wait_idle();
  EXPECT_EQ(got.sorted(), (std::vector<std::string>{"u1:1", "u2:2"}));
}

TEST_P(Delivery, MiddlewareSeesTheEventAndItsAudienceStillHolds) {
  EventBus bus(options());
  Recorder got;
  const Subscription a =
      bus.subscribe<int>("m", got.handler("u1"), {.identity = Identity{.user = "u1"}});
  const Subscription x = bus.subscribe<int>("m", got.handler("x"));
  const auto cookie = bus.add_middleware([](courier::PostedEvent& event) {
    event.set_header("seen", "yes");
    return courier::Verdict::Pass;
  });
  bus.post(for_users("m", 1, {"u1"}));
  bus.post<int>("m", 2);
  bus.wait_idle();
  EXPECT_EQ(got.sorted(), (std::vector<std::string>{"u1:1", "u1:2", "x:2"}));
  bus.remove_middleware(cookie);
}

// --- Bad input at subscribe time changes nothing ------------------------------

TEST_P(Delivery, AnInvalidIdentitySubscribesNothing) {
  EventBus bus(options());
  const std::string message = message_of([&] {
    (void)bus.subscribe<int>("t", [](const Event<int>&) {}, {.identity = Identity{.user = "a b"}});
  });
  EXPECT_TRUE(mentions(message, "\"a b\""));
  EXPECT_THROW((void)bus.stream<int>("t", {.identity = Identity{.user = ""}}),
               std::invalid_argument);
  EXPECT_THROW((void)bus.subscribe<int>("t", [](const Event<int>&) {},
                                        {.identity = Identity{.user = std::string(100000, 'u')}}),
               std::invalid_argument);
  EXPECT_EQ(bus.stats().subscriptions, 0U);
  EXPECT_FALSE(bus.has_subscribers("t"));
  EXPECT_TRUE(bus.presence(">").empty());
}

TEST(StreamIdentity, GivenTwiceIsRefused) {
  EventBus bus(Options{.threads = 1});
  const std::string message = message_of([&] {
    (void)bus.stream<int>("s", {.identity = Identity{.user = "u1"}},
                          {.identity = Identity{.user = "u2"}});
  });
  EXPECT_TRUE(mentions(message, "both"));
  EXPECT_THROW((void)bus.stream<int>("s", {.on_disconnect = [] {}}, {.on_disconnect = [] {}}),
               std::invalid_argument);
  EXPECT_EQ(bus.stats().subscriptions, 0U);
}

TEST(ObjectIdentity, AnObjectSubscribedAgainWithAnIdentityIsRefused) {
  EventBus bus(Options{.threads = 1});
  auto object = std::make_shared<courier_test::RecordingSubscriber<int>>();
  const Subscription first = bus.subscribe(object, "a");
  EXPECT_THROW((void)bus.subscribe(object, "b", {.identity = Identity{.user = "u1"}}),
               std::invalid_argument);
  EXPECT_TRUE(bus.presence(">").empty());
}

}  // namespace
