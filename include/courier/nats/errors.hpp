/// \file
/// What a nats::Bridge throws and reports.
#pragma once

#include <stdexcept>
#include <string>

namespace courier::nats {

/// Thrown when the bridge cannot do what it was asked with NATS (connect,
/// subscribe, make its stream or consumer); the message names the URL or
/// subject and libnats's reason. Immutable: shared objects are safe.
class BridgeError : public std::runtime_error {
 public:
  /// `what`: the whole message.
  explicit BridgeError(const std::string& what) : std::runtime_error(what) {}
};

/// What Bridge::on_error reports: a message that did not decode, a publish
/// that failed or an event that did not encode, an import the bus refused or
/// the server has not confirmed.
struct BridgeFault {
  /// What went wrong.
  enum class Kind {
    Decode,   ///< a message's payload or headers did not decode: dropped (acknowledged)
    Publish,  ///< a publish to NATS failed, or an event did not encode
    Import,   ///< the bus refused an imported event (shut down), or the server has not
              ///< confirmed a new import's subscription (import_subjects)
  };
  Kind kind = Kind::Decode;  ///< what went wrong
  std::string subject;       ///< the NATS subject concerned
  std::string message;       ///< why, in words
};

}  // namespace courier::nats
