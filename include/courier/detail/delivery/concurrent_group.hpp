// ConcurrentGroup: the Concurrent subscriptions of one topic, delivered together.
//
// An unkeyed event bound for N Concurrent subscriptions would cost, through
// their own lanes, N mailbox pushes on the posting thread (each an atomic
// exchange on a line the other posters and the executors also touch) and N
// deliveries counting the envelope down on the executors. When a routing
// snapshot knows a topic's whole list of subscriptions ahead (an exact topic,
// for a payload type that has no wildcard subscriptions), it gathers that
// list's Concurrent subscriptions, if there are two or more, into a group with
// lanes of its own. An unkeyed event then takes one node to one group lane
// (picked as a subscription picks among its own lanes, so events spread over
// the executors), and whoever drains that lane calls every member in turn:
// one push and one delivery per event, whatever the fan-out. Keyed events
// still go to each member's own lanes, where the per-key order is kept.
//
// Members keep the invocation protocol of subscriber_core.hpp. A group
// lane's drainer takes a few events at a time and hands them to one member
// after another, entering each member for its own calls only and checking
// `closed` before every call: unsubscribe() waits out a member's calls as it
// does a lane's, and never waits for another member's handler.
//
// Lifetime: the routing snapshot that built a group owns it, and a scheduled
// group lane keeps its group (and so the group's members) alive, as a
// subscription's scheduled lane keeps the subscription.
//
// Thread safety: immutable after construction, but for the lanes, which follow
// the rules of every lane.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "courier/detail/delivery/subscriber_core.hpp"

namespace courier::detail {

class ConcurrentGroup : public std::enable_shared_from_this<ConcurrentGroup> {
 public:
  // `members`: Concurrent subscriptions, two or more.
  ConcurrentGroup(std::vector<std::shared_ptr<SubscriberCore>> members, std::size_t lane_count)
      : members_(std::move(members)),
        lane_count_(lane_count),
        lanes_(std::make_unique<Lane[]>(lane_count)) {
    for (std::size_t i = 0; i < lane_count_; ++i) lanes_[i].group = this;
  }

  const std::vector<std::shared_ptr<SubscriberCore>>& members() const noexcept { return members_; }
  // True unless every member is closed.
  bool any_member_open() const noexcept {
    for (const auto& member : members_) {
      if (!member->closed()) return true;
    }
    return false;
  }

  // See SubscriberCore::lane_for.
  Lane& lane_for(std::size_t hint) noexcept { return lanes_[hint % lane_count_]; }

 private:
  const std::vector<std::shared_ptr<SubscriberCore>> members_;
  const std::size_t lane_count_;
  std::unique_ptr<Lane[]> lanes_;
};

}  // namespace courier::detail
