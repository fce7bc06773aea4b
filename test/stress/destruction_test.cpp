// Destruction safety: what users destroy right after courier says they may.
//  - A subscriber destroyed by its owner as soon as unsubscribe / cancel
//    returns, with events in flight, is never touched again (ASan reports any
//    use after free; a flag that outlives it reports it in any build).
//  - Subscription handles that outlive their bus, or race its destruction,
//    can still be cancelled and destroyed.
//  - A bus shut down while producers are blocked in post rejects them with
//    BusClosed (they were never accepted), and its destructor then returns
//    promptly.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "stress_support.hpp"

namespace {

using courier::Concurrency;
using courier_stress::Figures;
using courier_stress::Rounds;

using Event = courier::Event<std::uint64_t>;

// Outlives every probe: where a probe invoked after its cancel returned (and
// perhaps after it was freed) reports itself.
struct Witnesses {
  std::atomic<std::uint64_t> late{0};
  std::atomic<std::uint64_t> probes{0};
};

// A subscriber that writes into memory of its own on every event, slowly
// enough that invocations are often running when its owner unsubscribes.
class Probe final : public courier::Subscriber<std::uint64_t> {
 public:
  Probe(Concurrency concurrency, Witnesses& witnesses)
      : Subscriber(concurrency), witnesses_(witnesses), scratch_(64) {}

  void process(const Event& event) override {
    if (unsubscribed_.load()) witnesses_.late.fetch_add(1);
    for (std::size_t i = 0; i < scratch_.size(); ++i) scratch_[i] += event.data() + i;
    invocations_.add();
  }

  void unsubscribe_returned() { unsubscribed_.store(true); }
  const courier_stress::Tally& invocations() const { return invocations_; }

 private:
  Witnesses& witnesses_;
  std::vector<std::atomic<std::uint64_t>> scratch_;  // heap memory a late call would touch
  std::atomic<bool> unsubscribed_{false};
  courier_stress::Tally invocations_;
};

TEST(DestructionSafety, SubscriberDestroyedRightAfterUnsubscribeIsNeverTouched) {
  const courier_stress::Watchdog scenario(
      "DestructionSafety.SubscriberDestroyedRightAfterUnsubscribeIsNeverTouched",
      courier_stress::scenario_bound());
  constexpr std::size_t kProducers = 2;
  Witnesses witnesses;
  auto owned_bus =
      std::make_unique<courier::EventBus>(courier::Options{.threads = 4, .queue_capacity = 256});
  courier::EventBus& bus = *owned_bus;
  std::atomic<bool> stop{false};
  std::vector<std::thread> producers;
  for (std::size_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&] {
      for (std::uint64_t i = 0; !stop.load(); ++i) bus.post(Event("probe.tick", i));
    });
  }

  Figures figures{.scenario = "destroy-after-unsubscribe", .threads = kProducers + 4 + 1};
  Rounds rounds;
  std::mt19937_64 random(courier_stress::round_seed(0));
  while (rounds.another_round()) {
    courier_stress::Watchdog watchdog("destroy after unsubscribe, round " +
                                      std::to_string(rounds.index()));
    const Concurrency concurrency = random() % 2 ? Concurrency::Serial : Concurrency::Concurrent;
    auto probe = std::make_shared<Probe>(concurrency, witnesses);
    bus.subscribe(probe, "probe.*");
    bus.subscribe(probe, "probe.>");  // two subscriptions of one subscriber: both must stop
    // Let some events arrive first (pacing only: it may time out).
    probe->invocations().wait_for_at_least(1 + random() % 8, std::chrono::milliseconds(20));
    bus.unsubscribe(probe);
    probe->unsubscribe_returned();
    EXPECT_EQ(probe.use_count(), 1) << "the bus still holds the subscriber after unsubscribe";
    probe.reset();  // freed here; a later call is a use after free
    witnesses.probes.fetch_add(1);

    // The same with a callable and Subscription::cancel: the callable writes
    // into an object its owner frees right after cancel returns.
    auto target = std::make_unique<std::vector<std::atomic<std::uint64_t>>>(64);
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    courier::Subscription subscription = bus.subscribe<std::uint64_t>(
        "probe.tick",
        [&witnesses, cancelled, memory = target.get()](const Event& event) {
          if (cancelled->load()) witnesses.late.fetch_add(1);
          for (auto& word : *memory) word += event.data();
        },
        concurrency);
    subscription.cancel();
    cancelled->store(true);
    target.reset();
    if (HasFailure()) break;
  }
  stop.store(true);
  for (std::thread& producer : producers) producer.join();
  if (!courier_stress::drain_or_abandon(owned_bus)) return;
  EXPECT_EQ(witnesses.late.load(), 0u) << "invocations after unsubscribe or cancel returned";
  figures.rounds = rounds.count();
  figures.events = bus.stats().posted;
  figures.deliveries = bus.stats().delivered;
  figures.faults = 2 * witnesses.probes.load();  // subscribers destroyed under fire
  figures.seconds = rounds.elapsed_seconds();
  figures.print();
}

