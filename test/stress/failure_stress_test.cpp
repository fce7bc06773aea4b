// Subscribers that throw at random while many producers post: the bus must
// keep delivering to every subscriber (the throwing ones included: a throw
// loses nothing but that one invocation), count every failure exactly once,
// and report each to the error hook with the right topic and pattern.
//
// Which invocation throws is a function of the round's seed, the subscriber
// and the event id, so the checks can recompute exactly what to expect.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "courier/event_bus.hpp"
#include "reference_topic_matcher.hpp"
#include "stress_support.hpp"

namespace {

using courier::Concurrency;
using courier_stress::Figures;
using courier_stress::Rounds;

struct Payload {
  std::uint32_t id;
};
using Event = courier::Event<Payload>;

constexpr std::size_t kProducers = 4;
constexpr std::size_t kExecutors = 4;

// A fault a subscriber throws on purpose, carrying the event it failed on.
struct InjectedFault : std::runtime_error {
  explicit InjectedFault(std::uint32_t event_id)
      : std::runtime_error("injected fault on event " + std::to_string(event_id)), id(event_id) {}
  std::uint32_t id;
};

// One subscription under test: whether and how it throws, and what it saw.
class Target {
 public:
  Target(std::size_t index, std::string pattern, Concurrency concurrency, bool throws)
      : index_(index), pattern_(std::move(pattern)), concurrency_(concurrency), throws_(throws) {}

  void start_round(std::uint64_t seed, std::size_t events) {
    seed_ = seed;
    invocations_ = std::make_unique<std::atomic<std::uint8_t>[]>(events);
    reported_ = std::make_unique<std::atomic<std::uint8_t>[]>(events);
  }

  // Half the faults are standard exceptions, half are not (a plain int).
  void process(const Event& event) {
    const std::uint32_t id = event.data().id;
    invocations_[id].fetch_add(1);
    if (!should_fail(id)) return;
    if (courier_stress::mix(seed_ ^ id) % 2 == 0) throw InjectedFault(id);
    throw static_cast<int>(id);
  }

  bool should_fail(std::uint32_t id) const {
    return throws_ && courier_stress::mix(seed_ ^ (std::uint64_t{id} << 8 | index_)) % 4 == 0;
  }
  void reported(std::uint32_t id) { reported_[id].fetch_add(1); }

  const std::string& pattern() const { return pattern_; }
  Concurrency concurrency() const { return concurrency_; }
  unsigned invocations_of(std::uint32_t id) const { return invocations_[id].load(); }
  unsigned reports_of(std::uint32_t id) const { return reported_[id].load(); }

 private:
  const std::size_t index_;
  const std::string pattern_;
  const Concurrency concurrency_;
  const bool throws_;
  std::uint64_t seed_ = 0;
  std::unique_ptr<std::atomic<std::uint8_t>[]> invocations_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> reported_;
};

std::vector<std::unique_ptr<Target>> make_targets() {
  struct Shape {
    const char* pattern;
    Concurrency concurrency;
    bool throws;
  };
  // Patterns are unique: the error hook finds the failing target by pattern.
  const std::vector<Shape> kShapes = {
      {"fail.>", Concurrency::Serial, true},       {"fail.*", Concurrency::Concurrent, true},
      {"*.b", Concurrency::Concurrent, true},      {"fail.a.x", Concurrency::Serial, true},
      {"*.>", Concurrency::Serial, false},         {"fail.a", Concurrency::Concurrent, false},
      {"other.*", Concurrency::Concurrent, false},
  };
  std::vector<std::unique_ptr<Target>> targets;
  for (const Shape& shape : kShapes) {
    targets.push_back(
        std::make_unique<Target>(targets.size(), shape.pattern, shape.concurrency, shape.throws));
  }
  return targets;
}

constexpr std::uint32_t kNotAnInjectedFault = ~std::uint32_t{0};

// Recovers the event id from what a target threw.
std::uint32_t fault_id(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const InjectedFault& fault) {
    return fault.id;
  } catch (int id) {
    return static_cast<std::uint32_t>(id);
  } catch (...) {
    return kNotAnInjectedFault;
  }
}

struct RoundCounts {
  std::uint64_t invocations = 0;
  std::uint64_t faults = 0;
  std::uint64_t lost = 0;
};

