/// \class courier::Subscriber
/// Subscriber<T>: the base class users derive from to receive Event<T>s.
///
/// Thread safety: the bus calls process() from its executor threads (or from the
/// posting thread on a synchronous bus). How often at once depends on the
/// Concurrency the subscriber declares:
#pragma once

#include "courier/event.hpp"

namespace courier {

/// How a subscriber may be called: one event at a time, or several at once.
enum class Concurrency {
  /// The default, and always safe for a subscriber subscribed to one pattern:
  /// process() is never called concurrently with itself, and it sees events in
  /// post order (if post(a) returns before post(b) starts, a arrives first).
  /// Both hold per subscription: subscribed to two patterns, a subscriber may
  /// be called for each at once.
  Serial,
  /// The subscriber is thread-safe: process() may run on several threads at once,
  /// in any order, except that events sharing a non-empty ordering key arrive in
  /// post order and never two at once.
  Concurrent,
};

template <class T>
class Subscriber {
 public:
  /// The payload type, T.
  using data_type = T;

  /// A subscriber that declares `concurrency` (Serial unless told otherwise).
  explicit Subscriber(Concurrency concurrency = Concurrency::Serial) noexcept
      : concurrency_(concurrency) {}
  virtual ~Subscriber() = default;

  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  /// Called once per matching event. An exception thrown here is caught by the
  /// bus, reported to its error handler and counted; delivery goes on.
  virtual void process(const Event<T>& event) = 0;

  /// The concurrency given to the constructor.
  Concurrency concurrency() const noexcept { return concurrency_; }

 private:
  const Concurrency concurrency_;
};

}  // namespace courier
