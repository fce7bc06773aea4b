// The asynchronous EventBus (issue 2): posting and backpressure, routing,
// payloads, exceptions, dead events, shutdown, bad input and statistics.
// Ordering and mutual exclusion under load: event_bus_concurrency_test.cpp.
#include "courier/event_bus.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <exception>
#include <future>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "courier/detail/delivery/envelope.hpp"
#include "test_support.hpp"

namespace {

using courier::BusClosed;
using courier::DeadEvent;
using courier::DeliveryError;
using courier::Event;
using courier::EventBus;
using courier::Options;
using courier::Stats;
using courier_test::Countdown;
using courier_test::finishes_promptly;
using courier_test::Gate;
using courier_test::GatedSubscriber;
using courier_test::iota_vector;
using courier_test::kBoundedWait;
using courier_test::mentions;
using courier_test::RecordingSubscriber;
using courier_test::run_on_thread;
using courier_test::still_blocked;

Options pool_of_two(std::size_t queue_capacity = 1024) {
  return Options{.threads = 2, .queue_capacity = queue_capacity};
}

void post_sequence(EventBus& bus, const std::string& topic, int count, int first = 0) {
  for (int i = first; i < first + count; ++i) bus.post(Event<int>(topic, i));
}

// ---------------------------------------------------------------------------
// 1. Posting: post() enqueues and returns, the pool delivers; backpressure.

TEST(EventBus, PostReturnsBeforeDeliveryAndThePoolDelivers) {
  Gate gate;
  Gate delivering;
  std::promise<std::thread::id> delivery_thread;
  EventBus bus(pool_of_two());
  const auto release = gate.open_on_exit();
  bus.subscribe<int>("jobs", [&](const Event<int>&) {
    delivery_thread.set_value(std::this_thread::get_id());
    delivering.open();
    gate.wait();
  });

  bus.post(Event<int>("jobs", 1));  // returns although the subscriber is blocked

  ASSERT_TRUE(delivering.wait_for(kBoundedWait));
  EXPECT_NE(delivery_thread.get_future().get(), std::this_thread::get_id());
  EXPECT_EQ(bus.stats().queued, 1u);
  gate.open();
  bus.wait_idle();
  EXPECT_EQ(bus.stats().delivered, 1u);
  EXPECT_EQ(bus.stats().queued, 0u);
}

TEST(EventBus, PostBlocksWhileTheQueueIsFullAndDropsNothing) {
  constexpr int kCapacity = 4;
  constexpr int kEvents = 12;
  Gate gate;
  auto subscriber = std::make_shared<GatedSubscriber<int>>(gate);
  EventBus bus(pool_of_two(kCapacity));
  const auto release = gate.open_on_exit();
  bus.subscribe(subscriber, "jobs");
  Countdown queue_filled(kCapacity);
  std::atomic<int> posts_returned{0};

  auto producer = run_on_thread([&] {
    for (int i = 0; i < kEvents; ++i) {
      bus.post(Event<int>("jobs", i));
      posts_returned.fetch_add(1);
      queue_filled.count_down();
    }
  });

  ASSERT_TRUE(queue_filled.wait_for(kBoundedWait));
  EXPECT_TRUE(still_blocked(producer)) << "post() returned although the queue was full";
  EXPECT_EQ(posts_returned.load(), kCapacity);
  EXPECT_EQ(bus.stats().queued, static_cast<std::uint64_t>(kCapacity));
  gate.open();
  ASSERT_TRUE(finishes_promptly(producer));
  producer.get();
  bus.wait_idle();
  EXPECT_EQ(subscriber->received(), iota_vector(kEvents));
}

TEST(EventBus, TryPostReturnsFalseAtOnceWhileTheQueueIsFull) {
  constexpr int kCapacity = 4;
  Gate gate;
  auto subscriber = std::make_shared<GatedSubscriber<int>>(gate);
  EventBus bus(pool_of_two(kCapacity));
  const auto release = gate.open_on_exit();
  bus.subscribe(subscriber, "jobs");

  for (int i = 0; i < kCapacity; ++i) EXPECT_TRUE(bus.try_post(Event<int>("jobs", i))) << i;
  EXPECT_FALSE(bus.try_post(Event<int>("jobs", 100)));
  EXPECT_FALSE(bus.try_post(Event<int>("jobs", 101)));
  EXPECT_EQ(bus.stats().posted, static_cast<std::uint64_t>(kCapacity));

  gate.open();
  bus.wait_idle();
  EXPECT_TRUE(bus.try_post(Event<int>("jobs", kCapacity)));
  bus.wait_idle();
  EXPECT_EQ(subscriber->received(), iota_vector(kCapacity + 1));
}

// ---------------------------------------------------------------------------
// Routing and payloads

TEST(EventBus, RoutesByExactAndWildcardPatterns) {
  auto exact = std::make_shared<RecordingSubscriber<int>>();
  auto one_token = std::make_shared<RecordingSubscriber<int>>();
  auto one_or_more_tokens = std::make_shared<RecordingSubscriber<int>>();
  auto everything = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  bus.subscribe(exact, "a.b");
  bus.subscribe(one_token, "a.*");
  bus.subscribe(one_or_more_tokens, "a.>");
  bus.subscribe(everything, ">");

  int value = 0;
  for (const char* topic : {"a", "a.b", "a.c", "a.b.c", "b.c"})
    bus.post(Event<int>(topic, value++));
  bus.wait_idle();

  using Topics = std::vector<std::string>;
  EXPECT_EQ(exact->topics(), (Topics{"a.b"}));
  EXPECT_EQ(one_token->topics(), (Topics{"a.b", "a.c"}));
  EXPECT_EQ(one_or_more_tokens->topics(), (Topics{"a.b", "a.c", "a.b.c"}));
  EXPECT_EQ(everything->topics(), (Topics{"a", "a.b", "a.c", "a.b.c", "b.c"}));
  EXPECT_EQ(bus.stats().dead, 0u);
}

struct Point {
  int x;
  int y;
  bool operator==(const Point&) const = default;
};

// A posting thread reuses the route of its previous topic when the new one has
// the same text (lib/delivery/thread_state.hpp compares them word by word, then the
// tail byte by byte): topics of every length up to 20 that differ in a single
// character, wherever it is, must still be told apart, posted in turn.
TEST(EventBus, TopicsDifferingInOneCharacterAreToldApartWhenPostedInTurn) {
  for (const bool synchronous : {true, false}) {
    EventBus bus(synchronous ? Options{.synchronous = true} : Options{.threads = 1});
    for (std::size_t length = 1; length <= 20; ++length) {
      for (std::size_t position = 0; position < length; ++position) {
        const std::string topic(length, 'a');
        std::string neighbour = topic;
        neighbour[position] = 'b';
        std::atomic<int> delivered{0};
        courier::Subscription subscription =
            bus.subscribe<int>(topic, [&](const Event<int>&) { ++delivered; });
        for (int round = 0; round < 2; ++round) {
          bus.post(Event<int>(topic, round));
          bus.post(Event<int>(neighbour, round));
        }
        bus.wait_idle();
        subscription.cancel();
        EXPECT_EQ(delivered.load(), 2) << (synchronous ? "synchronous" : "asynchronous")
                                       << " bus, topic " << topic << ", neighbour " << neighbour;
      }
    }
  }
}

// An event keeps up to 24 bytes of topic or key in itself and more on the
// heap (detail/small_text.hpp): texts past that limit, each way of posting.
TEST(EventBus, TopicsAndKeysLongerThanTheInlineTextArriveIntact) {
  const std::string topic = "metrics.host-0123456789.cpu-user";  // 32 bytes
  const std::string key = "tenant-0123456789abcdefghij";         // 27 bytes
  using Received = std::pair<std::string, std::string>;
  courier_test::SharedLog<Received> received;
  EventBus bus(pool_of_two());
  bus.subscribe<int>(
      "metrics.>",
      [&](const Event<int>& event) {
        received.add({std::string(event.topic()), std::string(event.ordering_key())});
      },
      courier::Concurrency::Concurrent);

  bus.post(Event<int>(topic, 1, key));
  bus.post(topic, 2, key);
  bus.post(bus.topic(topic), 3, key);
  bus.post(Event<int>(topic, 4));
  bus.wait_idle();

  std::vector<Received> entries = received.entries();
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries,
            (std::vector<Received>{{topic, ""}, {topic, key}, {topic, key}, {topic, key}}));
}

