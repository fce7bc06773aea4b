// Pull streams (stream.hpp): a subscription its consumer reads.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "courier/detail/delivery/envelope.hpp"
#include "courier/detail/routing/topic_patterns.hpp"
#include "courier/detail/small_text.hpp"
#include "courier/event_bus.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using courier::DroppedEvents;
using courier::Event;
using courier::EventBus;
using courier::Options;
using courier::Overflow;
using courier::Stream;
using courier::StreamItem;
using courier::StreamStats;
using courier_test::finishes_promptly;
using courier_test::iota_vector;
using courier_test::kBoundedWait;
using courier_test::mentions;
using courier_test::run_on_thread;

Options pool(std::size_t capacity = 64) {
  return Options{.threads = 2, .queue_capacity = capacity};
}

// Takes `count` events (each within the bounded wait) and returns their payloads.
std::vector<int> take(Stream<int>& stream, int count) {
  std::vector<int> payloads;
  for (int i = 0; i < count; ++i) {
    std::optional<Event<int>> event = stream.next(kBoundedWait);
    if (!event) break;
    payloads.push_back(event->data());
  }
  return payloads;
}

void expect_balanced(const StreamStats& stats) {
  EXPECT_EQ(stats.received, stats.delivered + stats.dropped + stats.depth);
}

TEST(Stream, DeliversInPostOrderAndIterationEndsWhenClosed) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("ticks.>", {.depth = 8});
  std::promise<void> got_all;
  auto consumer = run_on_thread([&] {
    std::vector<int> seen;
    for (const Event<int>& event : stream) {
      seen.push_back(event.data());
      if (seen.size() == 100) got_all.set_value();
    }
    return seen;
  });
  for (int i = 0; i < 100; ++i) bus.post<int>(i % 2 == 0 ? "ticks.a" : "ticks.b.c", i);
  ASSERT_EQ(got_all.get_future().wait_for(kBoundedWait), std::future_status::ready);
  stream.close();
  ASSERT_TRUE(finishes_promptly(consumer));
  EXPECT_EQ(consumer.get(), iota_vector(100));
  const StreamStats stats = stream.stats();
  EXPECT_EQ(stats.delivered, 100U);
  EXPECT_EQ(stats.dropped, 0U);
  expect_balanced(stats);
}

TEST(Stream, NextTimesOutOnAnIdleStreamAndEndsOnceClosed) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("idle");
  EXPECT_FALSE(stream.next(1ms).has_value());
  auto waiting = run_on_thread([&] { return stream.next(); });
  stream.close();
  ASSERT_TRUE(finishes_promptly(waiting));
  EXPECT_FALSE(waiting.get().has_value());
  EXPECT_TRUE(stream.closed());
}

