// Subscribing and cancelling (issue 2, semantic 7): which subscriptions an
// event reaches, unsubscribe() and Subscription::cancel() from inside and
// outside handlers, duplicates, is_subscribed(), and the handles.
#include "courier/subscription.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using courier::Event;
using courier::EventBus;
using courier::Options;
using courier::ScopedSubscription;
using courier::Subscription;
using courier_test::finishes_promptly;
using courier_test::Gate;
using courier_test::GatedSubscriber;
using courier_test::iota_vector;
using courier_test::RecordingSubscriber;
using courier_test::run_on_thread;
using courier_test::still_blocked;

Options pool_of_two() { return Options{.threads = 2, .queue_capacity = 256}; }

void post_sequence(EventBus& bus, const std::string& topic, int count, int first = 0) {
  for (int i = first; i < first + count; ++i) bus.post(Event<int>(topic, i));
}

// ---------------------------------------------------------------------------
// Which subscriptions an event reaches

TEST(Subscription, ASubscriptionMadeAfterAPostDoesNotSeeIt) {
  Gate gate;
  auto early = std::make_shared<GatedSubscriber<int>>(gate);
  auto late = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  const auto release = gate.open_on_exit();
  bus.subscribe(early, "news");
  post_sequence(bus, "news", 2);
  ASSERT_TRUE(early->wait_until_started());  // event 1 is still waiting for delivery

  bus.subscribe(late, "news");
  gate.open();
  bus.wait_idle();

  EXPECT_TRUE(late->received().empty());
  bus.post(Event<int>("news", 2));
  bus.wait_idle();
  EXPECT_EQ(late->received(), std::vector{2});
  EXPECT_EQ(early->received(), iota_vector(3));
}

TEST(Subscription, OnASynchronousBusASubscriptionMadeAfterAPostDoesNotSeeIt) {
  // The handler's post is queued until the handler returns; the subscription
  // it makes afterwards is newer than that post.
  auto late = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(Options{.synchronous = true});
  bus.subscribe<int>("start", [&](const Event<int>&) {
    bus.post(Event<int>("news", 1));
    bus.subscribe(late, "news");
  });

  bus.post(Event<int>("start", 0));

  EXPECT_TRUE(late->received().empty());
  bus.post(Event<int>("news", 2));
  EXPECT_EQ(late->received(), std::vector{2});
}

// ---------------------------------------------------------------------------
// Cancelling from inside a handler

// Unsubscribes itself from inside its first invocation, which waits for a gate
// first so that the test can queue more events behind it.
class QuittingSubscriber : public courier::Subscriber<int>,
                           public std::enable_shared_from_this<QuittingSubscriber> {
 public:
  QuittingSubscriber(EventBus& bus, Gate& gate) : bus_(bus), gate_(gate) {}

  void process(const Event<int>&) override {
    gate_.wait();
    invocations_.fetch_add(1);
    bus_.unsubscribe(shared_from_this());
  }
  int invocations() const { return invocations_.load(); }

 private:
  EventBus& bus_;
  Gate& gate_;
  std::atomic<int> invocations_{0};
};

TEST(Subscription, UnsubscribeFromInsideProcessStopsFurtherInvocations) {
  constexpr int kEvents = 10;
  Gate gate;
  EventBus bus(pool_of_two());
  const auto release = gate.open_on_exit();
  auto quitter = std::make_shared<QuittingSubscriber>(bus, gate);
  bus.subscribe(quitter, "jobs");
  post_sequence(bus, "jobs", kEvents);

  gate.open();
  bus.wait_idle();

  EXPECT_EQ(quitter->invocations(), 1);
  EXPECT_FALSE(bus.is_subscribed(quitter));
  EXPECT_EQ(bus.stats().subscriptions, 0u);
  EXPECT_EQ(bus.stats().dead, static_cast<std::uint64_t>(kEvents - 1))
      << "events queued for a cancelled subscription are dead";
}

TEST(Subscription, UnsubscribeFromInsideProcessOnASynchronousBus) {
  Gate gate;
  gate.open();
  EventBus bus(Options{.synchronous = true});
  auto quitter = std::make_shared<QuittingSubscriber>(bus, gate);
  bus.subscribe(quitter, "jobs");

  post_sequence(bus, "jobs", 3);

  EXPECT_EQ(quitter->invocations(), 1);
  EXPECT_FALSE(bus.is_subscribed(quitter));
}

