// Presence (issue 16 item 2, EventBus::presence, lib/routing/presence.cpp):
// which identities are subscribed to topics a pattern matches, and when a
// subscription stops being listed.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "courier/detail/bus_core.hpp"
#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::Event;
using courier::EventBus;
using courier::Identity;
using courier::Options;
using courier::Subscription;
using courier::detail::patterns_overlap;

std::vector<std::string> users_of(const std::vector<Identity>& identities) {
  std::vector<std::string> users;
  for (const Identity& identity : identities) users.push_back(identity.user);
  return users;
}

void ignore(const Event<int>&) {}

TEST(PatternsOverlap, WhenSomeTopicMatchesBoth) {
  EXPECT_TRUE(patterns_overlap("room.7", "room.7"));
  EXPECT_TRUE(patterns_overlap("room.>", "room.7"));
  EXPECT_TRUE(patterns_overlap("room.7", "room.>"));
  EXPECT_TRUE(patterns_overlap("room.*", "room.>"));
  EXPECT_TRUE(patterns_overlap("*.7", "room.>"));
  EXPECT_TRUE(patterns_overlap(">", "room.7.a"));
  EXPECT_TRUE(patterns_overlap("room.>", "room.7.a.b"));
  EXPECT_TRUE(patterns_overlap("a.*.c", "a.b.*"));
  EXPECT_FALSE(patterns_overlap("room.>", "room"));  // '>' needs one token or more
  EXPECT_FALSE(patterns_overlap("room", "room.*"));
  EXPECT_FALSE(patterns_overlap("room.>", "lobby.>"));
  EXPECT_FALSE(patterns_overlap("room.*", "room.7.a"));
  EXPECT_FALSE(patterns_overlap("a.*.c", "a.b.d"));
}

class Presence : public ::testing::TestWithParam<bool> {
 protected:
  Options options() const {
    return GetParam() ? Options{.synchronous = true} : Options{.threads = 2, .queue_capacity = 64};
  }
};
INSTANTIATE_TEST_SUITE_P(Buses, Presence, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& bus) {
                           return bus.param ? "synchronous" : "pool";
                         });

TEST_P(Presence, ListsTheIdentitiesWhosePatternsCanMatchInSubscriptionOrder) {
  EventBus bus(options());
  const Subscription a = bus.subscribe<int>(
      "room.7", ignore, {.identity = Identity{.user = "a", .labels = {{"role", "admin"}}}});
  const Subscription b = bus.subscribe<int>("room.*", ignore, {.identity = Identity{.user = "b"}});
  const Subscription c = bus.subscribe<int>("lobby.>", ignore, {.identity = Identity{.user = "c"}});
  const Subscription d = bus.subscribe<int>("room", ignore, {.identity = Identity{.user = "d"}});
  const Subscription x = bus.subscribe<int>("room.7", ignore);  // no identity: not listed
  courier::Stream<std::string> e =
      bus.stream<std::string>({"lobby.1", "room.>"}, {.identity = Identity{.user = "e"}});
  EXPECT_EQ(users_of(bus.presence("room.>")), (std::vector<std::string>{"a", "b", "e"}));
  EXPECT_EQ(users_of(bus.presence("room.7")), (std::vector<std::string>{"a", "b", "e"}));
  EXPECT_EQ(users_of(bus.presence("room.8.x")), (std::vector<std::string>{"e"}));
  EXPECT_EQ(users_of(bus.presence("room")), (std::vector<std::string>{"d"}));
  EXPECT_EQ(users_of(bus.presence(">")), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_TRUE(bus.presence("hall").empty());
  const std::vector<Identity> listed = bus.presence("room.7");
  EXPECT_EQ(listed.front(), (Identity{.user = "a", .labels = {{"role", "admin"}}}));
}

TEST_P(Presence, AnEndedSubscriptionIsNotListedOnceItsEndReturned) {
  EventBus bus(options());
  Subscription a = bus.subscribe<int>("t", ignore, {.identity = Identity{.user = "a"}});
  auto object = std::make_shared<courier_test::RecordingSubscriber<int>>();
  const Subscription b = bus.subscribe(object, "t", {.identity = Identity{.user = "b"}});
  auto owner = std::make_shared<int>(0);
  const Subscription c =
      bus.subscribe<int>("t", ignore, {.track = owner, .identity = Identity{.user = "c"}});
  courier::Stream<int> d = bus.stream<int>("t", {.identity = Identity{.user = "d"}});
  EXPECT_EQ(users_of(bus.presence("t")), (std::vector<std::string>{"a", "b", "c", "d"}));
  a.cancel();
  EXPECT_EQ(users_of(bus.presence("t")), (std::vector<std::string>{"b", "c", "d"}));
  bus.unsubscribe(object);
  EXPECT_EQ(users_of(bus.presence("t")), (std::vector<std::string>{"c", "d"}));
  owner.reset();
  EXPECT_EQ(users_of(bus.presence("t")), (std::vector<std::string>{"d"}));
  d.close();
  EXPECT_TRUE(bus.presence("t").empty());
}

TEST_P(Presence, IsEmptyOnceShutdownDrained) {
  EventBus bus(options());
  const Subscription a = bus.subscribe<int>("t", ignore, {.identity = Identity{.user = "a"}});
  EXPECT_EQ(bus.presence("t").size(), 1U);
  bus.shutdown();
  EXPECT_TRUE(bus.presence("t").empty());
}

TEST(PresenceInput, AnInvalidPatternThrowsNamingIt) {
  EventBus bus(Options{.threads = 1});
  try {
    (void)bus.presence("room..7");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_TRUE(courier_test::mentions(error.what(), "room..7"));
  }
}

}  // namespace
