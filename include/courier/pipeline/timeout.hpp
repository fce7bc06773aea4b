/// \file
/// courier::Timeout: what a wait that gave up (next_event, async_next_event)
/// reports.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include "courier/detail/export.hpp"

namespace courier {

/// No matching event came in time. Names the topic pattern waited on and the
/// timeout, in its message ("courier: no event on \"job.done\" within 250 ms")
/// and through its accessors.
///
/// Thread safety: immutable; shared objects: safe.
class COURIER_EXPORT Timeout : public std::runtime_error {
 public:
  /// A wait on `pattern` gave up after `timeout`.
  Timeout(std::string pattern, std::chrono::nanoseconds timeout);

  /// The topic pattern waited on.
  const std::string& pattern() const noexcept { return pattern_; }
  /// How long the wait lasted.
  std::chrono::nanoseconds timeout() const noexcept { return timeout_; }

 private:
  std::string pattern_;
  std::chrono::nanoseconds timeout_;
};

}  // namespace courier
