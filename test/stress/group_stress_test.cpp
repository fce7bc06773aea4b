// Concurrent subscribers of one topic under load: the group path
// (concurrent_group.hpp). This payload type has exact patterns only, so each
// of its topics with two or more Concurrent subscriptions has a group, and an
// unkeyed event posted by name goes through one of the group's lanes. The
// queue is small, 64 events (producers block; a group lane can hold only the
// slots that map to it) or 256 (drains take full batches of 32).
// Keyed events, and a few events posted through Topic handles (resolved ahead,
// so not grouped), go to the members' own lanes meanwhile.
//
// Each round, on a bus of 2 to 4 executors:
//  - never-cancelled Concurrent witnesses (three per topic, one of them on
//    both) get every event of their topics exactly once, and a Serial witness
//    beside the group gets its topic's events in post order;
//  - keyed events reach every Concurrent witness in post order and one at a
//    time per key (per subscription: "ab" has one per topic);
//  - churned Concurrent members, some of them throwing, are cancelled three
//    ways (Subscription::cancel, unsubscribe, ScopedSubscription) while events
//    flow, are never invoked after the cancel returned, and what their handler
//    touches is destroyed right after (ASan reports a late call);
//  - on about half the rounds, a member is unsubscribed while another member
//    of its group is blocked in its handler, and must return without waiting
//    for it;
//  - once idle, posted == delivered_events + dead, nothing is dead or queued,
//    and the bus counted exactly the invocations and failures the handlers saw.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "courier/event_bus.hpp"
#include "stress_support.hpp"

namespace {

using courier::Concurrency;
using courier_stress::Figures;
using courier_stress::Rounds;
using courier_stress::Victim;

struct Payload {
  std::uint32_t id;
};
using Event = courier::Event<Payload>;

constexpr std::size_t kProducers = 4;
constexpr std::size_t kChurners = 2;
constexpr std::size_t kProbers = 1;
constexpr std::size_t kMinExecutors = 2;
constexpr std::size_t kMaxExecutors = 4;
constexpr std::size_t kSmallQueue = 64;
constexpr std::size_t kBatchingQueue = 256;
constexpr int kNoKey = -1;
constexpr int kKeys = 6;
// Exact patterns only: one wildcard subscription to Payload would turn the
// groups off for every topic of it.
constexpr std::array<const char*, 2> kTopics = {"group.a", "group.b"};
constexpr unsigned kOnA = 1u << 0;
constexpr unsigned kOnB = 1u << 1;
// A churned member throws on every kThrowEvery-th call it gets.
constexpr std::uint64_t kThrowEvery = 7;
// The blocked member waits longer than the prober waits for the unsubscribe,
// so that a prompt unsubscribe is one that returned while it was still blocked.
constexpr auto kBlockBound = 2 * courier_stress::kPromptly;

// What a round posts: per event id, its topic, ordering key, whether it goes
// through a Topic handle, and its post stamps. Producer p posts ids
// [p * per_producer, (p + 1) * per_producer) in order.
struct RoundPlan {
  std::size_t per_producer = 0;
  std::vector<std::uint8_t> topic;  // index into kTopics
  std::vector<int> key;
  std::vector<bool> by_handle;
  std::vector<std::uint64_t> post_start;
  std::vector<std::uint64_t> post_end;