// A full Block stream holds back only its own deliveries: with a single
// executor thread, another subscriber still gets its events meanwhile.
TEST(Stream, AFullBlockStreamNeverHoldsAnExecutorThread) {
  EventBus bus(Options{.threads = 1, .queue_capacity = 64});
  Stream<int> stream = bus.stream<int>("s", {.depth = 2, .overflow = Overflow::Block});
  std::promise<int> other;
  bus.subscribe<int>("other", [&](const Event<int>& event) { other.set_value(event.data()); });

  for (int i = 0; i < 6; ++i) bus.post<int>("s", i);
  bus.post<int>("other", 42);

  auto arrived = other.get_future();
  ASSERT_EQ(arrived.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_EQ(arrived.get(), 42);
  EXPECT_EQ(take(stream, 6), iota_vector(6));
  bus.wait_idle();
  const StreamStats stats = stream.stats();
  EXPECT_EQ(stats.received, 6U);
  EXPECT_EQ(stats.dropped, 0U);
  expect_balanced(stats);
}

// A Block stream's consumer takes its events from the bus itself: with every
// executor held up by another subscriber, the stream still flows.
TEST(Stream, ABlockStreamFlowsWhileEveryExecutorIsBusy) {
  EventBus bus(Options{.threads = 1, .queue_capacity = 64});
  Stream<int> stream = bus.stream<int>("s", {.depth = 4, .overflow = Overflow::Block});
  courier_test::Gate release;
  std::promise<void> busy;
  bus.subscribe<int>("busy", [&](const Event<int>&) {
    busy.set_value();
    (void)release.wait_for(kBoundedWait);
  });
  bus.post<int>("busy", 0);
  ASSERT_EQ(busy.get_future().wait_for(kBoundedWait), std::future_status::ready);
  for (int i = 0; i < 10; ++i) bus.post<int>("s", i);
  EXPECT_EQ(take(stream, 10), iota_vector(10));
  release.open();
  bus.wait_idle();
  expect_balanced(stream.stats());
}

// What a full Block stream holds back keeps its slots of the bus's bounded
// queue, so try_post fails once they are all taken; and nothing is lost.
TEST(Stream, BlockBackpressureReachesThePosterAndLosesNothing) {
  constexpr std::size_t kCapacity = 8;
  EventBus bus(pool(kCapacity));
  Stream<int> stream = bus.stream<int>("s", {.depth = 1, .overflow = Overflow::Block});
  int accepted = 0;
  while (accepted < 1000 && bus.try_post(Event<int>("s", accepted))) ++accepted;
  EXPECT_LT(accepted, 1000);
  EXPECT_LE(accepted, static_cast<int>(kCapacity) + 1);

  EXPECT_EQ(take(stream, accepted), iota_vector(accepted));
  bus.wait_idle();
  EXPECT_EQ(bus.stats().dead, 0U);
  EXPECT_EQ(stream.stats().delivered, static_cast<std::uint64_t>(accepted));
}

TEST(Stream, BlockOnALoadedBusKeepsEveryEventInOrder) {
  constexpr int kEvents = 5000;
  EventBus bus(pool(16));
  Stream<int> stream = bus.stream<int>("s", {.depth = 4, .overflow = Overflow::Block});
  auto consumer = run_on_thread([&] { return take(stream, kEvents); });
  for (int i = 0; i < kEvents; ++i) bus.post<int>("s", i);
  ASSERT_TRUE(finishes_promptly(consumer));
  EXPECT_EQ(consumer.get(), iota_vector(kEvents));
  expect_balanced(stream.stats());
}

TEST(Stream, DropNewestKeepsTheFirstAndCountsTheRest) {
  EventBus bus(Options{.synchronous = true});
  std::vector<std::uint64_t> reported;
  const auto hook = bus.on_drop([&](const DroppedEvents& drop) {
    EXPECT_EQ(drop.pattern, "s");
    reported.push_back(drop.dropped);
  });
  Stream<int> stream = bus.stream<int>("s", {.depth = 3, .overflow = Overflow::DropNewest});
  for (int i = 0; i < 10; ++i) bus.post<int>("s", i);

  const StreamStats stats = stream.stats();
  EXPECT_EQ(stats.received, 10U);
  EXPECT_EQ(stats.dropped, 7U);
  EXPECT_EQ(stats.depth, 3U);
  expect_balanced(stats);
  EXPECT_EQ(bus.stats().dropped, 7U);
  EXPECT_EQ(reported, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(take(stream, 3), (std::vector<int>{0, 1, 2}));
}

TEST(Stream, DropOldestKeepsTheLatest) {
  EventBus bus(Options{.synchronous = true});
  const auto hook = bus.on_drop([](const DroppedEvents&) {});
  Stream<int> stream = bus.stream<int>("s", {.depth = 3, .overflow = Overflow::DropOldest});
  for (int i = 0; i < 10; ++i) bus.post<int>("s", i);

  EXPECT_EQ(take(stream, 3), (std::vector<int>{7, 8, 9}));
  const StreamStats stats = stream.stats();
  EXPECT_EQ(stats.dropped, 7U);
  EXPECT_EQ(stats.delivered, 3U);
  expect_balanced(stats);
}

TEST(Stream, AHeartbeatComesOnlyWhenIdle) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("s", {.heartbeat = 20ms});
  std::optional<StreamItem<int>> item = stream.next_item(kBoundedWait);
  ASSERT_TRUE(item.has_value());
  EXPECT_TRUE(item->is_heartbeat());
  EXPECT_THROW((void)item->event(), std::logic_error);

  bus.post<int>("s", 7);
  item = stream.next_item(kBoundedWait);
  ASSERT_TRUE(item.has_value());
  ASSERT_FALSE(item->is_heartbeat());
  EXPECT_EQ(item->event().data(), 7);
  // next() never yields heartbeats: it times out instead.
  EXPECT_FALSE(stream.next(60ms).has_value());
}

TEST(Stream, DepthZeroHandsOverOnlyToAWaitingConsumer) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("s", {.depth = 0, .overflow = Overflow::Block});
  bus.post<int>("s", 1);
  bus.post<int>("s", 2);
  EXPECT_EQ(stream.stats().received, 0U);  // nobody waits: the bus keeps them
  EXPECT_EQ(take(stream, 2), (std::vector<int>{1, 2}));
  bus.wait_idle();
  EXPECT_EQ(stream.stats().received, 2U);
}

