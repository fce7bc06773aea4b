// A reference for courier's topic rules, written to be obviously correct
// rather than fast: split into tokens, then match token by token recursively.
// The fuzzer checks courier's TopicPattern against it, and the stress tests use
// it to compute which subscriptions an event must reach.
//
// The rules (include/courier/topic.hpp): a topic is one or more dot-separated
// tokens of [A-Za-z0-9_-]; a pattern token may also be "*" (exactly one token)
// or, as the last token only, ">" (one or more tokens).
#pragma once

#include <span>
#include <string_view>
#include <vector>

namespace courier_reference {

// "a..b" gives {"a", "", "b"}; "" gives {""}: empty tokens are kept so that
// the validity checks below see them.
inline std::vector<std::string_view> split_tokens(std::string_view text) {
  std::vector<std::string_view> tokens;
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '.') {
      tokens.push_back(text.substr(begin, i - begin));
      begin = i + 1;
    }
  }
  return tokens;
}

inline bool is_token_character(char c) {
  return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '_' ||
         c == '-';
}

inline bool is_plain_token(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    if (!is_token_character(c)) return false;
  }
  return true;
}

inline bool is_valid_topic(std::string_view topic) {
  for (std::string_view token : split_tokens(topic)) {
    if (!is_plain_token(token)) return false;
  }
  return true;
}

inline bool is_valid_pattern(std::string_view pattern) {
  const std::vector<std::string_view> tokens = split_tokens(pattern);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const bool last = i + 1 == tokens.size();
    if (tokens[i] == "*" || (tokens[i] == ">" && last)) continue;
    if (!is_plain_token(tokens[i])) return false;
  }
  return true;
}

inline bool tokens_match(std::span<const std::string_view> pattern,
                         std::span<const std::string_view> topic) {
  if (pattern.empty()) return topic.empty();
  if (pattern.front() == ">") return !topic.empty();  // one or more of what is left
  if (topic.empty()) return false;
  if (pattern.front() != "*" && pattern.front() != topic.front()) return false;
  return tokens_match(pattern.subspan(1), topic.subspan(1));
}

// True if the valid `pattern` matches the valid `topic`.
inline bool matches(std::string_view pattern, std::string_view topic) {
  const std::vector<std::string_view> pattern_tokens = split_tokens(pattern);
  const std::vector<std::string_view> topic_tokens = split_tokens(topic);
  return tokens_match(pattern_tokens, topic_tokens);
}

}  // namespace courier_reference