  std::size_t size() const { return topic.size(); }
  std::size_t producer_of(std::uint32_t id) const { return id / per_producer; }
  // Routed through a group lane (while its topic has two open Concurrent members).
  bool grouped(std::uint32_t id) const { return key[id] == kNoKey && !by_handle[id]; }
};

std::string key_name(int key) {
  return key == kNoKey ? std::string() : "key-" + std::to_string(key);
}

RoundPlan make_plan(std::size_t per_producer, std::uint64_t seed) {
  const std::size_t events = kProducers * per_producer;
  std::mt19937_64 random(seed);
  RoundPlan plan;
  plan.per_producer = per_producer;
  plan.topic.reserve(events);
  plan.key.reserve(events);
  plan.by_handle.reserve(events);
  for (std::size_t i = 0; i < events; ++i) {
    plan.topic.push_back(static_cast<std::uint8_t>(random() % kTopics.size()));
    plan.key.push_back(random() % 3 == 0 ? static_cast<int>(random() % kKeys) : kNoKey);
    plan.by_handle.push_back(random() % 8 == 0);
  }
  plan.post_start.assign(events, 0);
  plan.post_end.assign(events, 0);
  return plan;
}

// What the handlers of one round's bus saw, to hold the bus's counters to.
struct Census {
  std::atomic<std::uint64_t> invocations{0};      // every handler call
  std::atomic<std::uint64_t> thrown{0};           // injected failures
  std::atomic<std::uint64_t> reported_errors{0};  // on_error hook calls
  std::atomic<std::uint64_t> after_cancel{0};     // calls after their cancel returned
  std::atomic<std::uint64_t> cancels{0};          // churned members cancelled
  std::atomic<std::uint64_t> probes{0};           // unsubscribes while a member was blocked
  std::atomic<std::uint64_t> refused{0};          // try_post calls refused on a full queue
};

// A never-cancelled subscriber: counts what it gets per event and per
// producer, and checks, as it happens, that the invocations that must not
// overlap do not.
class Witness {
 public:
  Witness(std::string name, unsigned topics, Concurrency concurrency, const RoundPlan& plan,
          Census& census)
      : name_(std::move(name)),
        topics_(topics),
        concurrency_(concurrency),
        plan_(plan),
        census_(census),
        deliveries_(std::make_unique<std::atomic<std::uint8_t>[]>(plan.size())) {}

  const std::string& name() const { return name_; }
  Concurrency concurrency() const { return concurrency_; }
  bool on_topic(std::size_t topic) const { return (topics_ >> topic & 1u) != 0; }
  bool expects(std::uint32_t id) const { return on_topic(plan_.topic[id]); }

  void record(const Event& event) {
    census_.invocations.fetch_add(1);
    const std::uint32_t id = event.data().id;
    const int key = plan_.key[id];
    const std::size_t topic = plan_.topic[id];
    std::atomic<int>* exclusive = exclusion_counter(topic, key);
    if (exclusive != nullptr && exclusive->fetch_add(1) != 0) overlaps_.fetch_add(1);
    deliveries_[id].fetch_add(1, std::memory_order_relaxed);
    from_producer_[plan_.producer_of(id)].fetch_add(1, std::memory_order_relaxed);
    if (std::vector<std::uint32_t>* log = order_log(topic, key)) {
      std::lock_guard lock(log_mutex_);
      log->push_back(id);
    }
    if (exclusive != nullptr) exclusive->fetch_sub(1);
  }

  std::uint8_t deliveries_of(std::uint32_t id) const { return deliveries_[id].load(); }
  std::uint64_t received_from(std::size_t producer) const {
    return from_producer_[producer].load();
  }
  std::uint64_t overlaps() const { return overlaps_.load(); }
  // Delivery orders that must follow post order, per subscription (per
  // topic: "ab" has one on each): one for a Serial witness, one per ordering
  // key for a Concurrent one.
  const std::vector<std::vector<std::uint32_t>>& ordered_logs() const { return logs_; }

 private:
  // Order and exclusion are promised per subscription: a subscriber object
  // subscribed to two topics has two, each with lanes of its own, and events
  // of one key on both topics may reach it concurrently and in any order.
  static std::size_t ordered_index(std::size_t topic, int key) {
    return static_cast<std::size_t>(key == kNoKey ? 0 : key) * kTopics.size() + topic;
  }
  std::atomic<int>* exclusion_counter(std::size_t topic, int key) {
    if (concurrency_ == Concurrency::Concurrent && key == kNoKey) return nullptr;
    return &running_[ordered_index(topic, concurrency_ == Concurrency::Serial ? kNoKey : key)];
  }
  std::vector<std::uint32_t>* order_log(std::size_t topic, int key) {
    if (concurrency_ == Concurrency::Concurrent && key == kNoKey) return nullptr;
    return &logs_[ordered_index(topic, concurrency_ == Concurrency::Serial ? kNoKey : key)];
  }

