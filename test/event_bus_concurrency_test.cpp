// Ordering and mutual exclusion under load (issue 2, semantics 2 and 3):
// several producer threads, thousands of events, checked in the handlers.
//
// The handlers below keep their bookkeeping in plain (non-atomic) variables
// wherever the bus promises one invocation at a time, so that under
// ThreadSanitizer a broken promise also shows up as a data race.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::Concurrency;
using courier::Event;
using courier::EventBus;
using courier::Options;
using courier::Stats;
using courier::Subscription;
using courier_test::ConcurrencyProbe;
using courier_test::Gate;
using courier_test::iota_vector;
using courier_test::kBoundedWait;
using courier_test::RecordingSubscriber;
using courier_test::Rendezvous;
using courier_test::run_on_thread;

constexpr int kProducers = 4;
constexpr int kEventsPerProducer = 1500;

// Far fewer slots than events: producers also block on a full queue.
constexpr std::size_t kCapacity = 256;

Options pool_of_two() { return Options{.threads = 2, .queue_capacity = kCapacity}; }

// An event's origin: which producer posted it, and its number in that
// producer's sequence.
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

// Per producer, whether its events arrived in the order it posted them.
class ProducerOrder {
 public:
  void record(const Tagged& tag) {
    int& last = last_sequence_[static_cast<std::size_t>(tag.producer)];
    if (tag.sequence <= last) ++out_of_order_;
    last = tag.sequence;
    ++received_;
  }
  int out_of_order() const { return out_of_order_; }
  int received() const { return received_; }

 private:
  std::vector<int> last_sequence_ = std::vector<int>(kProducers, -1);
  int out_of_order_ = 0;
  int received_ = 0;
};

// ---------------------------------------------------------------------------
// 2. Serial subscribers

// Relies on the bus for exclusion: its state is not synchronised.
class SerialChecker : public courier::Subscriber<Tagged> {
 public:
  void process(const Event<Tagged>& event) override {
    const ConcurrencyProbe::Inside inside(probe_);
    order_.record(event.data());
  }
  const ConcurrencyProbe& probe() const { return probe_; }
  const ProducerOrder& order() const { return order_; }

 private:
  ConcurrencyProbe probe_;
  ProducerOrder order_;
};

TEST(EventBusConcurrency, SerialSubscriberRunsAloneAndKeepsEachProducersOrder) {
  auto first = std::make_shared<SerialChecker>();
  auto second = std::make_shared<SerialChecker>();
  EventBus bus(pool_of_two());
  bus.subscribe(first, "ticks.*");
  bus.subscribe(second, "ticks.>");

  run_producers([&](int producer) {
    const std::string topic = "ticks.p" + std::to_string(producer);
    for (int i = 0; i < kEventsPerProducer; ++i) bus.post(Event<Tagged>(topic, {producer, i}));
  });
  bus.wait_idle();

  for (const auto& checker : {first, second}) {
    EXPECT_EQ(checker->probe().max_running(), 1);
    EXPECT_EQ(checker->order().out_of_order(), 0);
    EXPECT_EQ(checker->order().received(), kProducers * kEventsPerProducer);
  }
}

TEST(EventBusConcurrency, SerialSubscriberSeesOneProducersEventsInPostOrder) {
  constexpr int kEvents = 5000;
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  bus.subscribe(subscriber, "ticks");
  bus.subscribe<int>("ticks", [](const Event<int>&) {});  // keeps the other thread busy too

  for (int i = 0; i < kEvents; ++i) bus.post(Event<int>("ticks", i));
  bus.wait_idle();

  EXPECT_EQ(subscriber->received(), iota_vector(kEvents));
}

TEST(EventBusConcurrency, SerialSubscriberOnASynchronousBusRunsAloneAcrossPostingThreads) {
  auto checker = std::make_shared<SerialChecker>();
  EventBus bus(Options{.synchronous = true});
  bus.subscribe(checker, "ticks");

  run_producers([&](int producer) {
    for (int i = 0; i < kEventsPerProducer; ++i) bus.post(Event<Tagged>("ticks", {producer, i}));
  });

  EXPECT_EQ(checker->probe().max_running(), 1);
  EXPECT_EQ(checker->order().out_of_order(), 0);
  EXPECT_EQ(checker->order().received(), kProducers * kEventsPerProducer);
}

