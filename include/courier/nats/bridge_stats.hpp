/// \file
/// BridgeStats: the counters of a nats::Bridge.
#pragma once

#include <cstdint>

namespace courier::nats {

/// A snapshot of a Bridge's counters (Bridge::stats()). Each is exact at some
/// moment of the call; they need not agree with one another while messages flow.
struct BridgeStats {
  /// Events handed to NATS: published (core), or handed to JetStream
  /// (at-least-once; once each however often resent, and one given up later
  /// counts in publish_errors too).
  std::uint64_t exported = 0;
  /// Messages posted on the local bus.
  std::uint64_t imported = 0;
  /// Events or messages dropped by an overflow policy (either way).
  std::uint64_t dropped = 0;
  /// At-least-once messages the server delivered again.
  std::uint64_t redelivered = 0;
  /// Messages that did not decode (or had invalid headers).
  std::uint64_t decode_errors = 0;
  /// Publishes that failed for good (at-least-once: after every send, or
  /// still waiting for a resend when the bridge stopped), and events whose
  /// codec threw in encode (not published).
  std::uint64_t publish_errors = 0;
  /// At-least-once sends after the first (Bridge: what it resends, and when).
  std::uint64_t republished = 0;
};

}  // namespace courier::nats
