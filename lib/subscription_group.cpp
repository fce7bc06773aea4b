#include "courier/subscription_group.hpp"

#include <utility>

namespace courier {

SubscriptionGroup::~SubscriptionGroup() { cancel(); }

SubscriptionGroup::SubscriptionGroup(SubscriptionGroup&& other) noexcept {
  const std::lock_guard lock(other.mutex_);
  subscriptions_ = std::exchange(other.subscriptions_, {});
}

SubscriptionGroup& SubscriptionGroup::operator=(SubscriptionGroup&& other) noexcept {
  if (this == &other) return *this;
  cancel();
  std::vector<Subscription> taken;
  {
    const std::lock_guard lock(other.mutex_);
    taken = std::exchange(other.subscriptions_, {});
  }
  const std::lock_guard lock(mutex_);
  subscriptions_ = std::move(taken);
  return *this;
}

void SubscriptionGroup::add(Subscription subscription) {
  const std::lock_guard lock(mutex_);
  subscriptions_.push_back(std::move(subscription));
}

// The subscriptions are taken out under the mutex and cancelled outside it:
// a cancel may wait for a running handler, and that handler may be adding
// to, or asking the size of, this very group.
void SubscriptionGroup::cancel() {
  std::vector<Subscription> taken;
  {
    const std::lock_guard lock(mutex_);
    taken.swap(subscriptions_);
  }
  for (Subscription& subscription : taken) subscription.cancel();
}

std::size_t SubscriptionGroup::size() const {
  const std::lock_guard lock(mutex_);
  return subscriptions_.size();
}

bool SubscriptionGroup::empty() const { return size() == 0; }

}  // namespace courier
