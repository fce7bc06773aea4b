// Topics and topic patterns.
//
// A topic is one or more dot-separated tokens; a token is one or more of
// [A-Za-z0-9_-]: "metrics", "metrics.cpu", "orders.eu-west.created".
//
// A pattern is a topic in which a token may be a wildcard (the NATS syntax, so
// that a bridge to NATS maps subjects one to one):
//   "*"  matches exactly one token:          "metrics.*"  matches "metrics.cpu",
//                                             not "metrics" nor "metrics.cpu.user";
//   ">"  as the last token matches one or    "metrics.>"  matches "metrics.cpu" and
//        more tokens:                         "metrics.cpu.user", not "metrics".
// A pattern without wildcards matches exactly the topic it spells.
//
// Thread safety: free functions are safe from any thread. A TopicPattern is
// immutable after construction: distinct and shared objects are safe.
#pragma once

#include <string>
#include <string_view>

namespace courier {

// True if `topic` is a valid topic. Never throws.
bool is_valid_topic(std::string_view topic) noexcept;

// Throws std::invalid_argument, naming `topic`, if it is not a valid topic.
void validate_topic(std::string_view topic);

namespace detail {
// The C string `topic` as a view, validated in the same pass that finds its
// end; throws as validate_topic does (and for a null pointer).
std::string_view checked_topic(const char* topic);
}  // namespace detail

class TopicPattern {
 public:
  // Throws std::invalid_argument, naming `pattern`, if it is not a valid pattern.
  explicit TopicPattern(std::string_view pattern);

  // True if `topic` (assumed valid) matches this pattern. Never allocates.
  bool matches(std::string_view topic) const noexcept;

  // True if the pattern has no wildcard token, so it matches one topic only.
  bool is_exact() const noexcept { return exact_; }

  const std::string& str() const noexcept { return text_; }

  friend bool operator==(const TopicPattern& a, const TopicPattern& b) noexcept {
    return a.text_ == b.text_;
  }

 private:
  std::string text_;
  bool exact_;
};

}  // namespace courier