// A thread posting to one topic of a synchronous bus again and again reaches
// its lone Serial subscriber by a shorter path (try_shortest_path in
// lib/delivery/delivery.cpp). Each
// round cancels the subscriber while that thread posts to it; every other
// round also posts to it from the cancelling thread first, which ends the
// posting thread's hold on the subscriber's lock mid-stream.
TEST(EventBusConcurrency, ALoneSerialSubscriberOfASynchronousBusIsCancelledSafelyMidStream) {
  constexpr int kRounds = 100;
  constexpr int kCallsBeforeCancel = 50;
  struct Round {
    ConcurrencyProbe probe;
    ProducerOrder order;  // written by the handler only: the bus serialises it
    std::atomic<int> calls{0};
    std::atomic<bool> cancelled{false};
    Gate enough_calls;
  };
  std::atomic<int> invoked_after_cancel{0};
  std::atomic<bool> stop{false};
  EventBus bus(Options{.synchronous = true});

  auto posting = run_on_thread([&] {
    for (int sequence = 0; !stop.load(); ++sequence)
      bus.post(Event<Tagged>("ticks", {0, sequence}));
  });
  struct StopOnExit {  // a failed ASSERT below returns: the poster must end first
    std::atomic<bool>& stop;
    ~StopOnExit() { stop.store(true); }
  } stop_on_exit{stop};
  for (int round = 0; round < kRounds; ++round) {
    auto state = std::make_shared<Round>();
    Subscription subscription =
        bus.subscribe<Tagged>("ticks", [state, &invoked_after_cancel](const Event<Tagged>& event) {
          const ConcurrencyProbe::Inside inside(state->probe);
          if (state->cancelled.load()) invoked_after_cancel.fetch_add(1);
          state->order.record(event.data());
          if (state->calls.fetch_add(1) + 1 == kCallsBeforeCancel) state->enough_calls.open();
        });
    ASSERT_TRUE(state->enough_calls.wait_for(kBoundedWait)) << "round " << round;
    if (round % 2 == 1) bus.post(Event<Tagged>("ticks", {1, round}));
    subscription.cancel();
    state->cancelled.store(true);
    EXPECT_EQ(state->probe.max_running(), 1) << "round " << round;
    EXPECT_EQ(state->order.out_of_order(), 0) << "round " << round;
  }
  stop.store(true);
  posting.get();

  EXPECT_EQ(invoked_after_cancel.load(), 0) << "a subscriber ran after cancel() returned";
  const Stats stats = bus.stats();
  EXPECT_EQ(stats.posted, stats.delivered_events + stats.dead);
  EXPECT_EQ(stats.failed, 0u);
}

// ---------------------------------------------------------------------------
// 3. Concurrent subscribers

TEST(EventBusConcurrency, ConcurrentSubscriberIsInvokedOnSeveralThreadsAtOnce) {
  Rendezvous two_inside(2);
  EventBus bus(pool_of_two());
  bus.subscribe<int>(
      "jobs", [&](const Event<int>&) { two_inside.arrive_and_wait(); }, Concurrency::Concurrent);

  for (int i = 0; i < 4; ++i) bus.post(Event<int>("jobs", i));
  bus.wait_idle();

  EXPECT_TRUE(two_inside.met()) << "no two invocations of a Concurrent subscriber overlapped";
}

// Per ordering key: how many invocations run at once, and each producer's
// order. Each key's state is touched only by that key's invocations.
class KeyedChecker : public courier::Subscriber<Tagged> {
 public:
  static constexpr int kKeys = 5;

  KeyedChecker() : courier::Subscriber<Tagged>(Concurrency::Concurrent) {}

  static std::string key(int index) { return "key-" + std::to_string(index); }

  void process(const Event<Tagged>& event) override {
    KeyState& state =
        keys_[static_cast<std::size_t>(std::stoi(std::string(event.ordering_key().substr(4))))];
    const ConcurrencyProbe::Inside inside(state.probe);
    state.order.record(event.data());
    state.sequences.push_back(event.data().sequence);
  }

  struct KeyState {
    ConcurrencyProbe probe;
    ProducerOrder order;
    std::vector<int> sequences;
  };
  const KeyState& state(int key_index) const { return keys_[static_cast<std::size_t>(key_index)]; }

