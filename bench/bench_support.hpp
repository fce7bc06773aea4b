// bench_support: what every workload of bench/compare.cpp shares.
//
//  - timing: a stopwatch, producer threads released together, paced posting;
//  - repetition: SideBySide runs every contender of a workload once per round,
//    back to back, and keeps the medians; ratios are taken within a round, so
//    that two figures compared were measured a moment apart on this shared,
//    noisy machine (absolute numbers drift 2-7x between runs, ratios much less);
//  - checks that fail loudly (order, completeness);
//  - process figures: CPU time, resident memory;
//  - the report: the result table (markdown, so that it pastes into
//    docs/performance.md) and the data files the chart script reads.
#pragma once

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <latch>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point begin, Clock::time_point end) {
  return std::chrono::duration<double>(end - begin).count();
}

// Nanoseconds on the steady clock: cheap (vDSO) and comparable across threads.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Makes the compiler assume `value` is read and changed here, so that work
// feeding it is not optimised away and a callable behind it is not inlined.
template <class T>
inline void escape(T& value) {
  asm volatile("" : : "g"(&value) : "memory");
}

[[noreturn]] inline void fail_loudly(const std::string& why) {
  std::fprintf(stderr, "\ncompare: FAILED: %s\n", why.c_str());
  std::fflush(stderr);
  std::exit(1);
}

// Ends the program, loudly, when something runs far longer than it should: an
// event lost by a bus would otherwise hang the benchmark forever, silently.
class Watchdog {
 public:
  // While a Scope lives, its `what` must finish within `limit`.
  class Scope {
   public:
    Scope(std::string what, std::chrono::seconds limit) {
      Watchdog& dog = instance();
      std::lock_guard lock(dog.mutex_);
      dog.scopes_.push_back({std::move(what), Clock::now() + limit});
      dog.changed_.notify_one();
    }
    ~Scope() {
      Watchdog& dog = instance();
      std::lock_guard lock(dog.mutex_);
      dog.scopes_.pop_back();
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
  };

 private:
  struct Deadline {
    std::string what;
    Clock::time_point at;
  };

  static Watchdog& instance() {
    static Watchdog dog;
    return dog;
  }

  Watchdog() : thread_([this] { watch(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_one();
    thread_.join();
  }

  void watch() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (scopes_.empty()) {
        changed_.wait(lock);
        continue;
      }
      const Deadline& first =
          *std::min_element(scopes_.begin(), scopes_.end(),
                            [](const Deadline& a, const Deadline& b) { return a.at < b.at; });
      if (Clock::now() >= first.at) {
        std::fprintf(stderr, "\ncompare: FAILED: %s did not finish in time: hung (lost event?)\n",
                     first.what.c_str());
        std::fflush(stderr);
        std::_Exit(3);
      }
      changed_.wait_until(lock, first.at);
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Deadline> scopes_;  // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  std::thread thread_;
};

// Calls `post_one(i)` for i in [0, events) on this thread; returns calls per second.
template <class PostOne>
double rate_of_loop(std::int64_t events, PostOne&& post_one) {
  const Clock::time_point begin = Clock::now();
  for (std::int64_t i = 0; i < events; ++i) post_one(i);
  return static_cast<double>(events) / seconds_between(begin, Clock::now());
}

// Runs `produce(producer_index)` on `producers` threads released at once, then
// `finish()` on this thread (which waits until everything produced has been
// consumed). Returns the seconds from the release to the end of finish(), so
// thread start-up is not timed but the whole drain is.
template <class Produce, class Finish>
double time_producers(int producers, Produce&& produce, Finish&& finish) {
  std::latch start(1);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(producers));
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&start, &produce, p] {
      start.wait();
      produce(p);
    });
  }
  const Clock::time_point begin = Clock::now();
  start.count_down();
  for (std::thread& thread : threads) thread.join();
  finish();
  return seconds_between(begin, Clock::now());
}

