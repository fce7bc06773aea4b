// Several Concurrent subscribers of one exact topic (concurrent_group.hpp):
// the bus hands an unkeyed event to all of them through one group lane. These
// tests hold the group to the promises each subscriber has on its own: every
// event once to every member, in parallel across events, per-key order for
// keyed events, unsubscribe waiting out the member's own calls (and no one
// else's), and events every member of which was cancelled reported dead.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::Concurrency;
using courier::DeadEvent;
using courier::Event;
using courier::EventBus;
using courier::Options;
using courier_test::Gate;
using courier_test::GatedSubscriber;
using courier_test::iota_vector;
using courier_test::kBoundedWait;
using courier_test::kStillBlocked;
using courier_test::RecordingSubscriber;
using courier_test::Rendezvous;
using courier_test::run_on_thread;
using courier_test::SharedLog;

constexpr int kMembers = 3;

Options pool_of_two() { return Options{.threads = 2, .queue_capacity = 128}; }

std::shared_ptr<RecordingSubscriber<int>> concurrent_recorder() {
  return std::make_shared<RecordingSubscriber<int>>(Concurrency::Concurrent);
}

// kMembers Concurrent recorders subscribed to "jobs": a group of that topic.
std::vector<std::shared_ptr<RecordingSubscriber<int>>> subscribe_members(EventBus& bus) {
  std::vector<std::shared_ptr<RecordingSubscriber<int>>> members;
  for (int i = 0; i < kMembers; ++i) {
    members.push_back(concurrent_recorder());
    bus.subscribe(members.back(), "jobs");
  }
  return members;
}

std::vector<int> sorted(std::vector<int> values) {
  std::sort(values.begin(), values.end());
  return values;
}

TEST(ConcurrentGroup, EveryMemberGetsEachUnkeyedEventOnceBesideASerialSubscriber) {
  constexpr int kProducers = 2;
  constexpr int kEventsPerProducer = 3000;
  EventBus bus(pool_of_two());
  const auto members = subscribe_members(bus);
  auto serial = std::make_shared<RecordingSubscriber<int>>();
  bus.subscribe(serial, "jobs");

  std::vector<std::future<void>> producers;
  for (int producer = 0; producer < kProducers; ++producer) {
    producers.push_back(run_on_thread([&bus, producer] {
      for (int i = 0; i < kEventsPerProducer; ++i) {
        bus.post(Event<int>("jobs", producer * kEventsPerProducer + i));
      }
    }));
  }
  for (auto& producer : producers) producer.get();
  bus.wait_idle();

  const std::vector<int> everything = iota_vector(kProducers * kEventsPerProducer);
  for (const auto& member : members) EXPECT_EQ(sorted(member->received()), everything);
  // The Serial subscriber beside the group still sees each producer in order.
  std::vector<int> last(kProducers, -1);
  for (int value : serial->received()) {
    int& previous = last[static_cast<std::size_t>(value / kEventsPerProducer)];
    EXPECT_GT(value, previous);
    previous = value;
  }
  EXPECT_EQ(serial->received().size(), everything.size());
  const courier::Stats stats = bus.stats();
  EXPECT_EQ(stats.delivered, (kMembers + 1) * everything.size());
  EXPECT_EQ(stats.delivered_events, everything.size());
  EXPECT_EQ(stats.dead, 0u);
}

// A topic handle's list is resolved whole, wildcards included, so its
// Concurrent subscribers form a group even beside wildcard patterns.
TEST(ConcurrentGroup, TopicHandlePostsReachEveryMemberOnceWildcardsIncluded) {
  constexpr int kEvents = 3000;
  EventBus bus(pool_of_two());
  auto exact = concurrent_recorder();
  auto star = concurrent_recorder();
  auto tail = concurrent_recorder();
  auto elsewhere = concurrent_recorder();
  bus.subscribe(exact, "jobs.cpu");
  bus.subscribe(star, "jobs.*");
  bus.subscribe(tail, "jobs.>");
  bus.subscribe(elsewhere, "other.*");
  const courier::Topic topic = bus.topic("jobs.cpu");

  for (int i = 0; i < kEvents; ++i) bus.post(topic, i);
  bus.wait_idle();

  for (const auto& member : {exact, star, tail}) {
    EXPECT_EQ(sorted(member->received()), iota_vector(kEvents));
  }
  EXPECT_TRUE(elsewhere->received().empty());
  EXPECT_EQ(bus.stats().delivered, 3u * kEvents);
}

