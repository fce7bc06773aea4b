/// \class courier::Subscriber
/// Subscriber<T>: the base class users derive from to receive Event<T>s.
///
/// Thread safety: the bus calls process() from its executor threads (or from the
/// posting thread on a synchronous bus). How often at once depends on the
/// Concurrency the subscriber declares, and holds for the object as a whole on
/// one bus, whatever the number of its patterns (EventBus::subscribe):
#pragma once

#include "courier/event.hpp"

namespace courier {

/// How a subscriber may be called: one event at a time, or several at once.
enum class Concurrency {
  /// The default, and always safe: process() is never called concurrently with
  /// itself, and it sees events in post order (if post(a) returns before
  /// post(b) starts, a arrives first), across all the patterns the object is
  /// subscribed to on a bus. A Serial subscriber needs no lock of its own.
  Serial,
  /// The subscriber is thread-safe: process() may run on several threads at once,
  /// in any order, except that events sharing a non-empty ordering key arrive in
  /// post order and never two at once, across all its patterns.
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
