// The contenders of compare's "streams" step (issue 15): courier's pull
// streams against courier's own callbacks and the W2 baselines.
//
//   W2 via a stream    one producer posts 0 .. N-1; one consumer thread takes
//                      them with Stream::next() and checks their order.
//   W2 via co_await    the same consumer as a coroutine in an io_context,
//                      taking each event with co_await async_next.
//   64-stream fan-out  one producer posts to 64 DropOldest streams whose
//                      consumers stall (the slowest a consumer can be: every
//                      delivery past the first `depth` drops the oldest), timed
//                      against the same posts to 64 callbacks. Drops must not
//                      make the publisher slow.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <courier/courier.hpp>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace bench {

// Every stream workload's producer: 0 .. events-1 to topic "c1", one thread.
inline void post_sequence(courier::EventBus& bus, std::int64_t events) {
  for (std::int64_t i = 0; i < events; ++i) {
    bus.post(courier::Event<int>("c1", static_cast<int>(i)));
  }
}

// W2 through a stream: events per second, order and count checked.
inline double w2_stream(std::size_t threads, std::int64_t events) {
  courier::EventBus bus(courier::Options{.threads = threads});
  courier::Stream<int> stream = bus.stream<int>("c1");
  SequenceCheck order;
  std::thread consumer([&] {
    for (std::int64_t i = 0; i < events; ++i) {
      std::optional<courier::Event<int>> event = stream.next();
      if (!event) break;
      order.see(event->data());
    }
  });
  const double seconds = time_producers(
      1, [&](int) { post_sequence(bus, events); }, [&] { consumer.join(); });
  order.require_in_order("W2 courier stream", events);
  return static_cast<double>(events) / seconds;
}

inline boost::asio::awaitable<void> consume_in_order(courier::Stream<int>& stream,
                                                     SequenceCheck& order, std::int64_t events) {
  for (std::int64_t i = 0; i < events; ++i) {
    courier::StreamItem<int> item = co_await stream.async_next(boost::asio::use_awaitable);
    order.see(item.event().data());
  }
}

// W2 through co_await async_next in an io_context run by one thread.
inline double w2_coroutine(std::size_t threads, std::int64_t events) {
  courier::EventBus bus(courier::Options{.threads = threads});
  courier::Stream<int> stream = bus.stream<int>("c1");
  SequenceCheck order;
  boost::asio::io_context context;
  boost::asio::co_spawn(context, consume_in_order(stream, order, events), boost::asio::detached);
  std::thread consumer([&] { context.run(); });
  const double seconds = time_producers(
      1, [&](int) { post_sequence(bus, events); }, [&] { consumer.join(); });
  order.require_in_order("W2 courier co_await", events);
  return static_cast<double>(events) / seconds;
}

inline constexpr int kFanOutStreams = 64;

// Posts per second to 64 DropOldest streams of depth 64 that nobody reads
// while the producer posts; then checks each stream's accounting.
inline double fan_out_dropping_streams(std::size_t threads, std::int64_t events) {
  courier::EventBus bus(courier::Options{.threads = threads});
  std::vector<courier::Stream<int>> streams;
  for (int s = 0; s < kFanOutStreams; ++s) {
    streams.push_back(
        bus.stream<int>("c1", {.depth = 64, .overflow = courier::Overflow::DropOldest}));
  }
  const double seconds = time_producers(
      1, [&](int) { post_sequence(bus, events); }, [&] { bus.wait_idle(); });
  for (const courier::Stream<int>& stream : streams) {
    const courier::StreamStats stats = stream.stats();
    if (static_cast<std::int64_t>(stats.received) != events ||
        stats.received != stats.delivered + stats.dropped + stats.depth) {
      fail_loudly("a DropOldest stream received " + std::to_string(stats.received) + " of " +
                  std::to_string(events) + " events, dropped " + std::to_string(stats.dropped) +
                  ", holds " + std::to_string(stats.depth));
    }
  }
  return static_cast<double>(events) / seconds;
}

// The same posts to 64 Serial callbacks that count.
inline double fan_out_callbacks(std::size_t threads, std::int64_t events) {
  courier::EventBus bus(courier::Options{.threads = threads});
  std::vector<DeliveryCounter> counters(kFanOutStreams);
  for (DeliveryCounter& counter : counters) {
    bus.subscribe<int>("c1", [&counter](const courier::Event<int>&) { counter.add(); });
  }
  const double seconds = time_producers(
      1, [&](int) { post_sequence(bus, events); }, [&] { bus.wait_idle(); });
  for (const DeliveryCounter& counter : counters) {
    require_count("64 callbacks", counter.count.load(), events);
  }
  return static_cast<double>(events) / seconds;
}

}  // namespace bench
