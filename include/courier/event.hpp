// Event<T>: what is posted on the bus and what subscribers receive.
//
// An event is a topic (see topic.hpp), a payload of any movable type T, and an
// optional ordering key. Events sharing a non-empty ordering key reach each
// Concurrent subscriber in post order, one at a time (see subscriber.hpp); the
// key changes nothing for Serial subscribers, which see every event in post
// order anyway.
//
// Thread safety: an Event is immutable after construction. Distinct objects:
// safe. Shared objects: safe (subscribers on several threads may read the same
// delivered event at once, so T's const members must be safe to call
// concurrently, as they are for every standard type).
#pragma once

#include <string_view>
#include <utility>

#include "courier/detail/small_text.hpp"
#include "courier/topic.hpp"

namespace courier {

namespace detail {
// Tags a topic that was validated already (a Topic handle's name).
struct ValidatedTopic {
  explicit ValidatedTopic() = default;
};
}  // namespace detail

template <class T>
class Event {
 public:
  using data_type = T;

  // Throws std::invalid_argument, naming the topic, if `topic` is not valid.
  Event(std::string_view topic, T data, std::string_view ordering_key)
      : topic_(checked(topic)), ordering_key_(ordering_key), data_(std::move(data)) {}
  Event(std::string_view topic, T data) : topic_(checked(topic)), data_(std::move(data)) {}
  // A C string (a literal, usually) is validated in the pass that finds its end.
  Event(const char* topic, T data) : topic_(detail::checked_topic(topic)), data_(std::move(data)) {}

  // For the bus: `topic` was validated when its Topic handle was made.
  Event(detail::ValidatedTopic, const detail::SmallText& topic, T data,
        std::string_view ordering_key)
      : topic_(topic), ordering_key_(ordering_key), data_(std::move(data)) {}
  Event(detail::ValidatedTopic, const detail::SmallText& topic, T data)
      : topic_(topic), data_(std::move(data)) {}

  // Views into the event: valid as long as it is.
  std::string_view topic() const noexcept { return topic_.view(); }
  const T& data() const noexcept { return data_; }
  // Empty when no ordering is requested.
  std::string_view ordering_key() const noexcept { return ordering_key_.view(); }

 private:
  static std::string_view checked(std::string_view topic) {
    validate_topic(topic);
    return topic;
  }

  // Not std::string: see small_text.hpp for what that costs every post.
  detail::SmallText topic_;
  detail::SmallText ordering_key_;
  T data_;
};

}  // namespace courier
