// Pull streams under every overflow policy (issue 15), with producers on
// several threads, consumers that stall, consumers that close their stream
// mid-iteration and open a new one, and a shutdown that comes either while the
// producers post or after they are done.
//
// Each round counts the events the bus accepted (posts that returned) and
// checks every stream it made, once its consumer has seen the end:
//   - accounting: received = delivered + dropped + depth, exactly;
//   - order: each producer's events arrive in post order (drops leave gaps;
//     Block leaves none);
//   - nothing lost: a stream that lived the whole round received every
//     accepted event, and under Block delivered every one, in order;
//   - the bus's drop counter is the sum of the streams' policy drops, and its
//     on_drop hook was called once per drop.
// A round that hangs (a parked lane never resumed, a consumer never woken, a
// shutdown waiting forever) ends in the watchdog.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/stream.hpp"
#include "stress_support.hpp"

namespace {

using courier::Overflow;
using courier_stress::Figures;
using courier_stress::Rounds;

constexpr std::uint32_t kProducers = 3;
constexpr std::size_t kExecutors = 2;
constexpr std::size_t kStreams = 4;
constexpr std::size_t kCapacity = 64;

struct Stamp {
  std::uint32_t producer;
  std::uint32_t sequence;
};

// How a consumer behaves for a round, chosen by the round's seed.
enum class Consumer {
  Steady,    // takes every event as it comes
  Stalling,  // now and then stops taking for a while (yields, no sleep)
  Reopening  // closes its stream after a few events and opens another
};

// One stream's life, as its consumer saw it.
struct Record {
  std::vector<Stamp> seen;
  courier::StreamStats stats;  // once the consumer saw the end or closed it
  bool whole_round = false;    // opened before the producers, ended by the shutdown
  // A closed stream's drops just before close(): its policy drops are at
  // least these and at most all its drops (close() drops what is queued).
  std::optional<std::uint64_t> dropped_before_close;
};

struct RoundPlan {
  Overflow overflow;
  std::array<std::size_t, kStreams> depth{};
  std::array<Consumer, kStreams> consumer{};
  std::uint32_t per_producer = 0;
  std::optional<std::uint64_t> shutdown_after;  // accepted events; else after the producers

