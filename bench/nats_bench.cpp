// nats_bench: events/s through courier::nats::Bridge (bus A -> NATS -> bus B)
// against raw libnats between two connections, in the same run, on a
// nats-server -js it starts itself (skips, exit 0, if there is none).
//
//   core:      raw natsConnection_Publish -> async subscription, against
//              bridge export (AtMostOnce) -> bridge import -> a subscriber,
//              with default buses (executor pools) and routes, and with
//              synchronous buses and an export with no queue (queue_depth
//              0: the topology of raw libnats, the publisher's thread
//              publishes, libnats's delivery thread runs the subscriber),
//              and each half of the bridge against raw libnats on the
//              other side
//   jetstream: raw js_PublishAsync -> a pull consumer fetching 256 and acking
//              each, against bridge export (AtLeastOnce) -> bridge import
//
// A figure is messages from the first publish to the last receipt. In each
// round (--rounds, default 5) every row runs raw libnats and then the bridge,
// right after it; a row's ratio is the median over the rounds of bridge / raw
// of the same pair (the raw figure alone moves 2-3x between runs on a shared
// machine, so a ratio is only taken within one pair), with the lowest and
// highest in brackets. A control row pairs raw libnats with itself: its
// spread is what the pairing alone gives, the noise every other row's
// ratio carries. The two rates shown are each the median of their own
// column, so the ratio is not their quotient. `--only core` or `--only
// jetstream` runs one half of the table; `--quick` sends a fifth of the
// messages.
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "courier/nats/bridge.hpp"
#include "nats/nats_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void must(natsStatus status, const char* what) {
  if (status != NATS_OK) {
    std::fprintf(stderr, "nats_bench: %s: %s\n", what, natsStatus_GetText(status));
    std::exit(1);
  }
}

natsConnection* connect(const std::string& url) {
  natsConnection* connection = nullptr;
  must(natsConnection_ConnectTo(&connection, url.c_str()), "connect");
  return connection;
}

struct Counter {
  std::atomic<long> count{0};
  long target = 0;
  std::latch done{1};
  void add() {
    if (count.fetch_add(1, std::memory_order_relaxed) + 1 == target) done.count_down();
  }
};

double raw_core(const std::string& url, long messages) {
  natsConnection* publisher = connect(url);
  natsConnection* subscriber = connect(url);
  Counter counter;
  counter.target = messages;
  natsSubscription* subscription = nullptr;
  must(natsConnection_Subscribe(
           &subscription, subscriber, "raw.core",
           [](natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
             static_cast<Counter*>(closure)->add();
             natsMsg_Destroy(msg);
           },
           &counter),
       "subscribe");
  natsSubscription_SetPendingLimits(subscription, -1, -1);
  natsConnection_Flush(subscriber);
  const std::int64_t payload = 42;
  const auto start = Clock::now();
  for (long i = 0; i < messages; ++i) {
    must(natsConnection_Publish(publisher, "raw.core", &payload, sizeof payload), "publish");
  }
  natsConnection_Flush(publisher);
  counter.done.wait();
  const double rate = static_cast<double>(messages) / seconds_since(start);
  natsSubscription_Destroy(subscription);
  natsConnection_Destroy(subscriber);
  natsConnection_Destroy(publisher);
  return rate;
}

// One row's figures, one pair (raw, then bridge) per round.
struct Row {
  explicit Row(std::string row_name) : name(std::move(row_name)) {}

  std::string name;
  std::vector<double> raw, bridged;

  void add(double raw_rate, double bridged_rate) {
    raw.push_back(raw_rate);
    bridged.push_back(bridged_rate);
  }
  void print() const {
    std::vector<double> ratios;
    for (std::size_t i = 0; i < raw.size(); ++i) ratios.push_back(bridged[i] / raw[i]);
    const auto [low, high] = std::minmax_element(ratios.begin(), ratios.end());
    std::printf("| %s | %.0f | %.0f | %.2fx (%.2fx-%.2fx) |\n", name.c_str(), bench::median(raw),
                bench::median(bridged), bench::median(ratios), *low, *high);
  }
};

