// Subscription churn while events flow: churn threads subscribe, let events
// arrive, then cancel (Subscription::cancel, unsubscribe, ScopedSubscription)
// and destroy what the handler touches right away; a handler subscribes new
// subscriptions and cancels them, some from inside their own handler. No
// invocation may start after a cancel returned (outside a handler: none may
// be running either), nothing may crash or touch freed memory (ASan), and a
// witness subscriber that is never cancelled must still get every event once,
// in post order.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <random>
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
  std::uint32_t producer;
  std::uint32_t sequence;
};
using Event = courier::Event<Payload>;

constexpr std::size_t kProducers = 3;
constexpr std::size_t kChurners = 2;
constexpr std::size_t kExecutors = 4;
const std::array<const char*, 4> kTopics = {"churn.a", "churn.b", "churn.a.x", "churn.b.y"};
const std::array<const char*, 6> kPatterns = {"churn.a", "churn.*",   "churn.>",
                                              "*.b",     "churn.a.x", "*.*.y"};

// Counters that outlive the bus, so that even a late invocation has somewhere
// valid to report to.
struct Violations {
  std::atomic<std::uint64_t> after_cancel{0};       // invocation after cancel returned
  std::atomic<std::uint64_t> after_self_cancel{0};  // after cancel from its own handler
  std::atomic<std::uint64_t> witness_out_of_order{0};
  std::atomic<std::uint64_t> cancels{0};  // faults injected
};

// What a churned subscription shares with the thread that cancels it.
class Tracker {
 public:
  explicit Tracker(Violations& violations) : violations_(violations) {}

  void on_invocation() {
    if (cancel_returned_.load()) violations_.after_cancel.fetch_add(1);
    invocations_.add();
  }
  void cancel_returned() { cancel_returned_.store(true); }
  // Paces the churn (a subscription that gets a few events before it is
  // cancelled exercises more), not a condition of the test: it may time out.
  void let_some_arrive(std::uint64_t count) const {
    invocations_.wait_for_at_least(count, std::chrono::milliseconds(5));
  }

 private:
  Violations& violations_;
  std::atomic<bool> cancel_returned_{false};
  courier_stress::Tally invocations_;
};

class ChurnSubscriber final : public courier::Subscriber<Payload> {
 public:
  ChurnSubscriber(Concurrency concurrency, std::shared_ptr<Tracker> tracker)
      : Subscriber(concurrency), tracker_(std::move(tracker)) {}
  void process(const Event& event) override {
    tracker_->on_invocation();
    victim_.touch(event.data().sequence);
  }

 private:
  std::shared_ptr<Tracker> tracker_;
  Victim victim_;
};

// Checks that the never-cancelled witness sees each producer's events once,
// in order, whatever the churn around it.
class Witness {
 public:
  explicit Witness(Violations& violations) : violations_(violations) {}
  void start_round() { next_.fill(0); }
  void on_event(const Payload& payload) {
    if (payload.sequence != next_[payload.producer]) violations_.witness_out_of_order.fetch_add(1);
    next_[payload.producer] = payload.sequence + 1;
  }
  std::uint32_t received_from(std::size_t producer) const { return next_[producer]; }

 private:
  Violations& violations_;
  std::array<std::uint32_t, kProducers> next_{};  // Serial: one invocation at a time
};

// One subscribe-wait-cancel-destroy cycle, through one of the ways to cancel.
void churn_once(courier::EventBus& bus, Violations& violations, std::mt19937_64& random) {
  const char* pattern = kPatterns[random() % kPatterns.size()];
  const Concurrency concurrency = random() % 2 ? Concurrency::Serial : Concurrency::Concurrent;
  auto tracker = std::make_shared<Tracker>(violations);
  const std::uint64_t wanted = random() % 4;
  switch (random() % 3) {
    case 0: {  // a callable, cancelled through its handle
      auto victim = std::make_unique<Victim>();
      courier::Subscription subscription = bus.subscribe<Payload>(
          pattern,
          [tracker, target = victim.get()](const Event& event) {
            tracker->on_invocation();
            target->touch(event.data().sequence);
          },
          concurrency);
      tracker->let_some_arrive(wanted);
      subscription.cancel();
      tracker->cancel_returned();
      victim.reset();
      subscription.cancel();  // idempotent
      break;
    }
    case 1: {  // a Subscriber on two patterns, unsubscribed by pointer
      auto subscriber = std::make_shared<ChurnSubscriber>(concurrency, tracker);
      bus.subscribe(subscriber, pattern);
      bus.subscribe(subscriber, kPatterns[random() % kPatterns.size()]);
      tracker->let_some_arrive(wanted);
      bus.unsubscribe(subscriber);
      tracker->cancel_returned();
      EXPECT_FALSE(bus.is_subscribed(subscriber));
      EXPECT_EQ(subscriber.use_count(), 1) << "the bus kept the unsubscribed subscriber";
      subscriber.reset();  // destroyed here, by its owner
      break;
    }
    default: {  // a ScopedSubscription going out of scope
      auto victim = std::make_unique<Victim>();
      {
        courier::ScopedSubscription scoped(bus.subscribe<Payload>(
            pattern,
            [tracker, target = victim.get()](const Event& event) {
              tracker->on_invocation();
              target->touch(event.data().sequence);
            },
            concurrency));
        tracker->let_some_arrive(wanted);
      }
      tracker->cancel_returned();
      victim.reset();
      break;
    }
  }
  violations.cancels.fetch_add(1);
}

