#include "courier/metrics/latency_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace courier {

std::chrono::nanoseconds LatencySnapshot::quantile(double q) const {
  if (!(q > 0.0 && q <= 1.0))
    throw std::invalid_argument("LatencySnapshot::quantile: q must be in (0, 1], not " +
                                std::to_string(q));
  if (count == 0) return std::chrono::nanoseconds(0);
  // The rank-th smallest duration is the q-quantile (the nearest-rank definition).
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count))));
  std::uint64_t below = 0;
  for (std::size_t index = 0; index < buckets.size(); ++index) {
    below += buckets[index];
    if (below >= rank) {
      const auto upper = std::chrono::nanoseconds(static_cast<std::int64_t>(std::min<std::uint64_t>(
          LatencyHistogram::bucket_upper_bound(index),
          static_cast<std::uint64_t>(std::chrono::nanoseconds::max().count()))));
      return std::min(upper, max);
    }
  }
  return max;  // count exceeds the buckets' sum: a snapshot built by hand
}

LatencySnapshot LatencyHistogram::snapshot() const {
  LatencySnapshot taken;
  taken.buckets.resize(bucket_count);
  for (std::size_t index = 0; index < bucket_count; ++index) {
    taken.buckets[index] = buckets_[index].load(std::memory_order_relaxed);
    taken.count += taken.buckets[index];
  }
  taken.sum =
      std::chrono::nanoseconds(static_cast<std::int64_t>(sum_.load(std::memory_order_relaxed)));
  taken.max =
      std::chrono::nanoseconds(static_cast<std::int64_t>(max_.load(std::memory_order_relaxed)));
  taken.p50 = taken.quantile(0.50);
  taken.p99 = taken.quantile(0.99);
  return taken;
}

}  // namespace courier
