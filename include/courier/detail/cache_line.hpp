#pragma once

#include <cstddef>

namespace courier::detail {

// Hot atomics written by different threads live this far apart, so that one
// thread's writes do not evict the line another thread is using (false sharing).
// A fixed 64 rather than std::hardware_destructive_interference_size, whose
// value g++ warns may differ between translation units built with other flags.
inline constexpr std::size_t kCacheLine = 64;

}  // namespace courier::detail
