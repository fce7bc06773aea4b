/// \file
/// BridgeStats: the counters of a nats::Bridge.
#pragma once

#include <cstdint>

namespace courier::nats {

/// A snapshot of a Bridge's counters (Bridge::stats()). Each is exact at some
/// moment of the call; they need not agree with one another while messages flow.
struct BridgeStats {
  std::uint64_t exported = 0;     ///< events published to NATS (a resend is not counted again)
  std::uint64_t imported = 0;     ///< messages posted on the local bus
  std::uint64_t dropped = 0;      ///< events or messages dropped by an overflow policy (either way)
  std::uint64_t redelivered = 0;  ///< at-least-once messages the server delivered again
  std::uint64_t decode_errors = 0;  ///< messages that did not decode (or had invalid headers)
  std::uint64_t publish_errors =
      0;  ///< publishes that failed for good (at-least-once: after every resend)
  std::uint64_t republished = 0;  ///< at-least-once publishes sent again after a failure
};

}  // namespace courier::nats
