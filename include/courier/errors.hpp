/// \file
/// Exceptions courier throws of its own. Bad arguments (an invalid topic or
/// pattern, a null subscriber, zero threads) raise std::invalid_argument with a
/// message naming the bad value.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "courier/detail/export.hpp"

namespace courier {

/// Thrown by EventBus::post() once the bus has been shut down. The event was not
/// accepted: nothing of it was delivered.
class COURIER_EXPORT BusClosed : public std::runtime_error {
 public:
  BusClosed() : std::runtime_error("courier: the event bus is shut down and accepts no events") {}
};

/// Thrown when a request would take the bus over one of its limits (a stream's
/// depth, StreamOptions::kMaxDepth; Options::max_subscriptions). It names the
/// limit, its maximum and the value asked for, in its message and through its
/// accessors; nothing was changed.
///
/// Thread safety: immutable; shared objects: safe.
class COURIER_EXPORT LimitExceeded : public std::length_error {
 public:
  /// `limit` (as "Options::max_subscriptions") allows at most `maximum`, and
  /// a request asked for `requested`.
  LimitExceeded(std::string limit, std::size_t maximum, std::size_t requested);

  /// The limit's name, as "StreamOptions::depth".
  const std::string& limit() const noexcept { return limit_; }
  /// The most the limit allows.
  std::size_t maximum() const noexcept { return maximum_; }
  /// What the request asked for.
  std::size_t requested() const noexcept { return requested_; }

 private:
  std::string limit_;
  std::size_t maximum_;
  std::size_t requested_;
};

}  // namespace courier
