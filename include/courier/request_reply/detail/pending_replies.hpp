// PendingReplies: the requests of one Requester still waiting, by
// correlation id. Each is finished exactly once, by whichever comes first:
// its reply, a failure reply, its request found dead, its timeout, or the
// requester's end. The entry is taken out under the lock and completed
// outside it, so a completion never runs twice and never under the lock.
//
// Timeouts: one timer, not one per request. The deadlines of the waiting
// requests are kept in due order (a request's usually goes at the back:
// requests share a timeout), and one timer is armed for the earliest. A
// request that finishes leaves its deadline in place, to be dropped once it
// reaches the front; nothing is cancelled. So a request costs the timer
// service nothing while an earlier deadline is armed, where a timer per
// request would cost a schedule and a cancel each, and a wake of the timer
// thread whenever the queue had emptied. When the armed timer fires, it
// fails the requests whose deadline has come and arms the next.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "courier/event.hpp"
#include "courier/hooks.hpp"
#include "courier/pipeline/timeout.hpp"
#include "courier/pipeline/timer_service.hpp"
#include "courier/request_reply/errors.hpp"

namespace courier::detail {

template <class Rep>
class PendingReplies : public std::enable_shared_from_this<PendingReplies<Rep>> {
 public:
  using TimePoint = TimerService::TimePoint;
  using Duration = TimerService::Duration;

  // A waiting request's completion: move-only, as Asio handlers are.
  class Completion {
   public:
    virtual ~Completion() = default;
    virtual void complete(std::exception_ptr error, std::optional<Event<Rep>> reply) = 0;
  };
  template <class F>
  class CompletionOf final : public Completion {
   public:
    explicit CompletionOf(F function) : function_(std::move(function)) {}
    void complete(std::exception_ptr error, std::optional<Event<Rep>> reply) override {
      std::move(function_)(std::move(error), std::move(reply));
    }

   private:
    F function_;
  };

  explicit PendingReplies(TimerService& timers) : timers_(timers) {}

  // Registers a request on `topic` that times out after `timeout`; its id.
  std::uint64_t add(std::string topic, Duration timeout, std::unique_ptr<Completion> completion) {
    const TimePoint due = timers_.now() + timeout;
    std::lock_guard lock(mutex_);
    const std::uint64_t id = next_id_++;
    waiting_.emplace(id, Waiting{std::move(topic), timeout, std::move(completion)});
    const Deadline deadline{due, id};
    deadlines_.insert(std::upper_bound(deadlines_.begin(), deadlines_.end(), deadline), deadline);
    if (armed_ == 0 || due < armed_for_) arm_locked(due);
    return id;
  }

  // Finishes request `id` with a reply, or with an error made from its topic
  // (for those that name it); false if it was finished already.
  bool reply(std::uint64_t id, Event<Rep> reply) {
    std::optional<Waiting> taken = take(id);
    if (!taken) return false;
    taken->completion->complete(nullptr, std::move(reply));
    return true;
  }
  template <class MakeError>
  bool fail(std::uint64_t id, MakeError make_error) {
    std::optional<Waiting> taken = take(id);
    if (!taken) return false;
    taken->completion->complete(make_error(taken->topic), std::nullopt);
    return true;
  }

  // Drops request `id` without completing it (its post failed: the caller
  // reports that instead).
  void forget(std::uint64_t id) { take(id); }

  // Finishes every request still waiting with RequestAbandoned.
  void abandon_all() {
    std::unordered_map<std::uint64_t, Waiting> left;
    {
      std::lock_guard lock(mutex_);
      left.swap(waiting_);
      deadlines_.clear();
      if (armed_ != 0) timers_.cancel(armed_);
      armed_ = 0;
    }
    for (auto& [id, waiting] : left) {
      waiting.completion->complete(std::make_exception_ptr(RequestAbandoned(waiting.topic)),
                                   std::nullopt);
    }
  }

  // The dead-event check for requests of payload type Req: reads the headers
  // of a dead Event<Req>. Added once per type, before its first request.
  template <class Req>
  void note_request_type() {
    std::lock_guard lock(mutex_);
    for (const auto& reader : header_readers_) {
      if (reader.type == typeid(Req)) return;
    }
    header_readers_.push_back({typeid(Req), [](const DeadEvent& dead) -> const Headers* {
                                 const Event<Req>* event = dead.as<Req>();
                                 return event != nullptr ? &event->headers() : nullptr;
                               }});
  }
  // The headers of `dead` if it is a request of a type this requester posts.
  const Headers* headers_of(const DeadEvent& dead) const {
    std::lock_guard lock(mutex_);
    for (const auto& reader : header_readers_) {
      if (reader.type == dead.type()) return reader.read(dead);
    }
    return nullptr;
  }

 private:
  struct Waiting {
    std::string topic;
    Duration timeout;
    std::unique_ptr<Completion> completion;
  };
  struct Deadline {
    TimePoint due;
    std::uint64_t id;
    friend bool operator<(const Deadline& a, const Deadline& b) {
      return a.due < b.due || (a.due == b.due && a.id < b.id);
    }
  };
  struct HeaderReader {
    std::type_index type;
    const Headers* (*read)(const DeadEvent&);
  };

  std::optional<Waiting> take(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    const auto found = waiting_.find(id);
    if (found == waiting_.end()) return std::nullopt;
    std::optional<Waiting> taken(std::move(found->second));
    waiting_.erase(found);
    drop_finished_deadlines_locked();
    return taken;
  }

  void drop_finished_deadlines_locked() {
    while (!deadlines_.empty() && !waiting_.contains(deadlines_.front().id)) {
      deadlines_.pop_front();
    }
  }

  // Arms the one timer for `due`, replacing the one armed, if any.
  void arm_locked(TimePoint due) {
    if (armed_ != 0) timers_.cancel(armed_);
    armed_for_ = due;
    armed_ = timers_.schedule_at(due, [weak = this->weak_from_this()] {
      if (const auto pending = weak.lock()) pending->expire();
    });
  }

  // The armed timer fired: fails the requests whose deadline has come, then
  // arms the timer for the earliest deadline left.
  void expire() {
    std::vector<Waiting> expired;
    {
      std::lock_guard lock(mutex_);
      armed_ = 0;
      const TimePoint now = timers_.now();
      while (!deadlines_.empty() && deadlines_.front().due <= now) {
        const auto found = waiting_.find(deadlines_.front().id);
        if (found != waiting_.end()) {
          expired.push_back(std::move(found->second));
          waiting_.erase(found);
        }
        deadlines_.pop_front();
      }
      drop_finished_deadlines_locked();
      if (!deadlines_.empty()) arm_locked(deadlines_.front().due);
    }
    for (Waiting& waiting : expired) {
      waiting.completion->complete(std::make_exception_ptr(Timeout(waiting.topic, waiting.timeout)),
                                   std::nullopt);
    }
  }

  TimerService& timers_;
  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 1;                           // guarded by mutex_
  std::unordered_map<std::uint64_t, Waiting> waiting_;  // guarded by mutex_
  std::deque<Deadline> deadlines_;                      // guarded by mutex_; in due order
  TimerService::TimerId armed_ = 0;                     // guarded by mutex_; 0: none
  TimePoint armed_for_{};                               // guarded by mutex_
  std::vector<HeaderReader> header_readers_;            // guarded by mutex_
};

}  // namespace courier::detail
