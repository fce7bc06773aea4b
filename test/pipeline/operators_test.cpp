// Operators on a subscription (pipeline/operators.hpp, pipeline/pipeline.hpp):
// each operator's behaviour on a ManualClock, composition, streams as a
// source, concurrent sources, bad input, and the end of a pipeline.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/pipeline/manual_clock.hpp"
#include "courier/pipeline/operators.hpp"
#include "courier/pipeline/pipeline.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using courier::Concurrency;
using courier::Event;
using courier::EventBus;
using courier::ManualClock;
using courier::Options;
using courier_test::mentions;
using courier_test::SharedLog;

using Batch = std::vector<Event<int>>;

Options synchronous() { return Options{.synchronous = true}; }

std::vector<int> payloads(const Batch& batch) {
  std::vector<int> values;
  for (const Event<int>& event : batch) values.push_back(event.data());
  return values;
}

TEST(Operators, FilterAndMapComposeAndMapKeepsTopicAndOrderingKey) {
  EventBus bus(synchronous());
  std::vector<std::string> seen;
  bus.subscribe<int>(
      "n.*", courier::pipe<int>(courier::filter([](int value) { return value % 2 == 0; }),
                                courier::map([](int value) { return std::to_string(value * 10); }),
                                [&](const Event<std::string>& event) {
                                  seen.push_back(std::string(event.topic()) + "/" +
                                                 std::string(event.ordering_key()) + "=" +
                                                 event.data());
                                }));
  for (int i = 0; i < 5; ++i) bus.post<int>("n.x", i, "k");
  EXPECT_EQ(seen, (std::vector<std::string>{"n.x/k=0", "n.x/k=20", "n.x/k=40"}));
}

TEST(Operators, OnChangePassesTheFirstEventAndEachChangeOfItsKey) {
  EventBus bus(synchronous());
  std::vector<int> seen;
  bus.subscribe<int>("n",
                     courier::pipe<int>(courier::on_change([](int value) { return value / 10; }),
                                        [&](int value) { seen.push_back(value); }));
  for (int value : {1, 2, 11, 12, 3, 3, 25}) bus.post<int>("n", value);
  EXPECT_EQ(seen, (std::vector<int>{1, 11, 3, 25}));
}

TEST(Operators, ThrottlePassesTheFirstEventOfEachInterval) {
  EventBus bus(synchronous());
  ManualClock clock;
  std::vector<int> seen;
  bus.subscribe<int>("n", courier::pipe<int>(courier::throttle(100ms, clock),
                                             [&](int value) { seen.push_back(value); }));
  bus.post<int>("n", 1);  // passes, t=0
  clock.advance(50ms);
  bus.post<int>("n", 2);  // dropped: 50 ms after
  clock.advance(49ms);
  bus.post<int>("n", 3);  // dropped: 99 ms after
  clock.advance(1ms);
  bus.post<int>("n", 4);  // passes: 100 ms after
  bus.post<int>("n", 5);  // dropped
  EXPECT_EQ(seen, (std::vector<int>{1, 4}));
  EXPECT_EQ(clock.pending(), 0U);  // no timer
}

TEST(Operators, DebounceEmitsTheLatestEventOnceQuietForTheDelay) {
  EventBus bus(synchronous());
  ManualClock clock;
  std::vector<int> seen;
  bus.subscribe<int>("n", courier::pipe<int>(courier::debounce(100ms, clock),
                                             [&](int value) { seen.push_back(value); }));
  bus.post<int>("n", 1);
  clock.advance(60ms);
  bus.post<int>("n", 2);  // restarts the quiet time: due at 160 ms
  clock.advance(60ms);    // 120 ms: not quiet long enough
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(clock.pending(), 1U);  // one timer, re-armed, not one per event
  clock.advance(40ms);             // 160 ms
  EXPECT_EQ(seen, (std::vector<int>{2}));
  clock.advance(1s);
  EXPECT_EQ(seen, (std::vector<int>{2}));  // nothing held, nothing more
  bus.post<int>("n", 3);
  clock.advance(100ms);
  EXPECT_EQ(seen, (std::vector<int>{2, 3}));
}

