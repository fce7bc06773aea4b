// Envelope (include/courier/detail/delivery/envelope.hpp): which events it
// marks as rebuildable from their payload, the mark a stream on one exact
// topic relies on to copy an event without reading its texts.
#include "courier/detail/delivery/envelope.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <utility>

#include "courier/detail/small_text.hpp"
#include "courier/event.hpp"

namespace {

using courier::Event;
using courier::detail::Envelope;
using courier::detail::SmallText;

template <class T>
bool rebuildable(Event<T> event) {
  Envelope envelope;
  envelope.store(std::move(event));
  return envelope.ops().rebuildable_from_payload;
}

// One character more than a text keeps inline.
std::string topic_kept_on_the_heap() { return std::string(SmallText::kInlineCapacity + 1, 'a'); }

TEST(Envelope, AnEventThatIsATopicAndAPayloadAloneIsRebuildableFromItsPayload) {
  EXPECT_TRUE(rebuildable(Event<int>("a.b", 1)));
  EXPECT_TRUE(rebuildable(Event<double>("a.b", 2.5)));
  EXPECT_TRUE(rebuildable(Event<int>("a.b", 3, ""))) << "an empty ordering key is none";
}

TEST(Envelope, AnEventWithAnythingMoreIsNot) {
  EXPECT_FALSE(rebuildable(Event<int>("a.b", 1, "key"))) << "an ordering key";
  EXPECT_FALSE(rebuildable(Event<int>("a.b", 1).set_header("h", "v"))) << "headers";
  EXPECT_FALSE(rebuildable(Event<int>(topic_kept_on_the_heap(), 1))) << "a topic on the heap";
  static_assert(Envelope::fits_inline<std::shared_ptr<int>>);
  EXPECT_FALSE(rebuildable(Event<std::shared_ptr<int>>("a.b", std::make_shared<int>(1))))
      << "an inline payload with a destructor";
  using Block = std::array<char, 64>;
  static_assert(!Envelope::fits_inline<Block>);
  EXPECT_FALSE(rebuildable(Event<Block>("a.b", Block{}))) << "a payload kept out of line";
}

}  // namespace
