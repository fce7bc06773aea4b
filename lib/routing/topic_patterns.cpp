#include "courier/detail/routing/topic_patterns.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace courier::detail {

std::vector<TopicPattern> parse_patterns(std::span<const std::string_view> texts) {
  if (texts.empty()) {
    throw std::invalid_argument("courier: a subscription was given an empty list of patterns");
  }
  std::vector<TopicPattern> patterns;
  patterns.reserve(texts.size());
  for (std::string_view text : texts) {
    TopicPattern pattern(text);
    if (std::find(patterns.begin(), patterns.end(), pattern) == patterns.end()) {
      patterns.push_back(std::move(pattern));
    }
  }
  return patterns;
}

}  // namespace courier::detail