// Calls `post(stamp_ns)` `events` times, one every `interval`, stamping each
// with the time it is posted. Sleeps until each is due (absolute deadlines, a
// 1 ns timer slack) rather than spinning: on a 2-core machine a spinning
// producer takes a whole core from the threads under test. A late wake-up
// posts what is due at once, so the rate holds on average; the latency
// measured is from each post, so the lateness does not count.
template <class Post>
void post_paced(std::int64_t events, std::chrono::nanoseconds interval, Post&& post) {
  prctl(PR_SET_TIMERSLACK, 1UL);
  timespec due{};
  clock_gettime(CLOCK_MONOTONIC, &due);
  for (std::int64_t i = 0; i < events; ++i) {
    due.tv_nsec += interval.count();
    while (due.tv_nsec >= 1'000'000'000) {
      due.tv_nsec -= 1'000'000'000;
      ++due.tv_sec;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, nullptr);
    post(now_ns());
  }
}

inline double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const std::size_t middle = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle),
                   values.end());
  double upper = values[middle];
  if (values.size() % 2 == 1) return upper;
  double lower =
      *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle));
  return (lower + upper) / 2;
}

// The value below which `fraction` of `samples` fall. Reorders `samples`.
inline std::int64_t percentile(std::vector<std::int64_t>& samples, double fraction) {
  if (samples.empty()) return 0;
  const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(samples.size() - 1));
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(rank),
                   samples.end());
  return samples[rank];
}

// Checks, on the consuming side, that the values 0, 1, 2, ... arrive in order.
// Only one thread at a time may call see() (a serial consumer). On a cache
// line of its own: the consumer writes it per event, and beside the bus on
// the producer's stack it slowed W2's posts by a third (false sharing).
class alignas(64) SequenceCheck {
 public:
  void see(std::int64_t value) noexcept {
    if (value != next_ && first_wrong_ < 0) {
      first_wrong_ = value;
      expected_at_first_wrong_ = next_;
    }
    ++next_;
  }

  // Once the consumer is done: exits the program if anything came out of order
  // or went missing.
  void require_in_order(const std::string& who, std::int64_t events) const {
    if (first_wrong_ >= 0) {
      fail_loudly(who + " broke post order: delivered " + std::to_string(first_wrong_) + " when " +
                  std::to_string(expected_at_first_wrong_) + " was next");
    }
    if (next_ != events) {
      fail_loudly(who + " delivered " + std::to_string(next_) + " of " + std::to_string(events) +
                  " events");
    }
  }

 private:
  std::int64_t next_ = 0;
  std::int64_t first_wrong_ = -1;
  std::int64_t expected_at_first_wrong_ = -1;
};

// One subscriber's delivery count, on its own cache line so that subscribers
// called on different threads do not slow each other down through it.
struct alignas(64) DeliveryCounter {
  std::atomic<std::int64_t> count{0};
  void add() noexcept { count.fetch_add(1, std::memory_order_relaxed); }
};

inline void require_count(const std::string& who, std::int64_t got, std::int64_t expected) {
  if (got != expected) {
    fail_loudly(who + " made " + std::to_string(got) + " deliveries, expected " +
                std::to_string(expected));
  }
}

// Post-to-process latencies of one run, recorded by a serial consumer.
class LatencyRecorder {
 public:
  explicit LatencyRecorder(std::size_t expected) { samples_.reserve(expected); }
  // Consumer side; allocates nothing while within `expected`.
  void record(std::int64_t posted_ns) { samples_.push_back(now_ns() - posted_ns); }
  std::size_t size() const noexcept { return samples_.size(); }
  double percentile_us(double fraction) {
    return static_cast<double>(percentile(samples_, fraction)) / 1000.0;
  }

 private:
  std::vector<std::int64_t> samples_;
};

// --- Formatting -------------------------------------------------------------

inline std::string format_fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// "12.3 M events/s": three significant digits or so.
inline std::string format_rate(double per_second, const std::string& unit) {
  const double millions = per_second / 1e6;
  const int decimals = millions >= 100 ? 0 : millions >= 10 ? 1 : 2;
  return format_fixed(millions, decimals) + " M " + unit;
}

inline std::string format_ratio(double ratio) {
  return format_fixed(ratio, ratio >= 10 ? 1 : ratio >= 0.1 ? 2 : 3) + "x";
}

inline std::string format_us(double microseconds) {
  return format_fixed(microseconds, microseconds >= 100 ? 0 : 1) + " us";
}

inline std::string format_megabytes(double bytes) { return format_fixed(bytes / 1e6, 1) + " MB"; }

