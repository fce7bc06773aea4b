/// \file
/// RouteOptions: how one route of a nats::Bridge (an export or an import) is
/// carried: its guarantee, its queue and what happens when that queue is full.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "courier/stream_options.hpp"

namespace courier::nats {

/// The delivery guarantee of a route.
enum class Guarantee {
  /// Core NATS: best effort, fastest. A message published while no importer
  /// listens, or while the connection is down past its reconnect buffer, is lost.
  AtMostOnce,
  /// JetStream: exports are stored in the bridge's stream (subjects under
  /// BridgeOptions::durable_prefix, apart from the core traffic); imports read
  /// them through a durable pull consumer (RouteOptions::durable) and
  /// acknowledge a batch only once the local bus has processed all of it.
  AtLeastOnce,
};

/// How one route is carried. Plain data: thread safety as for any struct.
struct RouteOptions {
  /// Core NATS or JetStream.
  Guarantee guarantee = Guarantee::AtMostOnce;
  /// Exports: the depth of the route's queue (a courier Stream, see
  /// StreamOptions::depth) between the bus and the NATS connection; 0, for
  /// an at-most-once export under Block only: no queue, the bus's thread
  /// publishes each event itself (faster; see Bridge, "Throughput", for
  /// what a stalled server then costs the bus).
  /// At-least-once imports: the most messages fetched at once (held in
  /// memory until the bus has processed them). Core imports: the most
  /// messages libnats holds for the route before it drops (counted in
  /// BridgeStats::dropped). 1 (0 as above) to StreamOptions::kMaxDepth, else
  /// std::invalid_argument.
  std::size_t queue_depth = 4096;
  /// Exports: StreamOptions::overflow of the route's queue (Block: the bus
  /// holds the events back, so post() blocks once its own queue is full;
  /// DropNewest/DropOldest: dropped and counted in BridgeStats::dropped).
  /// Core imports: Block posts with EventBus::post (the libnats delivery
  /// thread waits for room; libnats drops what exceeds queue_depth meanwhile,
  /// counted), DropNewest with EventBus::try_post (a message that finds the
  /// bus full is dropped and counted). DropOldest is rejected for imports
  /// (std::invalid_argument). At-least-once imports always block: nothing
  /// is dropped, the consumer fetches no more than queue_depth at a time.
  Overflow overflow = Overflow::Block;
  /// At-least-once imports: the durable consumer's name (letters, digits,
  /// '-' and '_'); required. The same name in another process (or after a
  /// restart) resumes where the last one acknowledged.
  std::string durable{};
  /// At-least-once imports: how long the server waits for an acknowledgement
  /// before it redelivers a message.
  std::chrono::milliseconds ack_wait{30000};
};

}  // namespace courier::nats
