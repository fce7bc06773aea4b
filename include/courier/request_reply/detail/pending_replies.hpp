// PendingReplies: the requests of one Requester still waiting, by
// correlation id. Each is finished exactly once, by whichever comes first:
// its reply, a failure reply, its request found dead, its timeout, or the
// requester's end. The entry is taken out under the lock and completed
// outside it, so a completion never runs twice and never under the lock.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
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
#include "courier/pipeline/timer_service.hpp"
#include "courier/request_reply/errors.hpp"

namespace courier::detail {

template <class Rep>
class PendingReplies {
 public:
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

  // Registers a request on `topic`; its id.
  std::uint64_t add(std::string topic, std::unique_ptr<Completion> completion) {
    std::lock_guard lock(mutex_);
    const std::uint64_t id = next_id_++;
    waiting_.emplace(id, Waiting{std::move(topic), std::move(completion), 0});
    return id;
  }

  // Records the timeout timer of request `id`, or cancels it if the request
  // is finished already.
  void arm(std::uint64_t id, TimerService::TimerId timer) {
    {
      std::lock_guard lock(mutex_);
      const auto found = waiting_.find(id);
      if (found != waiting_.end()) {
        found->second.timer = timer;
        return;
      }
    }
    timers_.cancel(timer);
  }

  // Finishes request `id` with a reply, or with an error made from its topic
  // (for those that name it); false if it was finished already.
  template <class MakeError>
  bool fail(std::uint64_t id, MakeError make_error) {
    std::optional<Waiting> taken = take(id);
    if (!taken) return false;
    taken->completion->complete(make_error(taken->topic), std::nullopt);
    return true;
  }
  bool reply(std::uint64_t id, Event<Rep> reply) {
    std::optional<Waiting> taken = take(id);
    if (!taken) return false;
    taken->completion->complete(nullptr, std::move(reply));
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
    }
    for (auto& [id, waiting] : left) {
      if (waiting.timer != 0) timers_.cancel(waiting.timer);
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
    std::unique_ptr<Completion> completion;
    TimerService::TimerId timer;
  };
  struct HeaderReader {
    std::type_index type;
    const Headers* (*read)(const DeadEvent&);
  };

  std::optional<Waiting> take(std::uint64_t id) {
    std::optional<Waiting> taken;
    {
      std::lock_guard lock(mutex_);
      const auto found = waiting_.find(id);
      if (found == waiting_.end()) return std::nullopt;
      taken.emplace(std::move(found->second));
      waiting_.erase(found);
    }
    if (taken->timer != 0) timers_.cancel(taken->timer);
    return taken;
  }

  TimerService& timers_;
  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 1;                           // guarded by mutex_
  std::unordered_map<std::uint64_t, Waiting> waiting_;  // guarded by mutex_
  std::vector<HeaderReader> header_readers_;            // guarded by mutex_
};

}  // namespace courier::detail
