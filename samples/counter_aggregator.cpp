// The counter aggregator from geeteventbus's README, in C++.
//
// Thirty producer threads post random counts for the counters c1..c4 while one
// Subscriber adds them up. Every second the main thread posts a "report"
// event to the same subscriber, which prints the totals of the last second.
// At the end it prints the total posted and the total aggregated, which must
// be equal: the program exits non-zero if they are not.
//
// The aggregator is written the simple way: Serial (the default), its sums in
// a plain std::map, no lock and no atomic. The bus calls it one event at a
// time and in post order across all five of its topics, so the report never
// runs while a count is being added.
//
//   counter_aggregator [--seconds N]     (default 5)
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <courier/courier.hpp>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

const std::array<std::string, 4> kCounters = {"c1", "c2", "c3", "c4"};

class CounterAggregator : public courier::Subscriber<int> {
 public:
  // A count on a counter's topic; on "report", the length of the window that
  // just ended, in milliseconds.
  void process(const courier::Event<int>& event) override {
    if (event.topic() == "report") return report(event.data());
    window_[std::string(event.topic())] += event.data();
    total_ += event.data();
  }

  // Only once the bus has shut down (its threads are joined).
  std::int64_t total() const { return total_; }

 private:
  void report(int milliseconds) {
    std::cout << "last " << milliseconds / 1000.0 << " s:";
    for (const std::string& counter : kCounters)
      std::cout << "  " << counter << " +" << window_[counter];
    std::cout << std::endl;
    window_.clear();
  }

  std::map<std::string, std::int64_t> window_;
  std::int64_t total_ = 0;
};

int seconds_from(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--seconds") return std::stoi(argv[2]);
  if (argc != 1) {
    std::cerr << "usage: counter_aggregator [--seconds N]\n";
    std::exit(2);
  }
  return 5;
}

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): an exception ends the sample, with its message
int main(int argc, char** argv) {
  const int seconds = seconds_from(argc, argv);
  constexpr int kProducers = 30;

  courier::EventBus bus;
  auto aggregator = std::make_shared<CounterAggregator>();
  for (const std::string& counter : kCounters) bus.subscribe(aggregator, counter);
  bus.subscribe(aggregator, "report");

  std::mutex mutex;
  std::condition_variable stop_signal;
  bool stop = false;
  std::atomic<std::int64_t> posted_total{0};

  std::vector<std::thread> producers;
  producers.reserve(kProducers);
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937 random(static_cast<unsigned>(p));
      std::uniform_int_distribution<std::size_t> counter(0, kCounters.size() - 1);
      std::uniform_int_distribution<int> count(1, 100);
      std::unique_lock lock(mutex);
      // One post every 20 ms, as in the original, until told to stop.
      while (!stop_signal.wait_for(lock, std::chrono::milliseconds(20), [&] { return stop; })) {
        lock.unlock();
        const int value = count(random);
        bus.post(courier::Event<int>(kCounters[counter(random)], value));
        posted_total.fetch_add(value);
        lock.lock();
      }
    });
  }

  const auto start = std::chrono::steady_clock::now();
  auto window_start = start;
  {
    std::unique_lock lock(mutex);
    for (int s = 0; s < seconds; ++s) {
      stop_signal.wait_until(lock, start + std::chrono::seconds(s + 1), [&] { return stop; });
      const auto now = std::chrono::steady_clock::now();
      const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(now - window_start);
      bus.post<int>("report", static_cast<int>(window.count()));
      window_start = now;
    }
    stop = true;
  }
  stop_signal.notify_all();
  for (std::thread& producer : producers) producer.join();
  bus.shutdown();  // delivers everything accepted before returning

  const courier::Stats stats = bus.stats();
  std::cout << "events posted: " << stats.posted << ", delivered: " << stats.delivered
            << ", failed: " << stats.failed << ", dead: " << stats.dead << '\n';
  std::cout << "total posted: " << posted_total.load()
            << ", total aggregated: " << aggregator->total() << '\n';
  const bool equal = posted_total.load() == aggregator->total();
  std::cout << (equal ? "OK: totals match" : "ERROR: totals differ") << '\n';
  return equal ? 0 : 1;
}
