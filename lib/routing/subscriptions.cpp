// Subscription bookkeeping: adding, finding and cancelling subscriptions.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "courier/detail/bus_core.hpp"
#include "courier/errors.hpp"
#include "delivery/thread_state.hpp"

namespace courier::detail {

SubscriberCore::SubscriberCore(const std::type_info& type, std::vector<TopicPattern> patterns,
                               Concurrency concurrency, std::size_t concurrent_lanes,
                               std::unique_ptr<Handler> handler, const void* identity,
                               SubscriberSettings settings)
    : type_(type),
      concurrency_(concurrency),
      identity_(identity),
      lane_count_(concurrency == Concurrency::Serial ? 1
                                                     : std::max<std::size_t>(concurrent_lanes, 1)),
      lanes_(std::make_unique<Lane[]>(lane_count_)),
      handler_(std::move(handler)),
      screen_(std::move(settings.screen)),
      priority_(settings.priority),
      user_identity_(std::move(settings.identity)),
      on_disconnect_(std::move(settings.on_disconnect)),
      patterns_(std::move(patterns)) {
  for (std::size_t i = 0; i < lane_count_; ++i) lanes_[i].owner = this;
}

void SubscriberCore::notify_disconnected() noexcept {
  if (!on_disconnect_ || disconnected_.exchange(true, std::memory_order_acq_rel)) return;
  try {
    on_disconnect_();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "courier: an on_disconnect callback threw: %s; ignored\n", error.what());
  } catch (...) {
    std::fputs("courier: an on_disconnect callback threw; ignored\n", stderr);
  }
}

std::size_t SubscriberCore::add_patterns(const std::vector<TopicPattern>& more) {
  const std::lock_guard lock(patterns_mutex_);
  std::size_t added = 0;
  for (const TopicPattern& pattern : more) {
    if (std::find(patterns_.begin(), patterns_.end(), pattern) != patterns_.end()) continue;
    patterns_.push_back(pattern);
    ++added;
  }
  return added;
}

std::size_t SubscriberCore::remove_patterns(const std::vector<TopicPattern>& gone) {
  const std::lock_guard lock(patterns_mutex_);
  const std::size_t removed = std::erase_if(patterns_, [&](const TopicPattern& pattern) {
    return std::find(gone.begin(), gone.end(), pattern) != gone.end();
  });
  // Events already in the lanes may have come through a removed pattern; the
  // seq_cst store pairs with none in particular: a drainer that loads Open
  // after this store may still deliver one event already under way, which
  // the contract allows (subscription.hpp).
  State open = State::Open;
  if (removed != 0 && !patterns_.empty()) {
    state_.compare_exchange_strong(open, State::Narrowed, std::memory_order_seq_cst);
  }
  return removed;
}

bool SubscriberCore::has_any_of(const std::vector<TopicPattern>& patterns) const {
  const std::lock_guard lock(patterns_mutex_);
  return std::any_of(patterns_.begin(), patterns_.end(), [&](const TopicPattern& pattern) {
    return std::find(patterns.begin(), patterns.end(), pattern) != patterns.end();
  });
}

std::string SubscriberCore::pattern_matching(std::string_view topic) const {
  const std::lock_guard lock(patterns_mutex_);
  for (const TopicPattern& pattern : patterns_) {
    if (pattern.matches(topic)) return pattern.str();
  }
  return patterns_.empty() ? std::string() : patterns_.front().str();
}

bool SubscriberCore::still_matches(std::string_view topic) const {
  const std::lock_guard lock(patterns_mutex_);
  return std::any_of(patterns_.begin(), patterns_.end(),
                     [&](const TopicPattern& pattern) { return pattern.matches(topic); });
}

void SubscriberCore::wait_until_quiet() noexcept {
  for (int active = active_.load(std::memory_order_seq_cst); active != 0;
       active = active_.load(std::memory_order_seq_cst)) {
    active_.wait(active, std::memory_order_seq_cst);
  }
  // Synchronous invocations under a lane's mutex are not counted in active_:
  // taking each mutex once waits out the one running, and any later holder
  // finds `closed` set (see invoke_synchronously).
  for (std::size_t i = 0; i < lane_count_; ++i) {
    const std::lock_guard wait_out(lanes_[i].exclusive);
  }
}

