/// \file
/// Topics and topic patterns.
///
//// A topic is one or more dot-separated tokens; a token is one or more of
/// [A-Za-z0-9_-]: "metrics", "metrics.cpu", "orders.eu-west.created".
///
/// A pattern is a topic in which a token may be a wildcard (the NATS syntax, so
/// that a bridge to NATS maps subjects one to one):
///  - `*` matches exactly one token: `metrics.*` matches `metrics.cpu`, not
///    `metrics` nor `metrics.cpu.user`;
///  - `>` as the last token matches one or more tokens: `metrics.>` matches
///    `metrics.cpu` and `metrics.cpu.user`, not `metrics`.
///
/// A pattern without wildcards matches exactly the topic it spells.
///
/// Thread safety: free functions are safe from any thread. A TopicPattern is
/// immutable after construction: distinct and shared objects are safe.
#pragma once

#include <string>
#include <string_view>

#include "courier/detail/export.hpp"

namespace courier {

/// True if `topic` is a valid topic. Never throws.
COURIER_EXPORT bool is_valid_topic(std::string_view topic) noexcept;

/// Throws std::invalid_argument, naming `topic`, if it is not a valid topic.
COURIER_EXPORT void validate_topic(std::string_view topic);

namespace detail {

constexpr bool is_token_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// What each byte is to a topic: one table load per character instead of five
// range tests (every post validates its topic).
enum TopicCharKind : unsigned char { kOtherChar, kTokenChar, kDotChar };

inline constexpr struct TopicCharKinds {
  unsigned char of[256];
} kTopicCharKinds = [] {
  TopicCharKinds kinds{};
  for (int c = 0; c < 256; ++c) {
    const char as_char = static_cast<char>(c);
    kinds.of[c] = is_token_char(as_char) ? kTokenChar : as_char == '.' ? kDotChar : kOtherChar;
  }
  return kinds;
}();

constexpr unsigned char topic_char_kind(char c) noexcept {
  return kTopicCharKinds.of[static_cast<unsigned char>(c)];
}

[[noreturn, gnu::cold]] COURIER_EXPORT void reject_c_topic(const char* topic);

// One step of a topic's validation: false if `c` cannot come next, given
// whether the character before it was a token character (updated). A topic
// is valid if every character passes and the last was a token character.
// One pass, no token splitting: every post validates its topic (this was a
// sixth of a post's cost when written with token splitting).
constexpr bool accept_topic_char(char c, bool& after_token_char) noexcept {
  const unsigned char kind = topic_char_kind(c);
  if (kind == kTokenChar) {
    after_token_char = true;
    return true;
  }
  if (kind == kDotChar && after_token_char) {
    after_token_char = false;
    return true;
  }
  return false;
}

// is_valid_topic, inline.
constexpr bool topic_is_valid(std::string_view topic) noexcept {
  bool after_token_char = false;
  for (const char c : topic) {
    if (!accept_topic_char(c, after_token_char)) return false;
  }
  return after_token_char;
}

// The C string `topic` as a view, validated; throws as validate_topic does
// (and for a null pointer). For a literal, the common case, g++ knows the
// length as it compiles (__builtin_constant_p), and at -O3 it also runs the
// loop over the known characters then, leaving nothing for run time (at -O2
// the loop stays, with its end known). Any other C string, and any string
// under clang, is validated in the pass that finds its end.
inline std::string_view checked_topic(const char* topic) {
  if (topic == nullptr) reject_c_topic(topic);
#if defined(__GNUC__)
  if (__builtin_constant_p(__builtin_strlen(topic))) {
    const std::string_view text(topic, __builtin_strlen(topic));
    if (!topic_is_valid(text)) reject_c_topic(topic);
    return text;
  }
#endif
  // The terminating '\0' is not a topic character: the walk stops there at
  // the latest.
  const char* end = topic;
  bool after_token_char = false;
  while (accept_topic_char(*end, after_token_char)) ++end;
  if (*end != '\0' || !after_token_char) reject_c_topic(topic);
  return {topic, static_cast<std::size_t>(end - topic)};
}

}  // namespace detail

/// A topic pattern, validated (see the top of this file for the syntax).
/// Immutable: distinct and shared objects are safe.
class COURIER_EXPORT TopicPattern {
 public:
  /// Throws std::invalid_argument, naming `pattern`, if it is not a valid pattern.
  explicit TopicPattern(std::string_view pattern);

  /// True if `topic` (assumed valid) matches this pattern. Never allocates.
  bool matches(std::string_view topic) const noexcept;

  /// True if the pattern has no wildcard token, so it matches one topic only.
  bool is_exact() const noexcept { return exact_; }

  /// The pattern as given.
  const std::string& str() const noexcept { return text_; }

  /// Patterns are equal if they are spelled alike.
  friend bool operator==(const TopicPattern& a, const TopicPattern& b) noexcept {
    return a.text_ == b.text_;
  }

 private:
  std::string text_;
  bool exact_;
};

}  // namespace courier
