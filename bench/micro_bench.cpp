// micro_bench: the unit costs behind compare's workloads, with Google Benchmark.
//
//   micro_bench [--benchmark_filter=REGEX] [--benchmark_min_time=SECONDS]
//
// Costs per call, each next to the baseline it should be read against:
//   - one event taken from a stream by its consumer (Stream::next, events
//     posted beforehand), vs one taken from a moodycamel queue;
//   - one pattern match (TopicPattern::matches), one topic validation (Event);
//   - one synchronous post (routing + one call) vs a std::function call and a
//     Boost.Signals2 emission; and its growth with subscriptions and patterns;
//   - one asynchronous post, seen from the posting thread under steady load,
//     vs one asio::post through a strand and one moodycamel enqueue;
//   - one asynchronous request and its answer, vs the same through a strand.
#include <benchmark/benchmark.h>

#include <concurrentqueue/concurrentqueue.h>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/signals2/signal.hpp>
#include <courier/courier.hpp>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "scaling_topics.hpp"

namespace {

void BM_PatternMatch(benchmark::State& state, const char* pattern_text, const char* topic) {
  const courier::TopicPattern pattern(pattern_text);
  const std::string_view topic_view(topic);
  for (auto _ : state) {
    benchmark::DoNotOptimize(pattern.matches(topic_view));
  }
}
BENCHMARK_CAPTURE(BM_PatternMatch, exact, "metrics.cpu", "metrics.cpu");
BENCHMARK_CAPTURE(BM_PatternMatch, star, "metrics.*", "metrics.cpu");
BENCHMARK_CAPTURE(BM_PatternMatch, tail, "metrics.>", "metrics.cpu.user");
BENCHMARK_CAPTURE(BM_PatternMatch, first_token_differs, "w17.*", "w0.x");

// Constructing an event copies and validates its topic: part of every post.
void BM_EventConstruction(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    courier::Event<int> event("metrics.cpu", ++i);
    benchmark::DoNotOptimize(event);
  }
}
BENCHMARK(BM_EventConstruction);

void BM_StdFunctionCall(benchmark::State& state) {
  int delivered = 0;
  std::function<void(int)> subscriber = [&delivered](int) { ++delivered; };
  benchmark::DoNotOptimize(subscriber);
  int i = 0;
  for (auto _ : state) subscriber(++i);
  benchmark::DoNotOptimize(delivered);
}
BENCHMARK(BM_StdFunctionCall);

void BM_Signals2Emit(benchmark::State& state) {
  int delivered = 0;
  boost::signals2::signal<void(int)> signal;
  signal.connect([&delivered](int) { ++delivered; });
  int i = 0;
  for (auto _ : state) signal(++i);
  benchmark::DoNotOptimize(delivered);
}
BENCHMARK(BM_Signals2Emit);

// A synchronous bus with one subscription per pattern; each post of a topic
// from `topics` (in turn) must reach exactly one of them.
void post_synchronously(benchmark::State& state, const std::vector<std::string>& patterns,
                        const std::vector<std::string>& topics) {
  courier::EventBus bus(courier::Options{.synchronous = true});
  std::int64_t delivered = 0;
  for (const std::string& pattern : patterns) {
    bus.subscribe<int>(pattern, [&delivered](const courier::Event<int>&) { ++delivered; });
  }
  bus.post(courier::Event<int>(topics.front(), 0));  // builds the routing snapshot
  std::size_t next = 0;
  for (auto _ : state) {
    bus.post(courier::Event<int>(topics[next], 1));
    next = next + 1 == topics.size() ? 0 : next + 1;
  }
  if (delivered != static_cast<std::int64_t>(state.iterations()) + 1) {
    state.SkipWithError("an event did not reach exactly one subscriber");
  }
}

void BM_SyncPost(benchmark::State& state) { post_synchronously(state, {"c1"}, {"c1"}); }
BENCHMARK(BM_SyncPost);

