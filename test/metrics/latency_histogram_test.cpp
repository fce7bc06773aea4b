// LatencyHistogram (issue 16, item 8): its buckets, what a snapshot counts, and
// quantiles within the documented bound (v <= reported < 1.25 v, exact below
// 8 ns) on known distributions. Concurrent recording: its own file.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "courier/metrics/latency_histogram.hpp"

namespace {

using courier::LatencyHistogram;
using courier::LatencySnapshot;
using std::chrono::nanoseconds;

constexpr std::size_t kLastBucket = LatencyHistogram::bucket_count - 1;

// The nearest-rank q-quantile of `values`: the ceil(q * n)-th smallest.
std::int64_t exact_quantile(std::vector<std::int64_t> values, double q) {
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::max<std::size_t>(rank, 1) - 1];
}

LatencySnapshot record_all(const std::vector<std::int64_t>& values) {
  LatencyHistogram histogram;
  for (const std::int64_t value : values) histogram.record(nanoseconds(value));
  return histogram.snapshot();
}

void expect_within_bound(const LatencySnapshot& snapshot, const std::vector<std::int64_t>& values,
                         double q) {
  const std::int64_t exact = exact_quantile(values, q);
  const std::int64_t reported = snapshot.quantile(q).count();
  EXPECT_GE(reported, exact) << "q = " << q;
  EXPECT_LT(static_cast<double>(reported), 1.25 * static_cast<double>(exact) + 1.0) << "q = " << q;
  if (exact < 8) {
    EXPECT_EQ(reported, exact) << "q = " << q;
  }
}

TEST(LatencyHistogramBuckets, AdjacentBucketsTileEveryDurationWithoutGapOrOverlap) {
  EXPECT_EQ(LatencyHistogram::bucket_index(0), 0U);
  for (std::size_t index = 0; index < kLastBucket; ++index) {
    const std::uint64_t upper = LatencyHistogram::bucket_upper_bound(index);
    ASSERT_EQ(LatencyHistogram::bucket_index(upper), index);
    ASSERT_EQ(LatencyHistogram::bucket_index(upper + 1), index + 1);
  }
  EXPECT_EQ(LatencyHistogram::bucket_upper_bound(kLastBucket),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(LatencyHistogram::bucket_index(std::numeric_limits<std::uint64_t>::max()), kLastBucket);
}

TEST(LatencyHistogramBuckets, EachBucketIsAtMostAQuarterOfItsLowerBoundWide) {
  for (std::size_t index = 4; index <= kLastBucket; ++index) {
    const std::uint64_t lower = LatencyHistogram::bucket_upper_bound(index - 1) + 1;
    const std::uint64_t width = LatencyHistogram::bucket_upper_bound(index) - lower + 1;
    ASSERT_LE(width * 4, lower) << "bucket " << index;
  }
}

TEST(LatencyHistogram, SnapshotCountsSumsAndKeepsTheMaximum) {
  LatencyHistogram histogram;
  histogram.record(nanoseconds(5));
  histogram.record(nanoseconds(1000));
  histogram.record(nanoseconds(5));
  histogram.record(nanoseconds(-7));  // counts as 0 ns
  const LatencySnapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 4U);
  EXPECT_EQ(snapshot.sum, nanoseconds(1010));
  EXPECT_EQ(snapshot.max, nanoseconds(1000));
  ASSERT_EQ(snapshot.buckets.size(), LatencyHistogram::bucket_count);
  EXPECT_EQ(snapshot.buckets[0], 1U);
  EXPECT_EQ(snapshot.buckets[LatencyHistogram::bucket_index(5)], 2U);
  EXPECT_EQ(snapshot.buckets[LatencyHistogram::bucket_index(1000)], 1U);
  std::uint64_t total = 0;
  for (const std::uint64_t in_bucket : snapshot.buckets) total += in_bucket;
  EXPECT_EQ(total, 4U);
}

TEST(LatencyHistogram, EmptySnapshotIsAllZeros) {
  const LatencySnapshot snapshot = LatencyHistogram().snapshot();
  EXPECT_EQ(snapshot.count, 0U);
  EXPECT_EQ(snapshot.sum, nanoseconds(0));
  EXPECT_EQ(snapshot.max, nanoseconds(0));
  EXPECT_EQ(snapshot.p50, nanoseconds(0));
  EXPECT_EQ(snapshot.p99, nanoseconds(0));
  EXPECT_EQ(snapshot.quantile(0.5), nanoseconds(0));
}

TEST(LatencyHistogramQuantiles, OutsideZeroToOneThrows) {
  const LatencySnapshot snapshot = record_all({1, 2, 3});
  EXPECT_THROW((void)snapshot.quantile(0.0), std::invalid_argument);
  EXPECT_THROW((void)snapshot.quantile(-0.5), std::invalid_argument);
  EXPECT_THROW((void)snapshot.quantile(1.5), std::invalid_argument);
  EXPECT_THROW((void)snapshot.quantile(std::nan("")), std::invalid_argument);
  EXPECT_EQ(snapshot.quantile(1.0), nanoseconds(3));
}

TEST(LatencyHistogramQuantiles, ExactBelowEightNanoseconds) {
  const std::vector<std::int64_t> values = {0, 1, 2, 3, 4, 5, 6, 7, 7, 7};
  const LatencySnapshot snapshot = record_all(values);
  for (const double q : {0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.7, 0.8, 0.99, 1.0})
    EXPECT_EQ(snapshot.quantile(q).count(), exact_quantile(values, q)) << "q = " << q;
}

TEST(LatencyHistogramQuantiles, UniformMicrosecondsWithinTheBound) {
  std::vector<std::int64_t> values;
  for (std::int64_t micros = 1; micros <= 1000; ++micros) values.push_back(micros * 1000);
  const LatencySnapshot snapshot = record_all(values);
  for (const double q : {0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0})
    expect_within_bound(snapshot, values, q);
  EXPECT_EQ(snapshot.p50, snapshot.quantile(0.5));
  EXPECT_EQ(snapshot.p99, snapshot.quantile(0.99));
  EXPECT_EQ(snapshot.quantile(1.0), nanoseconds(1'000'000));  // capped at max
}

TEST(LatencyHistogramQuantiles, OneSlowOutlierShowsInMaxNotInP99) {
  std::vector<std::int64_t> values(199, 1'000'000);  // 1 ms
  values.push_back(1'000'000'000);                   // 1 s
  const LatencySnapshot snapshot = record_all(values);
  EXPECT_GE(snapshot.p50, nanoseconds(1'000'000));
  EXPECT_LT(snapshot.p50, nanoseconds(1'250'000));
  EXPECT_GE(snapshot.p99, nanoseconds(1'000'000));
  EXPECT_LT(snapshot.p99, nanoseconds(1'250'000));
  EXPECT_EQ(snapshot.max, nanoseconds(1'000'000'000));
  EXPECT_EQ(snapshot.quantile(1.0), nanoseconds(1'000'000'000));
}

TEST(LatencyHistogramQuantiles, LogNormalDistributionWithinTheBound) {
  std::mt19937_64 random(16);
  std::lognormal_distribution<double> latency(std::log(50'000.0), 1.5);  // median 50 us
  std::vector<std::int64_t> values;
  for (int i = 0; i < 20'000; ++i) values.push_back(static_cast<std::int64_t>(latency(random)));
  const LatencySnapshot snapshot = record_all(values);
  for (const double q : {0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0})
    expect_within_bound(snapshot, values, q);
}

}  // namespace
