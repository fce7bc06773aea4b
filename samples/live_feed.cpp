// A live feed: producers post sensor readings; a coroutine in an Asio
// io_context reads a filtered stream of them and forwards each one to stdout
// (standing in for a socket), with a heartbeat line whenever the feed has been
// idle for a while, so that the far end can tell a quiet feed from a dead one.
//
//   live_feed [--seconds N]   post for N seconds (default 2), then go quiet
//                             until a heartbeat shows, then shut down
//
// Exits with 0 once it has forwarded readings and a heartbeat, and no reading
// that the filter should have held back.
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <courier/courier.hpp>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct Reading {
  std::string sensor;
  double celsius = 0;
};

constexpr double kAlarmCelsius = 80;  // only readings at or above are forwarded

struct Forwarded {
  long readings = 0;
  long heartbeats = 0;
  long below_threshold = 0;  // must stay 0: the filter holds these back
};

// Forwards the stream until it ends (the bus shut down and the stream is
// empty). `quiet` is set once the producers are done; the first heartbeat
// after that fulfils `idle_seen`.
boost::asio::awaitable<void> forward(courier::Stream<Reading>& feed, Forwarded& forwarded,
                                     const std::atomic<bool>& quiet,
                                     std::promise<void>& idle_seen) {
  bool idle_reported = false;
  for (;;) {
    auto [error, item] =
        co_await feed.async_next(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (error) break;  // eof: the bus shut down and everything was handed out
    if (item.is_heartbeat()) {
      std::printf("heartbeat\n");
      ++forwarded.heartbeats;
      if (quiet.load() && !idle_reported) {
        idle_reported = true;
        idle_seen.set_value();
      }
      continue;
    }
    const courier::Event<Reading>& event = item.event();
    std::printf("%.*s %s %.1f\n", static_cast<int>(event.topic().size()), event.topic().data(),
                event.data().sensor.c_str(), event.data().celsius);
    ++forwarded.readings;
    if (event.data().celsius < kAlarmCelsius) ++forwarded.below_threshold;
  }
}

void produce(courier::EventBus& bus, const std::string& sensor, std::chrono::seconds duration) {
  const auto end = std::chrono::steady_clock::now() + duration;
  for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
    bus.post<Reading>("scan." + sensor, Reading{sensor, 20.0 + (i * 7) % 90});
    std::this_thread::sleep_for(5ms);  // a sensor's pace
  }
}

std::chrono::seconds seconds_from(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--seconds") {
    return std::chrono::seconds(std::stoi(argv[2]));
  }
  if (argc != 1) {
    std::fprintf(stderr, "usage: live_feed [--seconds N]\n");
    std::exit(2);
  }
  return 2s;
}

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): an exception ends the sample, with its message
int main(int argc, char** argv) {
  const std::chrono::seconds duration = seconds_from(argc, argv);

  courier::EventBus bus;
  courier::Stream<Reading> feed = bus.stream<Reading>(
      "scan.>", {.depth = 64, .overflow = courier::Overflow::DropOldest, .heartbeat = 200ms},
      {.filter = [](const courier::Event<Reading>& event) {
        return event.data().celsius >= kAlarmCelsius;
      }});

  Forwarded forwarded;
  std::atomic<bool> quiet{false};
  std::promise<void> idle_seen;
  boost::asio::io_context context;
  boost::asio::co_spawn(context, forward(feed, forwarded, quiet, idle_seen), boost::asio::detached);
  std::thread forwarder([&] { context.run(); });

  std::vector<std::thread> sensors;
  for (const char* sensor : {"boiler", "kiln"}) {
    sensors.emplace_back([&bus, sensor, duration] { produce(bus, sensor, duration); });
  }
  for (std::thread& sensor : sensors) sensor.join();
  quiet.store(true);
  idle_seen.get_future().wait();  // the far end saw the idle feed's heartbeat
  bus.shutdown();                 // hands out what the stream holds, then ends it
  forwarder.join();

  const courier::StreamStats stats = feed.stats();
  std::printf("forwarded %ld readings and %ld heartbeats; the stream dropped %llu\n",
              forwarded.readings, forwarded.heartbeats,
              static_cast<unsigned long long>(stats.dropped));
  const bool ok =
      forwarded.readings > 0 && forwarded.heartbeats > 0 && forwarded.below_threshold == 0;
  return ok ? 0 : 1;
}
