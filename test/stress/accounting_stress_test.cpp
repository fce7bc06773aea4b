// Exact accounting under load: many producers post events on random topics,
// with random ordering keys, to Serial and Concurrent subscribers on exact and
// wildcard patterns. After each round, every subscriber must have received
// exactly the events its pattern matches (no loss, no duplicate, nothing
// stray), Serial subscribers in post order and one at a time, Concurrent ones
// in post order and one at a time per ordering key; the bus's counters and
// dead-event hook must agree.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
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

constexpr int kNoKey = -1;
constexpr int kKeys = 6;
constexpr std::size_t kProducers = 6;
constexpr std::size_t kExecutors = 4;
constexpr std::size_t kQueueCapacity = 512;

// What a round posts: per event id, its topic, ordering key and post stamps.
struct RoundPlan {
  std::vector<std::string> topic;
  std::vector<int> key;
  std::vector<std::uint64_t> post_start;
  std::vector<std::uint64_t> post_end;

  std::size_t size() const { return topic.size(); }
};

std::string key_name(int key) {
  return key == kNoKey ? std::string() : "key-" + std::to_string(key);
}

// Topics of one to three tokens from small vocabularies, so that every pattern
// below matches some of them and some match no pattern at all (dead events).
std::string random_topic(std::mt19937_64& random) {
  static const std::vector<std::vector<std::string>> kLevels = {
      {"orders", "metrics", "audit", "misc"}, {"eu", "us", "cpu", "mem"}, {"created", "user", "x"}};
  const std::size_t depth = 1 + random() % kLevels.size();
  std::string topic;
  for (std::size_t level = 0; level < depth; ++level) {
    if (level != 0) topic += '.';
    topic += kLevels[level][random() % kLevels[level].size()];
  }
  return topic;
}

RoundPlan make_plan(std::size_t events, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  RoundPlan plan;
  plan.topic.reserve(events);
  plan.key.reserve(events);
  for (std::size_t i = 0; i < events; ++i) {
    plan.topic.push_back(random_topic(random));
    plan.key.push_back(random() % 2 == 0 ? kNoKey : static_cast<int>(random() % kKeys));
  }
  plan.post_start.assign(events, 0);
  plan.post_end.assign(events, 0);
  return plan;
}

// Records what one subscriber receives and checks, as it happens, that the
// invocations that must not overlap do not. A subscriber may hold several
// patterns: it must get each event that one of them matches exactly once.
class Recorder {
 public:
  Recorder(std::vector<std::string> patterns, Concurrency concurrency)
      : patterns_(std::move(patterns)), concurrency_(concurrency) {}

  const std::vector<std::string>& patterns() const { return patterns_; }
  const std::string& pattern() const { return patterns_.front(); }
  Concurrency concurrency() const { return concurrency_; }
  bool matches(const std::string& topic) const {
    return std::any_of(patterns_.begin(), patterns_.end(), [&](const std::string& pattern) {
      return courier_reference::matches(pattern, topic);
    });
  }

  // Only while the bus is idle.
  void start_round(const RoundPlan& plan) {
    plan_ = &plan;
    deliveries_ = std::make_unique<std::atomic<std::uint8_t>[]>(plan.size());
    for (auto& log : logs_) log.clear();
  }

  void record(const courier::Event<Payload>& event) {
    const std::uint32_t id = event.data().id;
    const int key = plan_->key[id];
    std::atomic<int>* exclusive = exclusion_counter(key);
    if (exclusive != nullptr && exclusive->fetch_add(1) != 0) overlaps_.fetch_add(1);
    deliveries_[id].fetch_add(1, std::memory_order_relaxed);
    if (std::vector<std::uint32_t>* log = order_log(key)) {
      std::lock_guard lock(log_mutex_);
      log->push_back(id);
    }
    if (exclusive != nullptr) exclusive->fetch_sub(1);
  }

  std::uint8_t deliveries_of(std::uint32_t id) const { return deliveries_[id].load(); }
  std::uint64_t overlaps() const { return overlaps_.load(); }
  // Delivery orders that must follow post order: one for a Serial subscriber,
  // one per ordering key for a Concurrent one.
  const std::vector<std::vector<std::uint32_t>>& ordered_logs() const { return logs_; }

 private:
  std::atomic<int>* exclusion_counter(int key) {
    if (concurrency_ == Concurrency::Serial) return &running_[0];
    return key == kNoKey ? nullptr : &running_[key];
  }
  std::vector<std::uint32_t>* order_log(int key) {
    if (concurrency_ == Concurrency::Serial) return &logs_[0];
    return key == kNoKey ? nullptr : &logs_[key];
  }

