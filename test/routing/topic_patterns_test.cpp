// parse_patterns and only_topic_of: the one reading of a subscription's
// patterns that routing (EventBus::add, add_stream) and a stream's handler
// both act on.
#include "courier/detail/routing/topic_patterns.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using courier::detail::only_topic_of;
using courier::detail::parse_patterns;

std::vector<std::string> texts_of(std::initializer_list<std::string_view> given) {
  std::vector<std::string> texts;
  for (const courier::TopicPattern& pattern : parse_patterns(given)) texts.push_back(pattern.str());
  return texts;
}

std::optional<std::string> only_topic(std::initializer_list<std::string_view> given) {
  const std::optional<courier::detail::SmallText> topic = only_topic_of(parse_patterns(given));
  return topic ? std::optional<std::string>(topic->view()) : std::nullopt;
}

TEST(ParsePatterns, KeepsEachPatternOnceInTheOrderFirstGiven) {
  EXPECT_EQ(texts_of({"a.b", "c.*", "a.b", "d.>", "c.*"}),
            (std::vector<std::string>{"a.b", "c.*", "d.>"}));
}

TEST(ParsePatterns, RefusesAnEmptyList) { EXPECT_THROW(parse_patterns({}), std::invalid_argument); }

TEST(ParsePatterns, NamesTheFirstBadPatternWhereverItStands) {
  const std::vector<std::vector<std::string_view>> lists = {
      {"a..b"}, {"a.b", "a..b"}, {"a.b", "a.b", "a..b"}, {"a..b", "c..d"}};
  for (const std::vector<std::string_view>& given : lists) {
    try {
      parse_patterns(given);
      ADD_FAILURE() << "\"a..b\" was accepted";
    } catch (const std::invalid_argument& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find("a..b"), std::string::npos) << message;
      EXPECT_EQ(message.find("c..d"), std::string::npos) << message;
    }
  }
}

TEST(OnlyTopicOf, IsTheTopicOfOneExactPatternGivenOnceOrMore) {
  EXPECT_EQ(only_topic({"a.b"}), "a.b");
  EXPECT_EQ(only_topic({"a.b", "a.b"}), "a.b");
  EXPECT_EQ(only_topic({"a.*"}), std::nullopt);
  EXPECT_EQ(only_topic({"a.>"}), std::nullopt);
  EXPECT_EQ(only_topic({"a.b", "a.c"}), std::nullopt);
  EXPECT_EQ(only_topic({"a.b", "a.*"}), std::nullopt);
}

}  // namespace
