// Shutdown under load. Each round builds a fresh bus and shuts it down while
// it is busy: with producers blocked on a full queue, and while handlers post
// (from another thread, from inside a handler, and by the destructor). Every
// accepted event must be delivered exactly once, every post the bus rejected
// must have thrown BusClosed and never be delivered, and nothing may deadlock
// (a watchdog fails the round after a bound).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "stress_support.hpp"

namespace {

using courier_stress::Figures;
using courier_stress::Rounds;

struct Payload {
  std::uint32_t id;
  std::uint32_t hops_left;  // relay scenario: how many more times to re-post
};
using Event = courier::Event<Payload>;

// What became of each event id: posted by whom, accepted or rejected, and how
// often delivered. Sized for a round; posters stop at the end of the range.
class Ledger {
 public:
  enum Outcome : std::uint8_t { kUnused = 0, kAccepted = 1, kRejected = 2 };

  explicit Ledger(std::size_t ids)
      : size_(ids),
        outcome_(std::make_unique<std::atomic<std::uint8_t>[]>(ids)),
        deliveries_(std::make_unique<std::atomic<std::uint8_t>[]>(ids)) {}

  // A fresh id, or false once the range is used up.
  bool next_id(std::uint32_t& id) {
    const std::uint64_t next = next_.fetch_add(1);
    if (next >= size_) return false;
    id = static_cast<std::uint32_t>(next);
    return true;
  }
  // Posts `event` with post() and records the outcome. False if rejected.
  bool post(courier::EventBus& bus, Event event) {
    const std::uint32_t id = event.data().id;
    try {
      bus.post(std::move(event));
    } catch (const courier::BusClosed&) {
      outcome_[id].store(kRejected);
      return false;
    }
    outcome_[id].store(kAccepted);
    return true;
  }
  void delivered(std::uint32_t id) { deliveries_[id].fetch_add(1); }

  struct Summary {
    std::uint64_t accepted = 0, rejected = 0, lost = 0, duplicated = 0, rejected_but_delivered = 0;
  };
  // Only once every poster and handler is done.
  Summary summarize() const {
    Summary summary;
    const std::uint64_t used = std::min<std::uint64_t>(next_.load(), size_);
    for (std::uint64_t id = 0; id < used; ++id) {
      const unsigned deliveries = deliveries_[id].load();
      switch (outcome_[id].load()) {
        case kAccepted:
          ++summary.accepted;
          if (deliveries == 0) ++summary.lost;
          if (deliveries > 1) ++summary.duplicated;
          break;
        case kRejected:
          ++summary.rejected;
          if (deliveries != 0) ++summary.rejected_but_delivered;
          break;
        default:
          break;
      }
    }
    return summary;
  }

 private:
  const std::size_t size_;
  std::atomic<std::uint64_t> next_{0};
  std::unique_ptr<std::atomic<std::uint8_t>[]> outcome_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> deliveries_;
};

void expect_nothing_lost(const Ledger::Summary& summary) {
  EXPECT_EQ(summary.lost, 0u) << "accepted events never delivered";
  EXPECT_EQ(summary.duplicated, 0u) << "events delivered more than once";
  EXPECT_EQ(summary.rejected_but_delivered, 0u) << "rejected events delivered";
}

// After shutdown, every way in is closed.
void expect_closed(courier::EventBus& bus) {
  EXPECT_THROW(bus.post(Event("gate.late", Payload{0, 0})), courier::BusClosed);
  EXPECT_FALSE(bus.try_post(Event("gate.late", Payload{0, 0})));
}

// --- Producers blocked on a full queue -----------------------------------------

struct BlockedRound {
  std::size_t producers;
  std::size_t executors;
  std::size_t capacity;
};

BlockedRound pick_blocked_round(std::uint64_t seed) {
  std::mt19937_64 random(seed);
  return BlockedRound{
      .producers = 2 + random() % 5, .executors = 1 + random() % 3, .capacity = 1 + random() % 32};
}

// Fills the queue behind a closed gate until every producer is blocked, shuts
// down from another thread, checks the blocked producers are rejected before
// anything is drained, then opens the gate and lets shutdown finish.
void run_blocked_round(const BlockedRound& shape, Figures& figures) {
  Ledger ledger(1 << 16);
  courier_stress::Gate gate;
  courier_stress::Tally attempted, accepted, rejected;
  auto bus = std::make_unique<courier::EventBus>(
      courier::Options{.threads = shape.executors, .queue_capacity = shape.capacity});
  bus->subscribe<Payload>("gate.>", [&](const Event& event) {
    if (!gate.wait_for(courier_stress::kPromptly)) ADD_FAILURE() << "the gate was never opened";
    ledger.delivered(event.data().id);
  });

  std::vector<std::thread> producers;
  for (std::size_t p = 0; p < shape.producers; ++p) {
    producers.emplace_back([&] {
      std::uint32_t id;
      while (ledger.next_id(id)) {
        attempted.add();
        if (!ledger.post(*bus, Event("gate.in", Payload{id, 0}))) {
          rejected.add();
          return;
        }
        accepted.add();
      }
    });
  }
  // The gate holds every slot: once `capacity` posts were accepted and each
  // producer started one more, they are all blocked (or about to block).
  const bool full =
      accepted.wait_for_at_least(shape.capacity, courier_stress::kPromptly) &&
      attempted.wait_for_at_least(shape.capacity + shape.producers, courier_stress::kPromptly);
  EXPECT_TRUE(full) << "the queue never filled: accepted " << accepted.value();
  EXPECT_EQ(accepted.value(), shape.capacity) << "more accepted than the queue holds";

  std::thread closer([&] { bus->shutdown(); });
  EXPECT_TRUE(rejected.wait_for_at_least(shape.producers, courier_stress::kPromptly))
      << "shutdown left producers blocked in post: " << rejected.value() << " of "
      << shape.producers << " rejected";
  gate.open();
  closer.join();
  for (std::thread& producer : producers) producer.join();

  expect_closed(*bus);
  const Ledger::Summary summary = ledger.summarize();
  expect_nothing_lost(summary);
  EXPECT_EQ(summary.rejected, shape.producers);
  EXPECT_EQ(bus->stats().posted, summary.accepted);
  figures.events += summary.accepted;
  figures.deliveries += summary.accepted;
  figures.faults += summary.rejected;
}

TEST(ShutdownStress, BlockedProducersAreRejectedAndAcceptedEventsDelivered) {
  const courier_stress::Watchdog scenario(
      "ShutdownStress.BlockedProducersAreRejectedAndAcceptedEventsDelivered",
      courier_stress::scenario_bound());
  Figures figures{.scenario = "shutdown-blocked-producers", .threads = 6 + 3};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    const BlockedRound shape = pick_blocked_round(courier_stress::round_seed(rounds.index()));
    SCOPED_TRACE("producers " + std::to_string(shape.producers) + ", executors " +
                 std::to_string(shape.executors) + ", capacity " + std::to_string(shape.capacity));
    courier_stress::Watchdog watchdog("shutdown with blocked producers, round " +
                                      std::to_string(rounds.index()));
    run_blocked_round(shape, figures);
    if (HasFailure()) break;
  }
  figures.report(rounds);
}

