// SmallText (include/courier/detail/small_text.hpp): every length from empty
// to past the inline capacity keeps its bytes through construction, copies
// and moves, on both sides of the inline/heap boundary. Under AddressSanitizer
// a lost or doubly freed heap text fails the suite.
#include "courier/detail/small_text.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

namespace {

using courier::detail::SmallText;

constexpr std::size_t kLongest = SmallText::kInlineCapacity + 9;

// Distinct bytes, so that a copy taking a byte from the wrong offset shows.
std::string text_of_length(std::size_t length) {
  std::string text;
  for (std::size_t i = 0; i < length; ++i) text.push_back(static_cast<char>('a' + i % 26));
  return text;
}

TEST(SmallText, KeepsEveryLengthInlineAndOnTheHeap) {
  for (std::size_t length = 0; length <= kLongest; ++length) {
    const std::string expected = text_of_length(length);
    const SmallText text(expected);
    EXPECT_EQ(text.view(), expected) << "length " << length;
    EXPECT_EQ(text.empty(), length == 0);
  }
}

TEST(SmallText, ACopyIsEqualAndIndependent) {
  for (std::size_t length = 0; length <= kLongest; ++length) {
    const std::string expected = text_of_length(length);
    auto original = std::make_unique<SmallText>(expected);
    const SmallText copy(*original);
    original.reset();
    EXPECT_EQ(copy.view(), expected) << "length " << length;
  }
}

TEST(SmallText, AMoveTakesTheTextAndEmptiesTheSource) {
  for (std::size_t length = 0; length <= kLongest; ++length) {
    const std::string expected = text_of_length(length);
    SmallText source(expected);
    const SmallText moved(std::move(source));
    EXPECT_EQ(moved.view(), expected) << "length " << length;
    EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  }
}

TEST(SmallText, AssignmentReplacesTextOfEitherKind) {
  const std::string short_text = text_of_length(3);
  const std::string long_text = text_of_length(kLongest);
  for (const auto& [from, to] : {std::pair{short_text, long_text}, std::pair{long_text, short_text},
                                 std::pair{long_text, long_text}}) {
    SmallText copied(to);
    copied = SmallText(from);
    EXPECT_EQ(copied.view(), from);

    SmallText assigned(to);
    const SmallText source(from);
    assigned = source;
    EXPECT_EQ(assigned.view(), from);
    EXPECT_EQ(source.view(), from);
  }
}

TEST(SmallText, SelfAssignmentKeepsTheText) {
  for (const std::size_t length : {std::size_t{5}, kLongest}) {
    const std::string expected = text_of_length(length);
    SmallText text(expected);
    SmallText& alias = text;
    text = alias;
    EXPECT_EQ(text.view(), expected);
    text = std::move(alias);
    EXPECT_EQ(text.view(), expected);
  }
}

}  // namespace
