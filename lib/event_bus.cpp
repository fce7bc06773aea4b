#include "courier/event_bus.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace courier {

EventBus::EventBus(Options options) : core_(std::make_shared<detail::BusCore>(options)) {}

EventBus::~EventBus() {
  if (core_->on_own_thread()) {
    std::fputs(
        "courier: an EventBus was destroyed from one of its own handlers; "
        "its executor threads cannot join themselves\n",
        stderr);
    std::abort();
  }
  core_->shutdown();
  core_->release_subscribers();
}

namespace detail {

void reject_null_subscriber(std::span<const std::string_view> topic_patterns) {
  std::string listed;
  for (std::string_view pattern : topic_patterns) {
    listed += (listed.empty() ? "\"" : ", \"") + std::string(pattern) + "\"";
  }
  throw std::invalid_argument("courier: subscribe() was given a null subscriber for " + listed);
}

}  // namespace detail

namespace {

// The patterns, validated (std::invalid_argument names the first bad one),
// without repeats.
std::vector<TopicPattern> parse_patterns(std::span<const std::string_view> texts) {
  if (texts.empty()) {
    throw std::invalid_argument("courier: subscribe() was given an empty list of patterns");
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

}  // namespace

Subscription EventBus::add(const std::type_info& type,
                           std::span<const std::string_view> topic_patterns,
                           Concurrency concurrency, std::unique_ptr<detail::Handler> handler,
                           const void* identity) {
  std::vector<TopicPattern> patterns = parse_patterns(topic_patterns);
  auto candidate = std::make_shared<detail::SubscriberCore>(
      type, patterns, concurrency, core_->concurrent_lanes(), std::move(handler), identity);
  return Subscription(core_, core_->subscribe(std::move(candidate)), std::move(patterns));
}

}  // namespace courier
