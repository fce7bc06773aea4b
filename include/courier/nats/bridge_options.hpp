/// \file
/// BridgeOptions: how a nats::Bridge connects and names its subjects.
#pragma once

#include <chrono>
#include <string>

namespace courier::nats {

/// How a Bridge connects and names its subjects. Plain data: thread safety as
/// for any struct.
///
/// Subjects: a local topic `t` is the NATS subject `prefix + t` on
/// at-most-once routes and `durable_prefix + prefix + t` on at-least-once
/// routes, so that the JetStream stream (which captures `durable_prefix + ">"`)
/// never stores the core traffic.
struct BridgeOptions {
  /// The NATS server (or a comma-separated list of servers).
  std::string url = "nats://127.0.0.1:4222";
  /// Prepended to every topic to make its subject ("app1." gives
  /// "app1.metrics.cpu"); empty, or valid topic tokens ending with '.'.
  std::string prefix{};
  /// Prepended to the subjects of at-least-once routes; valid topic tokens
  /// ending with '.'.
  std::string durable_prefix = "courier-durable.";
  /// The JetStream stream at-least-once routes use; made (file storage) if
  /// absent, with subjects `durable_prefix + ">"`.
  std::string stream = "COURIER";
  /// This bridge's identity, carried in the `courier-origin` header of its
  /// at-least-once exports (so that it drops them if it imports them back)
  /// and in `courier-imported` on what it imports. Empty: a unique one is
  /// made (host process id and a random number).
  std::string name{};
  /// The server's duplicate window for `Nats-Msg-Id` (stream creation only).
  std::chrono::seconds duplicate_window{120};
  /// Time between reconnect attempts; also the wait before an at-least-once
  /// publish that failed is first sent again.
  std::chrono::milliseconds reconnect_wait{100};
  /// Sends of an at-least-once publish, the first included, before it counts
  /// as failed (BridgeStats::publish_errors). The waits between them double
  /// from reconnect_wait up to 2 s: with the defaults, about 11 s of refusals
  /// (a stream missing, JetStream recovering) lose nothing; a publish that
  /// is not answered at all also waits 5 s per send for its acknowledgement.
  /// At least 1, else std::invalid_argument.
  int publish_attempts = 10;
  /// Reconnect attempts before giving up; -1: forever.
  int max_reconnects = -1;
  /// The first connection attempt's timeout.
  std::chrono::milliseconds connect_timeout{2000};
  /// How long a write to the server may wait for the server to read (libnats's
  /// write deadline); 0: no limit. Without one, a server that stops reading
  /// but keeps the connection open holds whatever thread publishes (for an
  /// export with RouteOptions::queue_depth 0, a bus thread) until it reads
  /// again or the TCP connection fails. With one, that write fails once it
  /// has waited this long, and so does every publish after it, at once
  /// (counted in BridgeStats::publish_errors, reported to on_error), for as
  /// long as the server reads nothing: libnats keeps the connection meanwhile
  /// (Bridge::connected() stays true, on_disconnect does not fire). Once the
  /// server reads again, libnats drops the connection and reconnects; what
  /// its buffer held is lost (at-least-once routes send theirs again).
  /// Negative is refused with std::invalid_argument.
  std::chrono::milliseconds write_deadline{0};
};

}  // namespace courier::nats
