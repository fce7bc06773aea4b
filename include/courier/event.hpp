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

#include <string>
#include <utility>

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
  Event(std::string topic, T data, std::string ordering_key)
      : topic_(std::move(topic)), ordering_key_(std::move(ordering_key)), data_(std::move(data)) {
    validate_topic(topic_);
  }
  // The same without an ordering key. Each constructor builds its members in
  // place (no default argument to move in, no string to move when the topic
  // is a C string): an Event is made for every post.
  Event(std::string topic, T data) : topic_(std::move(topic)), data_(std::move(data)) {
    validate_topic(topic_);
  }
  Event(const char* topic, T data) : topic_(detail::checked_topic(topic)), data_(std::move(data)) {}

  // For the bus: `topic` was validated when its Topic handle was made.
  Event(detail::ValidatedTopic, const std::string& topic, T data, std::string ordering_key)
      : topic_(topic), ordering_key_(std::move(ordering_key)), data_(std::move(data)) {}
  Event(detail::ValidatedTopic, const std::string& topic, T data)
      : topic_(topic), data_(std::move(data)) {}

  const std::string& topic() const noexcept { return topic_; }
  const T& data() const noexcept { return data_; }
  // Empty when no ordering is requested.
  const std::string& ordering_key() const noexcept { return ordering_key_; }

 private:
  std::string topic_;
  std::string ordering_key_;
  T data_;
};

}  // namespace courier