TEST(Stream, ShutdownHandsOutWhatTheStreamHoldsThenEndsIt) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("s", {.depth = 100});
  for (int i = 0; i < 10; ++i) bus.post<int>("s", i);
  bus.shutdown();
  std::vector<int> seen;
  for (const Event<int>& event : stream) seen.push_back(event.data());
  EXPECT_EQ(seen, iota_vector(10));
}

TEST(Stream, ClosingAStreamLetsGoOfWhatItHeldBack) {
  EventBus bus(pool(8));
  Stream<int> stream = bus.stream<int>("s", {.depth = 1, .overflow = Overflow::Block});
  for (int i = 0; i < 5; ++i) bus.post<int>("s", i);
  stream.close();
  auto idle = run_on_thread([&] { bus.wait_idle(); });
  ASSERT_TRUE(finishes_promptly(idle));
  EXPECT_EQ(bus.stats().queued, 0U);
  expect_balanced(stream.stats());
}

// A payload whose move, once armed, runs a hook: the hook then runs inside
// the consumer's next(), as it hands the event out.
struct HookedOnMove {
  int value = 0;
  static inline std::function<void()> hook;
  // Arms the hook until the end of the scope (if no move fired it).
  struct Armed {
    explicit Armed(std::function<void()> run) { hook = std::move(run); }
    ~Armed() { hook = nullptr; }
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;
  };
  explicit HookedOnMove(int v) : value(v) {}
  HookedOnMove(const HookedOnMove&) = default;
  HookedOnMove(HookedOnMove&& other) : value(other.value) {
    if (hook) std::exchange(hook, nullptr)();
  }
  HookedOnMove& operator=(const HookedOnMove&) = default;
  HookedOnMove& operator=(HookedOnMove&&) = default;
};

// close() while the consumer is handing out an event (here from inside that
// very call, which holds what the stream drained): that next() returns its
// event, and the next call gets nothing, not the events held.
TEST(Stream, CloseDuringANextDropsWhatTheConsumerStillHeld) {
  EventBus bus(pool());
  Stream<HookedOnMove> stream = bus.stream<HookedOnMove>("s", {.depth = 8});
  for (int i = 0; i < 4; ++i) bus.post("s", HookedOnMove(i));
  ASSERT_EQ(stream.next().value().data().value, 0);  // drains all four into the stream
  const HookedOnMove::Armed armed([&] { stream.close(); });
  ASSERT_EQ(stream.next().value().data().value, 1);
  EXPECT_FALSE(HookedOnMove::hook);
  EXPECT_FALSE(stream.next().has_value());
  const StreamStats stats = stream.stats();
  EXPECT_EQ(stats.delivered, 2U);
  EXPECT_EQ(stats.dropped, 2U);
  expect_balanced(stats);
}

TEST(Stream, OnASynchronousBusBlockMakesThePosterWaitForTheConsumer) {
  EventBus bus(Options{.synchronous = true});
  Stream<int> stream = bus.stream<int>("s", {.depth = 1, .overflow = Overflow::Block});
  auto consumer = run_on_thread([&] { return take(stream, 50); });
  for (int i = 0; i < 50; ++i) bus.post<int>("s", i);
  ASSERT_TRUE(finishes_promptly(consumer));
  EXPECT_EQ(consumer.get(), iota_vector(50));
}