TEST(Operators, BufferEmitsAFullBatchAtOnceAndAPartialOneAfterTheInterval) {
  EventBus bus(synchronous());
  ManualClock clock;
  std::vector<std::vector<int>> batches;
  bus.subscribe<int>(
      "n", courier::pipe<int>(courier::buffer(3, 1s, clock),
                              [&](const Batch& batch) { batches.push_back(payloads(batch)); }));
  for (int i = 1; i <= 4; ++i) bus.post<int>("n", i);
  EXPECT_EQ(batches, (std::vector<std::vector<int>>{{1, 2, 3}}));
  EXPECT_EQ(clock.pending(), 1U);  // the full batch's timer was cancelled; 4's is armed
  clock.advance(999ms);
  EXPECT_EQ(batches.size(), 1U);
  clock.advance(1ms);
  EXPECT_EQ(batches, (std::vector<std::vector<int>>{{1, 2, 3}, {4}}));
  clock.advance(5s);
  EXPECT_EQ(batches.size(), 2U);  // no empty batch
}

TEST(Operators, BufferYieldsOneBatchPerIntervalOfASteadyFlow) {
  EventBus bus(synchronous());
  ManualClock clock;
  std::vector<std::vector<int>> batches;
  bus.subscribe<int>(
      "c.*", courier::pipe<int>(courier::buffer(1000, 1s, clock),
                                [&](const Batch& batch) { batches.push_back(payloads(batch)); }));
  for (int i = 0; i < 8; ++i) {
    bus.post<int>("c.x", i);
    clock.advance(250ms);
  }
  EXPECT_EQ(batches, (std::vector<std::vector<int>>{{0, 1, 2, 3}, {4, 5, 6, 7}}));
}

TEST(Operators, MapAfterBufferTakesTheBatch) {
  EventBus bus(synchronous());
  ManualClock clock;
  std::vector<std::size_t> sizes;
  bus.subscribe<int>("n", courier::pipe<int>(courier::buffer(2, 1s, clock),
                                             courier::map([](const Batch& b) { return b.size(); }),
                                             [&](std::size_t size) { sizes.push_back(size); }));
  for (int i = 0; i < 4; ++i) bus.post<int>("n", i);
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2}));
}

TEST(Operators, AStreamsConsumerFeedsAPipeline) {
  EventBus bus;
  ManualClock clock;
  courier::Stream<int> stream = bus.stream<int>("n");
  std::vector<std::vector<int>> batches;
  courier::Pipeline<int> pipeline = courier::pipe<int>(
      courier::filter([](int value) { return value > 0; }), courier::buffer(10, 1s, clock),
      [&](const Batch& batch) { batches.push_back(payloads(batch)); });
  for (int value : {0, 1, 2}) bus.post<int>("n", value);
  for (int i = 0; i < 3; ++i) pipeline(*stream.next(courier_test::kBoundedWait));
  clock.advance(1s);
  EXPECT_EQ(batches, (std::vector<std::vector<int>>{{1, 2}}));
}