TEST(Subscription, CancelFromInsideACallableStopsFurtherInvocations) {
  Gate gate;
  std::atomic<int> invocations{0};
  Subscription subscription;
  EventBus bus(pool_of_two());
  const auto release = gate.open_on_exit();
  subscription = bus.subscribe<int>("jobs", [&](const Event<int>&) {
    gate.wait();
    invocations.fetch_add(1);
    subscription.cancel();
  });
  post_sequence(bus, "jobs", 10);

  gate.open();
  bus.wait_idle();

  EXPECT_EQ(invocations.load(), 1);
  EXPECT_FALSE(subscription.active());
}

TEST(Subscription, HandlersMayUseTheBusWhileTheyRun) {
  // No lock of the bus is held while user code runs: each of these calls
  // would deadlock otherwise.
  std::promise<bool> done;
  auto self = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  bus.subscribe(self, "jobs");
  bus.subscribe<int>("jobs", [&](const Event<int>&) {
    const bool subscribed = bus.is_subscribed(self);
    const std::uint64_t subscriptions = bus.stats().subscriptions;
    Subscription temporary = bus.subscribe<int>("other", [](const Event<int>&) {});
    temporary.cancel();
    bus.post(Event<int>("unclaimed", 0));
    done.set_value(subscribed && subscriptions == 2);
  });

  bus.post(Event<int>("jobs", 1));

  auto outcome = done.get_future();
  ASSERT_TRUE(finishes_promptly(outcome)) << "a call to the bus from a handler hung";
  EXPECT_TRUE(outcome.get());
}

// ---------------------------------------------------------------------------
// Cancelling from outside while an invocation runs

// The subscriber is inside its first invocation, held at the gate, with two
// more events queued behind it.
class CancelWhileRunning : public ::testing::Test {
 protected:
  void SetUp() override {
    subscription_ = bus_.subscribe(subscriber_, "jobs");
    post_sequence(bus_, "jobs", 3);
    ASSERT_TRUE(subscriber_->wait_until_started());
  }

  // Runs `cancel` on a thread of its own: it must not return before the
  // running invocation has finished, and no invocation may start after it.
  void expect_cancel_waits_for_the_running_invocation(std::function<void()> cancel) {
    auto cancelling = run_on_thread([&] {
      cancel();
      return subscriber_->received().size();  // invocations finished when it returned
    });
    EXPECT_TRUE(still_blocked(cancelling)) << "returned while the subscriber was running";
    gate_.open();
    ASSERT_TRUE(finishes_promptly(cancelling));
    EXPECT_EQ(cancelling.get(), 1u);
    bus_.wait_idle();
    EXPECT_EQ(subscriber_->received(), std::vector{0});
  }

  Gate gate_;
  std::shared_ptr<GatedSubscriber<int>> subscriber_ = std::make_shared<GatedSubscriber<int>>(gate_);
  EventBus bus_{pool_of_two()};
  Gate::OpenOnExit release_{gate_};
  Subscription subscription_;
};

TEST_F(CancelWhileRunning, UnsubscribeWaitsForTheRunningInvocation) {
  expect_cancel_waits_for_the_running_invocation([&] { bus_.unsubscribe(subscriber_); });
}

TEST_F(CancelWhileRunning, CancelWaitsForTheRunningInvocation) {
  expect_cancel_waits_for_the_running_invocation([&] { subscription_.cancel(); });
}

TEST_F(CancelWhileRunning, DestroyingAScopedSubscriptionWaitsForTheRunningInvocation) {
  auto scoped = std::make_unique<ScopedSubscription>(subscription_);
  expect_cancel_waits_for_the_running_invocation([&] { scoped.reset(); });
}

// ---------------------------------------------------------------------------
// Duplicates, unknown subscribers, is_subscribed

TEST(Subscription, SubscribingTheSameSubscriberTwiceToOnePatternIsANoOp) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  Subscription first = bus.subscribe(subscriber, "jobs");
  Subscription second = bus.subscribe(subscriber, "jobs");
  EXPECT_EQ(bus.stats().subscriptions, 1u);

  post_sequence(bus, "jobs", 3);
  bus.wait_idle();
  EXPECT_EQ(subscriber->received(), iota_vector(3));

  second.cancel();  // a handle to the one subscription
  EXPECT_FALSE(first.active());
  EXPECT_FALSE(bus.is_subscribed(subscriber));
}

TEST(Subscription, UnsubscribingAnUnknownSubscriberIsANoOp) {
  auto known = std::make_shared<RecordingSubscriber<int>>();
  auto stranger = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  bus.subscribe(known, "jobs");

  EXPECT_NO_THROW(bus.unsubscribe(stranger));
  bus.post(Event<int>("jobs", 1));
  bus.wait_idle();
  EXPECT_EQ(known->received(), std::vector{1});
  EXPECT_EQ(bus.stats().subscriptions, 1u);

  bus.unsubscribe(known);
  EXPECT_NO_THROW(bus.unsubscribe(known));  // no longer known either
  EXPECT_EQ(bus.stats().subscriptions, 0u);
}

