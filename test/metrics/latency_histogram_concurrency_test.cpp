// LatencyHistogram recorded from many threads at once (issue 16, item 8): no
// duration is lost, and snapshots taken meanwhile never go backwards.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

#include "courier/metrics/latency_histogram.hpp"

namespace {

using courier::LatencyHistogram;
using courier::LatencySnapshot;
using std::chrono::nanoseconds;

constexpr int kThreads = 8;
constexpr int kRecordsPerThread = 200'000;

// The i-th duration thread t records: spread over many buckets and octaves.
std::int64_t duration_of(int thread, int i) {
  return (static_cast<std::int64_t>(i) * 7919 + thread * 104'729) % 5'000'000;
}

// Every figure of `later` is at least that of `earlier`.
bool never_below(const LatencySnapshot& later, const LatencySnapshot& earlier) {
  for (std::size_t index = 0; index < later.buckets.size(); ++index)
    if (later.buckets[index] < earlier.buckets[index]) return false;
  return later.count >= earlier.count && later.sum >= earlier.sum && later.max >= earlier.max;
}

TEST(LatencyHistogramConcurrency, ManyThreadsRecordingLoseNothing) {
  LatencyHistogram shared;
  LatencyHistogram expected;  // the same durations, recorded on one thread
  std::uint64_t expected_sum = 0;
  std::int64_t expected_max = 0;
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kRecordsPerThread; ++i) {
      expected.record(nanoseconds(duration_of(t, i)));
      expected_sum += static_cast<std::uint64_t>(duration_of(t, i));
      expected_max = std::max(expected_max, duration_of(t, i));
    }

  std::latch start(kThreads);
  std::vector<std::thread> recorders;
  for (int t = 0; t < kThreads; ++t)
    recorders.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kRecordsPerThread; ++i) shared.record(nanoseconds(duration_of(t, i)));
    });
  for (std::thread& recorder : recorders) recorder.join();

  const LatencySnapshot snapshot = shared.snapshot();
  EXPECT_EQ(snapshot.count, std::uint64_t{kThreads} * kRecordsPerThread);
  EXPECT_EQ(snapshot.sum, nanoseconds(static_cast<std::int64_t>(expected_sum)));
  EXPECT_EQ(snapshot.max, nanoseconds(expected_max));
  EXPECT_EQ(snapshot.buckets, expected.snapshot().buckets);
  EXPECT_EQ(snapshot.p99, expected.snapshot().p99);
}

TEST(LatencyHistogramConcurrency, SnapshotsDuringRecordingNeverGoBackwards) {
  LatencyHistogram shared;
  std::atomic<int> recording{kThreads};
  std::vector<std::thread> recorders;
  for (int t = 0; t < kThreads; ++t)
    recorders.emplace_back([&, t] {
      for (int i = 0; i < kRecordsPerThread; ++i) shared.record(nanoseconds(duration_of(t, i)));
      recording.fetch_sub(1);
    });
  LatencySnapshot previous = shared.snapshot();
  int snapshots = 0;
  bool went_backwards = false;
  while (!went_backwards && (recording.load() > 0 || snapshots == 0)) {
    const LatencySnapshot now = shared.snapshot();
    went_backwards = !never_below(now, previous);
    previous = now;
    ++snapshots;
  }
  for (std::thread& recorder : recorders) recorder.join();  // before any assertion returns
  EXPECT_FALSE(went_backwards) << "after " << snapshots << " snapshots";
  EXPECT_EQ(shared.snapshot().count, std::uint64_t{kThreads} * kRecordsPerThread);
}

}  // namespace