TEST(EventBus, HooksReportTopicsLongerThanTheInlineText) {
  const std::string dead_topic = "unclaimed.0123456789.0123456789";  // 31 bytes
  const std::string failing_topic = "orders.0123456789.0123456789";  // 28 bytes
  courier_test::SharedLog<std::string> reported;
  EventBus bus(pool_of_two());
  const auto dead_hook = bus.on_dead_event(
      [&](const DeadEvent& dead) { reported.add("dead " + std::string(dead.topic())); });
  const auto error_hook = bus.on_error(
      [&](const DeliveryError& error) { reported.add("error " + std::string(error.topic)); });
  bus.subscribe<int>("orders.>", [](const Event<int>&) { throw std::runtime_error("boom"); });

  bus.post(Event<int>(dead_topic, 1));
  bus.wait_idle();
  bus.post(Event<int>(failing_topic, 2));
  bus.wait_idle();

  EXPECT_EQ(reported.entries(),
            (std::vector<std::string>{"dead " + dead_topic, "error " + failing_topic}));
}

TEST(EventBus, EachPayloadTypeReachesOnlyItsOwnSubscribers) {
  auto numbers = std::make_shared<RecordingSubscriber<int>>();
  auto words = std::make_shared<RecordingSubscriber<std::string>>();
  auto points = std::make_shared<RecordingSubscriber<Point>>();
  EventBus bus(pool_of_two());
  bus.subscribe(numbers, "data");
  bus.subscribe(words, "data");
  bus.subscribe(points, "data");

  bus.post(Event<int>("data", 7));
  bus.post(Event<std::string>("data", "seven"));
  bus.post(Event<Point>("data", Point{7, 8}));
  bus.post(Event<int>("data", 8));
  bus.wait_idle();

  EXPECT_EQ(numbers->received(), (std::vector<int>{7, 8}));
  EXPECT_EQ(words->received(), (std::vector<std::string>{"seven"}));
  EXPECT_EQ(points->received(), (std::vector<Point>{{7, 8}}));
}

