/// \file
/// Topic: a topic resolved ahead of time, for posting on a hot path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "courier/detail/small_text.hpp"

namespace courier {

/// A topic resolved ahead of time, for posting on a hot path.
///
/// \code
///   const courier::Topic cpu = bus.topic("metrics.cpu");   // validates once
///   bus.post(cpu, 42);                                     // no validation, no lookup
/// \endcode
///
/// The bus keeps, in every routing snapshot, the subscriptions matching each
/// topic it has made a handle for, so a post through a handle skips the topic's
/// validation, hashing and pattern matching. Handles are cheap to copy and
/// valid for the life of the bus that made them; using one with another bus
/// throws std::invalid_argument.
///
/// Thread safety: immutable. Distinct objects: safe. Shared objects: safe.
class Topic {
 public:
  /// The topic's name.
  std::string_view name() const noexcept { return name_.view(); }

 private:
  friend class EventBus;
  Topic(std::string_view name, std::size_t id, std::uint64_t bus_id)
      : name_(name), id_(id), bus_id_(bus_id) {}

  detail::SmallText name_;  // copied into every event posted through the handle
  std::size_t id_;
  std::uint64_t bus_id_;
};

}  // namespace courier
