// Presence (issue 16 item 2): which identities are subscribed where, and the
// end of every subscription once the bus is drained (on_disconnect).
#include <algorithm>
#include <string_view>
#include <vector>

#include "courier/detail/bus_core.hpp"

namespace courier::detail {
namespace {

std::vector<std::string_view> tokens_of(std::string_view pattern) {
  std::vector<std::string_view> tokens;
  for (std::size_t start = 0;;) {
    const std::size_t dot = pattern.find('.', start);
    tokens.push_back(pattern.substr(start, dot - start));
    if (dot == std::string_view::npos) return tokens;
    start = dot + 1;
  }
}

}  // namespace

// Token by token: a '>' (always last) takes the rest of the other pattern,
// which has at least one token there, so some topic matches both; '*'
// takes any one token; two literals must be equal. Without a '>', both must
// have as many tokens.
bool patterns_overlap(std::string_view a, std::string_view b) {
  const std::vector<std::string_view> left = tokens_of(a);
  const std::vector<std::string_view> right = tokens_of(b);
  std::size_t i = 0;
  for (; i < left.size() && i < right.size(); ++i) {
    if (left[i] == ">" || right[i] == ">") return true;
    if (left[i] != "*" && right[i] != "*" && left[i] != right[i]) return false;
  }
  return left.size() == right.size();
}

std::vector<Identity> BusCore::presence(std::string_view pattern) const {
  const TopicPattern wanted(pattern);  // validates
  std::vector<const SubscriberCore*> present;
  std::vector<Identity> identities;
  if (drained()) return identities;
  const std::lock_guard lock(routing_mutex_);
  for (const auto& [raw, subscriber] : subscribers_) {
    if (subscriber->user_identity() == nullptr || subscriber->closed() ||
        subscriber->owner_gone()) {
      continue;
    }
    const auto& patterns = subscriber->patterns_while_routing();
    if (std::any_of(patterns.begin(), patterns.end(), [&](const TopicPattern& each) {
          return patterns_overlap(each.str(), wanted.str());
        })) {
      present.push_back(raw);
    }
  }
  std::sort(present.begin(), present.end(), [](const SubscriberCore* a, const SubscriberCore* b) {
    return a->sequence() < b->sequence();
  });
  identities.reserve(present.size());
  for (const SubscriberCore* subscriber : present)
    identities.push_back(*subscriber->user_identity());
  return identities;
}

void BusCore::disconnect_all() noexcept {
  std::vector<std::shared_ptr<SubscriberCore>> all;
  try {
    const std::lock_guard lock(routing_mutex_);
    all.reserve(subscribers_.size());
    for (const auto& [raw, subscriber] : subscribers_) all.push_back(subscriber);
  } catch (...) {
    // Out of memory (or the mutex failed): release_subscribers, at the bus's
    // destruction, runs what is left.
    return;
  }
  for (const auto& subscriber : all) subscriber->notify_disconnected();
}

}  // namespace courier::detail
