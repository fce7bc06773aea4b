// nats_bridge: two processes, one event bus each, joined through NATS by
// courier::nats::Bridge. The aggregator (this process) imports "counters.>"
// and starts the poster (this program again, --role poster), which posts
// counter events on its own bus and exports them. The aggregator prints the
// totals once the poster's "counters.end" arrives, and fails unless they are
// what was posted. Payloads travel as JSON (nlohmann-json): a user codec.
//
//   nats-server &                      # on nats://127.0.0.1:4222
//   ./nats_bridge [--url URL] [--count N]
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "courier/event_bus.hpp"
#include "courier/nats/bridge.hpp"

extern char** environ;

namespace {

struct Counter {
  std::string name;
  long value = 0;
};

// A user codec: JSON text. decode throws (nlohmann::json::exception) on bad
// input; the bridge counts and reports it and goes on.
struct CounterJson {
  static void encode(const Counter& counter, std::string& out) {
    out += nlohmann::json{{"name", counter.name}, {"value", counter.value}}.dump();
  }
  static Counter decode(std::span<const std::byte> bytes) {
    const auto* text = reinterpret_cast<const char*>(bytes.data());
    const nlohmann::json json = nlohmann::json::parse(text, text + bytes.size());
    return Counter{json.at("name").get<std::string>(), json.at("value").get<long>()};
  }
};

const std::vector<std::string> kNames = {"apples", "pears", "plums"};

int poster(const std::string& url, long count) {
  courier::EventBus bus;
  courier::nats::Bridge bridge(bus, {.url = url, .prefix = "sample."});
  bridge.export_topics<Counter, CounterJson>("counters.>");
  for (long i = 1; i <= count; ++i) {
    for (const std::string& name : kNames) bus.post("counters." + name, Counter{name, i});
  }
  bus.post("counters.end", Counter{"end", 0});
  bus.wait_idle();  // every event handed to the bridge's export queue
  return 0;         // the bridge's destructor publishes what it holds, then closes
}

int aggregator(const char* self, const std::string& url, long count) {
  courier::EventBus bus;
  std::mutex mutex;
  std::map<std::string, long> totals;
  std::promise<void> ended;
  auto subscription =
      bus.subscribe<Counter>("counters.>", [&](const courier::Event<Counter>& event) {
        if (event.topic() == "counters.end") return ended.set_value();
        const std::lock_guard lock(mutex);
        totals[event.data().name] += event.data().value;
      });
  courier::nats::Bridge bridge(bus, {.url = url, .prefix = "sample."});
  bridge.import_subjects<Counter, CounterJson>("counters.>");

  // The import is subscribed on the server: start the poster now.
  const std::string count_text = std::to_string(count);
  std::vector<std::string> args = {self, "--role", "poster", "--url", url, "--count", count_text};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "nats_bridge: cannot start the poster\n");
    return 1;
  }
  auto done = ended.get_future();
  const bool arrived = done.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  int status = 0;
  waitpid(pid, &status, 0);
  bus.wait_idle();
  const long expected = count * (count + 1) / 2;
  bool right = arrived && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  const std::lock_guard lock(mutex);
  for (const std::string& name : kNames) {
    std::printf("%-7s %ld (expected %ld)\n", name.c_str(), totals[name], expected);
    right = right && totals[name] == expected;
  }
  const courier::nats::BridgeStats stats = bridge.stats();
  std::printf("imported %llu events, %llu decode errors\n",
              static_cast<unsigned long long>(stats.imported),
              static_cast<unsigned long long>(stats.decode_errors));
  return right ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string role = "aggregator", url = "nats://127.0.0.1:4222";
  long count = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string option = argv[i];
    if (option == "--role")
      role = argv[i + 1];
    else if (option == "--url")
      url = argv[i + 1];
    else if (option == "--count")
      count = std::strtol(argv[i + 1], nullptr, 10);
  }
  try {
    return role == "poster" ? poster(url, count) : aggregator(argv[0], url, count);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "nats_bridge: %s\n", error.what());
    return 1;
  }
}