// `tag`: makes the subjects this run's own.
double bridge_core(const std::string& url, long messages, int tag,
                   const courier::Options& bus_options, std::size_t export_depth) {
  courier::EventBus a(bus_options), b(bus_options);
  Counter counter;
  counter.target = messages;
  auto subscription = b.subscribe<std::int64_t>(
      "bench.>", [&](const courier::Event<std::int64_t>&) { counter.add(); });
  courier::nats::Bridge from(a, {.url = url, .prefix = "core" + std::to_string(tag) + "."});
  courier::nats::Bridge to(b, {.url = url, .prefix = "core" + std::to_string(tag) + "."});
  from.export_topics<std::int64_t>("bench.>", {.queue_depth = export_depth});
  to.import_subjects<std::int64_t>("bench.>", {.queue_depth = std::size_t{1} << 22});
  const courier::Topic topic = a.topic("bench.core");
  const auto start = Clock::now();
  for (long i = 0; i < messages; ++i) a.post(topic, std::int64_t{42});
  counter.done.wait();
  return static_cast<double>(messages) / seconds_since(start);
}

// One half of the bridge against raw libnats on the other side: `exporting`
// bus -> bridge -> NATS -> raw subscriber, else raw publisher -> NATS ->
// bridge -> bus. Tells which half costs what.
double half_bridge_core(const std::string& url, long messages, bool exporting) {
  courier::EventBus bus;
  Counter counter;
  counter.target = messages;
  courier::Subscription subscription;
  if (!exporting) {  // exporting: the raw subscriber counts
    subscription = bus.subscribe<std::int64_t>(
        "half.>", [&](const courier::Event<std::int64_t>&) { counter.add(); });
  }
  courier::nats::Bridge bridge(bus, {.url = url});
  natsConnection* raw = connect(url);
  natsSubscription* raw_subscription = nullptr;
  if (exporting) {
    bridge.export_topics<std::int64_t>("half.>");
    must(natsConnection_Subscribe(
             &raw_subscription, raw, "half.>",
             [](natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
               static_cast<Counter*>(closure)->add();
               natsMsg_Destroy(msg);
             },
             &counter),
         "subscribe");
    natsSubscription_SetPendingLimits(raw_subscription, -1, -1);
    natsConnection_Flush(raw);
  } else {
    bridge.import_subjects<std::int64_t>("half.>", {.queue_depth = std::size_t{1} << 22});
  }
  const std::int64_t payload = 42;
  const auto start = Clock::now();
  if (exporting) {
    const courier::Topic topic = bus.topic("half.out");
    for (long i = 0; i < messages; ++i) bus.post(topic, payload);
  } else {
    for (long i = 0; i < messages; ++i) {
      must(natsConnection_Publish(raw, "half.in", &payload, sizeof payload), "publish");
    }
    natsConnection_Flush(raw);
  }
  counter.done.wait();
  const double rate = static_cast<double>(messages) / seconds_since(start);
  if (raw_subscription != nullptr) natsSubscription_Destroy(raw_subscription);
  natsConnection_Destroy(raw);
  return rate;
}

double raw_jetstream(const std::string& url, long messages, int round) {
  natsConnection* publisher = connect(url);
  natsConnection* consumer = connect(url);
  jsCtx* js_publisher = nullptr;
  jsCtx* js_consumer = nullptr;
  jsOptions options;
  jsOptions_Init(&options);
  options.PublishAsync.MaxPending = 65536;
  must(natsConnection_JetStream(&js_publisher, publisher, &options), "jetstream");
  must(natsConnection_JetStream(&js_consumer, consumer, nullptr), "jetstream");
  const std::string stream = "RAW" + std::to_string(round);
  const std::string subjects = "raw" + std::to_string(round) + ".>";
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = stream.c_str();
  config.Subjects = subject_list;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  jsErrCode error{};
  must(js_AddStream(nullptr, js_publisher, &config, nullptr, &error), "add stream");
  natsSubscription* pull = nullptr;
  const std::string subject = "raw" + std::to_string(round) + ".js";
  must(js_PullSubscribe(&pull, js_consumer, subject.c_str(), "raw", nullptr, nullptr, &error),
       "pull subscribe");
  const std::int64_t payload = 42;
  const auto start = Clock::now();
  std::thread consuming([&] {
    long got = 0;
    while (got < messages) {
      natsMsgList list{nullptr, 0};
      jsErrCode fetch_error{};
      if (natsSubscription_Fetch(&list, pull, 256, 1000, &fetch_error) != NATS_OK) continue;
      for (int i = 0; i < list.Count; ++i) natsMsg_Ack(list.Msgs[i], nullptr);
      got += list.Count;
      natsMsgList_Destroy(&list);
    }
  });
  for (long i = 0; i < messages; ++i) {
    must(js_PublishAsync(js_publisher, subject.c_str(), &payload, sizeof payload, nullptr),
         "publish");
  }
  js_PublishAsyncComplete(js_publisher, nullptr);
  consuming.join();
  const double rate = static_cast<double>(messages) / seconds_since(start);
  natsSubscription_Destroy(pull);
  jsCtx_Destroy(js_consumer);
  jsCtx_Destroy(js_publisher);
  natsConnection_Destroy(consumer);
  natsConnection_Destroy(publisher);
  return rate;
}