TEST(Stream, AnEventMatchingSeveralPatternsArrivesOnce) {
  EventBus bus(Options{.synchronous = true});
  Stream<int> stream = bus.stream<int>({"a.*", "a.b", "*.b"});
  bus.post<int>("a.b", 1);
  bus.post<int>("a.c", 2);
  EXPECT_EQ(take(stream, 2), (std::vector<int>{1, 2}));
  EXPECT_EQ(stream.stats().received, 2U);
}

TEST(Stream, BadOptionsAreRefusedNamingTheValue) {
  EventBus bus(pool());
  try {
    (void)bus.stream<int>("s", {.depth = courier::StreamOptions::kMaxDepth + 1});
    ADD_FAILURE() << "an oversized depth was accepted";
  } catch (const courier::LimitExceeded& error) {
    EXPECT_TRUE(mentions(error.what(), std::to_string(courier::StreamOptions::kMaxDepth + 1)));
  }
  EXPECT_THROW((void)bus.stream<int>("s", {.depth = 0, .overflow = Overflow::DropNewest}),
               std::invalid_argument);
  EXPECT_THROW((void)bus.stream<int>("bad..pattern"), std::invalid_argument);
  // A bad pattern after a good one, exact or not, is named too.
  for (const std::string_view first : {"a.b", "a.*"}) {
    try {
      (void)bus.stream<int>({first, "bad..pattern"});
      ADD_FAILURE() << "a bad pattern after \"" << first << "\" was accepted";
    } catch (const std::invalid_argument& error) {
      EXPECT_TRUE(mentions(error.what(), "bad..pattern")) << error.what();
    }
  }
  EXPECT_EQ(bus.stats().subscriptions, 0U);
}

TEST(Stream, AsyncNextCompletesThroughUseFutureAndEndsWithAbortOnClose) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("s");
  std::future<StreamItem<int>> next = stream.async_next(boost::asio::use_future);
  bus.post<int>("s", 5);
  ASSERT_EQ(next.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_EQ(next.get().event().data(), 5);

  // The error comes back as a value, not as an exception rethrown from the
  // future: libstdc++ counts references to an exception_ptr in code that
  // ThreadSanitizer does not see, so a rethrown exception freed on Asio's thread
  // is reported as a race.
  std::future<boost::system::error_code> pending = stream.async_next(boost::asio::use_future(
      [](boost::system::error_code error, const StreamItem<int>&) { return error; }));
  stream.close();
  ASSERT_EQ(pending.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_EQ(pending.get(), boost::asio::error::operation_aborted);
}

TEST(Stream, AsyncNextRunsItsHandlerOnTheHandlersExecutor) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("s");
  boost::asio::io_context context;
  std::vector<int> seen;
  std::function<void(boost::system::error_code, StreamItem<int>)> on_item;
  on_item = [&](boost::system::error_code error, StreamItem<int> item) {
    if (error) return;
    EXPECT_TRUE(context.get_executor().running_in_this_thread());
    seen.push_back(item.event().data());
    if (seen.size() < 20) stream.async_next(boost::asio::bind_executor(context, on_item));
  };
  stream.async_next(boost::asio::bind_executor(context, on_item));
  for (int i = 0; i < 20; ++i) bus.post<int>("s", i);
  context.run();  // returns once no wait is pending
  EXPECT_EQ(seen, iota_vector(20));
}

TEST(Stream, AsyncNextYieldsAHeartbeatOnAnIdleStream) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("s", {.heartbeat = 20ms});
  boost::asio::io_context context;
  std::vector<std::string> seen;
  stream.async_next(boost::asio::bind_executor(
      context, [&](boost::system::error_code error, StreamItem<int> item) {
        ASSERT_FALSE(error);
        seen.push_back(item.is_heartbeat() ? "heartbeat" : "event");
        bus.post<int>("s", 1);
        stream.async_next(boost::asio::bind_executor(
            context, [&](boost::system::error_code next_error, StreamItem<int> next_item) {
              ASSERT_FALSE(next_error);
              seen.push_back(next_item.is_heartbeat() ? "heartbeat" : "event");
            }));
      }));
  context.run();
  EXPECT_EQ(seen, (std::vector<std::string>{"heartbeat", "event"}));
}