  RoundPlan(Overflow policy, std::mt19937_64& random) : overflow(policy) {
    constexpr std::array<std::size_t, 4> kDepths{0, 1, 4, 16};
    for (std::size_t s = 0; s < kStreams; ++s) {
      depth[s] = kDepths[random() % kDepths.size()];
      if (depth[s] == 0 && overflow != Overflow::Block) depth[s] = 2;  // depth 0 needs Block
      consumer[s] = static_cast<Consumer>(random() % 3);
    }
    per_producer = static_cast<std::uint32_t>(courier_stress::scaled(2000 + random() % 2000));
    if (random() % 2 == 0) shutdown_after = random() % (std::uint64_t{kProducers} * per_producer);
  }
};

void stall(std::mt19937_64& random) {
  for (std::uint64_t spins = random() % 2000; spins != 0; --spins) std::this_thread::yield();
}

// Reads one stream slot for a whole round: the first stream is made before
// the producers start; a reopening consumer makes more. Returns their records.
std::vector<Record> consume(courier::EventBus& bus, courier::Stream<Stamp> first,
                            const RoundPlan& plan, std::size_t slot, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<Record> records;
  std::optional<courier::Stream<Stamp>> stream(std::move(first));
  bool whole_round = true;
  while (stream) {
    Record record;
    record.whole_round = whole_round;
    const std::uint64_t close_after = 1 + random() % 64;
    bool reopen = false;
    for (const courier::Event<Stamp>& event : *stream) {
      record.seen.push_back(event.data());
      if (plan.consumer[slot] == Consumer::Stalling && random() % 64 == 0) stall(random);
      if (plan.consumer[slot] == Consumer::Reopening && record.seen.size() == close_after) {
        reopen = true;
        break;
      }
    }
    if (reopen) {
      record.dropped_before_close = stream->stats().dropped;
      stream->close();
      record.whole_round = false;
    }
    record.stats = stream->stats();
    records.push_back(std::move(record));
    stream.reset();
    whole_round = false;
    if (!reopen) break;
    try {
      stream = bus.stream<Stamp>("feed.>", {.depth = plan.depth[slot], .overflow = plan.overflow});
    } catch (const courier::BusClosed&) {
      // The shutdown came first: this slot is done.
    }
  }
  return records;
}

// Checks one record against what the bus accepted.
void check(const Record& record, Overflow overflow,
           const std::array<std::uint32_t, kProducers>& accepted) {
  const courier::StreamStats& stats = record.stats;
  EXPECT_EQ(stats.received, stats.delivered + stats.dropped + stats.depth)
      << "received=" << stats.received << " delivered=" << stats.delivered
      << " dropped=" << stats.dropped << " depth=" << stats.depth;
  EXPECT_EQ(stats.delivered, record.seen.size());

  std::array<std::optional<std::uint32_t>, kProducers> last{};
  for (const Stamp& stamp : record.seen) {
    std::optional<std::uint32_t>& previous = last.at(stamp.producer);
    if (previous) {
      EXPECT_GT(stamp.sequence, *previous) << "producer " << stamp.producer << " out of order";
      if (overflow == Overflow::Block) {
        EXPECT_EQ(stamp.sequence, *previous + 1) << "Block lost an event of " << stamp.producer;
      }
    }
    previous = stamp.sequence;
  }

  std::uint64_t total = 0;
  for (std::uint32_t count : accepted) total += count;
  if (record.whole_round) {
    EXPECT_EQ(stats.depth, 0U) << "the stream ended with events still queued";
    EXPECT_EQ(stats.received, total) << "a stream missed accepted events";
    if (overflow == Overflow::Block) {
      EXPECT_EQ(stats.dropped, 0U);
      for (std::uint32_t p = 0; p < kProducers; ++p) {
        const std::uint32_t got = last.at(p) ? *last.at(p) + 1 : 0;
        EXPECT_EQ(got, accepted.at(p)) << "Block did not deliver all of producer " << p;
      }
    }
  }
}

// What a stream's policy dropped: [lowest, highest] (exact unless it was closed).
struct DropRange {
  std::uint64_t lowest = 0;
  std::uint64_t highest = 0;
  void add(const Record& record) {
    lowest += record.dropped_before_close.value_or(record.stats.dropped);
    highest += record.stats.dropped;
  }
};

std::string policy_name(Overflow overflow) {
  switch (overflow) {
    case Overflow::Block:
      return "Block";
    case Overflow::DropNewest:
      return "DropNewest";
    case Overflow::DropOldest:
      return "DropOldest";
  }
  return "Unknown";
}

class StreamStress : public ::testing::TestWithParam<Overflow> {};

TEST_P(StreamStress, ProducersConsumersClosesAndShutdownKeepExactAccounts) {
  const std::string name = "StreamStress." + policy_name(GetParam());
  const courier_stress::Watchdog scenario(name, courier_stress::scenario_bound());
  Figures figures{.scenario = "streams, " + policy_name(GetParam()),
                  .threads = kProducers + kExecutors + kStreams + 1};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog(name + " round " + std::to_string(rounds.index()));
    std::mt19937_64 random(courier_stress::round_seed(rounds.index()));
    const RoundPlan plan(GetParam(), random);
    auto bus = std::make_unique<courier::EventBus>(
        courier::Options{.threads = kExecutors, .queue_capacity = kCapacity});
    std::atomic<std::uint64_t> hooked_drops{0};
    const boost::signals2::scoped_connection drop_hook =
        bus->on_drop([&](const courier::DroppedEvents&) { hooked_drops.fetch_add(1); });

    std::vector<std::vector<Record>> records(kStreams);
    std::vector<std::thread> consumers;
    for (std::size_t s = 0; s < kStreams; ++s) {
      courier::Stream<Stamp> stream =
          bus->stream<Stamp>("feed.>", {.depth = plan.depth[s], .overflow = plan.overflow});
      consumers.emplace_back([&, s, seed = random(), stream = std::move(stream)]() mutable {
        records[s] = consume(*bus, std::move(stream), plan, s, seed);
      });
    }

    std::array<std::uint32_t, kProducers> accepted{};
    courier_stress::Tally accepted_total;
    std::thread shutter([&] {
      if (!plan.shutdown_after) return;
      accepted_total.wait_for_at_least(*plan.shutdown_after, courier_stress::kPromptly);
      bus->shutdown();
    });
    courier_stress::run_together(kProducers, [&](std::size_t p) {
      const std::string topic = "feed.p" + std::to_string(p);
      for (std::uint32_t i = 0; i < plan.per_producer; ++i) {
        try {
          bus->post(courier::Event<Stamp>(topic, Stamp{static_cast<std::uint32_t>(p), i}));
        } catch (const courier::BusClosed&) {
          return;
        }
        ++accepted.at(p);
        accepted_total.add();
      }
    });
    shutter.join();
    bus->shutdown();
    for (std::thread& consumer : consumers) consumer.join();

    DropRange policy_drops;
    for (const std::vector<Record>& slot : records) {
      for (const Record& record : slot) {
        check(record, GetParam(), accepted);
        policy_drops.add(record);
        figures.deliveries += record.stats.delivered;
      }
    }
    const std::uint64_t bus_drops = bus->stats().dropped;
    EXPECT_GE(bus_drops, policy_drops.lowest) << "the bus counted fewer drops than its streams";
    EXPECT_LE(bus_drops, policy_drops.highest) << "the bus counted more drops than its streams";
    EXPECT_EQ(hooked_drops.load(), bus_drops) << "on_drop was not called once per drop";
    for (std::uint32_t count : accepted) figures.events += count;
    figures.faults += plan.shutdown_after ? 1 : 0;
    if (HasFailure()) break;
  }
  figures.report(rounds);
}

INSTANTIATE_TEST_SUITE_P(Policies, StreamStress,
                         ::testing::Values(Overflow::Block, Overflow::DropNewest,
                                           Overflow::DropOldest),
                         [](const ::testing::TestParamInfo<Overflow>& param_info) {
                           return policy_name(param_info.param);
                         });

}  // namespace
