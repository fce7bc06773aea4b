// What every stress scenario shares: its time budget, its seeds, a watchdog
// that turns a deadlock into a failure, bounded waits, post-order stamps, peak
// memory, and the one line of figures each scenario prints.
//
// A scenario runs in rounds. Each round does a fixed amount of work (so it can
// be checked exactly) with its own seed; rounds repeat until the scenario's
// time budget is spent, at least once. Pass or fail depends on the invariants
// checked after each round, never on how many rounds fit in the budget.
//
//   COURIER_STRESS_SECONDS  seconds per scenario (default 2; e.g. 600 locally)
//   COURIER_STRESS_SEED     base seed, to replay a failure (default: random,
//                           printed with every failure and every figures line)
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../test_support.hpp"
#include "courier/event_bus.hpp"

namespace courier_stress {

// --- The build we run in -----------------------------------------------------

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#else
inline constexpr bool kThreadSanitizer = false;
#endif

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// A per-round count sized for an optimised build, scaled down where the
// sanitizers make every operation several times slower, so that one round
// stays far below the watchdog's bound on a loaded two-core CI machine.
constexpr std::size_t scaled(std::size_t count) {
  if (kThreadSanitizer) return std::max<std::size_t>(1, count / 8);
  if (kAddressSanitizer) return std::max<std::size_t>(1, count / 2);
  return count;
}

// --- Time budget ---------------------------------------------------------------

inline double budget_seconds() {
  constexpr double kDefaultSeconds = 2.0;
  const char* text = std::getenv("COURIER_STRESS_SECONDS");
  if (text == nullptr || *text == '\0') return kDefaultSeconds;
  const double seconds = std::strtod(text, nullptr);
  return seconds > 0 ? seconds : kDefaultSeconds;
}

// Counts rounds against the budget: another_round() is true for the first
// round, then while time is left.
class Rounds {
 public:
  Rounds()
      : start_(Clock::now()),
        end_(start_ + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(budget_seconds()))) {}

  bool another_round() {
    if (count_ != 0 && Clock::now() >= end_) return false;
    ++count_;
    return true;
  }
  // The round under way, from 0.
  std::uint64_t index() const { return count_ - 1; }
  std::uint64_t count() const { return count_; }
  double elapsed_seconds() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
  Clock::time_point end_;
  std::uint64_t count_ = 0;
};

// --- Seeds -----------------------------------------------------------------------

// SplitMix64: a good 64-bit mix, used both to derive round seeds and to make
// per-event decisions (which subscriber throws) that the checks can recompute.
constexpr std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::uint64_t base_seed() {
  static const std::uint64_t seed = []() -> std::uint64_t {
    if (const char* text = std::getenv("COURIER_STRESS_SEED"); text != nullptr && *text != '\0') {
      return std::strtoull(text, nullptr, 10);
    }
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
  }();
  return seed;
}

inline std::uint64_t round_seed(std::uint64_t round) { return mix(base_seed() ^ mix(round)); }

// For SCOPED_TRACE: how to replay this round.
inline std::string replay_note(std::uint64_t round) {
  std::ostringstream note;
  note << "round " << round << " (replay with COURIER_STRESS_SEED=" << base_seed() << ")";
  return note.str();
}

// --- Watchdog --------------------------------------------------------------------

// While alive, aborts the process with a clear message if it is not destroyed
// within `bound`: a deadlocked scenario fails CI with a reason instead of
// hanging it until the job's timeout. (A gtest failure cannot be reported
// from here and then unwind a thread that is stuck.)
class Watchdog {
 public:
  static constexpr std::chrono::seconds kDefaultBound{60};

  explicit Watchdog(std::string what, std::chrono::seconds bound = kDefaultBound)
      : what_(std::move(what)), bound_(bound), thread_([this] { watch(); }) {}

  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    finished_.notify_all();
    thread_.join();
  }

  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    if (finished_.wait_for(lock, bound_, [this] { return done_; })) return;
    std::fprintf(stderr,
                 "\nWATCHDOG: %s did not finish within %lld s: deadlock or lost wake-up. "
                 "Replay with COURIER_STRESS_SEED=%llu\n",
                 what_.c_str(), static_cast<long long>(bound_.count()),
                 static_cast<unsigned long long>(base_seed()));
    std::fflush(stderr);
    std::abort();
  }

  const std::string what_;
  const std::chrono::seconds bound_;
  std::mutex mutex_;
  std::condition_variable finished_;
  bool done_ = false;
  std::thread thread_;
};