TEST(ConcurrentGroup, MembersRunOnSeveralThreadsAtOnce) {
  Rendezvous two_inside(2);
  EventBus bus(pool_of_two());
  bus.subscribe<int>(
      "jobs", [&](const Event<int>&) { two_inside.arrive_and_wait(); }, Concurrency::Concurrent);
  bus.subscribe<int>(
      "jobs", [](const Event<int>&) {}, Concurrency::Concurrent);

  for (int i = 0; i < 4; ++i) bus.post(Event<int>("jobs", i));
  bus.wait_idle();

  EXPECT_TRUE(two_inside.met()) << "no two invocations of a grouped subscriber overlapped";
}

TEST(ConcurrentGroup, KeyedEventsKeepTheirOrderForEveryMember) {
  constexpr int kEvents = 4000;
  EventBus bus(pool_of_two());
  const auto members = subscribe_members(bus);

  for (int i = 0; i < kEvents; ++i) bus.post(Event<int>("jobs", i, "one key"));
  bus.wait_idle();

  for (const auto& member : members) EXPECT_EQ(member->received(), iota_vector(kEvents));
}

// Each posting thread remembers the route of its last topic (thread_state.hpp):
// posts that switch topic and keyed-ness at every step must each be routed
// afresh, to the right subscribers, through the group only when unkeyed.
TEST(ConcurrentGroup, PostsSwitchingTopicAndKeyAtEveryStepAreEachRoutedAfresh) {
  constexpr int kEvents = 4000;
  EventBus bus(pool_of_two());
  const auto members = subscribe_members(bus);
  auto neighbour = std::make_shared<RecordingSubscriber<int>>();
  bus.subscribe(neighbour, "jobz");  // as long as "jobs", one letter apart

  std::vector<int> to_jobs, keyed, to_jobz;
  for (int i = 0; i < kEvents; ++i) {
    if (i % 3 == 2) {
      bus.post(Event<int>("jobz", i));
      to_jobz.push_back(i);
      continue;
    }
    if (i % 2 == 0) {
      bus.post(Event<int>("jobs", i, "one key"));
      keyed.push_back(i);
    } else {
      bus.post(Event<int>("jobs", i));
    }
    to_jobs.push_back(i);
  }
  bus.wait_idle();

  for (const auto& member : members) {
    const std::vector<int> received = member->received();
    EXPECT_EQ(sorted(received), to_jobs);
    std::vector<int> keyed_received;
    std::copy_if(received.begin(), received.end(), std::back_inserter(keyed_received),
                 [](int value) { return value % 2 == 0; });
    EXPECT_EQ(keyed_received, keyed) << "keyed events out of order";
  }
  EXPECT_EQ(neighbour->received(), to_jobz);
  EXPECT_EQ(bus.stats().dead, 0u);
}

// A group lane calls each member for a run of events under one try block: a
// throw is reported for its own event and the run goes on with the next.
TEST(ConcurrentGroup, AMemberThatThrowsIsReportedPerEventAndStillGetsTheRest) {
  constexpr int kEvents = 2000;
  EventBus bus(pool_of_two());
  auto quiet = concurrent_recorder();
  bus.subscribe(quiet, "jobs");
  SharedLog<int> reached_thrower;
  bus.subscribe<int>(
      "jobs",
      [&](const Event<int>& event) {
        reached_thrower.add(event.data());
        if (event.data() % 3 == 0) throw std::runtime_error("no multiples of three");
      },
      Concurrency::Concurrent);
  SharedLog<std::string> errors;
  const auto connection =
      bus.on_error([&](const courier::DeliveryError& error) { errors.add(error.message()); });

  for (int i = 0; i < kEvents; ++i) bus.post(Event<int>("jobs", i));
  bus.wait_idle();

  EXPECT_EQ(sorted(quiet->received()), iota_vector(kEvents));
  EXPECT_EQ(sorted(reached_thrower.entries()), iota_vector(kEvents));
  const std::size_t multiples_of_three = (kEvents + 2) / 3;
  EXPECT_EQ(errors.entries(),
            std::vector<std::string>(multiples_of_three, "no multiples of three"));
  const courier::Stats stats = bus.stats();
  EXPECT_EQ(stats.delivered, 2u * kEvents);
  EXPECT_EQ(stats.failed, multiples_of_three);
  EXPECT_EQ(stats.delivered_events, static_cast<std::uint64_t>(kEvents));
}