inline std::string verdict(bool holds) { return holds ? "yes" : "**NO**"; }
inline const std::string kNotApplicable = "n/a";

// For profiling: when not empty, SideBySide runs only the contenders whose
// name contains this (the table is then partial).
inline std::string& contender_filter() {
  static std::string filter;
  return filter;
}

// Identity projection for SideBySide on plain doubles.
struct AsIs {
  double operator()(double figure) const noexcept { return figure; }
};

// Runs every contender of one workload once per round, in the same order, for
// a number of rounds, and reports medians. `Figures` is what one run measures:
// a double (events/s) or a struct (say, p50 and p99), read through a projection.
template <class Figures = double>
class SideBySide {
 public:
  using Id = std::size_t;

  Id add(std::string name, std::function<Figures()> measure) {
    contenders_.push_back({std::move(name), std::move(measure), {}});
    return contenders_.size() - 1;
  }

  void run(int rounds) {
    for (int round = 0; round < rounds; ++round) {
      for (Contender& contender : contenders_) {
        if (contender.name.find(contender_filter()) == std::string::npos) continue;
        const Watchdog::Scope deadline(contender.name, kLimit);
        contender.runs.push_back(contender.measure());
      }
    }
  }

  const std::string& name(Id id) const { return contenders_[id].name; }

  template <class Project = AsIs>
  double median_of(Id id, Project project = {}) const {
    std::vector<double> values;
    for (const Figures& figures : contenders_[id].runs) {
      values.push_back(std::invoke(project, figures));
    }
    return median(values);
  }

  // The median over rounds of figure(a) / figure(b), each round's pair measured
  // back to back.
  template <class Project = AsIs>
  double median_ratio(Id a, Id b, Project project = {}) const {
    std::vector<double> ratios;
    const auto& runs_a = contenders_[a].runs;
    const auto& runs_b = contenders_[b].runs;
    for (std::size_t i = 0; i < runs_a.size() && i < runs_b.size(); ++i) {
      ratios.push_back(std::invoke(project, runs_a[i]) / std::invoke(project, runs_b[i]));
    }
    return median(ratios);
  }

  // "3.10x Boost.Signals2, 0.012x std::function loop": `subject` / each baseline.
  template <class Project = AsIs>
  std::string ratio_list(Id subject, const std::vector<Id>& baselines, Project project = {}) const {
    std::string text;
    for (Id baseline : baselines) {
      if (!text.empty()) text += ", ";
      text += format_ratio(median_ratio(subject, baseline, project)) + " " + name(baseline);
    }
    return text;
  }

 private:
  // A run takes seconds; minutes means it hung.
  static constexpr std::chrono::seconds kLimit{30};

  struct Contender {
    std::string name;
    std::function<Figures()> measure;
    std::vector<Figures> runs;
  };
  std::vector<Contender> contenders_;
};

// CPU time used so far by every thread of this process.
inline double process_cpu_seconds() {
  timespec spent{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spent);
  return static_cast<double>(spent.tv_sec) + static_cast<double>(spent.tv_nsec) * 1e-9;
}

// A "Vm...:" line of /proc/self/status, in bytes (0 if absent).
inline std::int64_t proc_status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream value(line.substr(field.size() + 1));
      std::int64_t kilobytes = 0;
      value >> kilobytes;
      return kilobytes * 1024;
    }
  }
  return 0;
}

// Resets the peak resident set size (VmHWM) to the current one, so that a
// later peak belongs to what ran since. Linux >= 4.0; harmless if refused.
inline void reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
}

// --- The report -------------------------------------------------------------

// One line of the result table. Baseline lines fill workload, contender and
// result; courier's lines add the ratios to the baselines and the goal.
struct Row {
  std::string workload;
  std::string contender;
  std::string result;
  std::string ratios;  // "courier / baseline", for each baseline
  std::string goal;
  std::string holds;  // verdict(...) or kNotApplicable
};

// What a run found: the table's rows and the chart's series. Each workload runs
// in a child process (see compare.cpp) that hands its report to the parent as
// tab-separated lines, hence serialize() and absorb().
class Report {
 public:
  void add(Row row) { rows_.push_back(std::move(row)); }

