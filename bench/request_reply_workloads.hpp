// The contenders of compare's "request-reply" and "middleware" steps
// (issue 16).
//
//   request-reply   one thread asks, waits for the answer, asks again: a
//                   Requester's request().get() against a server on the bus
//                   (the payload plus one), timed against the same question
//                   answered by a task posted to an Asio thread_pool that
//                   fulfils a std::promise; and with Requester::call, which
//                   waits without a future. Round trips per second, and the
//                   p50 and p99 of one round trip.
//   middleware      W1's synchronous post to one subscriber, with no
//                   middleware, and with four middlewares (each reads a
//                   header; the first sets one) and two headers on every event.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <courier/courier.hpp>
#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace bench {

struct RoundTrips {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// Times `round_trip(i)` for i in 0 .. count-1, each alone.
template <class RoundTrip>
RoundTrips time_round_trips(std::int64_t count, RoundTrip round_trip) {
  std::vector<std::int64_t> samples;
  samples.reserve(static_cast<std::size_t>(count));
  const Clock::time_point begin = Clock::now();
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t start = now_ns();
    round_trip(i);
    samples.push_back(now_ns() - start);
  }
  const double seconds = seconds_between(begin, Clock::now());
  return {static_cast<double>(count) / seconds,
          static_cast<double>(percentile(samples, 0.50)) / 1000.0,
          static_cast<double>(percentile(samples, 0.99)) / 1000.0};
}

// How the asking thread waits for its answer: request().get(), or
// Requester::call (no future; it spins before it sleeps).
enum class Wait { Future, Call };

inline RoundTrips request_reply_courier(std::size_t threads, std::int64_t count, Wait wait) {
  courier::EventBus bus(courier::Options{.threads = threads});
  auto server =
      courier::serve<std::int64_t>(bus, "rpc.next", [](std::int64_t value) { return value + 1; });
  courier::Requester<std::int64_t> requester(bus);
  const auto ask = [&](std::int64_t i) {
    constexpr auto kTimeout = std::chrono::seconds(30);
    return wait == Wait::Call ? requester.call("rpc.next", i, kTimeout)
                              : requester.request("rpc.next", i, kTimeout).get();
  };
  return time_round_trips(
      count, [&](std::int64_t i) { require_count("request-reply courier", ask(i).data(), i + 1); });
}

inline RoundTrips request_reply_asio_promise(std::size_t threads, std::int64_t count) {
  boost::asio::thread_pool pool(threads);
  RoundTrips figures = time_round_trips(count, [&](std::int64_t i) {
    std::promise<std::int64_t> promise;
    std::future<std::int64_t> answer = promise.get_future();
    boost::asio::post(pool, [&promise, i] { promise.set_value(i + 1); });
    require_count("request-reply Asio promise", answer.get(), i + 1);
  });
  pool.join();
  return figures;
}

// Posts per second on a synchronous bus with one subscriber, through
// `middlewares` middlewares, each event carrying `headers` headers.
inline double post_through_middleware(int middlewares, int headers, std::int64_t events) {
  courier::EventBus bus(courier::Options{.synchronous = true});
  std::int64_t delivered = 0;
  bus.subscribe<int>("c1", [&delivered](const courier::Event<int>&) { ++delivered; });
  for (int m = 0; m < middlewares; ++m) {
    bus.add_middleware([first = m == 0](courier::PostedEvent& event) {
      if (first) event.set_header("seen", "1");
      return event.headers().contains("h0") ? courier::Verdict::Pass : courier::Verdict::Veto;
    });
  }
  static constexpr const char* kKeys[] = {"h0", "h1", "h2", "h3"};
  const Clock::time_point begin = Clock::now();
  for (std::int64_t i = 0; i < events; ++i) {
    courier::Event<int> event("c1", static_cast<int>(i));
    for (int h = 0; h < headers; ++h) event.set_header(kKeys[h], "value");
    bus.post(std::move(event));
  }
  const double seconds = seconds_between(begin, Clock::now());
  require_count("middleware", delivered, events);
  return static_cast<double>(events) / seconds;
}

}  // namespace bench
