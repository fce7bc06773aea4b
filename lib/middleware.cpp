// MiddlewareChain (detail/middleware_chain.hpp): the snapshot, changes to it,
// and running it.
#include "courier/detail/middleware_chain.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

#include "courier/detail/bus_core.hpp"
#include "courier/hooks.hpp"

namespace courier::detail {

MiddlewareChain::MiddlewareChain(BusCore& bus, bool stamping) noexcept
    : bus_(bus), stamping_(stamping) {
  bus_.set_intercepting(stamping_);
}

MiddlewareCookie MiddlewareChain::add(Middleware middleware, std::function<bool()> expired,
                                      std::string pattern) {
  std::lock_guard lock(writers_);
  auto entry = std::make_shared<const Entry>(
      Entry{next_number_, std::move(middleware), std::move(expired), std::move(pattern)});
  auto next = std::make_shared<Snapshot>(*current());
  next->push_back(std::move(entry));
  install_locked(std::move(next));
  return MiddlewareCookie(next_number_++);
}

bool MiddlewareChain::remove(MiddlewareCookie cookie) {
  std::lock_guard lock(writers_);
  const std::shared_ptr<const Snapshot> present = current();
  const auto found = std::find_if(present->begin(), present->end(), [cookie](const auto& entry) {
    return entry->number == cookie.number();
  });
  if (found == present->end()) return false;
  auto next = std::make_shared<Snapshot>(present->begin(), found);
  next->insert(next->end(), found + 1, present->end());
  install_locked(std::move(next));
  return true;
}

void MiddlewareChain::install_locked(std::shared_ptr<const Snapshot> next) {
  const bool any = !next->empty();
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = std::move(next);
  }
  // Set after the chain is in place, so a post that sees the mode finds it;
  // a post that still reads the old mode started before add() returned.
  bus_.set_intercepting(any || stamping_);
}

std::shared_ptr<const MiddlewareChain::Snapshot> MiddlewareChain::current() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

bool MiddlewareChain::run(PostedEvent& event, BusCore& bus) {
  const std::shared_ptr<const Snapshot> chain = current();
  for (const std::shared_ptr<const Entry>& entry : *chain) {
    if (entry->expired && entry->expired()) {
      remove(MiddlewareCookie(entry->number));
      continue;
    }
    Verdict verdict = Verdict::Veto;
    try {
      verdict = entry->middleware(event);
    } catch (...) {
      report(*entry, event, bus);
    }
    if (verdict == Verdict::Veto) {
      vetoed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  return true;
}

void MiddlewareChain::report(const Entry& entry, const PostedEvent& event, BusCore& bus) noexcept {
  try {
    DeliveryError report{event.topic(), entry.pattern, "middleware " + std::to_string(entry.number),
                         std::current_exception()};
    if (bus.error_hook.empty()) {
      std::fprintf(stderr, "courier: %s (pattern \"%s\") threw on topic \"%.*s\": %s\n",
                   report.subscriber.c_str(), entry.pattern.c_str(),
                   static_cast<int>(report.topic.size()), report.topic.data(),
                   report.message().c_str());
    } else {
      bus.error_hook(report);
    }
  } catch (...) {
    // The veto stands: a post must not fail because its report did.
    std::fputs("courier: the error hook threw; the error it was reporting is lost\n", stderr);
  }
}

}  // namespace courier::detail
