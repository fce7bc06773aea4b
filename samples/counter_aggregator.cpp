// The counter aggregator from geeteventbus's README, in C++.
//
// Thirty producer threads post random counts for the counters c1..c4 while one
// Subscriber adds them up and prints the totals of the last second, every
// second. At the end it prints the total posted and the total aggregated,
// which must be equal: the program exits non-zero if they are not.
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
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

const std::array<std::string, 4> kCounters = {"c1", "c2", "c3", "c4"};

// Concurrent: process() may run on several executor threads at once, so the
// per-counter sums are atomics.
class CounterAggregator : public courier::Subscriber<int> {
 public:
  CounterAggregator() : courier::Subscriber<int>(courier::Concurrency::Concurrent) {}

  void process(const courier::Event<int>& event) override {
    const std::size_t index = static_cast<std::size_t>(event.topic()[1] - '1');
    window_[index].fetch_add(event.data(), std::memory_order_relaxed);
    total_.fetch_add(event.data(), std::memory_order_relaxed);
  }

  // Prints and resets the sums of the window that just ended.
  void report(double seconds) {
    std::cout << "last " << seconds << " s:";
    for (std::size_t i = 0; i < kCounters.size(); ++i) {
      std::cout << "  " << kCounters[i] << " +" << window_[i].exchange(0);
    }
    std::cout << std::endl;
  }

  std::int64_t total() const { return total_.load(); }

 private:
  std::array<std::atomic<std::int64_t>, 4> window_{};
  std::atomic<std::int64_t> total_{0};
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
      aggregator->report(std::chrono::duration<double>(now - window_start).count());
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