  // A further goal of the line above, on a line of its own.
  void add_goal(std::string goal, std::string holds) {
    rows_.push_back({"", "", "", "", std::move(goal), std::move(holds)});
  }

  // A bar of the chart: one contender's throughput in one workload.
  void add_bar(const std::string& workload, const std::string& contender, bool is_courier,
               double per_second) {
    bars_.push_back(workload + '\t' + contender + '\t' + (is_courier ? "1" : "0") + '\t' +
                    format_fixed(per_second / 1e6, 3));
  }

  // A point of the W3 curve: deliveries/s of each contender at `subscribers`.
  void add_curve_point(int subscribers, const std::vector<double>& per_second) {
    std::string line = std::to_string(subscribers);
    for (double value : per_second) line += '\t' + format_fixed(value / 1e6, 3);
    curve_.push_back(std::move(line));
  }

  std::string serialize() const {
    std::string text;
    for (const Row& row : rows_) {
      text += "row\t" + row.workload + '\t' + row.contender + '\t' + row.result + '\t' +
              row.ratios + '\t' + row.goal + '\t' + row.holds + '\n';
    }
    for (const std::string& bar : bars_) text += "bar\t" + bar + '\n';
    for (const std::string& point : curve_) text += "curve\t" + point + '\n';
    return text;
  }

  // Takes one line of another report's serialize(); false if it is not one.
  bool absorb(const std::string& line) {
    const std::size_t tab = line.find('\t');
    if (tab == std::string::npos) return false;
    const std::string kind = line.substr(0, tab);
    const std::string rest = line.substr(tab + 1);
    if (kind == "bar") {
      bars_.push_back(rest);
    } else if (kind == "curve") {
      curve_.push_back(rest);
    } else if (kind == "row") {
      std::vector<std::string> cells;
      std::istringstream fields(rest);
      for (std::string cell; std::getline(fields, cell, '\t');) cells.push_back(cell);
      cells.resize(6);
      rows_.push_back({cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]});
    } else {
      return false;
    }
    return true;
  }

  // Markdown, with padded columns so it also reads well in a terminal.
  std::string markdown() const {
    const Row header{"workload", "contender", "result", "courier / baseline", "goal", "holds"};
    std::vector<std::size_t> widths(6, 3);
    for_each_cell(header, [&](std::size_t i, const std::string& cell) {
      widths[i] = std::max(widths[i], display_width(cell));
    });
    for (const Row& row : rows_) {
      for_each_cell(row, [&](std::size_t i, const std::string& cell) {
        widths[i] = std::max(widths[i], display_width(cell));
      });
    }
    std::string text;
    auto emit = [&](const Row& row) {
      text += "|";
      for_each_cell(row, [&](std::size_t i, const std::string& cell) {
        text += " " + cell + std::string(widths[i] - display_width(cell), ' ') + " |";
      });
      text += "\n";
    };
    emit(header);
    text += "|";
    for (std::size_t width : widths) text += std::string(width + 2, '-') + "|";
    text += "\n";
    for (const Row& row : rows_) emit(row);
    return text;
  }

  // The series bench/plot_performance.sh reads.
  void write_chart_data(const std::string& directory) const {
    std::ofstream bars(directory + "/throughput.tsv");
    for (const std::string& bar : bars_) bars << bar << '\n';
    std::ofstream curve(directory + "/fan_out_curve.tsv");
    for (const std::string& point : curve_) curve << point << '\n';
  }

 private:
  template <class Visit>
  static void for_each_cell(const Row& row, Visit&& visit) {
    const std::string* cells[] = {&row.workload, &row.contender, &row.result,
                                  &row.ratios,   &row.goal,      &row.holds};
    for (std::size_t i = 0; i < 6; ++i) visit(i, *cells[i]);
  }

  // Columns are padded by characters shown, not bytes.
  static std::size_t display_width(const std::string& text) {
    std::size_t width = 0;
    for (unsigned char c : text) width += (c & 0xC0) != 0x80;
    return width;
  }

  std::vector<Row> rows_;
  std::vector<std::string> bars_;   // workload, contender, is courier, M/s
  std::vector<std::string> curve_;  // subscribers, then M deliveries/s per contender
};

}  // namespace bench