double bridge_jetstream(const std::string& url, long messages, int round) {
  courier::EventBus a, b;
  Counter counter;
  counter.target = messages;
  auto subscription = b.subscribe<std::int64_t>(
      "bench.>", [&](const courier::Event<std::int64_t>&) { counter.add(); });
  const std::string tag = std::to_string(round);
  courier::nats::BridgeOptions options{.url = url, .prefix = "js" + tag + "."};
  courier::nats::Bridge from(a, options);
  courier::nats::Bridge to(b, options);
  from.export_topics<std::int64_t>("bench.>", {.guarantee = courier::nats::Guarantee::AtLeastOnce});
  to.import_subjects<std::int64_t>("bench.>", {.guarantee = courier::nats::Guarantee::AtLeastOnce,
                                               .queue_depth = 256,
                                               .durable = "bench" + tag});
  const courier::Topic topic = a.topic("bench.js");
  const auto start = Clock::now();
  for (long i = 0; i < messages; ++i) a.post(topic, std::int64_t{42});
  counter.done.wait();
  return static_cast<double>(messages) / seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  long core_messages = 500000, js_messages = 50000;
  bool core = true, jetstream = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      const std::string only = argv[++i];
      if (only != "core" && only != "jetstream") {
        std::fprintf(stderr, "nats_bench: --only takes core or jetstream, not \"%s\"\n",
                     only.c_str());
        return 2;
      }
      core = only == "core";
      jetstream = only == "jetstream";
    }
    if (std::strcmp(argv[i], "--quick") == 0) {
      core_messages /= 5;
      js_messages /= 5;
    }
  }
  if (rounds < 1) {
    std::fprintf(stderr, "nats_bench: --rounds %d is not at least 1\n", rounds);
    return 2;
  }
  if (!std::filesystem::exists(COURIER_NATS_SERVER)) {
    std::printf("nats_bench: skipped, no nats-server at %s\n", COURIER_NATS_SERVER);
    return 0;
  }
  courier::nats::test::NatsServer server;
  Row control("control: core, raw libnats against itself (both columns raw)");
  Row end_to_end("core, " + std::to_string(core_messages) +
                 " messages of 8 bytes, end to end, default buses");
  Row synchronous("core, end to end, synchronous buses, export with no queue");
  Row export_half("core, bridge export -> raw subscriber");
  Row import_half("core, raw publisher -> bridge import");
  Row durable("JetStream at-least-once, " + std::to_string(js_messages) +
              " messages (async publish, pull 256 + ack)");
  const std::string url = server.url();
  // Raw first, then the bridge: sequenced here, as a call's arguments are not.
  const auto measure_pair = [](Row& row, const auto& raw, const auto& bridged) {
    const double raw_rate = raw();
    row.add(raw_rate, bridged());
  };
  const auto raw_core_run = [&] { return raw_core(url, core_messages); };
  for (int round = 0; round < rounds; ++round) {
    if (core) {
      measure_pair(control, raw_core_run, raw_core_run);
      measure_pair(end_to_end, raw_core_run,
                   [&] { return bridge_core(url, core_messages, round, {}, 4096); });
      measure_pair(synchronous, raw_core_run, [&] {
        return bridge_core(url, core_messages, round + rounds, {.synchronous = true}, 0);
      });
      measure_pair(export_half, raw_core_run,
                   [&] { return half_bridge_core(url, core_messages, true); });
      measure_pair(import_half, raw_core_run,
                   [&] { return half_bridge_core(url, core_messages, false); });
    }
    if (jetstream) {
      measure_pair(
          durable, [&] { return raw_jetstream(url, js_messages, round); },
          [&] { return bridge_jetstream(url, js_messages, round); });
    }
  }
  std::printf(
      "| NATS, median of %d rounds | raw libnats (msg/s) | courier bridge (events/s) | "
      "ratio (lowest-highest) |\n",
      rounds);
  std::printf("|---|---:|---:|---:|\n");
  if (core) {
    control.print();
    end_to_end.print();
    synchronous.print();
    export_half.print();
    import_half.print();
  }
  if (jetstream) durable.print();
  return 0;
}
