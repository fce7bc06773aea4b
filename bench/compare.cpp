// compare: courier against its baselines, workload by workload, as issue 4
// defines them, with one table at the end (markdown) saying which goals hold.
//
//   compare [--rounds N] [--quick] [--data-dir DIR] [--only STEP]
//
//   --rounds N      rounds of the throughput workloads (default 5; latency and
//                   the fan-out curve use min(N, 3))
//   --quick         every count / 20 and one round: a smoke test, not a figure
//   --data-dir DIR  also write the series bench/plot_performance.sh charts
//   --only STEP     run one step alone, for profiling: memory, W1, W2, streams, W3,
//                   "W4 latency", "W4 idle", allocations, "scale: topics",
//                   "scale: patterns", "W3 curve", request-reply, middleware
//   --contender S   with --emit: run only the contenders whose name contains
//                   S, for profiling one of them (the table is then partial)
//   --emit          run in this process and print the report as tab-separated
//                   lines (how the parent runs each step in a child process)
//
// Every workload runs each of its contenders once per round, back to back; the
// table shows medians over rounds and, for ratios, the median of the ratios
// measured within each round (see bench_support.hpp for why).
//
// Baselines are built here from Debian's packages: a std::function call loop,
// Boost.Signals2, Boost.Asio's thread_pool (with one strand per serial
// subscriber), and moodycamel's BlockingConcurrentQueue.
#include <sys/utsname.h>
#include <sys/wait.h>

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/signals2/signal.hpp>
#include <chrono>
#include <courier/courier.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "counting_allocator.hpp"
#include "request_reply_workloads.hpp"
#include "scaling_topics.hpp"
#include "stream_workloads.hpp"

namespace {

using bench::SideBySide;
using Id = SideBySide<>::Id;

struct Config {
  int rounds = 5;
  int latency_rounds = 3;
  int curve_rounds = 3;
  double scale = 1.0;
  std::string data_dir;
  std::string only;   // run this step alone (for profiling)
  bool emit = false;  // run in this process and print the report as lines

  std::int64_t count(std::int64_t full) const {
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(full) * scale));
  }
};

using bench::Report;

// Courier's pool and Asio's pool get the same number of threads.
const std::size_t kPoolThreads = std::max(1u, std::thread::hardware_concurrency());

// ---------------------------------------------------------------------------
// Contenders shared by several workloads

enum class Dequeue { OneByOne, Bulk };

// The moodycamel baseline's consuming side: `consumers` threads taking values
// off one BlockingConcurrentQueue and handing each to `consume` (shared by the
// threads, so it must be thread-safe when there are several).
template <class T>
class QueueConsumers {
 public:
  QueueConsumers(int consumers, Dequeue mode, std::function<void(const T&)> consume)
      : consume_(std::move(consume)) {
    for (int c = 0; c < consumers; ++c) threads_.emplace_back([this, mode] { run(mode); });
  }
  ~QueueConsumers() { finish(); }
  QueueConsumers(const QueueConsumers&) = delete;
  QueueConsumers& operator=(const QueueConsumers&) = delete;

  moodycamel::BlockingConcurrentQueue<T>& queue() noexcept { return queue_; }