using Kilobyte = std::array<unsigned char, 1024>;
static_assert(sizeof(Event<Kilobyte>) > courier::detail::Envelope::kInlineBytes,
              "the test needs a payload that does not fit the envelope's inline buffer");

template <class Bytes>
Bytes bytes_filled_from(unsigned seed) {
  Bytes bytes;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<unsigned char>((seed * 131 + i * 7) % 251);
  }
  return bytes;
}

// Posts distinct payloads of `Bytes` and checks each arrives, in order, intact.
template <class Bytes>
void expect_payloads_arrive_intact() {
  auto subscriber = std::make_shared<RecordingSubscriber<Bytes>>();
  EventBus bus(pool_of_two());
  bus.subscribe(subscriber, "bytes");
  for (unsigned seed = 0; seed < 8; ++seed) {
    bus.post(Event<Bytes>("bytes", bytes_filled_from<Bytes>(seed)));
  }
  bus.wait_idle();
  const std::vector<Bytes> received = subscriber->received();
  ASSERT_EQ(received.size(), 8u);
  for (unsigned seed = 0; seed < 8; ++seed) {
    EXPECT_EQ(received[seed], bytes_filled_from<Bytes>(seed)) << "event " << seed;
  }
}

TEST(EventBus, DeliversAPayloadLargerThanTheInlineBufferIntact) {
  expect_payloads_arrive_intact<Kilobyte>();
}

// An envelope keeps an event inline up to kInlineBytes: with two 32-byte texts
// in front and the metadata pointer behind, a 16-byte payload is the largest
// that fits, and 17 bytes go to the slot's retained block.
using InlineLimit = std::array<unsigned char, 16>;
using PastInlineLimit = std::array<unsigned char, 17>;
static_assert(courier::detail::Envelope::fits_inline<InlineLimit>);
static_assert(!courier::detail::Envelope::fits_inline<PastInlineLimit>);

TEST(EventBus, PayloadsAtTheInlineLimitAndJustPastItArriveIntact) {
  expect_payloads_arrive_intact<InlineLimit>();
  expect_payloads_arrive_intact<PastInlineLimit>();
}

// The bus skips the destructor of an event whose destructor would do nothing
// (a trivially destructible payload, inline texts); every other event's runs
// once its last delivery is done: a payload's, and that of texts too long to
// be inline (LeakSanitizer, in the ASan suite, sees one left undone).
static_assert(courier::detail::Envelope::fits_inline<std::shared_ptr<int>>,
              "the test below is about inline events");

