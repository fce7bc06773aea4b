// TimerQueue: the timers of a TimerService (ManualClock, TimerThread), in due
// order; ties in the order they were scheduled.
//
// Thread safety: none; its owner guards it with its mutex.
#pragma once

#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "courier/pipeline/timer_service.hpp"

namespace courier::detail {

class TimerQueue {
 public:
  using TimePoint = TimerService::TimePoint;
  using TimerId = TimerService::TimerId;

  TimerId add(TimePoint due, std::function<void()> task) {
    const TimerId id = next_id_++;
    by_due_.emplace(Key{due, id}, std::move(task));
    due_of_.emplace(id, due);
    return id;
  }

  bool remove(TimerId id) {
    const auto found = due_of_.find(id);
    if (found == due_of_.end()) return false;
    by_due_.erase(Key{found->second, id});
    due_of_.erase(found);
    return true;
  }

  std::optional<TimePoint> earliest() const {
    if (by_due_.empty()) return std::nullopt;
    return by_due_.begin()->first.first;
  }

  // The earliest timer if it is due at `now`, taken out of the queue.
  std::optional<std::pair<TimePoint, std::function<void()>>> take_due(TimePoint now) {
    if (by_due_.empty() || by_due_.begin()->first.first > now) return std::nullopt;
    auto node = by_due_.extract(by_due_.begin());
    due_of_.erase(node.key().second);
    return std::pair{node.key().first, std::move(node.mapped())};
  }

  std::size_t size() const { return by_due_.size(); }

  void clear() {
    by_due_.clear();
    due_of_.clear();
  }

 private:
  using Key = std::pair<TimePoint, TimerId>;  // ids grow: ties keep schedule order
  std::map<Key, std::function<void()>> by_due_;
  std::unordered_map<TimerId, TimePoint> due_of_;
  TimerId next_id_ = 1;
};

}  // namespace courier::detail
