// The untyped half of nats::Bridge (lib/nats/link.cpp): the NATS connection,
// its routes and their threads. Bridge's templates add the typed half: how an
// export takes its events from the bus (a Stream its thread reads, or a
// subscriber), the codec, the Event an import posts.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <boost/signals2/signal.hpp>

#include "courier/headers.hpp"
#include "courier/nats/bridge_options.hpp"
#include "courier/nats/bridge_stats.hpp"
#include "courier/nats/errors.hpp"
#include "courier/nats/route_options.hpp"

namespace courier::nats::detail {

// One local event, as an export route hands it to the link.
struct OutEvent {
  std::string_view topic;
  std::string_view payload;
  const Headers* headers;  // null: none
  std::uint64_t id;
  std::int64_t timestamp_ns;  // since the system clock's epoch; 0: none
  std::string_view ordering_key;
};

// One NATS message, as the link hands it to an import route. Valid during the call.
struct InMessage {
  std::string_view topic;  // the subject less its prefixes: a valid topic
  std::span<const std::byte> payload;
  std::uint64_t id = 0;
  std::int64_t timestamp_ns = 0;
  std::string_view ordering_key;
  std::uint64_t deliveries = 1;  // JetStream's delivery count (1: first)
  // The message's other headers (not courier-*): calls `each` with key and value.
  std::function<void(const std::function<void(std::string_view, std::string_view)>&)>
      for_each_header;
};

class Link;

// What an export route's publishing side is given: publish one event.
// Called one event at a time (the route's thread, or a Serial subscriber).
class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual void publish(const OutEvent& event) = 0;
  // The event on `topic` could not be encoded (`reason`): counted and reported.
  virtual void encode_failed(std::string_view topic, std::string_view reason) = 0;
  // Called when the route's queue is empty: JetStream routes wait for the
  // acknowledgements of what they published and send again what failed.
  // True: call again (resends were sent, their acknowledgements are to come).
  virtual bool idle() = 0;
  // Whether idle() does anything (JetStream routes).
  virtual bool wants_idle() const = 0;
};

// Typed parts of a route, given by Bridge's templates. A queued route has
// `run`: a thread of its own reads its queue. A direct route has `attach`
// instead: it subscribes a handler that publishes on the bus's delivery
// threads, one event at a time (a Serial subscriber), with no thread.
struct ExportParts {
  // Runs on the route's thread until the route's queue ends.
  std::function<void(Publisher&)> run;
  // Subscribes the route's handler, publishing to the Publisher given.
  std::function<void(Publisher&)> attach;
  // Lets run publish what the queue holds, until `deadline` at most, then
  // ends the queue (run returns soon after). A direct route cancels its
  // subscription: once close returns, it publishes nothing more.
  std::function<void(std::chrono::steady_clock::time_point deadline)> close;
  // Events the route's queue dropped.
  std::function<std::uint64_t()> dropped;
};

// Posts a decoded message: true if posted, false if dropped (bus full under
// DropNewest). Throws what the codec or the event throws: a decode error.
using ImportFunction = std::function<bool(const InMessage&)>;

// Throws std::invalid_argument, naming the value, for route options out of
// range (queue_depth, DropOldest on an import, a missing or bad durable name).
void validate_route(const RouteOptions& options, bool import);

class Link {
 public:
  Link(BridgeOptions options, std::function<void()> wait_idle);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // `options` already passed validate_route (Bridge::export_topics checks
  // them before the route subscribes on the bus).
  void add_export(std::string_view pattern, const RouteOptions& options, ExportParts parts);
  // Validates `options`, then subscribes.
  void add_import(std::string_view pattern, const RouteOptions& options, ImportFunction post);
  // Stops every route and closes the connection. Idempotent; a second call
  // returns once the first has finished.
  void stop();

  BridgeStats stats() const;
  const std::string& name() const noexcept;
  bool connected() const;

  boost::signals2::signal<void()> disconnected;
  boost::signals2::signal<void()> reconnected;
  boost::signals2::signal<void(const BridgeFault&)> fault;

  struct State;  // lib/nats/link.cpp

 private:
  std::unique_ptr<State> state_;
};

}  // namespace courier::nats::detail