TEST(EventBus, AnEventIsDestroyedOnceItsLastDeliveryIsDone) {
  const std::string long_topic(courier::detail::SmallText::kInlineCapacity + 1, 't');
  const auto payload = std::make_shared<int>(7);
  EventBus bus(pool_of_two());
  std::atomic<int> deliveries{0};
  for (int i = 0; i < 3; ++i) {
    bus.subscribe<std::shared_ptr<int>>(
        "shared", [&](const Event<std::shared_ptr<int>>&) { ++deliveries; },
        courier::Concurrency::Concurrent);
  }
  bus.subscribe<int>(long_topic, [&](const Event<int>&) { ++deliveries; });

  for (int i = 0; i < 10; ++i) bus.post(Event<std::shared_ptr<int>>("shared", payload));
  bus.post(Event<int>(long_topic, 1, std::string(40, 'k')));
  bus.wait_idle();

  EXPECT_EQ(deliveries.load(), 31);
  EXPECT_EQ(payload.use_count(), 1) << "the bus still holds a delivered payload";
}

TEST(EventBus, DeliversAMoveOnlyPayloadIntact) {
  std::mutex mutex;
  std::vector<int> pointees;
  EventBus bus(pool_of_two());
  bus.subscribe<std::unique_ptr<int>>("owned", [&](const Event<std::unique_ptr<int>>& event) {
    std::lock_guard lock(mutex);
    pointees.push_back(event.data() ? *event.data() : -1);
  });

  bus.post(Event<std::unique_ptr<int>>("owned", std::make_unique<int>(42)));
  bus.post(Event<std::unique_ptr<int>>("owned", std::make_unique<int>(43)));
  bus.wait_idle();

  std::lock_guard lock(mutex);
  EXPECT_EQ(pointees, (std::vector<int>{42, 43}));
}

// ---------------------------------------------------------------------------
// 5. Exceptions thrown by subscribers

class ThrowingSubscriber : public courier::Subscriber<int> {
 public:
  // Throws std::runtime_error("boom N") for even N.
  void process(const Event<int>& event) override {
    invocations_.fetch_add(1);
    if (event.data() % 2 == 0) throw std::runtime_error("boom " + std::to_string(event.data()));
  }
  int invocations() const { return invocations_.load(); }

 private:
  std::atomic<int> invocations_{0};
};

struct ErrorReport {
  std::string topic;
  std::string pattern;
  std::string subscriber;
  std::string message;
  std::exception_ptr exception;
};

ErrorReport report_of(const DeliveryError& error) {
  return {std::string(error.topic), std::string(error.pattern), error.subscriber, error.message(),
          error.exception};
}

using ErrorLog = courier_test::SharedLog<ErrorReport>;

TEST(EventBus, ExceptionGoesToTheErrorHookWithItsContextAndDeliveryGoesOn) {
  ErrorLog errors;
  auto thrower = std::make_shared<ThrowingSubscriber>();
  auto bystander = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  const auto hook = bus.on_error([&](const DeliveryError& error) { errors.add(report_of(error)); });
  bus.subscribe(thrower, "orders.*");
  bus.subscribe(bystander, "orders.>");

  post_sequence(bus, "orders.created", 4);
  bus.wait_idle();

  const std::vector<ErrorReport> reports = errors.entries();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].topic, "orders.created");
  EXPECT_EQ(reports[0].pattern, "orders.*");
  EXPECT_NE(reports[0].subscriber.find("ThrowingSubscriber"), std::string::npos)
      << reports[0].subscriber;
  EXPECT_EQ(reports[0].message, "boom 0");
  EXPECT_EQ(reports[1].message, "boom 2");
  EXPECT_THROW(std::rethrow_exception(reports[0].exception), std::runtime_error);
  EXPECT_EQ(thrower->invocations(), 4);
  EXPECT_EQ(bystander->received(), iota_vector(4));
  EXPECT_EQ(bus.stats().failed, 2u);
  EXPECT_EQ(bus.stats().delivered, 8u);
}

TEST(EventBus, NonStandardExceptionFromACallableIsReportedToo) {
  ErrorLog errors;
  EventBus bus(pool_of_two());
  const auto hook = bus.on_error([&](const DeliveryError& error) { errors.add(report_of(error)); });
  bus.subscribe<int>("ticks", [](const Event<int>&) { throw 42; });

  bus.post(Event<int>("ticks", 1));
  bus.wait_idle();

  const std::vector<ErrorReport> reports = errors.entries();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].subscriber.rfind("callable", 0), 0u) << reports[0].subscriber;
  EXPECT_FALSE(reports[0].message.empty());
  EXPECT_THROW(std::rethrow_exception(reports[0].exception), int);
  EXPECT_EQ(bus.stats().failed, 1u);
}

