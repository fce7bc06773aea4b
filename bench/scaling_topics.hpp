// The topics of the subscription-scaling workloads (compare's "scale: distinct
// topics" and micro_bench's BM_SyncPostAmongSubscriptions): the small and the
// large case must do the same work per post and differ only in the size of
// the table they look topics up in.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace bench {

// "topic.000000", "topic.000001", ...: names of one length, so that both cases
// validate, hash and compare texts of the same size.
inline std::string padded_topic(int number) {
  const std::string digits = std::to_string(number);
  return "topic." + std::string(6 - std::min<std::size_t>(6, digits.size()), '0') + digits;
}

// The topics of `count` subscriptions.
inline std::vector<std::string> padded_topics(int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(padded_topic(i));
  return names;
}

// Up to 16 of the `subscriptions` topics, spread over them, to be posted to in
// turn: none comes twice in a row, since a post repeating the previous one's
// topic reuses the thread's last route and skips the lookup being measured.
inline std::vector<std::string> spread_topics(int subscriptions) {
  const int count = std::min(16, subscriptions);
  std::vector<std::string> topics;
  for (int k = 0; k < count; ++k) topics.push_back(padded_topic(k * subscriptions / count));
  return topics;
}

}  // namespace bench
