// Headers (headers.hpp): setting, finding, erasing, and what is rejected.
#include "courier/headers.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "test_support.hpp"

namespace {

using courier::Header;
using courier::Headers;
using courier_test::mentions;

// The message of the std::invalid_argument that setting `key` to `value`
// throws, after checking that the headers did not change.
std::string rejection(std::string_view key, std::string_view value) {
  Headers headers;
  headers.set("kept", "1");
  const Headers before = headers;
  try {
    headers.set(key, value);
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(headers, before);
    return error.what();
  }
  ADD_FAILURE() << "no exception for key \"" << key << "\"";
  return "";
}

TEST(Headers, KeepsKeysInTheOrderFirstSetAndReplacesValuesInPlace) {
  Headers headers;
  headers.set("b", "1");
  headers.set("a", "2");
  headers.set("b", "3");
  ASSERT_EQ(headers.size(), 2U);
  EXPECT_EQ(*headers.begin(), (Header{"b", "3"}));
  EXPECT_EQ(*std::next(headers.begin()), (Header{"a", "2"}));
  ASSERT_NE(headers.find("a"), nullptr);
  EXPECT_EQ(*headers.find("a"), "2");
  EXPECT_EQ(headers.find("c"), nullptr);
  EXPECT_TRUE(headers.contains("b"));
}

TEST(Headers, EraseRemovesOnlyTheKeyGiven) {
  Headers headers;
  headers.set("a", "1");
  headers.set("b", "2");
  EXPECT_TRUE(headers.erase("a"));
  EXPECT_FALSE(headers.erase("a"));
  EXPECT_FALSE(headers.contains("a"));
  EXPECT_TRUE(headers.contains("b"));
}

TEST(Headers, TakesEmptyValuesUtf8AndTheLongestKeyAndValue) {
  Headers headers;
  headers.set("empty", "");
  headers.set("name", "Zoë ☃");
  headers.set(std::string(Headers::kMaxKeyBytes, 'k'), std::string(Headers::kMaxValueBytes, 'v'));
  EXPECT_EQ(headers.size(), 3U);
}

TEST(Headers, RejectsAnEmptyKey) { EXPECT_TRUE(mentions(rejection("", "v"), "key is empty")); }

TEST(Headers, RejectsKeysWithSpacesColonsOrControlCharacters) {
  EXPECT_TRUE(mentions(rejection("a b", "v"), "\"a b\""));
  EXPECT_TRUE(mentions(rejection("a:b", "v"), "the character \":\" at byte 1"));
  EXPECT_TRUE(mentions(rejection("a\nb", "v"), "\\x0a"));
}

TEST(Headers, RejectsValuesWithControlCharactersNamingKeyAndByte) {
  const std::string message = rejection("trace", std::string("ab\r\ninjected", 12));
  EXPECT_TRUE(mentions(message, "\"trace\""));
  EXPECT_TRUE(mentions(message, "control character \"\\x0d\" at byte 2"));
  EXPECT_TRUE(mentions(rejection("k", std::string(1, '\0')), "\\x00"));
  EXPECT_TRUE(mentions(rejection("k", "\x7f"), "\\x7f"));
}

TEST(Headers, RejectsOversizedKeysAndValuesQuotingOnlyTheirStart) {
  const std::string long_key(Headers::kMaxKeyBytes + 1, 'k');
  const std::string key_message = rejection(long_key, "v");
  EXPECT_TRUE(mentions(key_message, "257 bytes, more than 256"));
  EXPECT_LT(key_message.size(), 200U);
  EXPECT_TRUE(mentions(rejection("big", std::string(Headers::kMaxValueBytes + 1, 'v')),
                       "8193 bytes, more than 8192"));
}

TEST(Headers, RejectsOneHeaderTooManyButStillReplacesExistingOnes) {
  Headers headers;
  for (std::size_t i = 0; i < Headers::kMaxCount; ++i) headers.set("h" + std::to_string(i), "v");
  EXPECT_THROW(headers.set("one-more", "v"), std::invalid_argument);
  EXPECT_EQ(headers.size(), Headers::kMaxCount);
  headers.set("h0", "replaced");
  EXPECT_EQ(*headers.find("h0"), "replaced");
}

}  // namespace