TEST(EventBus, WithoutAnErrorHookAnExceptionIsOneLineOnStderr) {
  auto thrower = std::make_shared<ThrowingSubscriber>();
  EventBus bus(pool_of_two());
  bus.subscribe(thrower, "alerts");

  testing::internal::CaptureStderr();
  bus.post(Event<int>("alerts", 0));
  bus.wait_idle();
  const std::string output = testing::internal::GetCapturedStderr();

  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  EXPECT_NE(output.find("ThrowingSubscriber"), std::string::npos) << output;
  EXPECT_NE(output.find("alerts"), std::string::npos) << output;
  EXPECT_NE(output.find("boom 0"), std::string::npos) << output;
  bus.post(Event<int>("alerts", 1));
  bus.wait_idle();
  EXPECT_EQ(thrower->invocations(), 2);
  EXPECT_EQ(bus.stats().failed, 1u);
}

// ---------------------------------------------------------------------------
// 6. Dead events

struct DeadReport {
  std::string topic;
  bool was_int = false;
  int number = 0;
  bool was_string = false;
  std::string text;
};

DeadReport report_of(const DeadEvent& dead) {
  DeadReport report;
  report.topic = std::string(dead.topic());
  if (const Event<int>* event = dead.as<int>()) {
    report.was_int = true;
    report.number = event->data();
  }
  if (const Event<std::string>* event = dead.as<std::string>()) {
    report.was_string = true;
    report.text = event->data();
  }
  return report;
}

using DeadEventLog = courier_test::SharedLog<DeadReport>;

TEST(EventBus, EventNoSubscriberTakesIsDeadAndReported) {
  DeadEventLog dead_events;
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  const auto hook =
      bus.on_dead_event([&](const DeadEvent& dead) { dead_events.add(report_of(dead)); });
  bus.subscribe(subscriber, "taken");

  bus.post(Event<int>("unclaimed", 7));
  bus.post(Event<int>("taken", 1));
  bus.wait_idle();

  const std::vector<DeadReport> reports = dead_events.entries();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].topic, "unclaimed");
  EXPECT_TRUE(reports[0].was_int);
  EXPECT_FALSE(reports[0].was_string);
  EXPECT_EQ(reports[0].number, 7);
  EXPECT_EQ(bus.stats().dead, 1u);
  EXPECT_EQ(subscriber->received(), (std::vector<int>{1}));
}

TEST(EventBus, EventOfAnotherPayloadTypeThanTheTopicsSubscribersIsDead) {
  DeadEventLog dead_events;
  auto numbers = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  const auto hook =
      bus.on_dead_event([&](const DeadEvent& dead) { dead_events.add(report_of(dead)); });
  bus.subscribe(numbers, "numbers");

  bus.post(Event<std::string>("numbers", "seven"));
  bus.wait_idle();

  const std::vector<DeadReport> reports = dead_events.entries();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].was_string);
  EXPECT_FALSE(reports[0].was_int);
  EXPECT_EQ(reports[0].text, "seven");
  EXPECT_EQ(bus.stats().dead, 1u);
  EXPECT_TRUE(numbers->received().empty());
}

// ---------------------------------------------------------------------------
// 8. Shutdown and wait_idle

TEST(EventBus, AfterShutdownPostThrowsBusClosedAndTryPostReturnsFalse) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  bus.subscribe(subscriber, "jobs");
  bus.post(Event<int>("jobs", 1));

  bus.shutdown();

  EXPECT_THROW(bus.post(Event<int>("jobs", 2)), BusClosed);
  EXPECT_FALSE(bus.try_post(Event<int>("jobs", 3)));
  EXPECT_EQ(subscriber->received(), (std::vector<int>{1}));
  EXPECT_EQ(bus.stats().posted, 1u);
}

TEST(EventBus, ShutdownDeliversEveryAcceptedEventBeforeReturning) {
  constexpr int kEvents = 500;
  Gate gate;
  auto slow = std::make_shared<GatedSubscriber<int>>(gate);
  EventBus bus(pool_of_two(kEvents));
  const auto release = gate.open_on_exit();
  bus.subscribe(slow, "jobs");
  post_sequence(bus, "jobs", kEvents);
  ASSERT_TRUE(slow->wait_until_started());

  auto shutting_down = run_on_thread([&] { bus.shutdown(); });

  EXPECT_TRUE(still_blocked(shutting_down)) << "shutdown() returned with events still queued";
  gate.open();
  ASSERT_TRUE(finishes_promptly(shutting_down));
  EXPECT_EQ(slow->received(), iota_vector(kEvents));
  EXPECT_EQ(bus.stats().delivered, static_cast<std::uint64_t>(kEvents));
}