TEST(Stream, ACoroutineConsumesInsideAnIoContext) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("s", {.depth = 4});
  boost::asio::io_context context;
  std::vector<int> seen;
  boost::asio::co_spawn(
      context,
      [&]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < 50; ++i) {
          StreamItem<int> item = co_await stream.async_next(boost::asio::use_awaitable);
          seen.push_back(item.event().data());
        }
      },
      boost::asio::detached);
  auto producer = run_on_thread([&] {
    for (int i = 0; i < 50; ++i) bus.post<int>("s", i);
  });
  context.run();
  ASSERT_TRUE(finishes_promptly(producer));
  EXPECT_EQ(seen, iota_vector(50));
}

// Takes `count` events in a coroutine on `context`, into `seen`.
void consume_in_coroutine(boost::asio::io_context& context, Stream<int>& stream, int count,
                          std::vector<int>& seen) {
  boost::asio::co_spawn(
      context,
      [&stream, &seen, count]() -> boost::asio::awaitable<void> {
        for (int i = 0; i < count; ++i) {
          StreamItem<int> item = co_await stream.async_next(boost::asio::use_awaitable);
          seen.push_back(item.event().data());
        }
      },
      boost::asio::detached);
}

// Posts `count` events to a stream the executors fill, and waits until it
// holds them.
Stream<int> stream_holding(EventBus& bus, int count) {
  Stream<int> stream = bus.stream<int>("s", {.depth = 256, .overflow = Overflow::DropNewest});
  for (int i = 0; i < count; ++i) bus.post<int>("s", i);
  bus.wait_idle();
  return stream;
}

// With use_awaitable, an event already in the stream resumes the coroutine
// at once: taking ten costs the io_context no handler each.
TEST(Stream, ACoroutineTakesEventsAlreadyThereWithoutARoundThroughItsExecutor) {
  EventBus bus(pool());
  Stream<int> stream = stream_holding(bus, 10);
  boost::asio::io_context context;
  std::vector<int> seen;
  consume_in_coroutine(context, stream, 10, seen);
  const std::size_t handlers = context.run();
  EXPECT_EQ(seen, iota_vector(10));
  EXPECT_LT(handlers, 10U) << "the coroutine went through its executor for each event";
}

// ... but not for ever: after at most kMostImmediateInARow it yields once,
// so that the io_context's other handlers run while events keep coming.
TEST(Stream, ACoroutineWhoseStreamNeverRunsDryStillLetsOthersRun) {
  EventBus bus(pool());
  Stream<int> stream = stream_holding(bus, 200);
  boost::asio::io_context context;
  std::vector<int> seen;
  consume_in_coroutine(context, stream, 200, seen);
  std::optional<std::size_t> seen_when_another_ran;
  boost::asio::post(context, [&] { seen_when_another_ran = seen.size(); });
  context.run();
  EXPECT_EQ(seen, iota_vector(200));
  ASSERT_TRUE(seen_when_another_ran.has_value());
  EXPECT_LE(*seen_when_another_ran, courier::detail::kMostImmediateInARow)
      << "the coroutine kept its executor to itself";
}

// Through use_awaitable, the end of a stream is thrown as system_error, the
// same with an item at hand as after a wait: eof once the bus shut down and
// the stream is empty, operation_aborted once it is closed.
TEST(Stream, ACoroutineSeesTheEndOfItsStreamAsSystemError) {
  EventBus bus(pool());
  Stream<int> closed = bus.stream<int>("s");
  closed.close();
  Stream<int> ended = stream_holding(bus, 3);
  bus.shutdown();
  boost::asio::io_context context;
  std::vector<int> seen;
  std::vector<boost::system::error_code> errors;
  boost::asio::co_spawn(
      context,
      [&]() -> boost::asio::awaitable<void> {
        for (Stream<int>* stream : {&ended, &closed}) {
          try {
            for (;;)
              seen.push_back(
                  (co_await stream->async_next(boost::asio::use_awaitable)).event().data());
          } catch (const boost::system::system_error& error) {
            errors.push_back(error.code());
          }
        }
      },
      boost::asio::detached);
  context.run();
  EXPECT_EQ(seen, iota_vector(3));
  EXPECT_EQ(errors, (std::vector<boost::system::error_code>{
                        boost::asio::error::eof, boost::asio::error::operation_aborted}));
}