 private:
  std::vector<KeyState> keys_ = std::vector<KeyState>(kKeys);
};

TEST(EventBusConcurrency, EventsSharingAnOrderingKeyArriveInPostOrderOneAtATime) {
  auto checker = std::make_shared<KeyedChecker>();
  EventBus bus(pool_of_two());
  bus.subscribe(checker, "orders");

  run_producers([&](int producer) {
    for (int i = 0; i < kEventsPerProducer; ++i) {
      const std::string key = KeyedChecker::key((producer + i) % KeyedChecker::kKeys);
      bus.post(Event<Tagged>("orders", {producer, i}, key));
    }
  });
  bus.wait_idle();

  int received = 0;
  for (int key = 0; key < KeyedChecker::kKeys; ++key) {
    EXPECT_EQ(checker->state(key).probe.max_running(), 1) << KeyedChecker::key(key);
    EXPECT_EQ(checker->state(key).order.out_of_order(), 0) << KeyedChecker::key(key);
    received += checker->state(key).order.received();
  }
  EXPECT_EQ(received, kProducers * kEventsPerProducer);
}

TEST(EventBusConcurrency, OneProducersKeyedEventsArriveInStrictPostOrderPerKey) {
  constexpr int kEvents = 4000;
  auto checker = std::make_shared<KeyedChecker>();
  EventBus bus(pool_of_two());
  bus.subscribe(checker, "orders");

  for (int i = 0; i < kEvents; ++i) {
    bus.post(Event<Tagged>("orders", {0, i}, KeyedChecker::key(i % KeyedChecker::kKeys)));
  }
  bus.wait_idle();

  for (int key = 0; key < KeyedChecker::kKeys; ++key) {
    std::vector<int> expected;
    for (int i = key; i < kEvents; i += KeyedChecker::kKeys) expected.push_back(i);
    EXPECT_EQ(checker->state(key).sequences, expected) << KeyedChecker::key(key);
  }
}

TEST(EventBusConcurrency, ConcurrentSubscriberGetsEveryUnkeyedEventExactlyOnce) {
  std::vector<std::atomic<int>> deliveries(kProducers * kEventsPerProducer);
  EventBus bus(pool_of_two());
  bus.subscribe<Tagged>(
      "jobs",
      [&](const Event<Tagged>& event) {
        const int index = event.data().producer * kEventsPerProducer + event.data().sequence;
        deliveries[static_cast<std::size_t>(index)].fetch_add(1);
      },
      Concurrency::Concurrent);

  run_producers([&](int producer) {
    for (int i = 0; i < kEventsPerProducer; ++i) bus.post(Event<Tagged>("jobs", {producer, i}));
  });
  bus.wait_idle();

  int wrong = 0;
  for (const auto& count : deliveries) wrong += count.load() == 1 ? 0 : 1;
  EXPECT_EQ(wrong, 0) << "events not delivered exactly once";
}

// ---------------------------------------------------------------------------
// 7 and 10 under load: subscriptions come and go while producers post.

TEST(EventBusConcurrency, SubscriptionsComeAndGoSafelyWhileProducersPost) {
  constexpr int kChurn = 200;
  struct Cancelled {
    std::shared_ptr<std::atomic<int>> calls;
    int calls_when_cancel_returned;
  };
  auto steady = std::make_shared<SerialChecker>();
  EventBus bus(pool_of_two());
  bus.subscribe(steady, "ticks");

  auto churn = run_on_thread([&] {
    std::vector<Cancelled> cancelled;
    for (int i = 0; i < kChurn; ++i) {
      auto calls = std::make_shared<std::atomic<int>>(0);
      Subscription subscription = bus.subscribe<Tagged>(
          "ticks", [calls](const Event<Tagged>&) { calls->fetch_add(1); },
          i % 2 == 0 ? Concurrency::Serial : Concurrency::Concurrent);
      subscription.cancel();
      cancelled.push_back({calls, calls->load()});
    }
    return cancelled;
  });
  run_producers([&](int producer) {
    for (int i = 0; i < kEventsPerProducer; ++i) bus.post(Event<Tagged>("ticks", {producer, i}));
  });
  const std::vector<Cancelled> cancelled = churn.get();
  bus.wait_idle();

  int invoked_after_cancel = 0;
  for (const Cancelled& each : cancelled) {
    invoked_after_cancel += each.calls->load() == each.calls_when_cancel_returned ? 0 : 1;
  }
  EXPECT_EQ(invoked_after_cancel, 0) << "subscriptions invoked after cancel() returned";
  const Stats stats = bus.stats();
  EXPECT_EQ(stats.posted, stats.delivered_events + stats.dead);
  EXPECT_EQ(stats.subscriptions, 1u);
  EXPECT_EQ(steady->probe().max_running(), 1);
  EXPECT_EQ(steady->order().out_of_order(), 0);
  EXPECT_EQ(steady->order().received(), kProducers * kEventsPerProducer);
}

