// MiddlewareChain: a bus's middlewares (middleware.hpp). It keeps the bus's
// post mode (BusCore::post_mode) intercepting while it has any.
//
// The chain is a snapshot, copied on every change and swapped in whole: a
// post copies the pointer to the current one under a short lock and runs it
// with no lock held, so a middleware may post, add or remove middlewares,
// and a removal never waits for posts under way. Changes are rare and chains
// short; a post without middleware reads one byte (EventBus::post_event).
// (Not std::atomic<std::shared_ptr>: libstdc++ 12's guards its pointer with
// a lock bit that ThreadSanitizer does not see, and it reports a race.)
//
// A temporary middleware (until a stop token is stopped or a future is
// ready) is checked before each call: once its condition holds it never
// runs again, and the post that sees it removes it.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "courier/detail/export.hpp"
#include "courier/middleware.hpp"

namespace courier::detail {

class BusCore;

class COURIER_EXPORT MiddlewareChain {
 public:
  // Sets `bus` intercepting while any middleware is present, and always if
  // the bus stamps events (`stamping`).
  MiddlewareChain(BusCore& bus, bool stamping) noexcept;

  // `expired`, if set, says when a temporary middleware has ended.
  // `pattern`: what the middleware is limited to, for error reports.
  MiddlewareCookie add(Middleware middleware, std::function<bool()> expired, std::string pattern);
  bool remove(MiddlewareCookie cookie);

  // Runs the chain on `event`: false if a middleware vetoed it or threw (the
  // exception then goes to `bus`'s error hooks).
  bool run(PostedEvent& event, BusCore& bus);
  std::uint64_t vetoed() const noexcept { return vetoed_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::uint64_t number;
    Middleware middleware;
    std::function<bool()> expired;  // null: permanent
    std::string pattern;            // for DeliveryError::pattern
  };
  using Snapshot = std::vector<std::shared_ptr<const Entry>>;

  void report(const Entry& entry, const PostedEvent& event, BusCore& bus) noexcept;
  // Publishes `next` and the bus's post mode; the caller holds writers_.
  void install_locked(std::shared_ptr<const Snapshot> next);

  BusCore& bus_;
  const bool stamping_;
  std::shared_ptr<const Snapshot> current() const;

  mutable std::mutex snapshot_mutex_;
  // The chain posts run; guarded by snapshot_mutex_ (changed under writers_ too).
  std::shared_ptr<const Snapshot> snapshot_ = std::make_shared<const Snapshot>();
  std::mutex writers_;
  std::uint64_t next_number_ = 1;  // guarded by writers_
  std::atomic<std::uint64_t> vetoed_{0};
};

}  // namespace courier::detail