TEST(Operators, BadArgumentsNameTheValue) {
  ManualClock clock;
  auto message_of = [](auto&& make) {
    try {
      make();
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no exception");
  };
  EXPECT_TRUE(mentions(message_of([&] { courier::buffer(0, 1s, clock); }), "count"));
  EXPECT_TRUE(mentions(message_of([&] { courier::buffer(1, -1s, clock); }), "-1000000000 ns"));
  EXPECT_TRUE(mentions(message_of([&] { courier::buffer(1, 0s, clock); }), "buffer's interval"));
  EXPECT_TRUE(mentions(message_of([&] { courier::throttle(-5ms, clock); }), "throttle"));
  EXPECT_TRUE(mentions(message_of([&] { courier::debounce(0ms, clock); }), "debounce"));
}

TEST(Operators, CancellingTheSubscriptionEndsThePipelineAndItsTimers) {
  EventBus bus(synchronous());
  ManualClock clock;
  std::vector<int> seen;
  courier::Subscription subscription = bus.subscribe<int>(
      "n", courier::pipe<int>(courier::debounce(10ms, clock), [&](int v) { seen.push_back(v); }));
  bus.post<int>("n", 1);
  EXPECT_EQ(clock.pending(), 1U);
  subscription.cancel();
  EXPECT_EQ(clock.pending(), 0U);  // the held event's timer is cancelled
  clock.advance(1s);
  EXPECT_TRUE(seen.empty());
}

TEST(Operators, AThrowingFilterIsReportedByTheBus) {
  EventBus bus(synchronous());
  SharedLog<std::string> errors;
  auto connection =
      bus.on_error([&](const courier::DeliveryError& error) { errors.add(error.message()); });
  bus.subscribe<int>("n", courier::pipe<int>(courier::filter([](int) -> bool {
                                               throw std::runtime_error("bad filter");
                                             }),
                                             [](int) {}));
  bus.post<int>("n", 1);
  ASSERT_EQ(errors.entries().size(), 1U);
  EXPECT_TRUE(mentions(errors.entries()[0], "bad filter"));
}

// Events from a Concurrent subscription on the pool, and the debounce timer
// on this thread: the stages' state is race-free (ThreadSanitizer checks) and
// the sink is never called concurrently with itself.
TEST(OperatorsConcurrency, StatefulStagesSerialiseTheirOutputBehindAConcurrentSource) {
  EventBus bus(Options{.threads = 4, .queue_capacity = 256});
  ManualClock clock;
  courier_test::ConcurrencyProbe probe;
  std::size_t batched = 0;  // the sink's own: never called concurrently
  bus.subscribe<int>("n",
                     courier::pipe<int>(courier::buffer(7, 1ms, clock),
                                        [&](const Batch& batch) {
                                          courier_test::ConcurrencyProbe::Inside inside(probe);
                                          batched += batch.size();
                                        }),
                     Concurrency::Concurrent);
  std::thread ticker([&] {
    for (int i = 0; i < 200; ++i) clock.advance(1ms);
  });
  constexpr int kEvents = 2000;
  for (int i = 0; i < kEvents; ++i) bus.post<int>("n", i);
  ticker.join();
  bus.wait_idle();
  clock.advance(1ms);  // the last partial batch
  EXPECT_EQ(batched, static_cast<std::size_t>(kEvents));
  EXPECT_EQ(probe.max_running(), 1);
}

// A batch full on the posting thread while the timer thread is inside the
// sink: the post hands it over and returns without calling the sink or
// waiting, and the timer thread delivers it after its own.
TEST(OperatorsConcurrency, AStageNeverCallsItsSinkConcurrentlyNorWaitsForAnotherThreadsCall) {
  EventBus bus(synchronous());
  ManualClock clock;
  courier_test::Gate release;
  courier_test::Gate inside;
  auto open_on_exit = release.open_on_exit();
  courier_test::ConcurrencyProbe probe;
  SharedLog<std::vector<int>> batches;
  bus.subscribe<int>("n",
                     courier::pipe<int>(courier::buffer(2, 1ms, clock), [&](const Batch& batch) {
                       courier_test::ConcurrencyProbe::Inside counted(probe);
                       batches.add(payloads(batch));
                       if (batch.size() == 1) {
                         inside.open();
                         release.wait();
                       }
                     }));
  bus.post<int>("n", 0);
  auto ticker = courier_test::run_on_thread([&] { clock.advance(1ms); });  // delivers {0}
  ASSERT_TRUE(inside.wait_for(courier_test::kBoundedWait));
  bus.post<int>("n", 1);
  bus.post<int>("n", 2);  // fills a batch: handed to the timer thread's delivery
  EXPECT_EQ(batches.entries(), (std::vector<std::vector<int>>{{0}}));
  release.open();
  ASSERT_TRUE(courier_test::finishes_promptly(ticker));
  EXPECT_EQ(batches.entries(), (std::vector<std::vector<int>>{{0}, {1, 2}}));
  EXPECT_EQ(probe.max_running(), 1);
}

}  // namespace