// A group lane hands a run of events to each member in turn; the counters must
// still be exact at every moment, as stats.hpp promises: read from inside a
// call, `delivered` counts that call and every earlier one, `failed` every
// earlier throw.
TEST(ConcurrentGroup, StatsReadInsideARunCountEveryCallMadeSoFar) {
  Gate gate;
  auto blocker = std::make_shared<GatedSubscriber<int>>(gate);
  EventBus bus(Options{.threads = 1, .queue_capacity = 16});
  const auto open_gate = gate.open_on_exit();
  const auto connection = bus.on_error([](const courier::DeliveryError&) {});
  std::atomic<int> member_calls{0};
  SharedLog<std::string> mismatches;
  auto check = [&](const char* where) {
    const courier::Stats stats = bus.stats();
    const auto calls = static_cast<std::uint64_t>(member_calls.load()) + 1;  // + the blocker
    if (stats.delivered != calls || stats.failed != 1) {
      mismatches.add(std::string(where) + ": delivered " + std::to_string(stats.delivered) +
                     " of " + std::to_string(calls) + " calls, failed " +
                     std::to_string(stats.failed));
    }
  };
  bus.subscribe(blocker, "block");
  bus.subscribe<int>(
      "jobs",
      [&](const Event<int>& event) {
        ++member_calls;
        if (event.data() == 0) throw std::runtime_error("first");
        check("thrower");
      },
      Concurrency::Concurrent);
  bus.subscribe<int>(
      "jobs", [&](const Event<int>&) { ++member_calls; }, Concurrency::Concurrent);

  bus.post(Event<int>("block", 0));  // holds the only executor thread
  ASSERT_TRUE(blocker->wait_until_started());
  for (int i = 0; i < 3; ++i) bus.post(Event<int>("jobs", i));  // one run: all queued
  gate.open();
  bus.wait_idle();

  EXPECT_EQ(member_calls.load(), 6);
  EXPECT_TRUE(mismatches.entries().empty()) << mismatches.entries().front();
  EXPECT_EQ(bus.stats().delivered, 7u);
}

TEST(ConcurrentGroup, UnsubscribingAMemberDoesNotWaitForAnotherMembersHandler) {
  Gate gate;
  auto slow = std::make_shared<GatedSubscriber<int>>(gate, Concurrency::Concurrent);
  auto other = concurrent_recorder();
  EventBus bus(pool_of_two());
  const auto open_gate = gate.open_on_exit();
  bus.subscribe(slow, "jobs");
  bus.subscribe(other, "jobs");

  bus.post(Event<int>("jobs", 0));
  ASSERT_TRUE(slow->wait_until_started());
  auto unsubscribed = run_on_thread([&] { bus.unsubscribe(other); });
  ASSERT_EQ(unsubscribed.wait_for(kBoundedWait), std::future_status::ready)
      << "unsubscribing one member waited for another member's running handler";
  const std::size_t received_before = other->received().size();

  for (int i = 1; i < 50; ++i) bus.post(Event<int>("jobs", i));
  gate.open();
  bus.wait_idle();

  EXPECT_EQ(other->received().size(), received_before);
  EXPECT_EQ(sorted(slow->received()), iota_vector(50));
}

TEST(ConcurrentGroup, UnsubscribeWaitsOutTheMembersOwnRunningCall) {
  Gate gate;
  auto slow = std::make_shared<GatedSubscriber<int>>(gate, Concurrency::Concurrent);
  EventBus bus(pool_of_two());
  const auto open_gate = gate.open_on_exit();
  bus.subscribe(slow, "jobs");
  bus.subscribe<int>(
      "jobs", [](const Event<int>&) {}, Concurrency::Concurrent);

  bus.post(Event<int>("jobs", 7));
  ASSERT_TRUE(slow->wait_until_started());
  auto unsubscribed = run_on_thread([&] { bus.unsubscribe(slow); });
  EXPECT_EQ(unsubscribed.wait_for(kStillBlocked), std::future_status::timeout)
      << "unsubscribe returned while the member's handler was still running";
  gate.open();
  ASSERT_EQ(unsubscribed.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_EQ(slow->received(), std::vector<int>{7});
  bus.wait_idle();
}

TEST(ConcurrentGroup, AnEventWhoseMembersWereAllCancelledBeforeDeliveryIsDead) {
  Gate gate;
  auto blocker = std::make_shared<GatedSubscriber<int>>(gate);
  EventBus bus(Options{.threads = 1, .queue_capacity = 16});
  const auto open_gate = gate.open_on_exit();
  SharedLog<std::string> dead;
  const auto connection =
      bus.on_dead_event([&](const DeadEvent& event) { dead.add(std::string(event.topic())); });
  bus.subscribe(blocker, "block");
  const auto members = subscribe_members(bus);

  bus.post(Event<int>("block", 0));  // holds the only executor thread
  ASSERT_TRUE(blocker->wait_until_started());
  bus.post(Event<int>("jobs", 1));  // accepted, waiting in the group's lane
  for (const auto& member : members) bus.unsubscribe(member);
  gate.open();
  bus.wait_idle();

  for (const auto& member : members) EXPECT_TRUE(member->received().empty());
  EXPECT_EQ(dead.entries(), std::vector<std::string>{"jobs"});
  EXPECT_EQ(bus.stats().dead, 1u);
}

}  // namespace