  const std::vector<std::string> patterns_;
  const Concurrency concurrency_;
  const RoundPlan* plan_ = nullptr;
  std::unique_ptr<std::atomic<std::uint8_t>[]> deliveries_;
  std::atomic<int> running_[kKeys] = {};
  std::atomic<std::uint64_t> overlaps_{0};
  std::mutex log_mutex_;
  std::vector<std::vector<std::uint32_t>> logs_ = std::vector<std::vector<std::uint32_t>>(kKeys);
};

class RecordingSubscriber final : public courier::Subscriber<Payload> {
 public:
  explicit RecordingSubscriber(Recorder& recorder)
      : Subscriber(recorder.concurrency()), recorder_(recorder) {}
  void process(const courier::Event<Payload>& event) override { recorder_.record(event); }

 private:
  Recorder& recorder_;
};

// Exact patterns, '*' and '>' in several positions, both concurrency modes.
std::vector<std::unique_ptr<Recorder>> make_recorders() {
  const std::vector<std::pair<std::string, Concurrency>> kSubscriptions = {
      {"orders.eu.created", Concurrency::Serial},
      {"orders.*.created", Concurrency::Serial},
      {"metrics.>", Concurrency::Serial},
      {"*.us", Concurrency::Serial},
      {"audit", Concurrency::Serial},
      {"*", Concurrency::Serial},
      {"orders.>", Concurrency::Concurrent},
      {"*.*.user", Concurrency::Concurrent},
      {"metrics.cpu", Concurrency::Concurrent},
      {"*.eu.*", Concurrency::Concurrent},
      {"audit.>", Concurrency::Concurrent},
      {"misc.*.x", Concurrency::Concurrent},
  };
  std::vector<std::unique_ptr<Recorder>> recorders;
  for (const auto& [pattern, concurrency] : kSubscriptions) {
    recorders.push_back(std::make_unique<Recorder>(std::vector{pattern}, concurrency));
  }
  return recorders;
}

// Half the subscriptions are Subscriber objects, half callables: both paths.
void subscribe_all(courier::EventBus& bus, std::vector<std::unique_ptr<Recorder>>& recorders,
                   std::vector<std::shared_ptr<RecordingSubscriber>>& subscribers) {
  for (std::size_t i = 0; i < recorders.size(); ++i) {
    Recorder& recorder = *recorders[i];
    if (i % 2 == 0) {
      subscribers.push_back(std::make_shared<RecordingSubscriber>(recorder));
      bus.subscribe(subscribers.back(), recorder.pattern());
    } else {
      bus.subscribe<Payload>(
          recorder.pattern(),
          [&recorder](const courier::Event<Payload>& event) { recorder.record(event); },
          recorder.concurrency());
    }
  }
}

// Producer `index` posts its share of the plan in order, stamping each post;
// every fourth post tries try_post first and falls back to a blocking post.
void produce(courier::EventBus& bus, RoundPlan& plan, courier_stress::PostClock& clock,
             std::size_t index, std::size_t per_producer) {
  for (std::size_t i = 0; i < per_producer; ++i) {
    const auto id = static_cast<std::uint32_t>(index * per_producer + i);
    courier::Event<Payload> event(plan.topic[id], Payload{id}, key_name(plan.key[id]));
    plan.post_start[id] = clock.tick();
    if (i % 4 != 0 || !bus.try_post(event)) bus.post(std::move(event));
    plan.post_end[id] = clock.tick();
  }
}

struct Expectations {
  std::uint64_t deliveries = 0;  // invocations every subscriber together should see
  std::uint64_t dead = 0;        // events no pattern matches
  std::vector<bool> is_dead;
};

Expectations expect(const RoundPlan& plan,
                    const std::vector<std::unique_ptr<Recorder>>& recorders) {
  Expectations expected;
  expected.is_dead.assign(plan.size(), true);
  for (std::size_t id = 0; id < plan.size(); ++id) {
    for (const auto& recorder : recorders) {
      if (recorder->matches(plan.topic[id])) {
        ++expected.deliveries;
        expected.is_dead[id] = false;
      }
    }
    if (expected.is_dead[id]) ++expected.dead;
  }
  return expected;
}

