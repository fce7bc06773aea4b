// A subscriber object is one subscriber, whatever the number of its patterns
// (issue 13, subscriber.hpp): a Serial one runs alone and keeps post order
// across all its topics, a Concurrent one keeps each key's order across them,
// an event matching several of its patterns arrives once, and cancelling some
// patterns leaves the others running. Each test runs on an asynchronous bus
// and on a synchronous one.
//
// As in event_bus_concurrency_test.cpp, handlers keep their bookkeeping in
// plain variables wherever the bus promises one invocation at a time, so that
// under ThreadSanitizer a broken promise also shows up as a data race.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::Concurrency;
using courier::DeliveryError;
using courier::Event;
using courier::EventBus;
using courier::Options;
using courier::Subscription;
using courier_test::ConcurrencyProbe;
using courier_test::Gate;
using courier_test::GatedSubscriber;
using courier_test::kBoundedWait;
using courier_test::mentions;
using courier_test::RecordingSubscriber;
using courier_test::run_on_thread;
using courier_test::SharedLog;

constexpr int kProducers = 4;
constexpr int kEventsPerProducer = 1200;

struct Tagged {
  int producer;
  int sequence;
};

// Runs `produce(producer)` on kProducers threads at once and waits for all.
template <class Produce>
void run_producers(Produce produce) {
  std::vector<std::future<void>> producers;
  for (int producer = 0; producer < kProducers; ++producer) {
    producers.push_back(run_on_thread([&produce, producer] { produce(producer); }));
  }
  for (auto& each : producers) each.get();
}

// A Serial subscriber that relies on the bus alone: a plain map of sums, as
// a user would write a counter aggregator, plus a check of each producer's
// order and of how many calls run at once.
class SerialAggregator : public courier::Subscriber<Tagged> {
 public:
  void process(const Event<Tagged>& event) override {
    const ConcurrencyProbe::Inside inside(probe_);
    ++per_topic_[std::string(event.topic())];
    int& last = last_sequence_[static_cast<std::size_t>(event.data().producer)];
    if (event.data().sequence <= last) ++out_of_order_;
    last = event.data().sequence;
    ++received_;
  }
  int max_running() const { return probe_.max_running(); }
  int out_of_order() const { return out_of_order_; }
  int received() const { return received_; }
  const std::map<std::string, int>& per_topic() const { return per_topic_; }

 private:
  ConcurrencyProbe probe_;
  std::map<std::string, int> per_topic_;
  std::vector<int> last_sequence_ = std::vector<int>(kProducers, -1);
  int out_of_order_ = 0;
  int received_ = 0;
};

class SubscriberObject : public ::testing::TestWithParam<bool> {
 protected:
  static Options options() {
    return GetParam() ? Options{.synchronous = true} : Options{.threads = 2, .queue_capacity = 256};
  }
};

INSTANTIATE_TEST_SUITE_P(Buses, SubscriberObject, ::testing::Bool(),
                         [](const auto& test) { return test.param ? "Synchronous" : "Pool"; });

// Each producer posts to every topic in turn, so consecutive events of one
// producer come through different patterns.
void post_round_robin(EventBus& bus, const std::vector<std::string>& topics) {
  run_producers([&](int producer) {
    for (int i = 0; i < kEventsPerProducer; ++i) {
      const std::string& topic = topics[static_cast<std::size_t>(i) % topics.size()];
      bus.post(Event<Tagged>(topic, {producer, i}));
    }
  });
  bus.wait_idle();
}

TEST_P(SubscriberObject, SerialOnTwoPatternsRunsAloneInEachProducersOrder) {
  EventBus bus(options());
  auto aggregator = std::make_shared<SerialAggregator>();
  bus.subscribe(aggregator, "a");
  bus.subscribe(aggregator, "b");

  post_round_robin(bus, {"a", "b"});

  EXPECT_EQ(aggregator->max_running(), 1);
  EXPECT_EQ(aggregator->out_of_order(), 0);
  EXPECT_EQ(aggregator->received(), kProducers * kEventsPerProducer);
}