// ---------------------------------------------------------------------------
// 10 under load

TEST(EventBusConcurrency, AtQuiescenceEveryAcceptedEventIsDeliveredOrDead) {
  auto live = std::make_shared<SerialChecker>();
  EventBus bus(pool_of_two());
  bus.subscribe(live, "live.*");

  run_producers([&](int producer) {
    const std::string topic = (producer % 2 == 0 ? "live." : "dead.") + std::to_string(producer);
    for (int i = 0; i < kEventsPerProducer; ++i) bus.post(Event<Tagged>(topic, {producer, i}));
  });
  bus.wait_idle();

  const Stats stats = bus.stats();
  constexpr auto kHalf = static_cast<std::uint64_t>(kProducers / 2 * kEventsPerProducer);
  EXPECT_EQ(stats.posted, 2 * kHalf);
  EXPECT_EQ(stats.dead, kHalf);
  EXPECT_EQ(stats.delivered_events, kHalf);
  EXPECT_EQ(stats.posted, stats.delivered_events + stats.dead);
  EXPECT_EQ(stats.queued, 0u);
  EXPECT_EQ(live->order().received(), static_cast<int>(kHalf));
}

// ---------------------------------------------------------------------------
// The bounded queue must not shrink: every slot comes back once its event is
// delivered, however the posting threads interleave.

// Posts with try_post(), retrying while the queue is full, for at most
// kBoundedWait (a blocking post() would hang for good once slots are lost).
bool post_before_deadline(EventBus& bus, const Event<Tagged>& event) {
  const auto deadline = std::chrono::steady_clock::now() + kBoundedWait;
  while (!bus.try_post(event)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// True if `bus` goes idle within kBoundedWait. The waiting thread is detached:
// if the bus never goes idle, the caller must leak the bus rather than destroy it.
bool goes_idle_promptly(EventBus& bus) {
  auto idle = std::make_shared<Gate>();
  std::thread([&bus, idle] {
    bus.wait_idle();
    idle->open();
  }).detach();
  return idle->wait_for(kBoundedWait);
}

TEST(EventBusConcurrency, ProducersOvertakingEachOtherLoseNoSlots) {
  // A power of two: the free-slot ring has no spare cells, so it wraps around
  // after every few events and a poster preempted inside its pop is overtaken.
  constexpr std::size_t kTinyCapacity = 2;
  auto bus = std::make_unique<EventBus>(Options{.threads = 2, .queue_capacity = kTinyCapacity});
  auto delivered = std::make_shared<std::atomic<int>>(0);  // may outlive the test, as the bus may
  bus->subscribe<Tagged>("ticks", [delivered](const Event<Tagged>&) { delivered->fetch_add(1); });
  std::atomic<int> gave_up{0};

  run_producers([&](int producer) {
    for (int i = 0; i < kEventsPerProducer; ++i) {
      if (!post_before_deadline(*bus, Event<Tagged>("ticks", {producer, i}))) {
        gave_up.fetch_add(1);
        return;
      }
    }
  });
  const bool idle = goes_idle_promptly(*bus);

  if (!idle || gave_up.load() != 0) {
    const std::uint64_t stuck = bus->stats().queued;
    (void)bus.release();  // its destructor would wait forever for the lost slots
    FAIL() << "queue slots were lost: " << stuck << " of " << kTinyCapacity
           << " still taken although no event is left to deliver (" << delivered->load()
           << " delivered, " << gave_up.load() << " producers could not post any more)";
  }
  EXPECT_EQ(delivered->load(), kProducers * kEventsPerProducer);
  EXPECT_EQ(bus->stats().queued, 0u);
}

}  // namespace