TEST(Subscription, IsSubscribedAnswersForEachBus) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  EventBus other_bus(pool_of_two());
  EXPECT_FALSE(bus.is_subscribed(subscriber));

  Subscription on_jobs = bus.subscribe(subscriber, "jobs");
  bus.subscribe(subscriber, "tasks.*");
  EXPECT_TRUE(bus.is_subscribed(subscriber));
  EXPECT_FALSE(other_bus.is_subscribed(subscriber));
  EXPECT_EQ(bus.stats().subscriptions, 2u);

  on_jobs.cancel();
  EXPECT_TRUE(bus.is_subscribed(subscriber)) << "still subscribed to tasks.*";
  bus.unsubscribe(subscriber);
  EXPECT_FALSE(bus.is_subscribed(subscriber));
}

// ---------------------------------------------------------------------------
// Handles

TEST(Subscription, CancelStopsDeliveriesAndIsIdempotent) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  Subscription subscription = bus.subscribe(subscriber, "jobs");
  EXPECT_TRUE(subscription.active());
  bus.post(Event<int>("jobs", 0));
  bus.wait_idle();

  subscription.cancel();
  subscription.cancel();

  EXPECT_FALSE(subscription.active());
  bus.post(Event<int>("jobs", 1));
  bus.wait_idle();
  EXPECT_EQ(subscriber->received(), std::vector{0});
  EXPECT_EQ(bus.stats().dead, 1u);
  EXPECT_EQ(bus.stats().subscriptions, 0u);
}

TEST(Subscription, AnEmptyHandleDoesNothing) {
  Subscription empty;
  EXPECT_FALSE(empty.active());
  EXPECT_NO_THROW(empty.cancel());
}

TEST(Subscription, DroppingAPlainHandleDoesNotCancel) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  { const Subscription dropped = bus.subscribe(subscriber, "jobs"); }

  bus.post(Event<int>("jobs", 1));
  bus.wait_idle();

  EXPECT_EQ(subscriber->received(), std::vector{1});
}

TEST(Subscription, ScopedSubscriptionCancelsWhenDestroyed) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  {
    const ScopedSubscription scoped(bus.subscribe(subscriber, "jobs"));
    EXPECT_TRUE(scoped.active());
    bus.post(Event<int>("jobs", 0));
    bus.wait_idle();
  }

  bus.post(Event<int>("jobs", 1));
  bus.wait_idle();

  EXPECT_EQ(subscriber->received(), std::vector{0});
  EXPECT_FALSE(bus.is_subscribed(subscriber));
}

TEST(Subscription, MovedOrReleasedScopedSubscriptionStaysActive) {
  auto moved = std::make_shared<RecordingSubscriber<int>>();
  auto released = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  ScopedSubscription outer;
  Subscription kept;
  {
    ScopedSubscription inner(bus.subscribe(moved, "jobs"));
    outer = std::move(inner);
    ScopedSubscription given_up(bus.subscribe(released, "jobs"));
    kept = given_up.release();
  }

  EXPECT_TRUE(outer.active());
  EXPECT_TRUE(kept.active());
  bus.post(Event<int>("jobs", 1));
  bus.wait_idle();
  EXPECT_EQ(moved->received(), std::vector{1});
  EXPECT_EQ(released->received(), std::vector{1});
}

TEST(Subscription, HandlesThatOutliveTheBusCanBeCancelledAndDestroyed) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  Subscription plain;
  ScopedSubscription scoped;
  {
    EventBus bus(pool_of_two());
    plain = bus.subscribe(subscriber, "jobs");
    scoped = ScopedSubscription(bus.subscribe<int>("jobs", [](const Event<int>&) {}));
    EXPECT_TRUE(plain.active());
  }

  EXPECT_FALSE(plain.active());
  EXPECT_FALSE(scoped.active());
  EXPECT_NO_THROW(plain.cancel());
  EXPECT_NO_THROW(scoped.cancel());
  plain = Subscription();
  scoped = ScopedSubscription();
}

TEST(Subscription, DestroyingTheBusLetsGoOfEverySubscriber) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  const std::weak_ptr<RecordingSubscriber<int>> watcher = subscriber;
  {
    EventBus bus(pool_of_two());
    bus.subscribe(subscriber, "jobs");
    bus.post(Event<int>("jobs", 1));
    subscriber.reset();
    EXPECT_FALSE(watcher.expired()) << "the bus keeps its subscribers alive";
  }
  EXPECT_TRUE(watcher.expired());
}

}  // namespace
