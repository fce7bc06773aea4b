// libFuzzer target for topics and patterns.
//
// The input is split at its first newline into a pattern and a topic. For any
// bytes at all: is_valid_topic and TopicPattern's constructor must not crash
// and must agree with the reference rules (an invalid pattern throws
// std::invalid_argument naming it, a valid one does not throw); for a valid
// pattern and topic, matches() must equal the reference matcher; and for a
// valid pattern and any topic, the routing trie (topic_trie.hpp) of that one
// pattern must visit it once if matches() is true, never otherwise.
// A disagreement aborts, so libFuzzer saves the input as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "courier/detail/routing/topic_trie.hpp"
#include "courier/topic.hpp"
#include "reference_topic_matcher.hpp"

namespace {

[[noreturn]] void disagree(const char* what, std::string_view pattern, std::string_view topic) {
  std::fprintf(stderr, "topic_fuzzer: %s\n  pattern: \"%.*s\"\n  topic:   \"%.*s\"\n", what,
               static_cast<int>(pattern.size()), pattern.data(), static_cast<int>(topic.size()),
               topic.data());
  std::abort();
}

void check_topic_validity(std::string_view text) {
  const bool valid = courier_reference::is_valid_topic(text);
  if (courier::is_valid_topic(text) != valid) {
    disagree("is_valid_topic disagrees with the reference", text, text);
  }
  // The C-string validation (Event's constructor), up to the first NUL.
  const std::string c_string(text);
  const std::string_view up_to_nul(c_string.c_str());
  try {
    if (courier::detail::checked_topic(c_string.c_str()) != up_to_nul) {
      disagree("checked_topic returned another view", text, text);
    }
    if (!courier_reference::is_valid_topic(up_to_nul)) {
      disagree("checked_topic accepted an invalid topic", text, text);
    }
  } catch (const std::invalid_argument&) {
    if (courier_reference::is_valid_topic(up_to_nul)) {
      disagree("checked_topic rejected a valid topic", text, text);
    }
  }
}

// The pattern, if `text` is a valid one; checks the rejection otherwise.
std::optional<courier::TopicPattern> build_pattern(std::string_view text) {
  const bool valid = courier_reference::is_valid_pattern(text);
  try {
    std::optional<courier::TopicPattern> pattern(std::in_place, text);
    if (!valid) disagree("an invalid pattern was accepted", text, {});
    return pattern;
  } catch (const std::invalid_argument& error) {
    if (valid) disagree("a valid pattern was rejected", text, {});
    // The message names the bad value (unless it holds a NUL, which ends it).
    if (text.find('\0') == std::string_view::npos &&
        std::string_view(error.what()).find(text) == std::string_view::npos) {
      disagree("the rejection does not name the pattern", text, {});
    }
    return std::nullopt;
  }
}

// The trie splits topics into tokens as matches() does, so they agree even on
// topics that are not valid.
void check_trie(const courier::TopicPattern& pattern, std::string_view topic) {
  const std::string_view patterns[] = {pattern.str()};
  const courier::detail::TopicTrie trie(patterns);
  int visits = 0;
  trie.for_each_match(topic, [&](std::uint32_t) { ++visits; });
  if (visits > 1) disagree("the trie visited the pattern more than once", pattern.str(), topic);
  if ((visits == 1) != pattern.matches(topic)) {
    disagree(
        visits == 1 ? "the trie matches but matches() does not" : "matches() but the trie does not",
        pattern.str(), topic);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  const std::string_view pattern_text = input.substr(0, newline);
  const std::string_view topic =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  check_topic_validity(topic);
  check_topic_validity(pattern_text);

  const std::optional<courier::TopicPattern> pattern = build_pattern(pattern_text);
  if (!pattern) return 0;
  if (pattern->str() != pattern_text)
    disagree("str() differs from the pattern", pattern_text, topic);
  const bool exact = pattern_text.find_first_of("*>") == std::string_view::npos;
  if (pattern->is_exact() != exact) disagree("is_exact() is wrong", pattern_text, topic);
  if (courier_reference::is_valid_topic(topic) &&
      pattern->matches(topic) != courier_reference::matches(pattern_text, topic)) {
    disagree(pattern->matches(topic) ? "matches() but the reference does not"
                                     : "the reference matches but matches() does not",
             pattern_text, topic);
  }
  check_trie(*pattern, topic);
  return 0;
}
