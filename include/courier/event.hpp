/// \class courier::Event
/// What is posted on the bus and what subscribers receive.
///
/// An event is a topic (see topic.hpp), a payload of any movable type T, and an
/// optional ordering key. Events sharing a non-empty ordering key reach each
/// Concurrent subscriber in post order, one at a time (see subscriber.hpp); the
/// key changes nothing for Serial subscribers, which see every event in post
/// order anyway.
///
/// Thread safety: an Event is immutable after construction. Distinct objects:
/// safe. Shared objects: safe (subscribers on several threads may read the same
/// delivered event at once, so T's const members must be safe to call
/// concurrently, as they are for every standard type).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "courier/detail/export.hpp"
#include "courier/detail/small_text.hpp"
#include "courier/topic.hpp"

namespace courier {

template <class T>
class Event;

namespace detail {

// Tags a topic that was validated already (a Topic handle's name).
struct ValidatedTopic {
  explicit ValidatedTopic() = default;
};

// A string type other than these: one that converts to std::string_view
// (std::pmr::string, ...) or to a C string.
template <class Text>
concept OtherText = std::is_convertible_v<const Text&, std::string_view> ||
    std::is_convertible_v<const Text&, const char*>;

// `Argument` made from such a text: through std::string_view when it converts
// to one, else through its C string (checked for null).
template <class Argument, OtherText Text>
Argument argument_from(const Text& text) {
  if constexpr (std::is_convertible_v<const Text&, std::string_view>) {
    return Argument(std::string_view(text));
  } else {
    return Argument(static_cast<const char*>(text));
  }
}

// A topic as Event's constructors and EventBus::post take it: any string, or a
// C string, validated here, once. Throws std::invalid_argument, naming the
// topic, if it is not valid (or is a null pointer). A C string goes through
// checked_topic (topic.hpp), which makes a literal's validation cheap.
class TopicArgument {
 public:
  TopicArgument(const char* topic) : text_(checked_topic(topic)) {}  // NOLINT: implicit by design
  TopicArgument(std::string_view topic) : text_(topic) { validate_topic(topic); }      // NOLINT
  TopicArgument(const std::string& topic) : TopicArgument(std::string_view(topic)) {}  // NOLINT
  template <OtherText Text>
  TopicArgument(const Text& topic)
      : TopicArgument(argument_from<TopicArgument>(topic)) {}  // NOLINT

  std::string_view text() const noexcept { return text_; }

 private:
  std::string_view text_;
};

// An ordering key as Event's constructors and EventBus::post take it: any
// string, or a C string, which must not be null (std::string_view's own
// constructor would read through it); throws std::invalid_argument if it is.
class COURIER_EXPORT KeyArgument {
 public:
  KeyArgument() noexcept = default;
  KeyArgument(const char* key) : text_(key != nullptr ? key : reject_null_key()) {}  // NOLINT
  KeyArgument(std::string_view key) noexcept : text_(key) {}                         // NOLINT
  KeyArgument(const std::string& key) noexcept : text_(key) {}                       // NOLINT
  template <OtherText Text>
  KeyArgument(const Text& key) : KeyArgument(argument_from<KeyArgument>(key)) {}  // NOLINT

  std::string_view text() const noexcept { return text_; }

 private:
  [[noreturn]] static const char* reject_null_key();

  std::string_view text_;
};

// True if destroying `event` would do nothing: a trivially destructible
// payload and texts held inline. The bus then reuses such an event's storage
// without running its destructor (see envelope.hpp). Beside Event, which
// must keep it in step with its members.
template <class T>
bool destructor_does_nothing(const Event<T>& event) noexcept;

}  // namespace detail

template <class T>
class Event {
 public:
  /// The payload type, T.
  using data_type = T;

  ///@{
  /// An event on `topic` carrying `data`, with or without an ordering key
  /// (any string, or a non-null C string). Throws std::invalid_argument,
  /// naming the topic, if `topic` is not valid.
  Event(detail::TopicArgument topic, T data) : topic_(topic.text()), data_(std::move(data)) {}
  Event(detail::TopicArgument topic, T data, detail::KeyArgument ordering_key)
      : topic_(topic.text()), ordering_key_(ordering_key.text()), data_(std::move(data)) {}
  ///@}

  ///@{
  /// For the bus: `topic` was validated when its Topic handle was made.
  Event(detail::ValidatedTopic, const detail::SmallText& topic, T data)
      : topic_(topic), data_(std::move(data)) {}
  Event(detail::ValidatedTopic, const detail::SmallText& topic, T data,
        detail::KeyArgument ordering_key)
      : topic_(topic), ordering_key_(ordering_key.text()), data_(std::move(data)) {}
  ///@}

  /// The topic: a view into the event, valid as long as it is. A subscriber
  /// that keeps it beyond process() copies it (std::string(event.topic())).
  std::string_view topic() const noexcept { return topic_.view(); }
  /// The payload.
  const T& data() const noexcept { return data_; }
  /// The ordering key, empty when no ordering is requested: a view into the
  /// event, valid as long as it is, as topic() is.
  std::string_view ordering_key() const noexcept { return ordering_key_.view(); }

 private:
  template <class U>
  friend bool detail::destructor_does_nothing(const Event<U>& event) noexcept;

  // Not std::string: see small_text.hpp for what that costs every post.
  detail::SmallText topic_;
  detail::SmallText ordering_key_;
  T data_;
};

template <class T>
bool detail::destructor_does_nothing(const Event<T>& event) noexcept {
  return std::is_trivially_destructible_v<T> && !event.topic_.on_heap() &&
         !event.ordering_key_.on_heap();
}

}  // namespace courier
