/// \class courier::Event
/// What is posted on the bus and what subscribers receive.
///
/// An event is a topic (see topic.hpp), a payload of any movable type T, and an
/// optional ordering key. Events sharing a non-empty ordering key reach each
/// Concurrent subscriber in post order, one at a time (see subscriber.hpp); the
/// key changes nothing for Serial subscribers, which see every event in post
/// order anyway.
///
/// It may also carry metadata: an id, a post timestamp and string headers
/// (headers.hpp). The bus fills id and timestamp when Options::stamp_events
/// asks it to; headers are the poster's (and a middleware's). It may carry an
/// audience (audience.hpp): then it reaches only the subscriptions whose
/// identity's user is in it. An event with none of them pays for them one
/// null pointer, and nothing on any post.
///
/// Thread safety: the setters (set_header, set_id, ...) are for the event's
/// owner, before it posts the event; once posted, the bus hands it to
/// subscribers as const only. Distinct objects: safe. Shared objects: const
/// members only (subscribers on several threads may read the same delivered
/// event at once, so T's const members must be safe to call concurrently, as
/// they are for every standard type).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "courier/audience.hpp"
#include "courier/detail/event_metadata.hpp"
#include "courier/detail/export.hpp"
#include "courier/detail/small_text.hpp"
#include "courier/headers.hpp"
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

// The metadata of an event, for the bus (stamping, middleware).
template <class T>
MetadataPointer& metadata_of(Event<T>& event) noexcept;

// Headers with nothing in them: what headers() returns for an event without.
COURIER_EXPORT const Headers& no_headers() noexcept;

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

  ///@{
  /// Copyable if T is, movable if T is.
  Event(const Event&) = default;
  Event(Event&&) noexcept(std::is_nothrow_move_constructible_v<T>) = default;
  Event& operator=(const Event&) = default;
  Event& operator=(Event&&) noexcept(std::is_nothrow_move_assignable_v<T>) = default;
  // Always inline: out of line, as g++ chose once the metadata pointer made
  // it bigger, it cost every post a call (11 instructions in W1).
  [[gnu::always_inline]] ~Event() = default;
  ///@}

  /// The topic: a view into the event, valid as long as it is. A subscriber
  /// that keeps it beyond process() copies it (std::string(event.topic())).
  std::string_view topic() const noexcept { return topic_.view(); }
  /// The payload.
  const T& data() const noexcept { return data_; }
  /// The ordering key, empty when no ordering is requested: a view into the
  /// event, valid as long as it is, as topic() is.
  std::string_view ordering_key() const noexcept { return ordering_key_.view(); }

  /// The event's id: unique among the events one bus stamped
  /// (Options::stamp_events), or what set_id() gave it; 0 if none.
  std::uint64_t id() const noexcept { return metadata_ ? metadata_.get()->id : 0; }
  /// When it was posted (Options::stamp_events), or what set_timestamp()
  /// gave it; the clock's epoch if neither.
  std::chrono::system_clock::time_point timestamp() const noexcept {
    return metadata_ ? metadata_.get()->timestamp : std::chrono::system_clock::time_point{};
  }
  /// Its headers; empty if it has none.
  const Headers& headers() const noexcept {
    return metadata_ ? metadata_.get()->headers : detail::no_headers();
  }

  ///@{
  /// Sets header `key` to `value` (see Headers::set); returns the event, for
  /// chaining. Throws std::invalid_argument for an invalid header (see
  /// headers.hpp), leaving the event as it was.
  Event& set_header(std::string_view key, std::string_view value) & {
    metadata_.writable().headers.set(key, value);
    return *this;
  }
  Event&& set_header(std::string_view key, std::string_view value) && {
    return std::move(set_header(key, value));
  }
  ///@}
  /// Removes header `key`; true if it was there.
  bool erase_header(std::string_view key) {
    return metadata_ && !headers().empty() && metadata_.writable().headers.erase(key);
  }

  ///@{
  /// Restricts the event to `audience`: it reaches only the subscriptions
  /// whose SubscribeOptions::identity names one of its users (an empty
  /// audience: none at all), and is dead if none does. Returns the event,
  /// for chaining. The list form throws std::invalid_argument, naming the
  /// bad user id, for an invalid one or more than Audience::kMaxUsers users,
  /// leaving the event as it was.
  Event& set_audience(Audience audience) & {
    metadata_.writable().audience = std::move(audience);
    return *this;
  }
  Event&& set_audience(Audience audience) && {
    return std::move(set_audience(std::move(audience)));
  }
  Event& set_audience(std::initializer_list<std::string_view> users) & {
    return set_audience(Audience(users));
  }
  Event&& set_audience(std::initializer_list<std::string_view> users) && {
    return std::move(set_audience(Audience(users)));
  }
  ///@}
  /// The event's audience, or null if it has none (it then reaches every
  /// matching subscription). Valid until the audience changes.
  const Audience* audience() const noexcept {
    return metadata_ && metadata_.get()->audience ? &*metadata_.get()->audience : nullptr;
  }
  /// Lifts the restriction set_audience() made: the event reaches every
  /// matching subscription again.
  void clear_audience() {
    if (audience() != nullptr) metadata_.writable().audience.reset();
  }

  ///@{
  /// Gives the event an id (0: none); the bus keeps it rather than stamp
  /// its own (a bridge relaying an event keeps its id this way).
  Event& set_id(std::uint64_t id) & {
    metadata_.writable().id = id;
    return *this;
  }
  Event&& set_id(std::uint64_t id) && { return std::move(set_id(id)); }
  ///@}

  ///@{
  /// Gives the event a timestamp; the bus keeps it rather than stamp its own.
  Event& set_timestamp(std::chrono::system_clock::time_point timestamp) & {
    metadata_.writable().timestamp = timestamp;
    return *this;
  }
  Event&& set_timestamp(std::chrono::system_clock::time_point timestamp) && {
    return std::move(set_timestamp(timestamp));
  }
  ///@}

 private:
  template <class U>
  friend bool detail::destructor_does_nothing(const Event<U>& event) noexcept;
  template <class U>
  friend detail::MetadataPointer& detail::metadata_of(Event<U>& event) noexcept;

  // Not std::string: see small_text.hpp for what that costs every post.
  detail::SmallText topic_;
  detail::SmallText ordering_key_;
  T data_;
  detail::MetadataPointer metadata_;
};

template <class T>
bool detail::destructor_does_nothing(const Event<T>& event) noexcept {
  return std::is_trivially_destructible_v<T> && !event.topic_.on_heap() &&
         !event.ordering_key_.on_heap() && !event.metadata_;
}

namespace detail {

template <class T>
MetadataPointer& metadata_of(Event<T>& event) noexcept {
  return event.metadata_;
}

}  // namespace detail

}  // namespace courier