  // Once every producer is done: returns when everything enqueued is consumed.
  void finish() {
    producers_done_.store(true, std::memory_order_release);
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  static constexpr std::size_t kBatch = 256;
  // Short, because the last timeout is part of the timed run.
  static constexpr std::int64_t kTimeoutUs = 100;

  // A consumer may stop once a wait that began after the producers were done
  // came back empty: the queue's semaphore then counts no unclaimed value.
  void run(Dequeue mode) {
    std::array<T, kBatch> batch;
    for (;;) {
      const bool done = producers_done_.load(std::memory_order_acquire);
      const std::size_t got =
          mode == Dequeue::OneByOne
              ? (queue_.wait_dequeue_timed(batch[0], kTimeoutUs) ? 1 : 0)
              : queue_.wait_dequeue_bulk_timed(batch.begin(), kBatch, kTimeoutUs);
      for (std::size_t i = 0; i < got; ++i) consume_(batch[i]);
      if (got == 0 && done) return;
    }
  }

  moodycamel::BlockingConcurrentQueue<T> queue_;
  std::function<void(const T&)> consume_;
  std::atomic<bool> producers_done_{false};
  std::vector<std::thread> threads_;
};

// Each of `producers` threads enqueues 0 .. per_producer-1; returns the seconds
// until `consumers` threads have consumed them all.
double time_queue_pipeline(int producers, std::int64_t per_producer, int consumers, Dequeue mode,
                           std::function<void(const int&)> consume) {
  QueueConsumers<int> pipeline(consumers, mode, std::move(consume));
  return bench::time_producers(
      producers,
      [&](int) {
        for (std::int64_t i = 0; i < per_producer; ++i) {
          pipeline.queue().enqueue(static_cast<int>(i));
        }
      },
      [&] { pipeline.finish(); });
}

// Every producer posts 0 .. per_producer-1 to topic "c1" of `bus`; returns the
// seconds until the bus is idle again.
double time_courier_posts(courier::EventBus& bus, int producers, std::int64_t per_producer) {
  return bench::time_producers(
      producers,
      [&](int) {
        for (std::int64_t i = 0; i < per_producer; ++i) {
          bus.post(courier::Event<int>("c1", static_cast<int>(i)));
        }
      },
      [&] { bus.wait_idle(); });
}

// ---------------------------------------------------------------------------
// W1: synchronous delivery to one subscriber on the posting thread

double w1_std_function(std::int64_t events) {
  std::int64_t delivered = 0;
  std::function<void(int)> subscriber = [&delivered](int) { ++delivered; };
  bench::escape(subscriber);  // a real indirect call, as a bus would make
  const double rate =
      bench::rate_of_loop(events, [&](std::int64_t i) { subscriber(static_cast<int>(i)); });
  bench::require_count("W1 std::function loop", delivered, events);
  return rate;
}

double w1_signals2(std::int64_t events) {
  std::int64_t delivered = 0;
  boost::signals2::signal<void(int)> signal;
  signal.connect([&delivered](int) { ++delivered; });
  const double rate =
      bench::rate_of_loop(events, [&](std::int64_t i) { signal(static_cast<int>(i)); });
  bench::require_count("W1 Boost.Signals2", delivered, events);
  return rate;
}

// COURIER_BENCH_TRACK=topics, latency or both: W1 to W3 run with that
// tracking on (EventBus::track_topics, track_latency), to measure its cost.
void track_if_asked(courier::EventBus& bus) {
  const char* asked = std::getenv("COURIER_BENCH_TRACK");
  if (asked == nullptr) return;
  const std::string_view what(asked);
  bus.track_topics(what == "topics" || what == "both");
  bus.track_latency(what == "latency" || what == "both");
}

double w1_courier_string_topic(std::int64_t events) {
  courier::EventBus bus(courier::Options{.synchronous = true});
  track_if_asked(bus);
  std::int64_t delivered = 0;
  bus.subscribe<int>("c1", [&delivered](const courier::Event<int>&) { ++delivered; });
  const double rate = bench::rate_of_loop(
      events, [&](std::int64_t i) { bus.post(courier::Event<int>("c1", static_cast<int>(i))); });
  bench::require_count("W1 courier", delivered, events);
  return rate;
}

// The API issue 4 asks for: `auto t = bus.topic("c1"); bus.post(t, 5)`. Until
// the library has it this is false and the row says so; once it does, the
// workload measures it without a change here.
template <class Bus>
concept HasTopicHandles = requires(Bus& bus) {
  bus.post(bus.topic("c1"), 5);
};

template <class Bus = courier::EventBus>
double w1_courier_topic_handle(std::int64_t events) {
  if constexpr (HasTopicHandles<Bus>) {
    Bus bus(courier::Options{.synchronous = true});
    track_if_asked(bus);
    std::int64_t delivered = 0;
    bus.template subscribe<int>("c1", [&delivered](const courier::Event<int>&) { ++delivered; });
    auto topic = bus.topic("c1");
    const double rate =
        bench::rate_of_loop(events, [&](std::int64_t i) { bus.post(topic, static_cast<int>(i)); });
    bench::require_count("W1 courier topic handle", delivered, events);
    return rate;
  } else {
    return 0;
  }
}

void measure_w1_sync(const Config& config, Report& report) {
  const std::int64_t events = config.count(10'000'000);
  SideBySide<> runs;
  const Id loop = runs.add("std::function loop", [=] { return w1_std_function(events); });
  const Id signals2 = runs.add("Boost.Signals2", [=] { return w1_signals2(events); });
  const Id string_topic =
      runs.add("courier, string topic", [=] { return w1_courier_string_topic(events); });
  std::optional<Id> handle;
  if constexpr (HasTopicHandles<courier::EventBus>) {
    handle = runs.add("courier, topic handle", [=] { return w1_courier_topic_handle(events); });
  }
  runs.run(config.rounds);

  const std::string workload = "W1 sync, 1 subscriber";
  for (Id baseline : {loop, signals2}) {
    report.add({workload, runs.name(baseline),
                bench::format_rate(runs.median_of(baseline), "events/s"), "", "", ""});
    report.add_bar("W1", runs.name(baseline), false, runs.median_of(baseline));
  }
  const double string_vs_signals2 = runs.median_ratio(string_topic, signals2);
  report.add({workload, runs.name(string_topic),
              bench::format_rate(runs.median_of(string_topic), "events/s"),
              runs.ratio_list(string_topic, {signals2, loop}), ">= 3x Boost.Signals2",
              bench::verdict(string_vs_signals2 >= 3)});
  report.add_bar("W1", "courier", true, runs.median_of(string_topic));
  if (handle) {
    report.add({workload, runs.name(*handle),
                bench::format_rate(runs.median_of(*handle), "events/s"),
                runs.ratio_list(*handle, {signals2, loop}), ">= 5x Boost.Signals2",
                bench::verdict(runs.median_ratio(*handle, signals2) >= 5)});
    report.add_bar("W1", "courier, handle", true, runs.median_of(*handle));
  } else {
    report.add({workload, "courier, topic handle", "n/a (no topic handle API yet)",
                bench::kNotApplicable, ">= 5x Boost.Signals2", bench::kNotApplicable});
  }
}

// ---------------------------------------------------------------------------
// W2: one producer, one serial subscriber on a pool, post order checked

double w2_courier(std::int64_t events) {
  courier::EventBus bus(courier::Options{.threads = kPoolThreads});
  track_if_asked(bus);
  bench::SequenceCheck order;
  bus.subscribe<int>("c1", [&order](const courier::Event<int>& event) { order.see(event.data()); });
  const double seconds = time_courier_posts(bus, 1, events);
  order.require_in_order("W2 courier", events);
  return static_cast<double>(events) / seconds;
}

double w2_asio_strand(std::int64_t events) {
  boost::asio::thread_pool pool(kPoolThreads);
  auto strand = boost::asio::make_strand(pool);
  bench::SequenceCheck order;
  const double seconds = bench::time_producers(
      1,
      [&](int) {
        for (std::int64_t i = 0; i < events; ++i) {
          boost::asio::post(strand, [&order, i] { order.see(i); });
        }
      },
      [&] { pool.join(); });
  order.require_in_order("W2 Asio strand", events);
  return static_cast<double>(events) / seconds;
}

double w2_queue(std::int64_t events, Dequeue mode) {
  bench::SequenceCheck order;
  const double seconds =
      time_queue_pipeline(1, events, 1, mode, [&order](const int& value) { order.see(value); });
  order.require_in_order("W2 moodycamel", events);
  return static_cast<double>(events) / seconds;
}

void measure_w2_ordered(const Config& config, Report& report) {
  const std::int64_t events = config.count(2'000'000);
  SideBySide<> runs;
  const Id asio = runs.add("Asio pool+strand", [=] { return w2_asio_strand(events); });
  const Id one_by_one =
      runs.add("moodycamel 1-by-1", [=] { return w2_queue(events, Dequeue::OneByOne); });
  const Id bulk = runs.add("moodycamel bulk", [=] { return w2_queue(events, Dequeue::Bulk); });
  const Id courier_id = runs.add("courier", [=] { return w2_courier(events); });
  runs.run(config.rounds);

  const std::string workload = "W2 async ordered, 1 serial subscriber";
  for (Id baseline : {asio, one_by_one, bulk}) {
    report.add({workload, runs.name(baseline),
                bench::format_rate(runs.median_of(baseline), "events/s"), "", "", ""});
    report.add_bar("W2", runs.name(baseline), false, runs.median_of(baseline));
  }
  report.add({workload, "courier (order verified)",
              bench::format_rate(runs.median_of(courier_id), "events/s"),
              runs.ratio_list(courier_id, {asio, one_by_one, bulk}), ">= 3x Asio pool+strand",
              bench::verdict(runs.median_ratio(courier_id, asio) >= 3)});
  report.add_bar("W2", "courier", true, runs.median_of(courier_id));
}

// ---------------------------------------------------------------------------
// Streams (issue 15): W2 pulled through a stream and through co_await, and
// the publisher's cost of fanning out to 64 dropping streams. The contenders
// are in stream_workloads.hpp.

void measure_streams(const Config& config, Report& report) {
  const std::int64_t events = config.count(2'000'000);
  SideBySide<> runs;
  const Id asio = runs.add("Asio pool+strand", [=] { return w2_asio_strand(events); });
  const Id one_by_one =
      runs.add("moodycamel 1-by-1", [=] { return w2_queue(events, Dequeue::OneByOne); });
  const Id callback = runs.add("courier, Serial callback", [=] { return w2_courier(events); });
  const Id stream =
      runs.add("courier, stream next()", [=] { return bench::w2_stream(kPoolThreads, events); });
  const Id coroutine = runs.add("courier, co_await async_next",
                                [=] { return bench::w2_coroutine(kPoolThreads, events); });
  runs.run(config.rounds);

  const std::string workload = "W2 through a stream";
  for (Id baseline : {asio, one_by_one, callback}) {
    report.add({workload, runs.name(baseline),
                bench::format_rate(runs.median_of(baseline), "events/s"), "", "", ""});
  }
  report.add({workload, "courier, stream next() (order verified)",
              bench::format_rate(runs.median_of(stream), "events/s"),
              runs.ratio_list(stream, {callback, one_by_one}), ">= 0.8x courier Serial callback",
              bench::verdict(runs.median_ratio(stream, callback) >= 0.8)});
  report.add_goal(">= 1x moodycamel 1-by-1",
                  bench::verdict(runs.median_ratio(stream, one_by_one) >= 1));
  report.add({workload, "courier, co_await async_next (order verified)",
              bench::format_rate(runs.median_of(coroutine), "events/s"),
              runs.ratio_list(coroutine, {asio, stream}), ">= 3x Asio pool+strand",
              bench::verdict(runs.median_ratio(coroutine, asio) >= 3)});

  const std::int64_t fan_out_events = config.count(200'000);
  SideBySide<> fan_out;
  const Id callbacks = fan_out.add("courier, 64 callbacks", [=] {
    return bench::fan_out_callbacks(kPoolThreads, fan_out_events);
  });
  const Id dropping = fan_out.add("courier, 64 DropOldest streams, stalled", [=] {
    return bench::fan_out_dropping_streams(kPoolThreads, fan_out_events);
  });
  fan_out.run(config.rounds);
  const std::string fan_out_workload = "post to 64 subscribers";
  report.add({fan_out_workload, fan_out.name(callbacks),
              bench::format_rate(fan_out.median_of(callbacks), "posts/s"), "", "", ""});
  report.add({fan_out_workload, fan_out.name(dropping),
              bench::format_rate(fan_out.median_of(dropping), "posts/s"),
              fan_out.ratio_list(dropping, {callbacks}), ">= 0.5x 64 callbacks",
              bench::verdict(fan_out.median_ratio(dropping, callbacks) >= 0.5)});
}

// ---------------------------------------------------------------------------
// W3: fan-out from several producers to concurrent subscribers

struct FanOut {
  int producers;
  std::int64_t per_producer;
  int subscribers;

  std::int64_t events() const { return producers * per_producer; }
  std::int64_t deliveries() const { return events() * subscribers; }
};

void require_fan_out(const std::string& who, const FanOut& fan_out,
                     const std::vector<bench::DeliveryCounter>& counters) {
  for (const bench::DeliveryCounter& counter : counters) {
    bench::require_count(who + " subscriber", counter.count.load(), fan_out.events());
  }
}

double w3_courier(const FanOut& fan_out) {
  courier::EventBus bus(courier::Options{.threads = kPoolThreads});
  track_if_asked(bus);
  std::vector<bench::DeliveryCounter> counters(static_cast<std::size_t>(fan_out.subscribers));
  for (bench::DeliveryCounter& counter : counters) {
    bus.subscribe<int>(
        "c1", [&counter](const courier::Event<int>&) { counter.add(); },
        courier::Concurrency::Concurrent);
  }
  const double seconds = time_courier_posts(bus, fan_out.producers, fan_out.per_producer);
  require_fan_out("W3 courier", fan_out, counters);
  return static_cast<double>(fan_out.deliveries()) / seconds;
}

// Concurrent subscribers need no strand: one post per delivery, so that the
// subscribers of one event run in parallel, as on a bus.
double w3_asio(const FanOut& fan_out) {
  boost::asio::thread_pool pool(kPoolThreads);
  std::vector<bench::DeliveryCounter> counters(static_cast<std::size_t>(fan_out.subscribers));
  const double seconds = bench::time_producers(
      fan_out.producers,
      [&](int) {
        for (std::int64_t i = 0; i < fan_out.per_producer; ++i) {
          for (bench::DeliveryCounter& counter : counters) {
            boost::asio::post(pool, [&counter] { counter.add(); });
          }
        }
      },
      [&] { pool.join(); });
  require_fan_out("W3 Asio", fan_out, counters);
  return static_cast<double>(fan_out.deliveries()) / seconds;
}

// The limit: two consumers dequeue (in bulk, for the goal) and call every
// subscriber.
double w3_queue_two_consumers(const FanOut& fan_out, Dequeue mode = Dequeue::Bulk) {
  std::vector<bench::DeliveryCounter> counters(static_cast<std::size_t>(fan_out.subscribers));
  const double seconds = time_queue_pipeline(fan_out.producers, fan_out.per_producer, 2, mode,
                                             [&counters](const int&) {
                                               for (bench::DeliveryCounter& counter : counters) {
                                                 counter.add();
                                               }
                                             });
  require_fan_out("W3 moodycamel", fan_out, counters);
  return static_cast<double>(fan_out.deliveries()) / seconds;
}

// The W3 contenders every fan-out runs, in the order asio, queue, courier (the
// W3 step adds one more before them).
struct FanOutRuns {
  SideBySide<> runs;
  Id asio, queue, courier;
};

void run_fan_out(FanOutRuns& fan_out_runs, const FanOut& fan_out, int rounds) {
  fan_out_runs.asio = fan_out_runs.runs.add("Asio pool", [=] { return w3_asio(fan_out); });
  fan_out_runs.queue =
      fan_out_runs.runs.add("moodycamel 2c bulk", [=] { return w3_queue_two_consumers(fan_out); });
  fan_out_runs.courier = fan_out_runs.runs.add("courier", [=] { return w3_courier(fan_out); });
  fan_out_runs.runs.run(rounds);
}

void measure_w3_fan_out(const Config& config, Report& report) {
  const FanOut fan_out{2, config.count(1'000'000), 4};
  FanOutRuns fan_out_runs;
  // Not a goal's baseline: issue 4 gives one moodycamel two-consumer figure
  // without saying how it dequeues. The goal is held to bulk dequeues, the
  // stronger reading; this row shows the other.
  const Id one_by_one = fan_out_runs.runs.add(
      "moodycamel 2c 1-by-1", [=] { return w3_queue_two_consumers(fan_out, Dequeue::OneByOne); });
  run_fan_out(fan_out_runs, fan_out, config.rounds);
  const SideBySide<>& runs = fan_out_runs.runs;

  const std::string workload = "W3 fan-out, 2 producers, 4 subscribers";
  for (Id baseline : {fan_out_runs.asio, one_by_one, fan_out_runs.queue}) {
    report.add({workload, runs.name(baseline),
                bench::format_rate(runs.median_of(baseline), "deliveries/s"), "", "", ""});
    report.add_bar("W3", runs.name(baseline), false, runs.median_of(baseline));
  }
  const Id courier_id = fan_out_runs.courier;
  report.add({workload, "courier (concurrent subscribers)",
              bench::format_rate(runs.median_of(courier_id), "deliveries/s"),
              runs.ratio_list(courier_id, {fan_out_runs.asio, one_by_one, fan_out_runs.queue}),
              ">= 2x Asio pool",
              bench::verdict(runs.median_ratio(courier_id, fan_out_runs.asio) >= 2)});
  report.add_goal(">= 0.8x moodycamel 2c bulk",
                  bench::verdict(runs.median_ratio(courier_id, fan_out_runs.queue) >= 0.8));
  report.add_bar("W3", "courier", true, runs.median_of(courier_id));
}

// The W3 curve: deliveries/s from 1 to 64 subscribers. Each point makes about
// the same number of deliveries, so that the 64-subscriber points do not
// dominate the run time.
void measure_fan_out_curve(const Config& config, Report& report) {
  const std::int64_t deliveries_per_point = config.count(2'000'000);
  for (int subscribers : {1, 2, 4, 8, 16, 32, 64}) {
    const FanOut fan_out{2, std::max<std::int64_t>(1, deliveries_per_point / (2 * subscribers)),
                         subscribers};
    FanOutRuns fan_out_runs;
    run_fan_out(fan_out_runs, fan_out, config.curve_rounds);
    const SideBySide<>& runs = fan_out_runs.runs;
    report.add({"W3 curve, 2 producers",
                std::to_string(subscribers) + (subscribers == 1 ? " subscriber" : " subscribers"),
                bench::format_rate(runs.median_of(fan_out_runs.courier), "deliveries/s"),
                runs.ratio_list(fan_out_runs.courier, {fan_out_runs.asio, fan_out_runs.queue}),
                "curve", bench::kNotApplicable});
    report.add_curve_point(subscribers,
                           {runs.median_of(fan_out_runs.courier), runs.median_of(fan_out_runs.asio),
                            runs.median_of(fan_out_runs.queue)});
  }
}

// ---------------------------------------------------------------------------
// W4: latency at a steady 100k events/s, and the CPU an idle bus burns

struct Pace {
  std::int64_t events;
  std::chrono::nanoseconds interval;
};

struct Latency {
  double p50_us;
  double p99_us;
};

Latency summarize(const std::string& who, bench::LatencyRecorder& recorder, std::int64_t events) {
  bench::require_count(who, static_cast<std::int64_t>(recorder.size()), events);
  return {recorder.percentile_us(0.50), recorder.percentile_us(0.99)};
}

Latency w4_courier(const Pace& pace) {
  courier::EventBus bus(courier::Options{.threads = kPoolThreads});
  bench::LatencyRecorder recorder(static_cast<std::size_t>(pace.events));
  bus.subscribe<std::int64_t>("c1", [&recorder](const courier::Event<std::int64_t>& event) {
    recorder.record(event.data());
  });
  bench::post_paced(pace.events, pace.interval, [&](std::int64_t stamp) {
    bus.post(courier::Event<std::int64_t>("c1", stamp));
  });
  bus.wait_idle();
  return summarize("W4 courier", recorder, pace.events);
}

Latency w4_asio_strand(const Pace& pace) {
  boost::asio::thread_pool pool(kPoolThreads);
  auto strand = boost::asio::make_strand(pool);
  bench::LatencyRecorder recorder(static_cast<std::size_t>(pace.events));
  bench::post_paced(pace.events, pace.interval, [&](std::int64_t stamp) {
    boost::asio::post(strand, [&recorder, stamp] { recorder.record(stamp); });
  });
  pool.join();
  return summarize("W4 Asio strand", recorder, pace.events);
}

Latency w4_queue(const Pace& pace) {
  bench::LatencyRecorder recorder(static_cast<std::size_t>(pace.events));
  QueueConsumers<std::int64_t> consumer(
      1, Dequeue::OneByOne, [&recorder](const std::int64_t& stamp) { recorder.record(stamp); });
  bench::post_paced(pace.events, pace.interval,
                    [&](std::int64_t stamp) { consumer.queue().enqueue(stamp); });
  consumer.finish();
  return summarize("W4 moodycamel", recorder, pace.events);
}

void measure_w4_latency(const Config& config, Report& report) {
  const Pace pace{config.count(200'000), std::chrono::microseconds(10)};  // 100k/s for 2 s
  SideBySide<Latency> runs;
  const Id asio = runs.add("Asio pool+strand", [=] { return w4_asio_strand(pace); });
  const Id queue = runs.add("moodycamel 1-by-1", [=] { return w4_queue(pace); });
  const Id courier_id = runs.add("courier", [=] { return w4_courier(pace); });
  runs.run(config.latency_rounds);

  auto describe = [&](Id id) {
    return "p50 " + bench::format_us(runs.median_of(id, &Latency::p50_us)) + ", p99 " +
           bench::format_us(runs.median_of(id, &Latency::p99_us));
  };
  const std::string workload = "W4 latency, 100k events/s";
  for (Id baseline : {asio, queue}) {
    report.add({workload, runs.name(baseline), describe(baseline), "", "", ""});
  }
  const double p50 = runs.median_of(courier_id, &Latency::p50_us);
  const double p99 = runs.median_of(courier_id, &Latency::p99_us);
  report.add({workload, "courier", describe(courier_id),
              "p50 " + runs.ratio_list(courier_id, {asio, queue}, &Latency::p50_us), "p50 <= 5 us",
              bench::verdict(p50 <= 5)});
  report.add_goal("p99 <= 100 us", bench::verdict(p99 <= 100));
}

// CPU time of the whole process over one second in which the only threads
// awake would be the bus's: an idle bus must sleep, not spin. Measured from the
// moment the bus is idle, so any spinning after the last event counts.
void measure_idle_cpu(const Config&, Report& report) {
  double share;
  {
    courier::EventBus bus(courier::Options{.threads = kPoolThreads});
    bus.subscribe<int>("c1", [](const courier::Event<int>&) {});
    for (int i = 0; i < 1000; ++i) bus.post(courier::Event<int>("c1", i));
    bus.wait_idle();
    const double cpu_before = bench::process_cpu_seconds();
    const bench::Clock::time_point begin = bench::Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    share = (bench::process_cpu_seconds() - cpu_before) /
            bench::seconds_between(begin, bench::Clock::now());
  }
  report.add({"W4 idle bus, 1 s", "courier, " + std::to_string(kPoolThreads) + " threads",
              bench::format_fixed(share * 100, 2) + "% of a core", "", "< 1% CPU",
              bench::verdict(share < 0.01)});
}

// ---------------------------------------------------------------------------
// Heap allocations per post in steady state

// A 64-byte payload: the largest the goal covers.
struct Payload64 {
  std::array<char, 64> bytes{};
};

// 24 characters: the longest topic an Event keeps in itself (SmallText).
constexpr const char* kInlineTopic = "metrics.cpu.user.core-01";
static_assert(std::string_view(kInlineTopic).size() == courier::detail::SmallText::kInlineCapacity);

// Allocations made by `posts` posts, counted until the bus is idle again (so
// delivery counts too), after a warm-up of several times the queue capacity
// so that every slot has carried an event. COURIER_BENCH_TRACE_ALLOCATIONS=N
// prints where the first N come from (see counting_allocator.cpp).
template <class T>
std::uint64_t allocations_in_posts(const courier::Options& options, std::int64_t posts) {
  courier::EventBus bus(options);
  bus.subscribe<T>(kInlineTopic, [](const courier::Event<T>&) {});
  auto post_some = [&](std::int64_t count) {
    for (std::int64_t i = 0; i < count; ++i) bus.post(courier::Event<T>(kInlineTopic, T{}));
    bus.wait_idle();
  };
  post_some(static_cast<std::int64_t>(4 * options.queue_capacity));
  // A pool thread that starts late registers its per-thread counters (two
  // allocations, once) inside the counted window on a busy machine: give every
  // thread time to start, so that only per-post allocations are counted.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  bench::start_counting_allocations();
  post_some(posts);
  return bench::stop_counting_allocations();
}

void measure_allocations(const Config& config, Report& report) {
  const std::int64_t posts = config.count(100'000);
  const courier::Options async_bus{.threads = kPoolThreads, .queue_capacity = 1024};
  const courier::Options sync_bus{.synchronous = true};
  struct Case {
    std::string name;
    std::uint64_t allocations;
  };
  const Case cases[] = {
      {"courier async, int payload", allocations_in_posts<int>(async_bus, posts)},
      {"courier async, 64-byte payload", allocations_in_posts<Payload64>(async_bus, posts)},
      {"courier sync, int payload", allocations_in_posts<int>(sync_bus, posts)},
  };
  for (const Case& each : cases) {
    report.add({"allocations per post, steady state", each.name,
                bench::format_fixed(
                    static_cast<double>(each.allocations) / static_cast<double>(posts), 4) +
                    " (" + std::to_string(each.allocations) + " in " + std::to_string(posts) + ")",
                "", "0 per post", bench::verdict(each.allocations == 0)});
  }
}

// ---------------------------------------------------------------------------
// Scale: post cost against the number of subscriptions and of patterns

// A synchronous bus with one counting callable per pattern; posting on it
// measures routing plus one call, on one thread, with little noise.
class PatternBus {
 public:
  explicit PatternBus(const std::vector<std::string>& patterns) {
    for (const std::string& pattern : patterns) {
      bus_.subscribe<int>(pattern, [this](const courier::Event<int>&) { ++delivered_; });
    }
  }

  // Posts `posts` events cycling over `topics`; returns posts per second.
  double post_rate(const std::vector<std::string>& topics, std::int64_t posts) {
    delivered_ = 0;
    const double rate = bench::rate_of_loop(posts, [&](std::int64_t i) {
      const std::string& topic = topics[static_cast<std::size_t>(i) % topics.size()];
      bus_.post(courier::Event<int>(topic, static_cast<int>(i)));
    });
    bench::require_count("scaling bus", delivered_, posts);
    return rate;
  }

 private:
  courier::EventBus bus_{courier::Options{.synchronous = true}};
  std::int64_t delivered_ = 0;
};

struct ScaleCase {
  std::string label;
  std::vector<std::string> patterns;
  std::vector<std::string> topics;  // what is posted; each matches one pattern
};

// Post cost of `large` against `small`, side by side; the goal is at most 1.5x.
void compare_post_cost(const Config& config, Report& report, const std::string& workload,
                       const ScaleCase& small, const ScaleCase& large) {
  const std::int64_t posts = config.count(1'000'000);
  PatternBus small_bus(small.patterns);
  PatternBus large_bus(large.patterns);
  // The first post after subscribing builds the routing snapshot: not timed.
  small_bus.post_rate(small.topics, 1);
  large_bus.post_rate(large.topics, 1);

  SideBySide<> runs;
  const Id small_id =
      runs.add(small.label, [&, posts] { return small_bus.post_rate(small.topics, posts); });
  const Id large_id =
      runs.add(large.label, [&, posts] { return large_bus.post_rate(large.topics, posts); });
  runs.run(config.rounds);

  // Cost is time per post, so the cost ratio is the inverse rate ratio.
  const double cost_ratio = runs.median_ratio(small_id, large_id);
  report.add({workload, "courier sync, " + small.label,
              bench::format_rate(runs.median_of(small_id), "posts/s"), "", "", ""});
  report.add({workload, "courier sync, " + large.label,
              bench::format_rate(runs.median_of(large_id), "posts/s"),
              "cost " + bench::format_ratio(cost_ratio) + " of " + small.label, "cost <= 1.5x",
              bench::verdict(cost_ratio <= 1.5)});
}

// `count` names "prefix0<suffix>" .. "prefix<count-1><suffix>".
std::vector<std::string> numbered(const std::string& prefix, int count,
                                  const std::string& suffix = "") {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(prefix + std::to_string(i) + suffix);
  return names;
}

void measure_subscription_scaling(const Config& config, Report& report) {
  const int large = config.scale < 1 ? 10'000 : 100'000;
  compare_post_cost(config, report, "scale: distinct topics",
                    {"10 subscriptions", bench::padded_topics(10), bench::spread_topics(10)},
                    {std::to_string(large) + " subscriptions", bench::padded_topics(large),
                     bench::spread_topics(large)});
}

// 16 topics "w0.t0" .. "w0.t15", posted to in turn, matched by "w0.*" alone or
// among 63 patterns that they do not match: the extra cost is that of looking
// at the other patterns. Several topics, not one, so that what is measured is
// the matching, not the per-thread memory of the last topic's route.
void measure_wildcard_scaling(const Config& config, Report& report) {
  const std::vector<std::string> topics = numbered("w0.t", 16);
  compare_post_cost(config, report, "scale: wildcard patterns",
                    {"1 pattern", numbered("w", 1, ".*"), topics},
                    {"64 patterns", numbered("w", 64, ".*"), topics});
}

// ---------------------------------------------------------------------------
// Memory: peak resident memory with a full queue

// Fills a bus of 100,000 slots behind a subscriber that blocks on the first
// event, and compares the growth of the peak RSS with what the events alone
// take. Runs in a process of its own (as every step does), so no memory freed
// by another workload can be reused and hide the growth.
void measure_memory(const Config& config, Report& report) {
  const auto capacity = static_cast<std::size_t>(config.count(100'000));
  bench::reset_peak_rss();
  const std::int64_t rss_before = bench::proc_status_bytes("VmRSS");
  std::int64_t peak_growth = 0;
  std::size_t accepted = 0;
  {
    courier::EventBus bus(courier::Options{.threads = kPoolThreads, .queue_capacity = capacity});
    std::atomic<bool> release{false};
    bus.subscribe<int>("c1", [&release](const courier::Event<int>&) { release.wait(false); });
    while (bus.try_post(courier::Event<int>("c1", 0))) ++accepted;
    peak_growth = bench::proc_status_bytes("VmHWM") - rss_before;
    release.store(true);
    release.notify_all();
    bus.wait_idle();
  }
  if (accepted != capacity) {
    bench::fail_loudly("a bus of capacity " + std::to_string(capacity) + " accepted " +
                       std::to_string(accepted) + " events before refusing");
  }
  const double events_alone = static_cast<double>(capacity * sizeof(courier::Event<int>));
  const double ratio = static_cast<double>(peak_growth) / events_alone;
  report.add({"memory, full queue of " + std::to_string(capacity),
              "courier, Event<int> = " + std::to_string(sizeof(courier::Event<int>)) + " B",
              "peak RSS +" + bench::format_megabytes(static_cast<double>(peak_growth)),
              bench::format_ratio(ratio) + " of capacity x event (" +
                  bench::format_megabytes(events_alone) + ")",
              "<= 2x", bench::verdict(ratio <= 2)});
}

// ---------------------------------------------------------------------------

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

Config parse_arguments(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--rounds" && i + 1 < argc) {
      config.rounds = std::max(1, std::stoi(argv[++i]));
    } else if (argument == "--quick") {
      config.scale = 0.05;
      config.rounds = 1;
    } else if (argument == "--data-dir" && i + 1 < argc) {
      config.data_dir = argv[++i];
    } else if (argument == "--only" && i + 1 < argc) {
      config.only = argv[++i];
    } else if (argument == "--contender" && i + 1 < argc) {
      bench::contender_filter() = argv[++i];
    } else if (argument == "--emit") {
      config.emit = true;
    } else {
      std::cerr << "usage: compare [--rounds N] [--quick] [--data-dir DIR] [--only STEP]"
                   " [--emit [--contender S]]\n";
      std::exit(2);
    }
  }
  config.latency_rounds = std::min(config.rounds, 3);
  config.curve_rounds = std::min(config.rounds, 3);
  return config;
}

// ---------------------------------------------------------------------------
// Request-reply round trips, and what middleware costs a post (issue 16)

void measure_request_reply(const Config& config, Report& report) {
  const std::int64_t round_trips = config.count(50'000);
  SideBySide<bench::RoundTrips> runs;
  const Id promise = runs.add("Asio pool + std::promise", [=] {
    return bench::request_reply_asio_promise(kPoolThreads, round_trips);
  });
  const Id courier_id = runs.add("courier Requester + serve", [=] {
    return bench::request_reply_courier(kPoolThreads, round_trips, bench::Wait::Future);
  });
  const Id call_id = runs.add("courier Requester::call + serve", [=] {
    return bench::request_reply_courier(kPoolThreads, round_trips, bench::Wait::Call);
  });
  runs.run(config.rounds);
  auto describe = [&](Id id) {
    return bench::format_rate(runs.median_of(id, &bench::RoundTrips::per_second), "round trips/s") +
           ", p50 " + bench::format_us(runs.median_of(id, &bench::RoundTrips::p50_us)) + ", p99 " +
           bench::format_us(runs.median_of(id, &bench::RoundTrips::p99_us));
  };
  const std::string workload = "request-reply, one thread asking";
  report.add({workload, runs.name(promise), describe(promise), "", "", ""});
  // The goal (issue 16) is the round trip's: call(), which waits as a bus
  // waits, spinning before it sleeps. request().get() waits in a
  // std::future, which sleeps at once as the baseline's does; it is
  // reported beside it.
  report.add({workload, runs.name(courier_id), describe(courier_id),
              runs.ratio_list(courier_id, {promise}, &bench::RoundTrips::per_second),
              "reported (a std::future, as the baseline's)", ""});
  report.add(
      {workload, runs.name(call_id), describe(call_id),
       runs.ratio_list(call_id, {promise}, &bench::RoundTrips::per_second),
       ">= 2x Asio pool + std::promise",
       bench::verdict(runs.median_ratio(call_id, promise, &bench::RoundTrips::per_second) >= 2)});
}

void measure_middleware(const Config& config, Report& report) {
  const std::int64_t events = config.count(2'000'000);
  SideBySide<> runs;
  const Id none = runs.add("courier, no middleware",
                           [=] { return bench::post_through_middleware(0, 0, events); });
  const Id headers = runs.add("courier, 2 headers per event",
                              [=] { return bench::post_through_middleware(0, 2, events); });
  const Id four = runs.add("courier, 4 middlewares, 2 headers",
                           [=] { return bench::post_through_middleware(4, 2, events); });
  runs.run(config.rounds);
  const std::string workload = "W1 sync through middleware";
  const double base_ns = 1e9 / runs.median_of(none);
  for (Id id : {none, headers, four}) {
    const double ns = 1e9 / runs.median_of(id);
    report.add({workload, runs.name(id), bench::format_rate(runs.median_of(id), "events/s"),
                id == none ? "" : "+" + bench::format_fixed(ns - base_ns, 0) + " ns per post",
                id == four ? "reported" : "", ""});
  }
}

struct Step {
  const char* name;
  void (*run)(const Config&, Report&);
};

// Memory first: in its own process the heap is fresh anyway, but keep the
// order of the table stable.
const Step kSteps[] = {
    {"memory", measure_memory},
    {"W1", measure_w1_sync},
    {"W2", measure_w2_ordered},
    {"streams", measure_streams},
    {"W3", measure_w3_fan_out},
    {"W4 latency", measure_w4_latency},
    {"W4 idle", measure_idle_cpu},
    {"allocations", measure_allocations},
    {"scale: topics", measure_subscription_scaling},
    {"scale: patterns", measure_wildcard_scaling},
    {"W3 curve", measure_fan_out_curve},
    {"request-reply", measure_request_reply},
    {"middleware", measure_middleware},
};

// Runs `step` in a child process (this program with --only STEP --emit) and
// takes its report. A workload that hangs or fails (a bus that lost an event,
// broke order) then costs its own rows only: the child's watchdog or check
// ends it, and the table shows why. The child's other output goes to stderr.
bool run_in_child(const Step& step, const Config& config, Report& report) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  const std::string command = "'" + self + "' --emit --only '" + step.name + "' --rounds " +
                              std::to_string(config.rounds) + (config.scale < 1 ? " --quick" : "") +
                              " 2>&1";
  FILE* child = popen(command.c_str(), "r");
  if (child == nullptr) bench::fail_loudly("cannot start " + command);
  const std::string failure_mark = "compare: FAILED: ";
  std::string line, failure = "exited with an error";
  for (int c = std::fgetc(child); c != EOF; c = std::fgetc(child)) {
    if (c != '\n') {
      line += static_cast<char>(c);
      continue;
    }
    if (!report.absorb(line)) {
      std::cerr << "\n  " << line;
      if (line.rfind(failure_mark, 0) == 0) failure = line.substr(failure_mark.size());
    }
    line.clear();
  }
  if (pclose(child) == 0) return true;
  report.add({step.name, "FAILED", failure, "", "runs to completion", bench::verdict(false)});
  return false;
}

// The 1-minute load average: how busy the shared machine was.
std::string load_average() {
  std::ifstream loadavg("/proc/loadavg");
  std::string one_minute;
  loadavg >> one_minute;
  return one_minute;
}

std::string machine_summary(const Config& config) {
  utsname system{};
  uname(&system);
  return std::to_string(std::thread::hardware_concurrency()) + " cores (" + cpu_model() + "), " +
         system.sysname + " " + system.release + ", g++ " + __VERSION__ + ", " +
         std::to_string(config.rounds) + " rounds (latency and curve " +
         std::to_string(config.latency_rounds) + ")";
}

}  // namespace

int main(int argc, char** argv) {
  const Config config = parse_arguments(argc, argv);
  Report report;
  const bench::Clock::time_point begin = bench::Clock::now();
  const std::string load_before = load_average();
  bool all_ran = true;
  for (const Step& step : kSteps) {
    if (!config.only.empty() && config.only != step.name) continue;
    if (config.emit) {
      const bench::Watchdog::Scope deadline(step.name, std::chrono::minutes(5));
      step.run(config, report);
      continue;
    }
    const bench::Clock::time_point step_begin = bench::Clock::now();
    std::cerr << "compare: " << step.name << "..." << std::flush;
    all_ran = run_in_child(step, config, report) && all_ran;
    std::cerr << " "
              << bench::format_fixed(bench::seconds_between(step_begin, bench::Clock::now()), 1)
              << " s\n";
  }
  if (config.emit) {
    std::cout << report.serialize();
    return 0;
  }
  std::cout << "\ncourier vs baselines: " << machine_summary(config) << "; "
            << bench::format_fixed(bench::seconds_between(begin, bench::Clock::now()), 0)
            << " s in all, load average " << load_before << " before, " << load_average()
            << " after. Medians over rounds; a ratio is the median of the ratios measured"
            << " within each round.\n\n"
            << report.markdown();
  if (!config.data_dir.empty()) report.write_chart_data(config.data_dir);
  return all_ran ? 0 : 1;
}
