#include "courier/topic.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace {

using courier::TopicPattern;

// The inline validation (topic.hpp) is constexpr: the rules, checked as the
// test compiles.
static_assert(courier::detail::topic_is_valid("a.b-c_9"));
static_assert(!courier::detail::topic_is_valid(""));
static_assert(!courier::detail::topic_is_valid("a."));
static_assert(!courier::detail::topic_is_valid(".a"));
static_assert(!courier::detail::topic_is_valid("a..b"));
static_assert(!courier::detail::topic_is_valid("a b"));
static_assert(!courier::detail::topic_is_valid("a.*"));

TEST(Topic, AcceptsDotSeparatedTokens) {
  for (const char* topic : {"a", "metrics", "metrics.cpu", "orders.eu-west.created", "A_1.b-2"}) {
    EXPECT_TRUE(courier::is_valid_topic(topic)) << topic;
    EXPECT_NO_THROW(courier::validate_topic(topic)) << topic;
    EXPECT_EQ(courier::detail::checked_topic(topic), std::string_view(topic));
  }
}

TEST(Topic, RejectsEmptyTokensWildcardsAndOtherCharacters) {
  for (const char* topic : {"", ".", "a.", ".a", "a..b", "a b", "a.*", "a.>", "é", "a/b"}) {
    EXPECT_FALSE(courier::is_valid_topic(topic)) << topic;
    EXPECT_THROW(courier::validate_topic(topic), std::invalid_argument) << topic;
    EXPECT_THROW((void)courier::detail::checked_topic(topic), std::invalid_argument) << topic;
  }
  EXPECT_THROW((void)courier::detail::checked_topic(nullptr), std::invalid_argument);
}

TEST(Topic, ErrorNamesTheBadTopic) {
  try {
    courier::validate_topic("bad topic");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("\"bad topic\""), std::string::npos) << error.what();
  }
}

TEST(TopicPattern, ExactPatternMatchesOnlyItsTopic) {
  const TopicPattern pattern("metrics.cpu");
  EXPECT_TRUE(pattern.is_exact());
  EXPECT_TRUE(pattern.matches("metrics.cpu"));
  EXPECT_FALSE(pattern.matches("metrics"));
  EXPECT_FALSE(pattern.matches("metrics.cpu.user"));
  EXPECT_FALSE(pattern.matches("metrics.cp"));
}

TEST(TopicPattern, StarMatchesExactlyOneToken) {
  const TopicPattern pattern("metrics.*");
  EXPECT_FALSE(pattern.is_exact());
  EXPECT_TRUE(pattern.matches("metrics.cpu"));
  EXPECT_FALSE(pattern.matches("metrics"));
  EXPECT_FALSE(pattern.matches("metrics.cpu.user"));
  EXPECT_FALSE(pattern.matches("other.cpu"));
  EXPECT_TRUE(TopicPattern("*.cpu").matches("host1.cpu"));
  EXPECT_TRUE(TopicPattern("*").matches("anything"));
  EXPECT_FALSE(TopicPattern("*").matches("two.tokens"));
  EXPECT_TRUE(TopicPattern("a.*.c").matches("a.b.c"));
  EXPECT_FALSE(TopicPattern("a.*.c").matches("a.b.d"));
}

TEST(TopicPattern, GreaterThanMatchesOneOrMoreTrailingTokens) {
  const TopicPattern pattern("metrics.>");
  EXPECT_TRUE(pattern.matches("metrics.cpu"));
  EXPECT_TRUE(pattern.matches("metrics.cpu.user"));
  EXPECT_FALSE(pattern.matches("metrics"));
  EXPECT_FALSE(pattern.matches("other.cpu"));
  EXPECT_TRUE(TopicPattern(">").matches("a"));
  EXPECT_TRUE(TopicPattern(">").matches("a.b.c"));
  EXPECT_TRUE(TopicPattern("*.>").matches("a.b"));
  EXPECT_FALSE(TopicPattern("*.>").matches("a"));
}

TEST(TopicPattern, RejectsMisplacedWildcardsAndBadTokens) {
  for (const char* pattern : {"", "a.>.b", ">.a", "a.**", "a*", "a.>b", "a..b", "a b"}) {
    EXPECT_THROW(TopicPattern{pattern}, std::invalid_argument) << pattern;
  }
}

TEST(TopicPattern, ErrorNamesTheBadPattern) {
  try {
    TopicPattern pattern("a.>.b");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("\"a.>.b\""), std::string::npos) << error.what();
  }
}

}  // namespace