// Takes events in a coroutine on `context`, through as_tuple(use_awaitable),
// until the stream ends: each event goes to `take`, the error that ended the
// stream to `end`.
template <class T, class Take>
void consume_until_the_end(boost::asio::io_context& context, Stream<T>& stream,
                           boost::system::error_code& end, Take take) {
  boost::asio::co_spawn(
      context,
      [&stream, &end, take]() mutable -> boost::asio::awaitable<void> {
        for (;;) {
          auto [error, item] =
              co_await stream.async_next(boost::asio::as_tuple(boost::asio::use_awaitable));
          if (error) {
            end = error;
            co_return;
          }
          take(item.event());
        }
      },
      boost::asio::detached);
}

// As CloseDuringANextDropsWhatTheConsumerStillHeld, through a coroutine's
// shortcut, for both kinds of stream: a Block one (its consumer drains the
// lane into its own hands) and a DropNewest one (the executors fill it, the
// consumer takes a batch). The close runs inside the second take.
TEST(Stream, CloseDuringACoroutinesTakeDropsWhatTheConsumerStillHeld) {
  for (const Overflow overflow : {Overflow::Block, Overflow::DropNewest}) {
    EventBus bus(pool());
    Stream<HookedOnMove> stream = bus.stream<HookedOnMove>("s", {.depth = 8, .overflow = overflow});
    for (int i = 0; i < 4; ++i) bus.post("s", HookedOnMove(i));
    // wait_idle would wait for a Block stream's consumer, this thread: its
    // events are in its lane already.
    if (overflow != Overflow::Block) bus.wait_idle();
    // The shortcut's count is this thread's: from 0, none of the three takes
    // goes through the executor instead.
    courier::detail::immediate_in_a_row = 0;
    boost::asio::io_context context;
    std::vector<int> seen;
    boost::system::error_code end;
    std::optional<HookedOnMove::Armed> armed;
    consume_until_the_end(context, stream, end, [&](const Event<HookedOnMove>& event) {
      seen.push_back(event.data().value);
      if (seen.size() == 1) armed.emplace([&] { stream.close(); });
    });
    context.run();
    EXPECT_EQ(seen, (std::vector<int>{0, 1})) << "overflow " << static_cast<int>(overflow);
    EXPECT_EQ(end, boost::asio::error::operation_aborted);
    const StreamStats stats = stream.stats();
    EXPECT_EQ(stats.delivered, 2U);
    EXPECT_EQ(stats.dropped, 2U);
    expect_balanced(stats);
  }
}

// as_tuple(use_awaitable) takes the same shortcut, and hands the stream's end
// over as an error instead of throwing it.
TEST(Stream, ACoroutineThroughAsTupleTakesTheShortcutAndGetsTheEndAsAnError) {
  EventBus bus(pool());
  Stream<int> stream = stream_holding(bus, 10);
  bus.shutdown();
  boost::asio::io_context context;
  std::vector<int> seen;
  boost::system::error_code end;
  consume_until_the_end(context, stream, end,
                        [&](const Event<int>& event) { seen.push_back(event.data()); });
  const std::size_t handlers = context.run();
  EXPECT_EQ(seen, iota_vector(10));
  EXPECT_EQ(end, boost::asio::error::eof);
  EXPECT_LT(handlers, 10U) << "the coroutine went through its executor for each event";
}

// Asio's per-operation cancellation: a signalled slot ends the pending wait
// with operation_aborted, and the stream loses nothing (the next event goes
// to the next wait).
TEST(Stream, AsyncNextEndsThroughItsCancellationSlot) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("s");
  boost::asio::io_context context;
  boost::asio::cancellation_signal cancel;
  std::vector<boost::system::error_code> results;
  stream.async_next(boost::asio::bind_cancellation_slot(
      cancel.slot(), boost::asio::bind_executor(
                         context, [&](boost::system::error_code error, const StreamItem<int>&) {
                           results.push_back(error);
                         })));
  EXPECT_EQ(context.poll(), 0U) << "the wait completed with nothing posted";
  cancel.emit(boost::asio::cancellation_type::terminal);
  context.run_one_for(kBoundedWait);  // bounded: an ignored signal leaves the wait pending
  ASSERT_EQ(results.size(), 1U) << "the cancelled wait did not complete";
  EXPECT_EQ(results[0], boost::asio::error::operation_aborted);

  bus.post<int>("s", 7);
  const std::optional<Event<int>> next = stream.next(kBoundedWait);
  ASSERT_TRUE(next.has_value()) << "the event after a cancelled wait was lost";
  EXPECT_EQ(next->data(), 7);
  EXPECT_EQ(stream.stats().delivered, 1U);
}

