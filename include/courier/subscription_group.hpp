/// \file
/// SubscriptionGroup: one owner for many subscriptions, which cancels them
/// all at once.
///
/// \code
/// class Dashboard {
///  public:
///   explicit Dashboard(courier::EventBus& bus) {
///     subscriptions_.add(bus.subscribe<int>("cpu.*", [this](const auto& e) { show(e); }));
///     subscriptions_.add(bus.subscribe<int>("disk.*", [this](const auto& e) { show(e); }));
///   }
///   // The group is destroyed first among the members declared before it,
///   // cancelling both (and waiting out a running call) before *this dies.
///  private:
///   void show(const courier::Event<int>& event);
///   courier::SubscriptionGroup subscriptions_;  // declare it last
/// };
/// \endcode
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include "courier/detail/export.hpp"
#include "courier/subscription.hpp"

namespace courier {

/// Owns any number of Subscriptions and cancels them all together: on
/// cancel(), on destruction, and on being assigned over. Movable, not
/// copyable.
///
/// Thread safety: distinct objects: safe. Shared objects: add(), cancel(),
/// size() and empty() are safe from any thread at once, including from
/// inside a handler of the bus (cancel() then waits as
/// Subscription::cancel() does there, that is, not at all); moving from or
/// destroying a group while another thread uses it is not.
class COURIER_EXPORT SubscriptionGroup {
 public:
  /// An empty group.
  SubscriptionGroup() = default;
  /// Cancels every subscription it holds (see cancel()).
  ~SubscriptionGroup();

  /// Takes over `other`'s subscriptions; `other` is left empty.
  SubscriptionGroup(SubscriptionGroup&& other) noexcept;
  /// Cancels the subscriptions held, then takes over `other`'s.
  SubscriptionGroup& operator=(SubscriptionGroup&& other) noexcept;
  SubscriptionGroup(const SubscriptionGroup&) = delete;
  SubscriptionGroup& operator=(const SubscriptionGroup&) = delete;

  /// Adds `subscription` to the group, which will cancel it. Thread-safe.
  void add(Subscription subscription);

  /// Cancels every subscription held, each as Subscription::cancel() does
  /// (from outside the bus's handlers, waiting out running calls), and
  /// empties the group; it may be filled again. Subscriptions added while it
  /// runs stay for the next cancel(). Thread-safe.
  void cancel();

  /// The subscriptions held: added and not yet cancelled through the group
  /// (one cancelled otherwise, or ended by a tracked owner, still counts).
  /// Thread-safe.
  std::size_t size() const;
  /// size() == 0. Thread-safe.
  bool empty() const;

 private:
  mutable std::mutex mutex_;
  std::vector<Subscription> subscriptions_;  // guarded by mutex_
};

}  // namespace courier