// A bound for a whole scenario: its time budget, plus room for the last round
// and what follows the rounds (a last drain, the bus's destructor).
inline std::chrono::seconds scenario_bound() {
  return std::chrono::seconds(static_cast<long long>(budget_seconds())) +
         2 * Watchdog::kDefaultBound;
}

// --- Bounded waits -----------------------------------------------------------------

// How long a scenario waits for something that must happen promptly before it
// reports failure (well below the watchdog's bound).
inline constexpr std::chrono::seconds kPromptly{20};

// A counter that other threads can wait on, with a bound.
class Tally {
 public:
  void add(std::uint64_t amount = 1) {
    {
      std::lock_guard lock(mutex_);
      value_ += amount;
    }
    changed_.notify_all();
  }
  std::uint64_t value() const {
    std::lock_guard lock(mutex_);
    return value_;
  }
  // True if the value reached `target` within `bound`.
  template <class Rep, class Period>
  bool wait_for_at_least(std::uint64_t target, std::chrono::duration<Rep, Period> bound) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, bound, [&] { return value_ >= target; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::uint64_t value_ = 0;
};

// A one-shot gate that handlers wait at until the scenario opens it (the
// core suite's; stress scenarios use its open() and bounded wait_for()).
using Gate = courier_test::Gate;

// --- A bus that must drain ----------------------------------------------------------

inline std::string describe(const courier::Stats& stats) {
  std::ostringstream text;
  text << "posted=" << stats.posted << " delivered_events=" << stats.delivered_events
       << " dead=" << stats.dead << " delivered=" << stats.delivered << " failed=" << stats.failed
       << " queued=" << stats.queued << " subscriptions=" << stats.subscriptions;
  return text.str();
}

// True once `bus` holds no accepted event (every one delivered or dead), false
// if it still holds some after `bound`. Call it once nothing posts any more,
// before wait_idle() or the destructor: a bus that lost track of an event would
// make those wait forever, and this reports it instead.
template <class Rep, class Period>
bool drains_within(const courier::EventBus& bus, std::chrono::duration<Rep, Period> bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  // Polls a condition with a deadline: the bus offers nothing to wait on that
  // would itself be bounded. Backs off so as not to steal the executors' CPU.
  for (int polls = 0; bus.stats().queued != 0; ++polls) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (polls < 100) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return true;
}

// Gives up on a bus that holds events it will never deliver: its destructor
// would wait for them forever, so it is leaked, and the test reports the
// failure instead of hanging.
inline void abandon(std::unique_ptr<courier::EventBus> bus) { (void)bus.release(); }

// Once nothing posts any more: true if `owned_bus` drains promptly; if not,
// records a failure naming what it still holds, abandons it and returns false
// (the test must stop there).
inline bool drain_or_abandon(std::unique_ptr<courier::EventBus>& owned_bus) {
  if (drains_within(*owned_bus, kPromptly)) return true;
  ADD_FAILURE() << "the bus still holds events no executor delivers: "
                << describe(owned_bus->stats());
  abandon(std::move(owned_bus));
  return false;
}

// --- Post order --------------------------------------------------------------------

// Memory a handler writes to, destroyed by its owner as soon as cancel
// returns: a late invocation is a use after free that ASan reports.
struct Victim {
  std::array<std::atomic<std::uint64_t>, 8> scratch{};
  void touch(std::uint64_t seed) { scratch[seed % scratch.size()] += 1; }
};

// Stamps taken from one sequentially consistent counter just before a post
// starts and just after it returns: end(a) < start(b) proves that post(a)
// returned before post(b) started, so a must be delivered before b.
class PostClock {
 public:
  std::uint64_t tick() { return ticks_.fetch_add(1, std::memory_order_seq_cst); }

