/// \file
/// What the bus's lifecycle hooks receive (EventBus::on_error, on_dead_event).
///
/// Both structures point into the bus's own storage and are valid only during
/// the hook call: copy what you want to keep.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

#include "courier/detail/export.hpp"
#include "courier/event.hpp"

namespace courier {

/// A subscriber's process() threw: what EventBus::on_error hooks receive. The
/// views point into the bus's storage, valid during the hook call only.
struct COURIER_EXPORT DeliveryError {
  std::string_view topic;        ///< the event's topic
  std::string_view pattern;      ///< a pattern of the subscriber's that matches the topic
  std::string subscriber;        ///< the subscriber's type, or "callable ..." for callables
  std::exception_ptr exception;  ///< what it threw

  /// The exception's what(), or a placeholder for non-standard exceptions.
  std::string message() const;
};

/// A stream's overflow policy dropped an event (stream.hpp): what
/// EventBus::on_drop hooks receive, valid during the hook call only.
struct DroppedEvents {
  std::string_view topic;    ///< the dropped event's topic (for DropOldest: the arriving one's)
  std::string_view pattern;  ///< the stream's first pattern
  std::uint64_t dropped;     ///< events this stream has dropped so far
};

/// An accepted event that no subscriber took: none matched when it was posted,
/// or every one that matched was cancelled before it could be delivered. What
/// EventBus::on_dead_event hooks receive, valid during the hook call only.
class DeadEvent {
 public:
  /// Made by the bus: `event` points at an Event<T> whose T is `type`.
  DeadEvent(const void* event, const std::type_info& type, std::string_view topic) noexcept
      : event_(event), type_(&type), topic_(topic) {}

  /// The event's topic.
  std::string_view topic() const noexcept { return topic_; }
  /// The event's payload type.
  const std::type_info& type() const noexcept { return *type_; }

  /// The event, if its payload type is T; null otherwise.
  template <class T>
  const Event<T>* as() const noexcept {
    return *type_ == typeid(T) ? static_cast<const Event<T>*>(event_) : nullptr;
  }

 private:
  const void* event_;
  const std::type_info* type_;
  std::string_view topic_;
};

}  // namespace courier
