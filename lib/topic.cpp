#include "courier/topic.hpp"

#include <stdexcept>

namespace courier {
namespace {

using detail::is_token_char;
using detail::topic_char_kind;

bool is_plain_token(std::string_view token) noexcept {
  if (token.empty()) return false;
  for (char c : token) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// Splits off the token before the next dot; `rest` keeps what follows the dot.
// Returns false once nothing is left.
bool next_token(std::string_view& rest, std::string_view& token, bool& more) noexcept {
  if (!more) return false;
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos) {
    token = rest;
    rest = {};
    more = false;
  } else {
    token = rest.substr(0, dot);
    rest = rest.substr(dot + 1);
  }
  return true;
}

[[noreturn, gnu::cold, gnu::noinline]] void reject(const char* what, std::string_view text,
                                                   const char* why) {
  throw std::invalid_argument(std::string("courier: invalid ") + what + " \"" + std::string(text) +
                              "\": " + why);
}

constexpr const char* kTokenRule = "expected dot-separated tokens of [A-Za-z0-9_-]";

}  // namespace

bool is_valid_topic(std::string_view topic) noexcept { return detail::topic_is_valid(topic); }

void validate_topic(std::string_view topic) {
  if (!is_valid_topic(topic)) reject("topic", topic, kTokenRule);
}

namespace detail {

void reject_c_topic(const char* topic) {
  if (topic == nullptr) throw std::invalid_argument("courier: a topic must not be a null pointer");
  reject("topic", topic, kTokenRule);
}

}  // namespace detail

TopicPattern::TopicPattern(std::string_view pattern) : text_(pattern), exact_(true) {
  std::string_view rest = pattern, token;
  bool more = true;
  while (next_token(rest, token, more)) {
    if (token == "*") {
      exact_ = false;
    } else if (token == ">") {
      if (more) reject("pattern", pattern, "'>' may only be the last token");
      exact_ = false;
    } else if (!is_plain_token(token)) {
      reject("pattern", pattern,
             "expected dot-separated tokens of [A-Za-z0-9_-], '*' or a final '>'");
    }
  }
}

bool TopicPattern::matches(std::string_view topic) const noexcept {
  if (exact_) return topic == text_;
  std::string_view pattern_rest = text_, topic_rest = topic, pattern_token, topic_token;
  bool pattern_more = true, topic_more = true;
  while (next_token(pattern_rest, pattern_token, pattern_more)) {
    if (!next_token(topic_rest, topic_token, topic_more)) return false;
    if (pattern_token == ">") return true;
    if (pattern_token != "*" && pattern_token != topic_token) return false;
  }
  return !topic_more;
}

}  // namespace courier
