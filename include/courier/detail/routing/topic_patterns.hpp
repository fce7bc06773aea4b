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
// twice subscribes once. Never empty, and in the order first given: the
// first names the subscription in errors and drop reports.
COURIER_EXPORT std::vector<TopicPattern> parse_patterns(std::span<const std::string_view> texts);

// If `patterns` (as parse_patterns returns them) are one exact pattern, its
// topic: the topic of every event that reaches the subscription.
inline std::optional<SmallText> only_topic_of(std::span<const TopicPattern> patterns) {
  if (patterns.size() != 1 || !patterns.front().is_exact()) return std::nullopt;
  return SmallText(patterns.front().str());
}

}  // namespace courier::detail
