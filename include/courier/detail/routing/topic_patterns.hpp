// The topic patterns of one subscription, read once: validated, without
// repeats, and what they tell about the events that can reach it.
//
// Thread safety: free functions on their arguments alone.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "courier/detail/export.hpp"
#include "courier/detail/small_text.hpp"
#include "courier/topic.hpp"

namespace courier::detail {

// The patterns a subscription names, validated (std::invalid_argument names
// the first bad one, or says the list is empty), each once: a pattern given
// twice subscribes once.
COURIER_EXPORT std::vector<TopicPattern> parse_patterns(std::span<const std::string_view> texts);

// The one topic every event reaching a subscription on `patterns` (as
// parse_patterns returns them) has, if they are a single exact pattern.
inline std::optional<SmallText> only_topic_of(std::span<const TopicPattern> patterns) {
  if (patterns.size() != 1 || !patterns.front().is_exact()) return std::nullopt;
  return SmallText(patterns.front().str());
}

}  // namespace courier::detail