// Returns how many expected deliveries are missing (lost events). An event
// that `may_also_match` (patterns added and cancelled during the round)
// matches may have arrived once or not at all.
std::uint64_t check_recorder(const Recorder& recorder, const RoundPlan& plan,
                             const std::vector<std::string>& may_also_match = {}) {
  SCOPED_TRACE("subscriber on \"" + recorder.pattern() + "\"");
  std::uint64_t missing = 0, extra = 0;
  for (std::uint32_t id = 0; id < plan.size(); ++id) {
    const int expected = recorder.matches(plan.topic[id]) ? 1 : 0;
    const int got = recorder.deliveries_of(id);
    if (got == expected) continue;
    const bool optional =
        expected == 0 && got == 1 &&
        std::any_of(may_also_match.begin(), may_also_match.end(), [&](const std::string& pattern) {
          return courier_reference::matches(pattern, plan.topic[id]);
        });
    if (optional) continue;
    if (got < expected) ++missing;
    if (got > expected) ++extra;
    if (missing + extra <= 3) {
      ADD_FAILURE() << "event " << id << " on \"" << plan.topic[id] << "\" delivered " << got
                    << " times, expected " << expected;
    }
  }
  EXPECT_EQ(missing, 0u) << "events lost";
  EXPECT_EQ(extra, 0u) << "events duplicated or delivered to a non-matching subscriber";
  EXPECT_EQ(recorder.overlaps(), 0u) << "invocations that must be exclusive overlapped";
  courier_stress::expect_post_order(recorder.ordered_logs(), plan.post_start, plan.post_end);
  return missing;
}

TEST(AccountingStress, EverySubscriberGetsExactlyItsEventsInOrder) {
  const courier_stress::Watchdog scenario(
      "AccountingStress.EverySubscriberGetsExactlyItsEventsInOrder",
      courier_stress::scenario_bound());
  auto recorders = make_recorders();
  std::vector<std::shared_ptr<RecordingSubscriber>> subscribers;
  std::unique_ptr<std::atomic<std::uint8_t>[]> reported_dead;
  auto owned_bus = std::make_unique<courier::EventBus>(
      courier::Options{.threads = kExecutors, .queue_capacity = kQueueCapacity});
  courier::EventBus& bus = *owned_bus;
  subscribe_all(bus, recorders, subscribers);
  const auto dead_hook = bus.on_dead_event([&](const courier::DeadEvent& dead) {
    if (const auto* event = dead.as<Payload>()) reported_dead[event->data().id].fetch_add(1);
  });

  const std::size_t per_producer = courier_stress::scaled(6000);
  Figures figures{.scenario = "accounting", .threads = kProducers + kExecutors};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog("accounting round " + std::to_string(rounds.index()));
    RoundPlan plan =
        make_plan(kProducers * per_producer, courier_stress::round_seed(rounds.index()));
    for (auto& recorder : recorders) recorder->start_round(plan);
    reported_dead = std::make_unique<std::atomic<std::uint8_t>[]>(plan.size());
    const courier::Stats before = bus.stats();

    courier_stress::PostClock clock;
    courier_stress::run_together(kProducers, [&](std::size_t producer) {
      produce(bus, plan, clock, producer, per_producer);
    });
    if (!courier_stress::drain_or_abandon(owned_bus)) return;
    bus.wait_idle();

    const Expectations expected = expect(plan, recorders);
    for (const auto& recorder : recorders) figures.lost += check_recorder(*recorder, plan);
    for (std::uint32_t id = 0; id < plan.size(); ++id) {
      ASSERT_EQ(reported_dead[id].load(), expected.is_dead[id] ? 1 : 0)
          << "dead-event hook for event " << id << " on \"" << plan.topic[id] << "\"";
    }
    const courier::Stats after = bus.stats();
    EXPECT_EQ(after.posted - before.posted, plan.size());
    EXPECT_EQ(after.delivered - before.delivered, expected.deliveries);
    EXPECT_EQ(after.dead - before.dead, expected.dead);
    EXPECT_EQ(after.delivered_events - before.delivered_events, plan.size() - expected.dead);
    EXPECT_EQ(after.failed - before.failed, 0u);
    EXPECT_EQ(after.queued, 0u);
    figures.events += plan.size();
    figures.deliveries += expected.deliveries;
    if (HasFailure()) break;
  }
  figures.report(rounds);
  EXPECT_EQ(figures.lost, 0u);
}

// Subscribers that each hold several overlapping patterns, while churn
// threads add more patterns to the objects and cancel them again: each object
// must get every event one of its patterns matches exactly once (however many
// match), Serial objects one at a time in post order across all their
// patterns, Concurrent ones per key; an event only a churned pattern matches
// arrives at most once; the bus's counters agree with what arrived.
struct OverlappingSubscriber {
  std::vector<std::string> patterns;
  Concurrency concurrency;
  bool object;      // a Subscriber object (else a callable)
  bool one_by_one;  // an object subscribed one pattern at a time (else in one call)
};

