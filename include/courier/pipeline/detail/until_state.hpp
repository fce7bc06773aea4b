// UntilState: the end of a subscription made by subscribe_until
// (subscribe_until.hpp), reached once, by whichever comes first: its
// condition (a future ready, a stop requested), seen by a delivery, a timer
// or a stop callback, or the subscription's own cancel.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <mutex>
#include <utility>

#include "courier/subscription.hpp"

namespace courier::detail {

class UntilState {
 public:
  // The subscription, once subscribe returned; cancelled at once if the
  // condition came first.
  void attach(Subscription subscription) {
    {
      std::lock_guard lock(mutex_);
      if (!ended_) {
        subscription_ = std::move(subscription);
        return;
      }
    }
    subscription.cancel();
  }

  // Cancels the subscription (not under the lock: from outside the bus's
  // handlers, cancel waits for a running delivery). Idempotent.
  void end() {
    Subscription subscription;
    {
      std::lock_guard lock(mutex_);
      if (ended_) return;
      ended_ = true;
      subscription = std::move(subscription_);
    }
    subscription.cancel();
  }

 private:
  std::mutex mutex_;
  bool ended_ = false;         // guarded by mutex_
  Subscription subscription_;  // guarded by mutex_
};

}  // namespace courier::detail