std::shared_ptr<SubscriberCore> BusCore::subscribe(std::shared_ptr<SubscriberCore> candidate) {
  GoneSubscribers gone;
  std::lock_guard lock(routing_mutex_);
  gone.remove_from(*this);
  const auto& patterns = candidate->patterns_while_routing();
  if (std::shared_ptr<SubscriberCore> existing = existing_locked(*candidate)) {
    if (candidate->has_settings()) {
      throw std::invalid_argument(
          "courier: subscribe() was given SubscribeOptions for " + candidate->describe() +
          ", which is already subscribed: its options are those of its first subscription");
    }
    check_limit_locked(count_new_patterns(*existing, patterns));
    const std::size_t added = existing->add_patterns(patterns);
    if (added != 0) {
      subscription_count_ += added;
      // Release: see below.
      routing_version_.fetch_add(1, std::memory_order_release);
    }
    return existing;
  }
  check_limit_locked(patterns.size());
  // Inserted only now that the candidate is accepted.
  if (const void* identity = candidate->identity()) by_identity_[identity].push_back(candidate);
  subscribers_.emplace(candidate.get(), candidate);
  subscription_count_ += patterns.size();
  candidate->set_sequence(next_sequence_++);
  if (candidate->screen() != nullptr && candidate->screen()->tracked) ++tracked_count_;
  // Release: a post that reads the new version (acquire) rebuilds its snapshot
  // and so sees this subscription; one made after subscribe() returns will.
  routing_version_.fetch_add(1, std::memory_order_release);
  return candidate;
}

std::shared_ptr<SubscriberCore> BusCore::existing_locked(const SubscriberCore& candidate) const {
  const void* identity = candidate.identity();
  if (identity == nullptr) return nullptr;
  const auto found = by_identity_.find(identity);
  if (found == by_identity_.end()) return nullptr;
  for (const auto& existing : found->second) {
    if (existing->type() == candidate.type()) return existing;
  }
  return nullptr;
}

std::size_t BusCore::count_new_patterns(const SubscriberCore& subscriber,
                                        const std::vector<TopicPattern>& patterns) {
  const auto& current = subscriber.patterns_while_routing();
  return static_cast<std::size_t>(std::count_if(patterns.begin(), patterns.end(), [&](auto& each) {
    return std::find(current.begin(), current.end(), each) == current.end();
  }));
}

void BusCore::check_limit_locked(std::size_t more) const {
  if (more > max_subscriptions_ - subscription_count_) {
    throw LimitExceeded("Options::max_subscriptions", max_subscriptions_,
                        subscription_count_ + more);
  }
}

std::vector<std::shared_ptr<SubscriberCore>> BusCore::remove_gone_locked() {
  std::vector<std::shared_ptr<SubscriberCore>> gone;
  if (tracked_count_ == 0) return gone;
  for (const auto& [raw, subscriber] : subscribers_) {
    if (subscriber->owner_gone()) gone.push_back(subscriber);
  }
  for (const auto& subscriber : gone) remove_locked(*subscriber);
  return gone;
}

std::size_t BusCore::register_topic(std::string_view topic) {
  validate_topic(topic);
  std::lock_guard lock(routing_mutex_);
  if (auto found = topic_ids_.find(topic); found != topic_ids_.end()) return found->second;
  const std::size_t id = topics_.size();
  topics_.emplace_back(topic);
  topic_ids_.emplace(topics_.back(), id);
  routing_version_.fetch_add(1, std::memory_order_release);  // the next snapshot resolves it
  return id;
}

bool BusCore::remove_locked(SubscriberCore& subscriber) {
  if (subscribers_.erase(&subscriber) == 0) return false;
  subscription_count_ -= subscriber.patterns_while_routing().size();
  if (subscriber.screen() != nullptr && subscriber.screen()->tracked) --tracked_count_;
  if (const void* identity = subscriber.identity()) {
    auto found = by_identity_.find(identity);
    if (found != by_identity_.end()) {
      std::erase_if(found->second, [&](const auto& each) { return each.get() == &subscriber; });
      if (found->second.empty()) by_identity_.erase(found);
    }
  }
  routing_version_.fetch_add(1, std::memory_order_release);
  return true;
}