// Every target was invoked once per matching event (throwing or not), and the
// hook heard of exactly the invocations that threw.
RoundCounts check_targets(const std::vector<std::unique_ptr<Target>>& targets,
                          const std::vector<std::string>& topics) {
  RoundCounts counts;
  for (const auto& target : targets) {
    SCOPED_TRACE("subscriber on \"" + target->pattern() + "\"");
    std::uint64_t wrong = 0;
    for (std::uint32_t id = 0; id < topics.size(); ++id) {
      const bool matches = courier_reference::matches(target->pattern(), topics[id]);
      const unsigned expected_faults = matches && target->should_fail(id) ? 1 : 0;
      counts.invocations += matches ? 1 : 0;
      counts.faults += expected_faults;
      if (target->invocations_of(id) < (matches ? 1u : 0u)) ++counts.lost;
      if (target->invocations_of(id) != (matches ? 1u : 0u) ||
          target->reports_of(id) != expected_faults) {
        if (++wrong <= 3) {
          ADD_FAILURE() << "event " << id << " on \"" << topics[id] << "\": invoked "
                        << target->invocations_of(id) << " times (expected " << matches
                        << "), reported failed " << target->reports_of(id) << " times (expected "
                        << expected_faults << ")";
        }
      }
    }
    EXPECT_EQ(wrong, 0u);
  }
  return counts;
}

TEST(FailureStress, ThrowingSubscribersNeitherStopDeliveryNorGoUncounted) {
  const courier_stress::Watchdog scenario(
      "FailureStress.ThrowingSubscribersNeitherStopDeliveryNorGoUncounted",
      courier_stress::scenario_bound());
  auto targets = make_targets();
  std::vector<std::string> topics;
  std::atomic<std::uint64_t> misreported{0};
  auto owned_bus = std::make_unique<courier::EventBus>(
      courier::Options{.threads = kExecutors, .queue_capacity = 256});
  courier::EventBus& bus = *owned_bus;
  for (const auto& target : targets) {
    bus.subscribe<Payload>(
        target->pattern(), [&target = *target](const Event& event) { target.process(event); },
        target->concurrency());
  }
  const auto hook = bus.on_error([&](const courier::DeliveryError& error) {
    const std::uint32_t id = fault_id(error.exception);
    if (id >= topics.size() || error.topic != topics[id]) {
      misreported.fetch_add(1);
      return;
    }
    for (const auto& target : targets) {
      if (target->pattern() == error.pattern) target->reported(id);
    }
  });

  const std::size_t per_producer = courier_stress::scaled(10000);
  const std::vector<std::string> kTopics = {"fail.a", "fail.b", "fail.a.x", "other.b", "fail"};
  Figures figures{.scenario = "throwing-subscribers", .threads = kProducers + kExecutors};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog("throwing subscribers, round " +
                                      std::to_string(rounds.index()));
    const std::uint64_t seed = courier_stress::round_seed(rounds.index());
    std::mt19937_64 random(seed);
    topics.clear();
    for (std::size_t i = 0; i < kProducers * per_producer; ++i) {
      topics.push_back(kTopics[random() % kTopics.size()]);
    }
    for (const auto& target : targets) target->start_round(seed, topics.size());
    const courier::Stats before = bus.stats();

    courier_stress::run_together(kProducers, [&](std::size_t producer) {
      for (std::size_t i = 0; i < per_producer; ++i) {
        const auto id = static_cast<std::uint32_t>(producer * per_producer + i);
        bus.post(Event(topics[id], Payload{id}, "key-" + std::to_string(id % 7)));
      }
    });
    if (!courier_stress::drain_or_abandon(owned_bus)) return;
    bus.wait_idle();

    const RoundCounts counts = check_targets(targets, topics);
    const courier::Stats after = bus.stats();
    EXPECT_EQ(after.failed - before.failed, counts.faults);
    EXPECT_EQ(after.delivered - before.delivered, counts.invocations);
    EXPECT_EQ(after.posted - before.posted, topics.size());
    EXPECT_EQ(misreported.load(), 0u) << "error reports with the wrong topic or exception";
    figures.events += topics.size();
    figures.deliveries += counts.invocations;
    figures.faults += counts.faults;
    figures.lost += counts.lost;
    if (HasFailure()) break;
  }
  figures.report(rounds);
  EXPECT_EQ(figures.lost, 0u);
}

}  // namespace