// Handles of every kind, some cancelled while the bus is being destroyed on
// another thread, the rest after it is gone.
TEST(DestructionSafety, SubscriptionHandlesOutlivingTheirBusAreSafe) {
  const courier_stress::Watchdog scenario(
      "DestructionSafety.SubscriptionHandlesOutlivingTheirBusAreSafe",
      courier_stress::scenario_bound());
  struct Counter final : courier::Subscriber<std::uint64_t> {
    void process(const Event&) override { ++seen; }
    std::atomic<std::uint64_t> seen{0};
  };
  Figures figures{.scenario = "handles-outliving-bus", .threads = 3};
  Rounds rounds;
  while (rounds.another_round()) {
    courier_stress::Watchdog watchdog("handles outliving their bus, round " +
                                      std::to_string(rounds.index()));
    auto counter = std::make_shared<Counter>();
    std::vector<courier::Subscription> racing, surviving;
    courier::ScopedSubscription scoped;
    {
      auto bus =
          std::make_unique<courier::EventBus>(courier::Options{.threads = 2, .queue_capacity = 64});
      for (int i = 0; i < 8; ++i) {
        courier::Subscription handle = bus->subscribe<std::uint64_t>(
            "handles.*", [&counter](const Event&) { ++counter->seen; });
        racing.push_back(handle);
        surviving.push_back(handle);  // a copy of the same handle
      }
      surviving.push_back(bus->subscribe(counter, "handles.>"));
      scoped = courier::ScopedSubscription(bus->subscribe<std::uint64_t>(
          "handles.x", [&counter](const Event&) { ++counter->seen; }));
      for (std::uint64_t i = 0; i < 100; ++i) bus->post(Event("handles.x", i));
      bus->wait_idle();  // so that every subscription counts all 100

      std::thread canceller([&] {
        for (courier::Subscription& handle : racing) handle.cancel();
      });
      bus.reset();  // shuts down and releases subscribers while handles are cancelled
      canceller.join();
    }
    for (courier::Subscription& handle : surviving) {
      EXPECT_FALSE(handle.active());
      handle.cancel();  // the bus is gone: a no-op
      handle.cancel();
    }
    scoped.cancel();
    EXPECT_FALSE(scoped.active());
    EXPECT_EQ(counter.use_count(), 1) << "the destroyed bus still holds a subscriber";
    EXPECT_EQ(counter->seen.load(), 100u * 10) << "events accepted before shutdown were lost";
    figures.events += 100;
    figures.deliveries += counter->seen.load();
    figures.faults += racing.size() + surviving.size() + 1;
    if (HasFailure()) break;
  }
  figures.report(rounds);
}

TEST(DestructionSafety, ShutdownRejectsBlockedProducersAndDestructorReturnsPromptly) {
  const courier_stress::Watchdog scenario(
      "DestructionSafety.ShutdownRejectsBlockedProducersAndDestructorReturnsPromptly",
      courier_stress::scenario_bound());
  constexpr std::size_t kProducers = 4;
  constexpr std::size_t kCapacity = 8;
  courier_stress::Gate gate;
  courier_stress::Tally attempted, accepted, rejected, delivered;
  auto bus = std::make_unique<courier::EventBus>(
      courier::Options{.threads = 2, .queue_capacity = kCapacity});
  bus->subscribe<std::uint64_t>("blocked.*", [&](const Event&) {
    EXPECT_TRUE(gate.wait_for(courier_stress::kPromptly)) << "the gate was never opened";
    delivered.add();
  });
  std::vector<std::thread> producers;
  for (std::size_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&] {
      for (std::uint64_t i = 0;; ++i) {
        attempted.add();
        try {
          bus->post(Event("blocked.in", i));
        } catch (const courier::BusClosed&) {
          rejected.add();
          return;
        }
        accepted.add();
      }
    });
  }
  ASSERT_TRUE(accepted.wait_for_at_least(kCapacity, courier_stress::kPromptly));
  ASSERT_TRUE(attempted.wait_for_at_least(kCapacity + kProducers, courier_stress::kPromptly));

  // Opens the gate only once every blocked producer was turned away, so that
  // shutdown() below cannot finish draining before it rejected them.
  std::thread opener([&] {
    EXPECT_TRUE(rejected.wait_for_at_least(kProducers, courier_stress::kPromptly))
        << "producers blocked in post were not rejected by shutdown";
    gate.open();
  });
  bus->shutdown();
  opener.join();
  for (std::thread& producer : producers) producer.join();
  EXPECT_EQ(rejected.value(), kProducers);
  EXPECT_EQ(accepted.value(), kCapacity) << "accepted beyond the queue while it was held full";
  EXPECT_EQ(delivered.value(), accepted.value()) << "accepted events were not all delivered";
  EXPECT_EQ(bus->stats().posted, accepted.value());

  const auto start = std::chrono::steady_clock::now();
  bus.reset();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(5)) << "the destructor of a shut-down bus took long";
}

}  // namespace