// A cancellation that comes after an event reached the wait changes nothing:
// the handler gets the event. On both kinds of stream: one the executors fill
// (DropNewest), one whose consumer drains its lane (Block), where the event
// reaches the wait once the wait, handed back to its executor, drains it.
class StreamKinds : public ::testing::TestWithParam<Overflow> {};
INSTANTIATE_TEST_SUITE_P(Stream, StreamKinds,
                         ::testing::Values(Overflow::DropNewest, Overflow::Block));

TEST_P(StreamKinds, CancellingACompletedWaitKeepsItsEvent) {
  EventBus bus(pool());
  Stream<int> stream = bus.stream<int>("s", {.overflow = GetParam()});
  boost::asio::io_context context;
  boost::asio::cancellation_signal cancel;
  std::optional<int> got;
  stream.async_next(boost::asio::bind_cancellation_slot(
      cancel.slot(), boost::asio::bind_executor(context, [&](boost::system::error_code error,
                                                             const StreamItem<int>& item) {
        if (!error) got = item.event().data();
      })));
  bus.post<int>("s", 3);
  if (GetParam() == Overflow::Block) {
    // The post handed the wait back to `context`: there it takes the event
    // and posts its completion.
    ASSERT_EQ(context.poll_one(), 1U);
  } else {
    bus.wait_idle();  // the event reached the wait; its completion is posted to `context`
  }
  cancel.emit(boost::asio::cancellation_type::terminal);
  context.run();
  EXPECT_EQ(got, 3);
}

// A stream on one exact topic copies an event that is its topic and its
// payload alone from the payload (EventOps::rebuildable_from_payload); every
// other event, with a key, headers or texts too long to sit inline, whole.
// Both kinds of stream, each on one exact topic and on a wildcard, get every
// part of every event.
struct PostedParts {
  std::string topic;
  int data;
  std::string key;
  std::string header;
};

Event<int> event_of(const PostedParts& parts) {
  Event<int> event(parts.topic, parts.data, parts.key);  // an empty key is none
  if (!parts.header.empty()) event.set_header("h", parts.header);
  return event;
}

TEST_P(StreamKinds, EveryPartOfAnEventReachesAStreamOnOneTopicOrOnAWildcard) {
  // One token longer than a text keeps inline: kept on the heap.
  const std::string long_topic =
      "a." + std::string(courier::detail::SmallText::kInlineCapacity, 'x');
  for (const std::string& topic : {std::string("a.b"), long_topic}) {
    const std::vector<PostedParts> posted = {
        {topic, 1, "", ""}, {topic, 2, "key", ""}, {topic, 3, "", "value"}, {topic, 4, "", ""}};
    EventBus bus(pool());
    Stream<int> exact = bus.stream<int>(topic, {.overflow = GetParam()});
    Stream<int> wildcard = bus.stream<int>("a.>", {.overflow = GetParam()});
    for (const PostedParts& parts : posted) bus.post(event_of(parts));
    for (Stream<int>* stream : {&exact, &wildcard}) {
      for (const PostedParts& parts : posted) {
        const std::optional<Event<int>> event = stream->next(kBoundedWait);
        ASSERT_TRUE(event.has_value()) << "event " << parts.data << " on " << topic;
        EXPECT_EQ(event->topic(), parts.topic);
        EXPECT_EQ(event->data(), parts.data);
        EXPECT_EQ(event->ordering_key(), parts.key) << "event " << parts.data;
        const std::string* header = event->headers().find("h");
        EXPECT_EQ(header != nullptr ? *header : "", parts.header) << "event " << parts.data;
      }
    }
  }
}