 private:
  std::atomic<std::uint64_t> ticks_{0};
};

// Checks that `delivered` (event ids in delivery order) never has an event
// delivered after one whose post started only once its own post had
// returned. Returns a description of the first violation.
inline std::optional<std::string> find_order_violation(const std::vector<std::uint32_t>& delivered,
                                                       const std::vector<std::uint64_t>& start,
                                                       const std::vector<std::uint64_t>& end) {
  // Walk in delivery order, remembering the latest post start seen so far: an
  // event whose post ended before that start came too late.
  std::uint64_t latest_start = 0;
  std::uint32_t latest_id = 0;
  bool any = false;
  for (std::size_t position = 0; position < delivered.size(); ++position) {
    const std::uint32_t id = delivered[position];
    if (any && end[id] < latest_start) {
      std::ostringstream what;
      what << "event " << id << " (post ended at tick " << end[id] << ") was delivered after event "
           << latest_id << " (post started at tick " << latest_start << "), at position "
           << position;
      return what.str();
    }
    if (!any || start[id] > latest_start) {
      latest_start = start[id];
      latest_id = id;
      any = true;
    }
  }
  return std::nullopt;
}

// Expects every log (event ids in delivery order) to follow post order.
inline void expect_post_order(const std::vector<std::vector<std::uint32_t>>& logs,
                              const std::vector<std::uint64_t>& start,
                              const std::vector<std::uint64_t>& end) {
  for (const auto& log : logs) {
    const auto violation = find_order_violation(log, start, end);
    EXPECT_FALSE(violation.has_value()) << "post order broken: " << *violation;
  }
}

// --- Memory ------------------------------------------------------------------------

// The process's peak resident set (VmHWM), in KiB; 0 if unknown.
inline std::uint64_t peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// Resets the peak to the current resident set, so that a scenario measures its
// own peak and not an earlier test's. False where the kernel does not allow it.
inline bool reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

// --- Figures -----------------------------------------------------------------------

// What a scenario did, printed as one line so that long runs can be summed up
// (RELIABILITY.md quotes them).
struct Figures {
  std::string scenario;
  std::uint64_t rounds = 0;
  std::uint64_t events = 0;      // events accepted by the bus
  std::uint64_t deliveries = 0;  // handler invocations
  std::uint64_t threads = 0;     // producer + executor + churn threads at once
  std::uint64_t faults = 0;      // injected: throws, cancels, shutdowns, blocked posts...
  std::uint64_t lost = 0;        // accepted events some subscriber should have had and did not
  double seconds = 0;

  // Fills in how many rounds ran and for how long, and prints.
  void report(const Rounds& finished) {
    rounds = finished.count();
    seconds = finished.elapsed_seconds();
    print();
  }

  void print() const {
    std::printf(
        "[  STRESS  ] %s: rounds=%llu events=%llu deliveries=%llu threads=%llu faults=%llu "
        "lost=%llu seconds=%.1f seed=%llu\n",
        scenario.c_str(), static_cast<unsigned long long>(rounds),
        static_cast<unsigned long long>(events), static_cast<unsigned long long>(deliveries),
        static_cast<unsigned long long>(threads), static_cast<unsigned long long>(faults),
        static_cast<unsigned long long>(lost), seconds,
        static_cast<unsigned long long>(base_seed()));
    std::fflush(stdout);
  }
};

// --- Threads -----------------------------------------------------------------------

// Starts `count` threads running body(index) together (after a common start
// line, so that they really overlap) and joins them all.
template <class Body>
void run_together(std::size_t count, Body body) {
  std::mutex mutex;
  std::condition_variable go;
  bool started = false;
  std::vector<std::thread> threads;
  threads.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      {
        std::unique_lock lock(mutex);
        go.wait(lock, [&] { return started; });
      }
      body(i);
    });
  }
  {
    std::lock_guard lock(mutex);
    started = true;
  }
  go.notify_all();
  for (std::thread& thread : threads) thread.join();
}

}  // namespace courier_stress
