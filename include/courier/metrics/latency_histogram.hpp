/// \file
/// LatencyHistogram: a lock-free, log-bucketed histogram of durations.
///
/// A standalone component, which a program may feed with its own durations (as
/// samples/monitor.cpp does with a timestamp carried in the payload); a bus
/// feeds one with its post-to-delivery latency while EventBus::track_latency
/// is on (Stats::latency).
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "courier/detail/export.hpp"

namespace courier {

/// What a LatencyHistogram held at one moment: counts per bucket, their sum and
/// maximum, and two quantiles read from the buckets.
///
/// A plain value: distinct and shared objects alike are safe to read from any
/// thread; writing one while another thread reads it is a data race.
///
/// Quantiles come from the buckets, not from the durations themselves: a
/// quantile is reported as the inclusive upper bound of the bucket that holds
/// it, capped at max. If v is the true quantile (the ceil(q * count)-th
/// smallest duration recorded), the reported value r satisfies v <= r < 1.25 v,
/// and r == v below 8 ns (see LatencyHistogram for the buckets).
struct COURIER_EXPORT LatencySnapshot {
  std::uint64_t count = 0;             ///< durations recorded: the sum of `buckets`
  std::chrono::nanoseconds sum{0};     ///< their sum (wraps past 2^63 ns, 292 years)
  std::chrono::nanoseconds max{0};     ///< the largest; 0 when count is 0
  std::chrono::nanoseconds p50{0};     ///< quantile(0.50); 0 when count is 0
  std::chrono::nanoseconds p99{0};     ///< quantile(0.99); 0 when count is 0
  std::vector<std::uint64_t> buckets;  ///< durations per bucket (not cumulative), indexed
                                       ///< as LatencyHistogram::bucket_index numbers them

  /// The q-quantile (0 < q <= 1) from the buckets, within the bound stated above;
  /// 0 when count is 0. Throws std::invalid_argument for q outside (0, 1].
  std::chrono::nanoseconds quantile(double q) const;
};

/// A histogram of durations, recorded from many threads without a lock.
///
/// Buckets are logarithmic with four linear sub-buckets per power of two, in
/// whole nanoseconds: 0, 1, 2 and 3 ns have a bucket each; then each range
/// [2^k, 2^(k+1)) ns, k >= 2, is cut into four buckets of width 2^(k-2). So a
/// bucket's width is at most a quarter of its lower bound, and bucket_count
/// buckets cover every duration up to 2^64 - 1 ns. A negative duration counts
/// as 0 ns.
///
/// Thread safety. Distinct objects: safe. Shared objects: safe; record() and
/// snapshot() may be called from any threads at once. Each record() is a few
/// relaxed atomic read-modify-writes and never blocks. A snapshot taken while
/// other threads record sees each bucket, the sum and the max at some moment of
/// its own, so its figures need not agree with one another (sum may include a
/// duration its buckets miss); once every record() happens-before snapshot()
/// (the recording threads were joined, say), the snapshot is exact.
class COURIER_EXPORT LatencyHistogram {
 public:
  /// Number of buckets: four for 0..3 ns, four for each power of two from 2^2 to 2^63.
  static constexpr std::size_t bucket_count = 4 + 4 * 62;

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  /// Adds one duration. Thread-safe. Lock-free; never blocks, never throws.
  void record(std::chrono::nanoseconds duration) noexcept {
    const std::uint64_t nanoseconds =
        duration.count() < 0 ? 0 : static_cast<std::uint64_t>(duration.count());
    buckets_[bucket_index(nanoseconds)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(nanoseconds, std::memory_order_relaxed);
    raise_max(nanoseconds);
  }

  /// The counts so far, with p50 and p99. Thread-safe; never blocks. See the
  /// class comment for what it sees of concurrent record() calls. Throws
  /// std::bad_alloc only.
  LatencySnapshot snapshot() const;

  /// The bucket that holds a duration of `nanoseconds`.
  static constexpr std::size_t bucket_index(std::uint64_t nanoseconds) noexcept {
    if (nanoseconds < 4) return static_cast<std::size_t>(nanoseconds);
    // 2^octave <= nanoseconds < 2^(octave + 1)
    const auto octave = static_cast<std::size_t>(std::bit_width(nanoseconds) - 1);
    const std::uint64_t sub_bucket = (nanoseconds >> (octave - 2)) & 3U;
    return 4 + 4 * (octave - 2) + static_cast<std::size_t>(sub_bucket);
  }

  /// The largest duration, in nanoseconds, that bucket `index` (< bucket_count) holds.
  static constexpr std::uint64_t bucket_upper_bound(std::size_t index) noexcept {
    if (index < 4) return index;
    const std::size_t octave = (index - 4) / 4 + 2;
    const std::uint64_t sub_bucket = (index - 4) % 4;
    const std::uint64_t width = std::uint64_t{1} << (octave - 2);
    return (4 + sub_bucket) * width + (width - 1);
  }

 private:
  void raise_max(std::uint64_t nanoseconds) noexcept {
    std::uint64_t seen = max_.load(std::memory_order_relaxed);
    while (seen < nanoseconds &&
           !max_.compare_exchange_weak(seen, nanoseconds, std::memory_order_relaxed)) {
    }
  }

  std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace courier