// A subscription that cancels itself from inside its own (Serial) handler the
// first time it runs; no invocation may start after that.
struct SelfCancelling {
  explicit SelfCancelling(Violations& counters) : violations(counters) {}
  Violations& violations;
  std::mutex mutex;
  courier::Subscription handle;  // guarded by mutex; set once subscribe returned
  bool has_handle = false;       // guarded by mutex
  bool cancelled = false;        // guarded by mutex
};

// Subscribes and cancels from inside a handler: every 64th event of one
// producer starts a self-cancelling subscription, and cancels one started
// earlier (from inside a handler, cancel returns at once).
class Meddler {
 public:
  Meddler(courier::EventBus& bus, Violations& violations) : bus_(bus), violations_(violations) {}

  void on_event(const Payload& payload) {
    if (payload.sequence % 64 != 0) return;
    start_self_cancelling(kPatterns[payload.sequence / 64 % kPatterns.size()]);
    cancel_oldest();
  }

  // Outside any handler, at the end of a round: cancels what is left.
  void cancel_all() {
    std::vector<courier::Subscription> left;
    {
      std::lock_guard lock(mutex_);
      left.swap(started_);
    }
    for (courier::Subscription& subscription : left) subscription.cancel();
  }

 private:
  void start_self_cancelling(const char* pattern) {
    auto state = std::make_shared<SelfCancelling>(violations_);
    courier::Subscription subscription = bus_.subscribe<Payload>(pattern, [state](const Event&) {
      std::lock_guard lock(state->mutex);
      if (state->cancelled) {
        state->violations.after_self_cancel.fetch_add(1);
        return;
      }
      if (!state->has_handle) return;  // runs before subscribe() returned: next time
      state->handle.cancel();          // from its own handler: returns at once
      state->cancelled = true;
      state->violations.cancels.fetch_add(1);
    });
    std::lock_guard state_lock(state->mutex);
    state->handle = subscription;
    state->has_handle = true;
    std::lock_guard lock(mutex_);
    started_.push_back(std::move(subscription));
  }

  void cancel_oldest() {
    courier::Subscription oldest;
    {
      std::lock_guard lock(mutex_);
      if (started_.size() < 8) return;
      oldest = std::move(started_.front());
      started_.erase(started_.begin());
    }
    oldest.cancel();  // from inside a handler, on another subscription: no wait
    violations_.cancels.fetch_add(1);
  }

  courier::EventBus& bus_;
  Violations& violations_;
  std::mutex mutex_;
  std::vector<courier::Subscription> started_;  // guarded by mutex_
};

TEST(ChurnStress, NoInvocationAfterCancelAndNoEventLostForOthers) {
  const courier_stress::Watchdog scenario(
      "ChurnStress.NoInvocationAfterCancelAndNoEventLostForOthers",
      courier_stress::scenario_bound());
  Violations violations;
  Witness witness(violations);
  auto owned_bus = std::make_unique<courier::EventBus>(
      courier::Options{.threads = kExecutors, .queue_capacity = 1024});
  courier::EventBus& bus = *owned_bus;
  Meddler meddler(bus, violations);
  bus.subscribe<Payload>("churn.>", [&](const Event& event) { witness.on_event(event.data()); });
  bus.subscribe<Payload>("churn.a", [&](const Event& event) { meddler.on_event(event.data()); });

  const std::size_t per_producer = courier_stress::scaled(20000);
  Figures figures{.scenario = "churn", .threads = kProducers + kChurners + kExecutors};
  Rounds rounds;
  while (rounds.another_round()) {
    SCOPED_TRACE(courier_stress::replay_note(rounds.index()));
    courier_stress::Watchdog watchdog("churn round " + std::to_string(rounds.index()));
    witness.start_round();
    std::atomic<std::size_t> producers_left{kProducers};
    courier_stress::run_together(kProducers + kChurners, [&](std::size_t index) {
      if (index < kProducers) {
        for (std::uint32_t i = 0; i < per_producer; ++i) {
          bus.post(Event(kTopics[(index + i) % kTopics.size()],
                         Payload{static_cast<std::uint32_t>(index), i}));
        }
        producers_left.fetch_sub(1);
        return;
      }
      std::mt19937_64 random(courier_stress::round_seed(rounds.index()) + index);
      while (producers_left.load() != 0) churn_once(bus, violations, random);
    });
    if (!courier_stress::drain_or_abandon(owned_bus)) return;
    bus.wait_idle();
    meddler.cancel_all();  // once idle: no handler is adding to it any more
    for (std::size_t producer = 0; producer < kProducers; ++producer) {
      EXPECT_EQ(witness.received_from(producer), per_producer) << "producer " << producer;
      figures.lost +=
          per_producer - std::min<std::size_t>(per_producer, witness.received_from(producer));
    }
    EXPECT_EQ(bus.stats().subscriptions, 2u) << "churned subscriptions left behind";
    figures.events += kProducers * per_producer;
    if (HasFailure()) break;
  }
  const courier::Stats stats = bus.stats();
  EXPECT_EQ(violations.after_cancel.load(), 0u) << "invocations after cancel returned";
  EXPECT_EQ(violations.after_self_cancel.load(), 0u)
      << "invocations after a handler cancelled its own subscription";
  EXPECT_EQ(violations.witness_out_of_order.load(), 0u) << "witness saw events out of order";
  EXPECT_EQ(stats.posted, figures.events);
  EXPECT_EQ(stats.posted, stats.delivered_events + stats.dead);
  figures.rounds = rounds.count();
  figures.deliveries = stats.delivered;
  figures.faults = violations.cancels.load();
  figures.seconds = rounds.elapsed_seconds();
  figures.print();
}

}  // namespace