TEST(EventBus, ShutdownIsIdempotent) {
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  bus.subscribe(subscriber, "jobs");
  post_sequence(bus, "jobs", 10);

  bus.shutdown();
  bus.shutdown();
  run_on_thread([&] { bus.shutdown(); }).get();

  EXPECT_EQ(subscriber->received(), iota_vector(10));
  EXPECT_THROW(bus.post(Event<int>("jobs", 10)), BusClosed);
}

TEST(EventBus, ShutdownFromInsideAHandlerStopsAcceptingWithoutDeadlock) {
  Gate shutdown_returned;
  auto work = std::make_shared<RecordingSubscriber<int>>();
  EventBus bus(pool_of_two());
  bus.subscribe(work, "work");
  bus.subscribe<int>("stop", [&](const Event<int>&) {
    bus.shutdown();
    shutdown_returned.open();
  });

  bus.post(Event<int>("stop", 0));
  int accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += bus.try_post(Event<int>("work", i)) ? 1 : 0;

  ASSERT_TRUE(shutdown_returned.wait_for(kBoundedWait)) << "shutdown() from a handler hung";
  EXPECT_THROW(bus.post(Event<int>("work", 100)), BusClosed);
  bus.shutdown();  // joins the pool
  EXPECT_EQ(work->received(), iota_vector(accepted));
  EXPECT_EQ(bus.stats().posted, static_cast<std::uint64_t>(accepted + 1));
}

TEST(EventBus, DestructorShutsDownAndDeliversEveryAcceptedEvent) {
  constexpr int kEvents = 300;
  Gate gate;
  auto slow = std::make_shared<GatedSubscriber<int>>(gate);
  {
    std::future<void> opener;
    EventBus bus(pool_of_two(kEvents));
    bus.subscribe(slow, "jobs");
    post_sequence(bus, "jobs", kEvents);
    ASSERT_TRUE(slow->wait_until_started());
    opener = run_on_thread([&] { gate.open(); });
  }  // ~EventBus runs while the subscriber may still be held at the gate
  EXPECT_EQ(slow->received(), iota_vector(kEvents));
}

TEST(EventBus, WaitIdleBlocksUntilEverythingIsDeliveredWithoutShuttingDown) {
  constexpr int kEvents = 100;
  Gate gate;
  auto slow = std::make_shared<GatedSubscriber<int>>(gate);
  EventBus bus(pool_of_two());
  const auto release = gate.open_on_exit();
  bus.subscribe(slow, "jobs");
  post_sequence(bus, "jobs", kEvents);

  auto waiting = run_on_thread([&] {
    bus.wait_idle();
    return slow->received().size();
  });

  EXPECT_TRUE(still_blocked(waiting)) << "wait_idle() returned with events still queued";
  gate.open();
  ASSERT_TRUE(finishes_promptly(waiting));
  EXPECT_EQ(waiting.get(), static_cast<std::size_t>(kEvents));
  post_sequence(bus, "jobs", kEvents, kEvents);  // the bus still accepts
  bus.wait_idle();
  EXPECT_EQ(slow->received(), iota_vector(2 * kEvents));
}

TEST(EventBus, WaitIdleFromAHandlerThrowsLogicError) {
  std::promise<bool> threw_logic_error;
  EventBus bus(pool_of_two());
  bus.subscribe<int>("jobs", [&](const Event<int>&) {
    try {
      bus.wait_idle();
      threw_logic_error.set_value(false);
    } catch (const std::logic_error&) {
      threw_logic_error.set_value(true);
    }
  });

  bus.post(Event<int>("jobs", 1));

  auto outcome = threw_logic_error.get_future();
  ASSERT_TRUE(finishes_promptly(outcome)) << "wait_idle() from a handler hung";
  EXPECT_TRUE(outcome.get());
}

TEST(EventBus, ShutdownWakesProducersBlockedOnAFullQueueWithBusClosed) {
  constexpr int kCapacity = 4;
  Gate gate;
  auto subscriber = std::make_shared<GatedSubscriber<int>>(gate);
  EventBus bus(pool_of_two(kCapacity));
  const auto release = gate.open_on_exit();
  bus.subscribe(subscriber, "jobs");
  Countdown queue_filled(kCapacity);
  auto producer = run_on_thread([&] {
    for (int i = 0; i < 100; ++i) {
      bus.post(Event<int>("jobs", i));
      queue_filled.count_down();
    }
  });
  ASSERT_TRUE(queue_filled.wait_for(kBoundedWait));
  ASSERT_TRUE(still_blocked(producer));

  auto shutting_down = run_on_thread([&] { bus.shutdown(); });

  ASSERT_TRUE(finishes_promptly(producer)) << "a blocked post() did not wake up at shutdown";
  EXPECT_THROW(producer.get(), BusClosed);
  EXPECT_FALSE(gate.is_open());
  gate.open();
  ASSERT_TRUE(finishes_promptly(shutting_down));
  EXPECT_EQ(subscriber->received(), iota_vector(kCapacity));
}