TEST_P(SubscriberObject, SerialOnManyPatternsRunsAloneInEachProducersOrder) {
  EventBus bus(options());
  auto aggregator = std::make_shared<SerialAggregator>();
  // Exact and wildcard patterns, one subscribe each and several in one.
  for (const char* topic : {"c1", "c2", "c3", "c4"}) bus.subscribe(aggregator, topic);
  bus.subscribe(aggregator, {"m.*", "deep.>", "x.*.y"});

  post_round_robin(bus, {"c1", "m.cpu", "c2", "deep.a.b", "c3", "x.k.y", "c4", "m.disk"});

  EXPECT_EQ(aggregator->max_running(), 1);
  EXPECT_EQ(aggregator->out_of_order(), 0);
  EXPECT_EQ(aggregator->received(), kProducers * kEventsPerProducer);
  EXPECT_EQ(aggregator->per_topic().at("c1"), kProducers * kEventsPerProducer / 8);
}

// Per key: whether its events arrived in post order, and never two at once.
class KeyedChecker : public courier::Subscriber<Tagged> {
 public:
  KeyedChecker() : courier::Subscriber<Tagged>(Concurrency::Concurrent) {}
  void process(const Event<Tagged>& event) override {
    const std::size_t producer = static_cast<std::size_t>(event.data().producer);
    const ConcurrencyProbe::Inside inside(probes_[producer]);
    int& last = last_sequence_[producer];  // one key per producer: plain is safe
    if (event.data().sequence <= last) ++out_of_order_[producer];
    last = event.data().sequence;
  }
  int out_of_order(int producer) const { return out_of_order_[static_cast<std::size_t>(producer)]; }
  int max_running(int producer) const {
    return probes_[static_cast<std::size_t>(producer)].max_running();
  }

 private:
  std::array<ConcurrencyProbe, kProducers> probes_;
  std::array<int, kProducers> last_sequence_{-1, -1, -1, -1};
  std::array<int, kProducers> out_of_order_{};
};

TEST_P(SubscriberObject, ConcurrentKeepsEachKeysOrderAcrossTopics) {
  EventBus bus(options());
  auto checker = std::make_shared<KeyedChecker>();
  bus.subscribe(checker, "x");
  bus.subscribe(checker, "y.*");

  run_producers([&](int producer) {
    const std::string key = "key-" + std::to_string(producer);
    for (int i = 0; i < kEventsPerProducer; ++i) {
      bus.post(Event<Tagged>(i % 2 == 0 ? "x" : "y.z", {producer, i}, key));
    }
  });
  bus.wait_idle();

  for (int producer = 0; producer < kProducers; ++producer) {
    EXPECT_EQ(checker->out_of_order(producer), 0) << "key of producer " << producer;
    EXPECT_EQ(checker->max_running(producer), 1) << "key of producer " << producer;
  }
}

