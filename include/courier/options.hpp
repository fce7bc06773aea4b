/// \file
/// Options: how an EventBus is built.
#pragma once

#include <cstddef>
#include <thread>

namespace courier {

/// How an EventBus is built: read once, by its constructor.
struct Options {
  /// Executor threads in the bus's fixed pool (ignored by a synchronous bus).
  /// Zero is rejected with std::invalid_argument.
  std::size_t threads = std::thread::hardware_concurrency();

  /// Events accepted but not yet fully delivered, at most. post() blocks and
  /// try_post() fails while the bus holds this many. Zero is rejected.
  std::size_t queue_capacity = 10000;

  /// Deliver on the posting thread, before post() returns, instead of on the pool.
  bool synchronous = false;
};

}  // namespace courier
