/// \file
/// Exceptions courier throws of its own. Bad arguments (an invalid topic or
/// pattern, a null subscriber, zero threads) raise std::invalid_argument with a
/// message naming the bad value.
#pragma once

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
/// depth, StreamOptions::kMaxDepth). Its message names the limit and the value
/// asked for; nothing was changed.
class COURIER_EXPORT LimitExceeded : public std::length_error {
 public:
  using std::length_error::length_error;
};

}  // namespace courier