  const std::string name_;
  const unsigned topics_;
  const Concurrency concurrency_;
  const RoundPlan& plan_;
  Census& census_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> deliveries_;
  std::array<std::atomic<std::uint64_t>, kProducers> from_producer_{};
  std::array<std::atomic<int>, kKeys * kTopics.size()> running_{};
  std::atomic<std::uint64_t> overlaps_{0};
  std::mutex log_mutex_;
  std::vector<std::vector<std::uint32_t>> logs_ =
      std::vector<std::vector<std::uint32_t>>(kKeys * kTopics.size());
};

class WitnessSubscriber final : public courier::Subscriber<Payload> {
 public:
  explicit WitnessSubscriber(Witness& witness)
      : Subscriber(witness.concurrency()), witness_(witness) {}
  void process(const Event& event) override { witness_.record(event); }

 private:
  Witness& witness_;
};

struct InjectedFailure : std::runtime_error {
  InjectedFailure() : std::runtime_error("injected by group_stress_test") {}
};

// What a churned member shares with the thread that cancels it.
class Tracker {
 public:
  explicit Tracker(Census& census) : census_(census) {}

  // First thing in every call of the member.
  void on_invocation() {
    census_.invocations.fetch_add(1);
    if (cancel_returned_.load()) census_.after_cancel.fetch_add(1);
    invocations_.add();
  }
  // Last thing in every call: a churned member fails now and then, which a
  // group drain must count and report without skipping the other members.
  void maybe_fail() {
    if (calls_.fetch_add(1) % kThrowEvery != kThrowEvery - 1) return;
    census_.thrown.fetch_add(1);
    throw InjectedFailure();
  }
  void cancel_returned() { cancel_returned_.store(true); }
  // Paces the churn (a member that gets a few events before it is cancelled
  // exercises more), not a condition of the test: it may time out.
  void let_some_arrive(std::uint64_t count) const {
    invocations_.wait_for_at_least(count, std::chrono::milliseconds(5));
  }

 private:
  Census& census_;
  std::atomic<bool> cancel_returned_{false};
  std::atomic<std::uint64_t> calls_{0};
  courier_stress::Tally invocations_;
};

class ChurnedMember final : public courier::Subscriber<Payload> {
 public:
  explicit ChurnedMember(std::shared_ptr<Tracker> tracker)
      : Subscriber(Concurrency::Concurrent), tracker_(std::move(tracker)) {}
  void process(const Event& event) override {
    tracker_->on_invocation();
    victim_.touch(event.data().id);
    tracker_->maybe_fail();
  }

 private:
  std::shared_ptr<Tracker> tracker_;
  Victim victim_;
};

// A handler for churned callables: writes to `victim`, which its owner frees
// once the cancel returned.
auto churned_callable(std::shared_ptr<Tracker> tracker, Victim* victim) {
  return [tracker = std::move(tracker), victim](const Event& event) {
    tracker->on_invocation();
    victim->touch(event.data().id);
    tracker->maybe_fail();
  };
}

// One subscribe-wait-cancel-destroy cycle of a Concurrent member, through one
// of the three ways to cancel.
void churn_once(courier::EventBus& bus, Census& census, std::mt19937_64& random) {
  const char* topic = kTopics[random() % kTopics.size()];
  auto tracker = std::make_shared<Tracker>(census);
  const std::uint64_t wanted = random() % 4;
  switch (random() % 3) {
    case 0: {  // a callable, cancelled through its handle
      auto victim = std::make_unique<Victim>();
      courier::Subscription subscription = bus.subscribe<Payload>(
          topic, churned_callable(tracker, victim.get()), Concurrency::Concurrent);
      tracker->let_some_arrive(wanted);
      subscription.cancel();
      tracker->cancel_returned();
      victim.reset();
      break;
    }
    case 1: {  // a Subscriber, on one topic or both, unsubscribed by pointer
      auto member = std::make_shared<ChurnedMember>(tracker);
      bus.subscribe(member, topic);
      if (random() % 2 == 0) bus.subscribe(member, kTopics[random() % kTopics.size()]);
      tracker->let_some_arrive(wanted);
      bus.unsubscribe(member);
      tracker->cancel_returned();
      EXPECT_FALSE(bus.is_subscribed(member));
      EXPECT_EQ(member.use_count(), 1) << "the bus kept the unsubscribed member";
      member.reset();  // destroyed here, by its owner
      break;
    }
    default: {  // a ScopedSubscription going out of scope
      auto victim = std::make_unique<Victim>();
      {
        const courier::ScopedSubscription scoped(bus.subscribe<Payload>(
            topic, churned_callable(tracker, victim.get()), Concurrency::Concurrent));
        tracker->let_some_arrive(wanted);
      }
      tracker->cancel_returned();
      victim.reset();
      break;
    }
  }
  census.cancels.fetch_add(1);
}

// A member of group.a's group that blocks in its first call for an event
// delivered through the group lane, until the prober lets it go. Every call
// returns at once after that.
class BlockingMember final : public courier::Subscriber<Payload> {
 public:
  BlockingMember(const RoundPlan& plan, Census& census)
      : Subscriber(Concurrency::Concurrent), plan_(plan), census_(census) {}