// ---------------------------------------------------------------------------
// 9. Bad input

// The what() of the std::invalid_argument `action` throws; a failure if none.
template <class Action>
std::string invalid_argument_message(Action&& action) {
  try {
    action();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  ADD_FAILURE() << "no std::invalid_argument";
  return {};
}

TEST(EventBus, InvalidTopicIsRejectedByNameWhenTheEventIsMade) {
  // Every constructor: C string (validated as its end is found), std::string,
  // with an ordering key.
  for (const char* topic : {"bad topic", "a.*", "a.", ".a", "a..b", ""}) {
    EXPECT_TRUE(mentions(invalid_argument_message([&] { (void)Event<int>(topic, 1); }), topic));
    EXPECT_TRUE(mentions(invalid_argument_message([&] { (void)Event<int>(std::string(topic), 1); }),
                         topic));
    EXPECT_TRUE(
        mentions(invalid_argument_message([&] { (void)Event<int>(topic, 1, "key"); }), topic));
  }
  EXPECT_TRUE(mentions(
      invalid_argument_message([] { (void)Event<int>(static_cast<const char*>(nullptr), 1); }),
      "null"));
  // Literals written at the call: g++ validates those as it compiles (topic.hpp).
  EXPECT_TRUE(
      mentions(invalid_argument_message([] { (void)Event<int>("bad topic", 1); }), "bad topic"));
  EXPECT_TRUE(
      mentions(invalid_argument_message([] { (void)Event<int>("a..b", 1, "key"); }), "a..b"));
  EXPECT_TRUE(mentions(invalid_argument_message([] { (void)Event<int>("", 1); }), "\"\""));
  EXPECT_EQ(Event<int>("metrics.cpu-0", 1).topic(), "metrics.cpu-0");
}

// Strings of other types: with another allocator, or a class that converts
// to std::string_view or to a C string.
struct ConvertsToView {
  operator std::string_view() const { return "view.topic"; }  // NOLINT: the conversion tested
};
struct ConvertsToCString {
  operator const char*() const { return "c.topic"; }  // NOLINT: the conversion tested
};

TEST(EventBus, TopicsAndKeysOfOtherStringTypesAreAccepted) {
  std::vector<std::pair<std::string, std::string>> seen;
  EventBus bus(Options{.synchronous = true});
  bus.subscribe<int>(">", [&](const Event<int>& event) {
    seen.emplace_back(event.topic(), event.ordering_key());
  });
  const std::pmr::string pmr_topic("pmr.topic");
  const std::pmr::string pmr_key("pmr-key");
  char buffer[16] = "buffer.topic";

  bus.post(Event<int>(pmr_topic, 1, pmr_key));
  bus.post(ConvertsToView{}, 2, ConvertsToView{});
  bus.post(ConvertsToCString{}, 3, ConvertsToCString{});
  bus.post(buffer, 4, buffer);

  EXPECT_EQ(seen,
            (std::vector<std::pair<std::string, std::string>>{{"pmr.topic", "pmr-key"},
                                                              {"view.topic", "view.topic"},
                                                              {"c.topic", "c.topic"},
                                                              {"buffer.topic", "buffer.topic"}}));
  EXPECT_TRUE(
      mentions(invalid_argument_message([&] { bus.post(std::pmr::string("a..b"), 5); }), "a..b"));
}

TEST(EventBus, NullCStringTopicOrKeyIsRejectedAndNothingIsAccepted) {
  const char* const null_text = nullptr;
  EXPECT_TRUE(
      mentions(invalid_argument_message([&] { (void)Event<int>(null_text, 1, "key"); }), "null"));
  EXPECT_TRUE(mentions(invalid_argument_message([&] { (void)Event<int>("a", 1, null_text); }),
                       "ordering key"));
  EventBus bus(pool_of_two());
  const courier::Topic handle = bus.topic("a");
  EXPECT_TRUE(mentions(invalid_argument_message([&] { bus.post(null_text, 1); }), "null"));
  EXPECT_TRUE(
      mentions(invalid_argument_message([&] { bus.post("a", 1, null_text); }), "ordering key"));
  EXPECT_TRUE(
      mentions(invalid_argument_message([&] { bus.post(handle, 1, null_text); }), "ordering key"));
  bus.wait_idle();
  EXPECT_EQ(bus.stats().posted, 0u);
}

TEST(EventBus, InvalidPatternIsRejectedByName) {
  EventBus bus(pool_of_two());
  EXPECT_TRUE(mentions(invalid_argument_message([&] { bus.subscribe<int>("a.>.b", [](auto&) {}); }),
                       "a.>.b"));
  auto subscriber = std::make_shared<RecordingSubscriber<int>>();
  EXPECT_TRUE(
      mentions(invalid_argument_message([&] { bus.subscribe(subscriber, "a..b"); }), "a..b"));
  EXPECT_EQ(bus.stats().subscriptions, 0u);
}

TEST(EventBus, NullSubscriberIsRejected) {
  EventBus bus(pool_of_two());
  const std::shared_ptr<RecordingSubscriber<int>> nobody;
  const std::string message =
      invalid_argument_message([&] { bus.subscribe(nobody, "jobs.created"); });
  EXPECT_TRUE(mentions(message, "null"));
  EXPECT_TRUE(mentions(message, "jobs.created"));
}

TEST(EventBus, ZeroThreadsOrZeroCapacityIsRejectedByName) {
  const std::string no_threads =
      invalid_argument_message([] { EventBus bus(Options{.threads = 0}); });
  EXPECT_TRUE(mentions(no_threads, "threads"));
  EXPECT_TRUE(mentions(no_threads, "0"));
  const std::string no_room =
      invalid_argument_message([] { EventBus bus(Options{.threads = 2, .queue_capacity = 0}); });
  EXPECT_TRUE(mentions(no_room, "queue_capacity"));
  EXPECT_TRUE(mentions(no_room, "0"));
}

TEST(EventBus, BadInputLosesNothingAlreadyAccepted) {
  constexpr int kEvents = 10;
  Gate gate;
  auto subscriber = std::make_shared<GatedSubscriber<int>>(gate);
  EventBus bus(pool_of_two());
  const auto release = gate.open_on_exit();
  bus.subscribe(subscriber, "jobs");
  post_sequence(bus, "jobs", kEvents);

  EXPECT_THROW(bus.post(Event<int>("bad topic", -1)), std::invalid_argument);
  EXPECT_THROW(bus.subscribe<int>("a.>.b", [](auto&) {}), std::invalid_argument);
  EXPECT_THROW(bus.subscribe(std::shared_ptr<RecordingSubscriber<int>>(), "jobs"),
               std::invalid_argument);
  gate.open();
  bus.wait_idle();

  EXPECT_EQ(subscriber->received(), iota_vector(kEvents));
  EXPECT_EQ(bus.stats().posted, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(bus.stats().subscriptions, 1u);
}

// ---------------------------------------------------------------------------
// 10. Statistics

TEST(EventBus, StatsCountEveryKindOfOutcome) {
  Gate gate;
  auto slow = std::make_shared<GatedSubscriber<int>>(gate);
  auto thrower = std::make_shared<ThrowingSubscriber>();
  EventBus bus(pool_of_two());
  const auto release = gate.open_on_exit();
  const auto quiet = bus.on_error([](const DeliveryError&) {});
  bus.subscribe(slow, "work");
  bus.subscribe(thrower, "work");
  EXPECT_EQ(bus.stats().subscriptions, 2u);

  post_sequence(bus, "work", 4);
  post_sequence(bus, "nowhere", 2);
  ASSERT_TRUE(slow->wait_until_started());
  const Stats busy = bus.stats();
  EXPECT_EQ(busy.posted, 6u);
  EXPECT_EQ(busy.queued, 4u);
  EXPECT_EQ(busy.dead, 2u);

  gate.open();
  bus.wait_idle();
  const Stats idle = bus.stats();
  EXPECT_EQ(idle.posted, 6u);
  EXPECT_EQ(idle.delivered, 8u);
  EXPECT_EQ(idle.delivered_events, 4u);
  EXPECT_EQ(idle.dead, 2u);
  EXPECT_EQ(idle.failed, 2u);
  EXPECT_EQ(idle.queued, 0u);
  EXPECT_EQ(idle.posted, idle.delivered_events + idle.dead);
}

}  // namespace
