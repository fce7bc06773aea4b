// SmallText (include/courier/detail/small_text.hpp): every length from empty
// to past the inline capacity keeps its bytes through construction, copies
// and moves, on both sides of the inline/heap boundary. Under AddressSanitizer
// a lost or doubly freed heap text fails the suite.
#include "courier/detail/small_text.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
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

// The text in a heap block of exactly its length: under AddressSanitizer a
// copy that reads one byte past it fails (a std::string has spare room).
class ExactBuffer {
 public:
  explicit ExactBuffer(const std::string& text)
      : bytes_(std::make_unique<char[]>(text.size())), size_(text.size()) {
    std::copy(text.begin(), text.end(), bytes_.get());
  }
  std::string_view view() const { return {bytes_.get(), size_}; }

 private:
  std::unique_ptr<char[]> bytes_;
  std::size_t size_;
};

TEST(SmallText, KeepsEveryLengthInlineAndOnTheHeap) {
  for (std::size_t length = 0; length <= kLongest; ++length) {
    const std::string expected = text_of_length(length);
    const SmallText text(ExactBuffer(expected).view());
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

// Every pair of lengths on either side of the inline limit, into a fresh
// object and into one moved from.
TEST(SmallText, AssignmentReplacesTextOfEitherKind) {
  constexpr std::size_t kFirst = SmallText::kInlineCapacity - 2;
  for (std::size_t from_length = kFirst; from_length <= kLongest; ++from_length) {
    for (std::size_t to_length = kFirst; to_length <= kLongest; ++to_length) {
      const std::string from = text_of_length(from_length);
      const std::string to = std::string(to_length, 'z');
      SCOPED_TRACE(::testing::Message() << from_length << " bytes over " << to_length);

      SmallText moved_into(to);
      moved_into = SmallText(from);
      EXPECT_EQ(moved_into.view(), from);

      SmallText copied_into(to);
      const SmallText source(from);
      copied_into = source;
      EXPECT_EQ(copied_into.view(), from);
      EXPECT_EQ(source.view(), from);

      SmallText emptied(to);
      const SmallText taker(std::move(emptied));
      emptied = source;  // NOLINT(bugprone-use-after-move): reusing a moved-from object
      EXPECT_EQ(emptied.view(), from);
      EXPECT_EQ(taker.view(), to);
    }
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