  void process(const Event& event) override {
    census_.invocations.fetch_add(1);
    if (!plan_.grouped(event.data().id) || blocked_once_.exchange(true)) return;
    started_.open();
    if (!released_.wait_for(kBlockBound)) gave_up_.store(true);
  }

  bool wait_until_blocked() const { return started_.wait_for(courier_stress::kPromptly); }
  void release() { released_.open(); }
  bool gave_up() const { return gave_up_.load(); }

 private:
  const RoundPlan& plan_;
  Census& census_;
  std::atomic<bool> blocked_once_{false};
  std::atomic<bool> gave_up_{false};
  courier_stress::Gate started_;
  courier_stress::Gate released_;
};

// With `blocker` blocked in its handler, unsubscribes `bystander`, another
// member of the same group: that must not wait for the blocked handler. The
// bystander is destroyed before the blocker is released, while the blocked
// drain may still hold events for it.
void unsubscribe_beside_a_blocked_member(courier::EventBus& bus, BlockingMember& blocker,
                                         std::shared_ptr<ChurnedMember>& bystander,
                                         Tracker& bystander_tracker, Census& census) {
  if (!blocker.wait_until_blocked()) {
    ADD_FAILURE() << "the blocking member never got an event through the group lane";
    blocker.release();
    return;
  }
  auto unsubscribed = courier_test::run_on_thread([&] { bus.unsubscribe(bystander); });
  const bool prompt = unsubscribed.wait_for(courier_stress::kPromptly) == std::future_status::ready;
  if (!prompt) {
    ADD_FAILURE() << "unsubscribing a member waited for another member's blocked handler "
                     "(not returned after "
                  << courier_stress::kPromptly.count() << " s)";
    blocker.release();
  }
  unsubscribed.get();
  bystander_tracker.cancel_returned();
  EXPECT_FALSE(blocker.gave_up()) << "the blocked member stopped waiting before the check";
  EXPECT_EQ(bystander.use_count(), 1) << "the bus kept the unsubscribed member";
  bystander.reset();  // the blocked drain may still hold events for it
  blocker.release();
  census.probes.fetch_add(1);
}

// Producer `index` posts its share of the plan in order, stamping each post;
// every fourth post tries try_post first and falls back to a blocking post.
void produce(courier::EventBus& bus, RoundPlan& plan, courier_stress::PostClock& clock,
             const std::array<courier::Topic, 2>& handles, std::size_t index, Census& census) {
  for (std::size_t i = 0; i < plan.per_producer; ++i) {
    const auto id = static_cast<std::uint32_t>(index * plan.per_producer + i);
    const bool try_first = i % 4 == 0;
    plan.post_start[id] = clock.tick();
    if (plan.by_handle[id]) {
      const courier::Topic& handle = handles[plan.topic[id]];
      if (!try_first || !bus.try_post(handle, Payload{id}, key_name(plan.key[id]))) {
        if (try_first) census.refused.fetch_add(1);
        bus.post(handle, Payload{id}, key_name(plan.key[id]));
      }
    } else {
      Event event(kTopics[plan.topic[id]], Payload{id}, key_name(plan.key[id]));
      if (!try_first || !bus.try_post(event)) {
        if (try_first) census.refused.fetch_add(1);
        bus.post(std::move(event));
      }
    }
    plan.post_end[id] = clock.tick();
  }
}

// Everything of one round that the bus's handlers reach: kept together so
// that a bus which never drains can be abandoned with it.
struct RoundState {
  RoundState(std::uint64_t round_seed, std::size_t per_producer)
      : seed(round_seed),
        executors(kMinExecutors + round_seed % (kMaxExecutors - kMinExecutors + 1)),
        queue_capacity(((round_seed >> 9) & 1u) != 0 ? kBatchingQueue : kSmallQueue),
        probe(((round_seed >> 8) & 1u) != 0),
        plan(make_plan(per_producer, round_seed)) {
    const auto witness = [&](std::string name, unsigned topics, Concurrency concurrency) {
      witnesses.push_back(
          std::make_unique<Witness>(std::move(name), topics, concurrency, plan, census));
    };
    witness("a1", kOnA, Concurrency::Concurrent);
    witness("a2", kOnA, Concurrency::Concurrent);
    witness("b1", kOnB, Concurrency::Concurrent);
    witness("b2", kOnB, Concurrency::Concurrent);
    witness("ab", kOnA | kOnB, Concurrency::Concurrent);
    witness("serial-a", kOnA, Concurrency::Serial);
  }

