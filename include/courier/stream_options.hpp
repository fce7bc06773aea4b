/// \file
/// How a pull stream (stream.hpp) is made, and what it counts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "courier/audience.hpp"

namespace courier {

/// What a stream does with an event that arrives while it holds `depth`
/// events its consumer has not taken yet.
enum class Overflow {
  /// Lossless: the stream holds back its own deliveries until the consumer
  /// makes room. No executor thread waits for it: the event stays in the bus
  /// (in its bounded queue, so a stream that stays full makes post() block
  /// once the queue is full), and other subscribers keep receiving. On an
  /// asynchronous bus, with a depth of 1 or more, the consumer takes the
  /// stream's events from the bus itself, up to `depth` at a time, when it
  /// asks for one (no executor carries them): until then they count as the
  /// bus's (Stats::queued; wait_idle() waits for the consumer), except that
  /// once the bus shuts down it hands them all to the stream without
  /// waiting. On a synchronous bus, post() waits for the consumer.
  Block,
  /// The arriving event is dropped (counted, reported to on_drop).
  DropNewest,
  /// The oldest event the stream holds is dropped to make room.
  DropOldest,
};

/// How EventBus::stream makes a stream.
struct StreamOptions {
  /// Events held for the consumer, at most; 0 (Block only) is a rendezvous:
  /// an event is handed over only while the consumer waits for it. At most
  /// kMaxDepth, else courier::LimitExceeded.
  std::size_t depth = 256;
  /// What to do with an event that finds the stream full.
  Overflow overflow = Overflow::Block;
  /// If not zero: Stream::next_item and async_next yield a heartbeat (an item
  /// whose is_heartbeat() is true) when nothing arrived for this long, so a
  /// consumer forwarding to a peer can notice a dead one on an idle stream.
  /// Costs no thread: the consumer's own wait times out.
  std::chrono::milliseconds heartbeat{0};
  /// The stream's identity, as SubscribeOptions::identity (which a stream
  /// may be given instead; both set: std::invalid_argument).
  std::optional<Identity> identity = std::nullopt;
  /// Runs once when the stream's subscription ends, as
  /// SubscribeOptions::on_disconnect (which a stream may be given instead;
  /// both set: std::invalid_argument). Closing or destroying the Stream runs
  /// it on that thread.
  std::function<void()> on_disconnect = {};

  /// The largest depth a stream may have.
  static constexpr std::size_t kMaxDepth = std::size_t{1} << 24;
};

/// A snapshot of one stream's counters, consistent with one another:
/// received == delivered + dropped + depth.
struct StreamStats {
  std::uint64_t received = 0;   ///< events that reached the stream
  std::uint64_t delivered = 0;  ///< events its consumer took
  std::uint64_t dropped = 0;    ///< events dropped by its overflow policy or by close()
  std::uint64_t depth = 0;      ///< events held now
};

}  // namespace courier