// Post cost against the number of exact subscriptions, on distinct topics.
void BM_SyncPostAmongSubscriptions(benchmark::State& state) {
  const auto subscriptions = static_cast<int>(state.range(0));
  post_synchronously(state, bench::padded_topics(subscriptions),
                     bench::spread_topics(subscriptions));
}
BENCHMARK(BM_SyncPostAmongSubscriptions)->Arg(10)->Arg(100'000);

// Post cost against the number of wildcard patterns, one of which matches;
// four topics in turn, so that the last topic's remembered route is no help.
void BM_SyncPostAmongWildcards(benchmark::State& state) {
  std::vector<std::string> patterns;
  for (int i = 0; i < state.range(0); ++i) {
    // Appended piece by piece: g++ 12 at -O3 warns falsely on "w" + to_string(i) (PR105651).
    std::string pattern = "w";
    pattern += std::to_string(i);
    pattern += ".*";
    patterns.push_back(std::move(pattern));
  }
  post_synchronously(state, patterns, {"w0.a", "w0.b", "w0.c", "w0.d"});
}
BENCHMARK(BM_SyncPostAmongWildcards)->Arg(1)->Arg(64);

// One asynchronous post as the posting thread pays for it, with the pool
// delivering at the same time (so a full queue's backpressure shows too).
void BM_AsyncPost(benchmark::State& state) {
  courier::EventBus bus;
  bus.subscribe<int>("c1", [](const courier::Event<int>&) {});
  int i = 0;
  for (auto _ : state) bus.post(courier::Event<int>("c1", ++i));
  bus.wait_idle();
}
BENCHMARK(BM_AsyncPost)->UseRealTime();

void BM_AsioStrandPost(benchmark::State& state) {
  boost::asio::thread_pool pool(std::thread::hardware_concurrency());
  auto strand = boost::asio::make_strand(pool);
  std::int64_t delivered = 0;
  for (auto _ : state) boost::asio::post(strand, [&delivered] { ++delivered; });
  pool.join();
  benchmark::DoNotOptimize(delivered);
}
BENCHMARK(BM_AsioStrandPost)->UseRealTime();

// A request and its answer: the benchmark's thread posts, a Serial subscriber
// answers through an atomic, and the next request waits for that answer. So
// each event reaches a lane whose drain has just caught up with the previous
// one: where a drain pauses before it looks again (catch_up_pacing.hpp), this
// is the workload the pause would hold up.
void BM_AsyncRoundTrip(benchmark::State& state) {
  courier::EventBus bus;
  std::atomic<int> answered{0};
  bus.subscribe<int>("request", [&answered](const courier::Event<int>& event) {
    answered.store(event.data(), std::memory_order_release);
  });
  int request = 0;
  for (auto _ : state) {
    bus.post(courier::Event<int>("request", ++request));
    while (answered.load(std::memory_order_acquire) != request) {
    }
  }
}
BENCHMARK(BM_AsyncRoundTrip)->UseRealTime();

void BM_AsioStrandRoundTrip(benchmark::State& state) {
  boost::asio::thread_pool pool(std::thread::hardware_concurrency());
  auto strand = boost::asio::make_strand(pool);
  std::atomic<int> answered{0};
  int request = 0;
  for (auto _ : state) {
    ++request;
    boost::asio::post(strand,
                      [&answered, request] { answered.store(request, std::memory_order_release); });
    while (answered.load(std::memory_order_acquire) != request) {
    }
  }
  pool.join();
}
BENCHMARK(BM_AsioStrandRoundTrip)->UseRealTime();

// One enqueue and one dequeue on one thread: the queue's own cost, no hand-off.
void BM_QueueEnqueueDequeue(benchmark::State& state) {
  moodycamel::ConcurrentQueue<int> queue;
  int i = 0, out = 0;
  for (auto _ : state) {
    queue.enqueue(++i);
    queue.try_dequeue(out);
  }
  benchmark::DoNotOptimize(out);
}
BENCHMARK(BM_QueueEnqueueDequeue);

// A stream consumer's own cost per event: a batch of events is posted with
// the clock stopped, then taken with next() on this thread. A Block stream of
// the default depth (256) drains its lane itself, on this thread, 256 events
// a drain; a DropOldest stream deep enough for the batch was filled by the
// executors before the clock starts again. Against it, the same events taken
// from a moodycamel queue they were enqueued in beforehand.
constexpr int kTakenPerBatch = 1000;

void BM_StreamNext(benchmark::State& state, courier::StreamOptions options) {
  courier::EventBus bus;
  courier::Stream<int> stream = bus.stream<int>("c1", options);
  int posted = 0, taken = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < kTakenPerBatch; ++i) bus.post(courier::Event<int>("c1", ++posted));
    // A Block stream's events wait in its lane, holding their slots, until
    // next() drains it: that bus is not idle before.
    if (options.overflow != courier::Overflow::Block) bus.wait_idle();
    state.ResumeTiming();
    for (int i = 0; i < kTakenPerBatch; ++i) {
      // No limit: one reads the clock on each call, which would be half of
      // what is measured. A lost event hangs the case; the stream tests and
      // StreamStress are what catch a loss.
      std::optional<courier::Event<int>> event = stream.next();
      if (!event || event->data() != ++taken) {
        state.SkipWithError("an event lost or out of order");
        break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * kTakenPerBatch);
}
BENCHMARK_CAPTURE(BM_StreamNext, block, courier::StreamOptions{});
BENCHMARK_CAPTURE(BM_StreamNext, drop_oldest,
                  courier::StreamOptions{.depth = kTakenPerBatch,
                                         .overflow = courier::Overflow::DropOldest});

void BM_QueueDequeueEvent(benchmark::State& state) {
  moodycamel::ConcurrentQueue<courier::Event<int>> queue;
  int posted = 0, taken = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < kTakenPerBatch; ++i) queue.enqueue(courier::Event<int>("c1", ++posted));
    state.ResumeTiming();
    courier::Event<int> event("c1", 0);  // each dequeue move-assigns into it
    for (int i = 0; i < kTakenPerBatch; ++i) {
      if (!queue.try_dequeue(event) || event.data() != ++taken) {
        state.SkipWithError("an event lost or out of order");
        break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * kTakenPerBatch);
}
BENCHMARK(BM_QueueDequeueEvent);

}  // namespace

BENCHMARK_MAIN();