// Cancelling every pattern a subscriber has left closes it (and it keeps its
// patterns, for the reports of calls still running); cancelling some narrows
// it (subscriber_core.hpp) and returns without waiting.
void BusCore::cancel(SubscriberCore& subscriber, const std::vector<TopicPattern>& patterns) {
  std::shared_ptr<SubscriberCore> closing;
  {
    std::lock_guard lock(routing_mutex_);
    auto found = subscribers_.find(&subscriber);
    if (found != subscribers_.end()) {
      const auto& current = subscriber.patterns_while_routing();
      const bool keeps_some = std::any_of(current.begin(), current.end(), [&](const auto& each) {
        return std::find(patterns.begin(), patterns.end(), each) == patterns.end();
      });
      if (keeps_some) {
        const std::size_t removed = subscriber.remove_patterns(patterns);
        subscription_count_ -= removed;
        if (removed != 0) routing_version_.fetch_add(1, std::memory_order_release);
        return;
      }
      closing = found->second;
      remove_locked(subscriber);
    }
  }
  finish_cancel({closing != nullptr ? closing : subscriber.shared_from_this()});
}

void BusCore::unsubscribe(const void* identity, const std::type_info& type) {
  std::vector<std::shared_ptr<SubscriberCore>> removed;
  {
    std::lock_guard lock(routing_mutex_);
    auto found = by_identity_.find(identity);
    if (found == by_identity_.end()) return;
    for (const auto& subscriber : found->second) {
      if (subscriber->type() == type) removed.push_back(subscriber);
    }
    for (const auto& subscriber : removed) remove_locked(*subscriber);
  }
  finish_cancel(removed);
}

// Closes the subscriptions, then, unless called from a handler of this bus
// (which must not wait: the subscription may be its own, or a handler on
// another thread may be cancelling this one), waits out running invocations
// and lets go of the subscribers.
void BusCore::finish_cancel(const std::vector<std::shared_ptr<SubscriberCore>>& removed) {
  for (const auto& subscription : removed) subscription->close();
  if (on_own_thread()) {
    for (const auto& subscription : removed) subscription->notify_disconnected();
    return;
  }
  for (const auto& subscription : removed) {
    subscription->wait_until_quiet();
    subscription->notify_disconnected();
    subscription->drop_handler();
  }
}

bool BusCore::is_subscribed(const void* identity, const std::type_info& type) const {
  std::lock_guard lock(routing_mutex_);
  auto found = by_identity_.find(identity);
  if (found == by_identity_.end()) return false;
  return std::any_of(found->second.begin(), found->second.end(), [&](const auto& subscription) {
    return subscription->type() == type && !subscription->owner_gone();
  });
}

bool BusCore::is_subscribed(const void* identity, const std::type_info& type,
                            std::string_view pattern) const {
  const TopicPattern wanted(pattern);
  std::lock_guard lock(routing_mutex_);
  auto found = by_identity_.find(identity);
  if (found == by_identity_.end()) return false;
  return std::any_of(found->second.begin(), found->second.end(), [&](const auto& subscription) {
    const auto& patterns = subscription->patterns_while_routing();
    return subscription->type() == type && !subscription->owner_gone() &&
           std::find(patterns.begin(), patterns.end(), wanted) != patterns.end();
  });
}

bool BusCore::has_subscribers(std::string_view topic, const std::type_info* type) const {
  validate_topic(topic);
  std::lock_guard lock(routing_mutex_);
  return std::any_of(subscribers_.begin(), subscribers_.end(), [&](const auto& each) {
    const SubscriberCore& subscriber = *each.second;
    if ((type != nullptr && subscriber.type() != *type) || subscriber.owner_gone()) return false;
    const auto& patterns = subscriber.patterns_while_routing();
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const TopicPattern& pattern) { return pattern.matches(topic); });
  });
}

void BusCore::release_subscribers() noexcept {
  std::vector<std::shared_ptr<SubscriberCore>> all;
  {
    std::lock_guard lock(routing_mutex_);
    for (const auto& [raw, subscriber] : subscribers_) all.push_back(subscriber);
    subscribers_.clear();
    subscription_count_ = 0;
    tracked_count_ = 0;
    by_identity_.clear();
    snapshot_.reset();
    routing_version_.fetch_add(1, std::memory_order_release);
  }
  finish_cancel(all);
}

}  // namespace courier::detail