  const std::uint64_t seed;
  const std::size_t executors;
  const std::size_t queue_capacity;
  const bool probe;  // this round unsubscribes a member beside a blocked one
  RoundPlan plan;
  Census census;
  std::vector<std::unique_ptr<Witness>> witnesses;
  std::vector<std::shared_ptr<WitnessSubscriber>> witness_subscribers;
  std::shared_ptr<BlockingMember> blocker;
  std::shared_ptr<Tracker> bystander_tracker;
  std::shared_ptr<ChurnedMember> bystander;
};

// The witnesses, half Subscriber objects and half callables; "ab" is one
// Subscriber on both topics, a member of both groups. On probe rounds, the
// blocking member and the bystander join group.a.
std::size_t subscribe_round(courier::EventBus& bus, RoundState& state) {
  std::size_t subscriptions = 0;
  for (std::size_t i = 0; i < state.witnesses.size(); ++i) {
    Witness& witness = *state.witnesses[i];
    std::vector<const char*> topics;
    for (std::size_t topic = 0; topic < kTopics.size(); ++topic) {
      if (witness.on_topic(topic)) topics.push_back(kTopics[topic]);
    }
    if (i % 2 == 0) {
      state.witness_subscribers.push_back(std::make_shared<WitnessSubscriber>(witness));
      for (const char* topic : topics) bus.subscribe(state.witness_subscribers.back(), topic);
    } else {
      for (const char* topic : topics) {
        bus.subscribe<Payload>(
            topic, [&witness](const Event& event) { witness.record(event); },
            witness.concurrency());
      }
    }
    subscriptions += topics.size();
  }
  if (state.probe) {
    state.blocker = std::make_shared<BlockingMember>(state.plan, state.census);
    bus.subscribe(state.blocker, kTopics[0]);
    state.bystander_tracker = std::make_shared<Tracker>(state.census);
    state.bystander = std::make_shared<ChurnedMember>(state.bystander_tracker);
    bus.subscribe(state.bystander, kTopics[0]);
    subscriptions += 1;  // the blocker's: the bystander's is cancelled during the round
  }
  return subscriptions;
}

// Returns how many expected deliveries are missing (lost events).
std::uint64_t check_witness(const Witness& witness, const RoundPlan& plan) {
  SCOPED_TRACE("witness " + witness.name());
  std::uint64_t missing = 0, extra = 0;
  std::array<std::uint64_t, kProducers> expected_from{};
  for (std::uint32_t id = 0; id < plan.size(); ++id) {
    const int expected = witness.expects(id) ? 1 : 0;
    expected_from[plan.producer_of(id)] += expected;
    const int got = witness.deliveries_of(id);
    if (got == expected) continue;
    if (got < expected) ++missing;
    if (got > expected) ++extra;
    if (missing + extra <= 3) {
      ADD_FAILURE() << "event " << id << " on \"" << kTopics[plan.topic[id]] << "\" (key \""
                    << key_name(plan.key[id]) << "\", " << (plan.by_handle[id] ? "handle" : "name")
                    << ") delivered " << got << " times, expected " << expected;
    }
  }
  EXPECT_EQ(missing, 0u) << "events lost";
  EXPECT_EQ(extra, 0u) << "events duplicated or delivered to a non-matching subscriber";
  for (std::size_t producer = 0; producer < kProducers; ++producer) {
    EXPECT_EQ(witness.received_from(producer), expected_from[producer]) << "producer " << producer;
  }
  EXPECT_EQ(witness.overlaps(), 0u) << "invocations that must be exclusive overlapped";
  courier_stress::expect_post_order(witness.ordered_logs(), plan.post_start, plan.post_end);
  return missing;
}

TEST(GroupStress, ConcurrentMembersOfOneTopicUnderChurnAndBlocking) {
  const courier_stress::Watchdog scenario(
      "GroupStress.ConcurrentMembersOfOneTopicUnderChurnAndBlocking",
      courier_stress::scenario_bound());
  const std::size_t per_producer = courier_stress::scaled(6000);
  Figures figures{.scenario = "groups",
                  .threads = kProducers + kChurners + kProbers + kMaxExecutors};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog("groups round " + std::to_string(rounds.index()));
    auto state =
        std::make_unique<RoundState>(courier_stress::round_seed(rounds.index()), per_producer);
    Census& census = state->census;
    auto owned_bus = std::make_unique<courier::EventBus>(
        courier::Options{.threads = state->executors, .queue_capacity = state->queue_capacity});
    courier::EventBus& bus = *owned_bus;
    auto error_hook = bus.on_error(
        [&census](const courier::DeliveryError&) { census.reported_errors.fetch_add(1); });
    const std::size_t subscriptions = subscribe_round(bus, *state);
    const std::array<courier::Topic, 2> handles = {bus.topic(kTopics[0]), bus.topic(kTopics[1])};

    courier_stress::PostClock clock;
    std::atomic<std::size_t> producers_left{kProducers};
    courier_stress::run_together(kProducers + kChurners + kProbers, [&](std::size_t index) {
      if (index < kProducers) {
        produce(bus, state->plan, clock, handles, index, census);
        producers_left.fetch_sub(1);
      } else if (index < kProducers + kChurners) {
        std::mt19937_64 random(state->seed + index);
        while (producers_left.load() != 0) churn_once(bus, census, random);
      } else if (state->probe) {
        unsubscribe_beside_a_blocked_member(bus, *state->blocker, state->bystander,
                                            *state->bystander_tracker, census);
      }
    });
    if (!courier_stress::drain_or_abandon(owned_bus)) {
      (void)state.release();  // the abandoned bus's handlers may still reach it
      return;
    }
    bus.wait_idle();

    for (const auto& witness : state->witnesses)
      figures.lost += check_witness(*witness, state->plan);
    const courier::Stats stats = bus.stats();
    EXPECT_EQ(stats.posted, state->plan.size());
    EXPECT_EQ(stats.posted, stats.delivered_events + stats.dead);
    EXPECT_EQ(stats.dead, 0u) << "every event has never-cancelled witnesses";
    EXPECT_EQ(stats.queued, 0u);
    EXPECT_EQ(stats.delivered, census.invocations.load())
        << "the bus counted other invocations than the handlers saw";
    EXPECT_EQ(stats.failed, census.thrown.load());
    EXPECT_EQ(census.reported_errors.load(), census.thrown.load());
    EXPECT_EQ(census.after_cancel.load(), 0u) << "invocations after cancel returned";
    EXPECT_EQ(stats.subscriptions, subscriptions) << "churned subscriptions left behind";
    EXPECT_EQ(census.probes.load(), state->probe ? 1u : 0u);

    figures.events += stats.posted;
    figures.deliveries += stats.delivered;
    figures.faults +=
        census.cancels.load() + census.thrown.load() + census.probes.load() + census.refused.load();
    error_hook.disconnect();
    owned_bus.reset();  // joins the executors before the state they reach goes
    if (HasFailure()) break;
  }
  figures.report(rounds);
  EXPECT_EQ(figures.lost, 0u);
}

}  // namespace