const std::vector<OverlappingSubscriber> kOverlapping = {
    {{"orders.>", "orders.*.created", "*.eu.*", "orders.eu.created"},
     Concurrency::Serial,
     true,
     true},
    {{"metrics.*", "metrics.cpu", "*.cpu", "*"}, Concurrency::Serial, true, false},
    {{"audit", "audit.>", "*.us.user", "misc.*.x"}, Concurrency::Serial, true, true},
    {{"orders.>", "*.*.user", "audit.*"}, Concurrency::Concurrent, true, false},
    {{"metrics.>", "*.mem", "metrics.mem.x"}, Concurrency::Concurrent, true, true},
    {{"*.us", "*.us.*", "misc.>"}, Concurrency::Serial, false, false},
    {{"*.eu", "*.eu.created", "orders.*"}, Concurrency::Concurrent, false, false},
};
// Added to and cancelled from the objects during a round (never one of an
// object's own patterns: cancelling it would end that pattern too).
const std::vector<std::string> kChurnedPatterns = {"orders.eu.*", "*.*.created", "metrics.>",
                                                   "misc.>",      "*.us.*",      "audit.us"};

std::vector<std::unique_ptr<Recorder>> make_overlapping_recorders() {
  std::vector<std::unique_ptr<Recorder>> recorders;
  for (const auto& each : kOverlapping) {
    recorders.push_back(std::make_unique<Recorder>(each.patterns, each.concurrency));
  }
  return recorders;
}

// Subscribes each recorder's patterns; returns the objects (null for callables).
std::vector<std::shared_ptr<RecordingSubscriber>> subscribe_overlapping(
    courier::EventBus& bus, std::vector<std::unique_ptr<Recorder>>& recorders) {
  std::vector<std::shared_ptr<RecordingSubscriber>> objects;
  for (std::size_t i = 0; i < recorders.size(); ++i) {
    Recorder& recorder = *recorders[i];
    const OverlappingSubscriber& how = kOverlapping[i];
    if (!how.object) {
      auto record = [&recorder](const courier::Event<Payload>& event) { recorder.record(event); };
      bus.subscribe<Payload>(std::span(recorder.patterns()), record, recorder.concurrency());
      objects.push_back(nullptr);
      continue;
    }
    objects.push_back(std::make_shared<RecordingSubscriber>(recorder));
    if (how.one_by_one) {
      for (const std::string& pattern : recorder.patterns()) bus.subscribe(objects.back(), pattern);
    } else {
      bus.subscribe(objects.back(), std::span(recorder.patterns()));
    }
  }
  return objects;
}

// Adds a churned pattern to a random object, lets a few events pass, and
// cancels it, until `producing` turns false. The count of changes made.
std::uint64_t churn_patterns(courier::EventBus& bus,
                             const std::vector<std::shared_ptr<RecordingSubscriber>>& objects,
                             const std::vector<std::unique_ptr<Recorder>>& recorders,
                             const std::atomic<bool>& producing, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uint64_t changes = 0;
  while (producing.load()) {
    const std::size_t which = random() % objects.size();
    const std::string& pattern = kChurnedPatterns[random() % kChurnedPatterns.size()];
    const auto& own = recorders[which]->patterns();
    if (objects[which] == nullptr || std::find(own.begin(), own.end(), pattern) != own.end()) {
      continue;
    }
    courier::Subscription added = bus.subscribe(objects[which], pattern);
    if (random() % 2 == 0) std::this_thread::yield();
    added.cancel();
    changes += 2;
  }
  return changes;
}