TEST_P(SubscriberObject, AnEventMatchingSeveralPatternsArrivesOnce) {
  EventBus bus(options());
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  bus.subscribe(recorder, "a.b");
  bus.subscribe(recorder, {"a.*", "a.>"});
  SharedLog<int> by_callable;
  bus.subscribe<int>({"a.*", "*.b", "a.b"},
                     [&](const Event<int>& event) { by_callable.add(event.data()); });
  const courier::Topic handle = bus.topic("a.b");

  bus.post<int>("a.b", 1);
  bus.post(handle, 2);
  bus.post<int>("a.c.d", 3);  // "a.>" only
  bus.wait_idle();

  EXPECT_EQ(recorder->received(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(by_callable.entries(), (std::vector<int>{1, 2}));
  EXPECT_EQ(bus.stats().delivered, 5U);
}

TEST_P(SubscriberObject, OneSubscriptionForSeveralPatternsCancelsThemAll) {
  EventBus bus(options());
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  Subscription both = bus.subscribe(recorder, {"scan.*", "ui.click"});
  EXPECT_EQ(bus.stats().subscriptions, 2U);
  bus.post<int>("scan.a", 1);
  bus.post<int>("ui.click", 2);
  bus.wait_idle();

  both.cancel();
  EXPECT_FALSE(both.active());
  EXPECT_FALSE(bus.is_subscribed(recorder));
  EXPECT_EQ(bus.stats().subscriptions, 0U);
  bus.post<int>("scan.a", 3);
  bus.post<int>("ui.click", 4);
  bus.wait_idle();

  EXPECT_EQ(recorder->received(), (std::vector<int>{1, 2}));
  EXPECT_EQ(bus.stats().dead, 2U);
}

TEST_P(SubscriberObject, CancellingOnePatternLeavesTheOthersRunning) {
  EventBus bus(options());
  auto aggregator = std::make_shared<SerialAggregator>();
  Subscription a = bus.subscribe(aggregator, "a");
  Subscription rest = bus.subscribe(aggregator, {"b", "c.*"});

  a.cancel();
  EXPECT_FALSE(a.active());
  EXPECT_TRUE(rest.active());
  EXPECT_TRUE(bus.is_subscribed(aggregator));
  EXPECT_EQ(bus.stats().subscriptions, 2U);
  post_round_robin(bus, {"a", "b", "c.d"});

  const int per_topic = kProducers * kEventsPerProducer / 3;
  EXPECT_EQ(aggregator->per_topic().count("a"), 0U);
  EXPECT_EQ(aggregator->per_topic().at("b"), per_topic);
  EXPECT_EQ(aggregator->per_topic().at("c.d"), per_topic);
  EXPECT_EQ(aggregator->max_running(), 1);
  EXPECT_EQ(aggregator->out_of_order(), 0);
  EXPECT_EQ(bus.stats().dead, static_cast<std::uint64_t>(per_topic));
}

TEST_P(SubscriberObject, UnsubscribingTheObjectEndsEveryPattern) {
  EventBus bus(options());
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  Subscription first = bus.subscribe(recorder, "a");
  Subscription second = bus.subscribe(recorder, {"b.*", "c"});

  bus.unsubscribe(recorder);
  EXPECT_FALSE(first.active());
  EXPECT_FALSE(second.active());
  EXPECT_EQ(bus.stats().subscriptions, 0U);
  // The bus let go of the object: the test holds the only reference.
  EXPECT_EQ(recorder.use_count(), 1);
  bus.post<int>("a", 1);
  bus.post<int>("b.x", 2);
  bus.wait_idle();
  EXPECT_TRUE(recorder->received().empty());
}

TEST_P(SubscriberObject, AFailureReportsAPatternThatMatched) {
  EventBus bus(options());
  SharedLog<std::string> patterns;
  const auto connection =
      bus.on_error([&](const DeliveryError& error) { patterns.add(std::string(error.pattern)); });
  bus.subscribe<int>({"other", "m.*", "n.>"},
                     [](const Event<int>&) { throw std::runtime_error("boom"); });

  bus.post<int>("m.cpu", 1);
  bus.post<int>("n.a.b", 2);
  bus.wait_idle();

  EXPECT_EQ(patterns.entries(), (std::vector<std::string>{"m.*", "n.>"}));
}

TEST_P(SubscriberObject, ABadPatternInAListSubscribesNothing) {
  EventBus bus(options());
  auto recorder = std::make_shared<RecordingSubscriber<int>>();
  try {
    bus.subscribe(recorder, {"good", "bad..pattern", "fine"});
    ADD_FAILURE() << "an invalid pattern was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_TRUE(mentions(error.what(), "bad..pattern"));
  }
  EXPECT_FALSE(bus.is_subscribed(recorder));
  EXPECT_EQ(bus.stats().subscriptions, 0U);

  try {
    bus.subscribe<int>({}, [](const Event<int>&) {});
    ADD_FAILURE() << "an empty list of patterns was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_TRUE(mentions(error.what(), "empty list"));
  }
  EXPECT_THROW(bus.subscribe(std::shared_ptr<RecordingSubscriber<int>>(), {"a", "b"}),
               std::invalid_argument);
}

// ---------------------------------------------------------------------------
// Narrowing on an asynchronous bus: events already queued for the object
// through a pattern it then cancels are not delivered.

TEST(SubscriberNarrowing, EventsQueuedThroughACancelledPatternAreNotDelivered) {
  EventBus bus(Options{.threads = 2, .queue_capacity = 64});
  Gate gate;
  const auto open_gate = gate.open_on_exit();
  auto subscriber = std::make_shared<GatedSubscriber<int>>(gate);
  Subscription a = bus.subscribe(subscriber, "a");
  bus.subscribe(subscriber, "b");

  bus.post<int>("b", 1);  // holds the lane while the rest queue behind it
  ASSERT_TRUE(subscriber->wait_until_started());
  bus.post<int>("a", 2);
  bus.post<int>("b", 3);
  bus.post<int>("a", 4);
  a.cancel();
  gate.open();
  bus.wait_idle();

  EXPECT_EQ(subscriber->received(), (std::vector<int>{1, 3}));
  EXPECT_EQ(bus.stats().dead, 2U);
}

// ---------------------------------------------------------------------------
// Causal order: what a handler posts never overtakes the event it handles.

// Expects `recorder` to have received `rounds` chains 1 .. `length`, each
// whole and in order.
void expect_chains(const RecordingSubscriber<int>& recorder, int rounds, int length) {
  const std::vector<int> received = recorder.received();
  ASSERT_EQ(received.size(), static_cast<std::size_t>(rounds * length));
  int out_of_order = 0;
  for (std::size_t i = 0; i < received.size(); ++i) {
    out_of_order += received[i] != static_cast<int>(i % static_cast<std::size_t>(length)) + 1;
  }
  EXPECT_EQ(out_of_order, 0);
}

// A callable reposts n + 1 on "chain" while it handles n (up to kLength);
// the recorders, also on "chain", must each see 1 .. kLength in order.
// Without causal order, post(1)'s node could reach the reposter's lane before
// a recorder's, and the whole chain run before that recorder's lane got 1.
// Many recorders widen that window: post(1) pushes to each in turn (with the
// wait for the cause removed, every run of this test fails).
TEST(CausalOrder, ARepostNeverOvertakesItsCause) {
  constexpr int kRounds = 500;
  constexpr int kLength = 10;
  constexpr int kRecorders = 32;
  EventBus bus(Options{.threads = 2, .queue_capacity = 64});
  bus.subscribe<int>("chain", [&bus](const Event<int>& event) {
    if (event.data() < kLength) bus.post<int>("chain", event.data() + 1);
  });
  std::vector<std::shared_ptr<RecordingSubscriber<int>>> recorders;
  for (int i = 0; i < kRecorders; ++i) {
    recorders.push_back(std::make_shared<RecordingSubscriber<int>>());
    bus.subscribe(recorders.back(), "chain");
  }

  for (int round = 0; round < kRounds; ++round) {
    bus.post<int>("chain", 1);
    bus.wait_idle();
  }
  for (const auto& recorder : recorders) expect_chains(*recorder, kRounds, kLength);
}

// The same for one ordering key on Concurrent subscribers with several
// patterns.
TEST(CausalOrder, AKeyedRepostNeverOvertakesItsCause) {
  constexpr int kRounds = 300;
  constexpr int kLength = 10;
  constexpr int kRecorders = 32;
  EventBus bus(Options{.threads = 2, .queue_capacity = 64});
  bus.subscribe<int>(
      {"chain", "other"},
      [&bus](const Event<int>& event) {
        if (event.topic() == "chain" && event.data() < kLength) {
          bus.post(Event<int>("chain", event.data() + 1, "k"));
        }
      },
      Concurrency::Concurrent);
  std::vector<std::shared_ptr<RecordingSubscriber<int>>> recorders;
  for (int i = 0; i < kRecorders; ++i) {
    recorders.push_back(std::make_shared<RecordingSubscriber<int>>(Concurrency::Concurrent));
    bus.subscribe(recorders.back(), {"chain", "other.*"});
  }

  for (int round = 0; round < kRounds; ++round) {
    bus.post(Event<int>("chain", 1, "k"));
    bus.wait_idle();
  }
  for (const auto& recorder : recorders) expect_chains(*recorder, kRounds, kLength);
}

}  // namespace