// --- Handlers that post while the bus shuts down -----------------------------

enum class Closer { OtherThread, InsideHandler, Destructor };

// A relay: every delivered event with hops left is re-posted from inside the
// handler (beyond the queue bound, as the contract allows on executor
// threads); posts that meet a closed bus are recorded as rejected.
void relay(courier::EventBus& bus, Ledger& ledger, const Event& event) {
  ledger.delivered(event.data().id);
  if (event.data().hops_left == 0) return;
  std::uint32_t child;
  if (!ledger.next_id(child)) return;
  ledger.post(bus, Event("relay.hop", Payload{child, event.data().hops_left - 1}));
}

void run_relay_round(std::uint64_t seed, Closer closer, Figures& figures) {
  constexpr std::size_t kProducers = 3;
  std::mt19937_64 random(seed);
  Ledger ledger(courier_stress::scaled(1 << 18));
  courier_stress::Tally deliveries;
  const std::uint32_t trigger = 500 + random() % 4000;  // the id whose delivery shuts down
  auto bus = std::make_unique<courier::EventBus>(
      courier::Options{.threads = 3, .queue_capacity = 1 + random() % 16});
  // Handlers reach the bus by plain pointer: they still run (and post) while
  // its destructor drains, when the unique_ptr already reads null.
  courier::EventBus* const raw_bus = bus.get();
  bus->subscribe<Payload>(
      "relay.>",
      [&, raw_bus](const Event& event) {
        relay(*raw_bus, ledger, event);
        if (closer == Closer::InsideHandler && event.data().id == trigger) raw_bus->shutdown();
        deliveries.add();
      },
      courier::Concurrency::Concurrent);

  std::vector<std::thread> producers;
  for (std::size_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::uint32_t id;
      for (std::uint32_t round_robin = 0; ledger.next_id(id); ++round_robin) {
        const Event event("relay.root",
                          Payload{id, static_cast<std::uint32_t>((round_robin + p) % 5)});
        if (!ledger.post(*bus, event)) {
          // Closed stays closed: later attempts are rejected too.
          EXPECT_THROW(bus->post(event), courier::BusClosed);
          EXPECT_FALSE(bus->try_post(event));
          return;
        }
      }
    });
  }
  const std::uint64_t some = 100 + random() % 5000;
  if (closer == Closer::OtherThread) {
    deliveries.wait_for_at_least(some, courier_stress::kPromptly);
    bus->shutdown();
  }
  for (std::thread& producer : producers) producer.join();
  if (closer == Closer::OtherThread) {
    expect_closed(*bus);
    EXPECT_EQ(bus->stats().posted, ledger.summarize().accepted);
  }
  // The destructor shuts down (or finishes the shutdown a handler started):
  // it must deliver what is left, re-posts included, and return.
  bus.reset();

  const Ledger::Summary summary = ledger.summarize();
  expect_nothing_lost(summary);
  EXPECT_EQ(deliveries.value(), summary.accepted);
  figures.events += summary.accepted;
  figures.deliveries += summary.accepted;
  figures.faults += summary.rejected + 1;  // the rejected posts and the shutdown itself
  figures.lost += summary.lost;
}

TEST(ShutdownStress, HandlersPostingDuringShutdownLoseNothing) {
  const courier_stress::Watchdog scenario("ShutdownStress.HandlersPostingDuringShutdownLoseNothing",
                                          courier_stress::scenario_bound());
  Figures figures{.scenario = "shutdown-while-handlers-post", .threads = 3 + 3};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    const auto closer = static_cast<Closer>(rounds.index() % 3);
    SCOPED_TRACE("closer " + std::to_string(rounds.index() % 3) +
                 " (0: other thread, 1: inside a handler, 2: destructor)");
    courier_stress::Watchdog watchdog("shutdown while handlers post, round " +
                                      std::to_string(rounds.index()));
    run_relay_round(courier_stress::round_seed(rounds.index()), closer, figures);
    if (HasFailure()) break;
  }
  figures.report(rounds);
  EXPECT_EQ(figures.lost, 0u);
}

}  // namespace