TEST(AccountingStress, ObjectsWithOverlappingPatternsGetEachEventOnceUnderChurn) {
  const courier_stress::Watchdog scenario(
      "AccountingStress.ObjectsWithOverlappingPatternsGetEachEventOnceUnderChurn",
      courier_stress::scenario_bound());
  constexpr std::size_t kChurners = 2;
  auto recorders = make_overlapping_recorders();
  auto owned_bus = std::make_unique<courier::EventBus>(
      courier::Options{.threads = kExecutors, .queue_capacity = kQueueCapacity});
  courier::EventBus& bus = *owned_bus;
  const auto objects = subscribe_overlapping(bus, recorders);
  const std::uint64_t base_subscriptions = bus.stats().subscriptions;

  const std::size_t per_producer = courier_stress::scaled(4000);
  Figures figures{.scenario = "overlapping-patterns",
                  .threads = kProducers + kChurners + kExecutors};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog("overlapping-patterns round " +
                                      std::to_string(rounds.index()));
    const std::uint64_t seed = courier_stress::round_seed(rounds.index());
    RoundPlan plan = make_plan(kProducers * per_producer, seed);
    for (auto& recorder : recorders) recorder->start_round(plan);
    const courier::Stats before = bus.stats();

    courier_stress::PostClock clock;
    std::atomic<std::size_t> producing_threads{kProducers};
    std::atomic<bool> producing{true};
    std::atomic<std::uint64_t> changes{0};
    courier_stress::run_together(kProducers + kChurners, [&](std::size_t index) {
      if (index >= kProducers) {
        changes +=
            churn_patterns(bus, objects, recorders, producing, courier_stress::mix(seed + index));
        return;
      }
      produce(bus, plan, clock, index, per_producer);
      if (producing_threads.fetch_sub(1) == 1) producing.store(false);
    });
    if (!courier_stress::drain_or_abandon(owned_bus)) return;
    bus.wait_idle();

    std::uint64_t arrived = 0, reached_nobody = 0;
    for (std::uint32_t id = 0; id < plan.size(); ++id) {
      std::uint64_t reached = 0;
      for (const auto& recorder : recorders) reached += recorder->deliveries_of(id);
      arrived += reached;
      reached_nobody += reached == 0 ? 1 : 0;
    }
    for (const auto& recorder : recorders) {
      figures.lost += check_recorder(*recorder, plan, kChurnedPatterns);
    }
    const courier::Stats after = bus.stats();
    EXPECT_EQ(after.posted - before.posted, plan.size());
    EXPECT_EQ(after.delivered - before.delivered, arrived);
    EXPECT_EQ(after.dead - before.dead, reached_nobody);
    EXPECT_EQ(after.failed - before.failed, 0u);
    EXPECT_EQ(after.queued, 0u);
    EXPECT_EQ(after.subscriptions, base_subscriptions);
    figures.events += plan.size();
    figures.deliveries += arrived;
    figures.faults += changes.load();
    if (HasFailure()) break;
  }
  figures.report(rounds);
  EXPECT_EQ(figures.lost, 0u);
}

}  // namespace

// Every slot of the bounded queue comes back once its event is delivered: a
// tiny queue cycled by many producers and executors, checked after each round.
// (The slots' free list once dropped an index when a push met a cell whose
// previous pop had not finished, so the bus shrank until posts blocked forever.)
TEST(AccountingStress, EverySlotComesBackAfterDelivery) {
  const courier_stress::Watchdog scenario("AccountingStress.EverySlotComesBackAfterDelivery",
                                          courier_stress::scenario_bound());
  constexpr std::size_t kTinyQueue = 2;
  std::atomic<std::uint64_t> deliveries{0};
  auto owned_bus = std::make_unique<courier::EventBus>(
      courier::Options{.threads = kExecutors, .queue_capacity = kTinyQueue});
  courier::EventBus& bus = *owned_bus;
  bus.subscribe<Payload>("slots.>", [&](const courier::Event<Payload>&) { ++deliveries; });

  const std::size_t per_producer = courier_stress::scaled(20000);
  Figures figures{.scenario = "slot-recycling", .threads = kProducers + kExecutors};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog("slot-recycling round " + std::to_string(rounds.index()));
    courier_stress::run_together(kProducers, [&](std::size_t producer) {
      const std::string topic = "slots.p" + std::to_string(producer);
      for (std::size_t i = 0; i < per_producer; ++i) {
        bus.post(courier::Event<Payload>(topic, Payload{static_cast<std::uint32_t>(i)}));
      }
    });
    figures.events += kProducers * per_producer;
    if (!courier_stress::drains_within(bus, courier_stress::kPromptly)) {
      ADD_FAILURE() << "every event was posted and none is in flight, yet the bus never frees "
                       "all its slots: "
                    << courier_stress::describe(bus.stats()) << " (queue capacity " << kTinyQueue
                    << ", deliveries seen by the subscriber " << deliveries.load() << ")";
      courier_stress::abandon(std::move(owned_bus));
      return;
    }
    bus.wait_idle();
    ASSERT_EQ(deliveries.load(), figures.events);
  }
  figures.rounds = rounds.count();
  figures.deliveries = deliveries.load();
  figures.seconds = rounds.elapsed_seconds();
  figures.print();
}