TEST(Stream, AsyncNextWithDeferredStartsWhenTheOperationIsLaunched) {
  EventBus bus(pool());
  // Filled by the executors, so that wait_idle() shows it holding the event.
  Stream<int> stream = bus.stream<int>("s", {.overflow = Overflow::DropNewest});
  auto operation = stream.async_next(boost::asio::deferred);
  bus.post<int>("s", 11);
  bus.wait_idle();
  EXPECT_EQ(stream.stats().depth, 1U) << "the deferred operation took an event before launch";
  std::promise<int> got;
  std::move(operation)([&](boost::system::error_code error, const StreamItem<int>& item) {
    got.set_value(error ? -1 : item.event().data());
  });
  std::future<int> result = got.get_future();
  ASSERT_EQ(result.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_EQ(result.get(), 11);
}

// A stamping bus gives every event an id and a time; a stream on one exact
// topic gets them, as the metadata they live in is part of what it copies.
TEST_P(StreamKinds, AStreamOnOneTopicGetsTheStampsOfAStampingBus) {
  EventBus bus(Options{.threads = 2, .stamp_events = true});
  Stream<int> stream = bus.stream<int>("a.b", {.overflow = GetParam()});
  bus.post<int>("a.b", 1);
  const std::optional<Event<int>> event = stream.next(kBoundedWait);
  ASSERT_TRUE(event.has_value());
  EXPECT_NE(event->id(), 0U);
  EXPECT_NE(event->timestamp(), std::chrono::system_clock::time_point{});
}

// StreamHandler hands its queue the stream's topic for exactly the events
// the envelope marked rebuildable from their payload, and only when the
// stream is on one exact topic: a queue given a topic copies the payload
// alone, so a topic given wrongly would change the event a consumer sees.
template <class T>
class RecordingSource final : public courier::detail::StreamSource<T> {
 public:
  std::vector<std::optional<std::string>> topics_given;

  bool offer(const Event<T>& /*event*/, const courier::detail::SmallText* topic) override {
    topics_given.push_back(topic != nullptr ? std::optional<std::string>(topic->view())
                                            : std::nullopt);
    return true;
  }
  std::optional<courier::detail::Taken<T>> take(
      std::optional<std::chrono::steady_clock::time_point> /*deadline*/,
      bool /*heartbeats*/) override {
    return std::nullopt;
  }
  std::optional<courier::detail::Outcome<T>> poll() override { return std::nullopt; }
  void take_async(std::unique_ptr<courier::detail::AsyncWaiter<T>> /*waiter*/) override {}
  StreamStats stats() const override { return {}; }
  bool close() override { return false; }
  bool closed() const override { return false; }
};

// What the stream's handler gives its queue for `event`, stored as the bus
// stores it, on a stream over `patterns`.
std::optional<std::string> topic_given(std::initializer_list<std::string_view> patterns,
                                       Event<int> event) {
  auto source = std::make_shared<RecordingSource<int>>();
  courier::detail::StreamHandler<int> handler(
      source, courier::detail::only_topic_of(courier::detail::parse_patterns(patterns)));
  courier::detail::Envelope envelope;
  envelope.store(std::move(event));
  EXPECT_TRUE(handler.invoke(envelope.event(), envelope.ops()));
  return source->topics_given.at(0);
}

TEST(StreamHandler, GivesItsOneExactTopicOnlyForAnEventThatIsItsTopicAndPayloadAlone) {
  EXPECT_EQ(topic_given({"a.b"}, Event<int>("a.b", 1)), "a.b");
  EXPECT_EQ(topic_given({"a.b"}, Event<int>("a.b", 1, "key")), std::nullopt) << "a key";
  EXPECT_EQ(topic_given({"a.b"}, Event<int>("a.b", 1).set_header("h", "v")), std::nullopt)
      << "headers";
  // Which patterns have one topic: OnlyTopicOf (routing/topic_patterns_test.cpp).
  EXPECT_EQ(topic_given({"a.*"}, Event<int>("a.b", 1)), std::nullopt) << "a wildcard";
  EXPECT_EQ(topic_given({"a.b", "a.b"}, Event<int>("a.b", 1)), "a.b") << "one topic, twice";
}

}  // namespace
