/// \file
/// What a request (request_reply/requester.hpp) fails with, besides
/// courier::Timeout (pipeline/timeout.hpp) and courier::BusClosed.
#pragma once

#include <stdexcept>
#include <string>

#include "courier/detail/export.hpp"

namespace courier {

/// No server took the request: it was a dead event (no subscriber of its
/// payload type on its topic, or every one was cancelled before it could
/// take it). Names the topic. Raised as soon as the bus finds the request
/// dead, not after the timeout.
///
/// Thread safety: immutable; shared objects: safe.
class COURIER_EXPORT NoResponders : public std::runtime_error {
 public:
  /// No server for `topic`.
  explicit NoResponders(std::string topic);
  /// The request's topic.
  const std::string& topic() const noexcept { return topic_; }

 private:
  std::string topic_;
};

/// The server's handler threw: names the request's topic and carries the
/// message of what it threw.
///
/// Thread safety: immutable; shared objects: safe.
class COURIER_EXPORT RemoteError : public std::runtime_error {
 public:
  /// The server of `topic` threw an exception whose what() was `message`.
  RemoteError(std::string topic, std::string message);
  /// The request's topic.
  const std::string& topic() const noexcept { return topic_; }
  /// What the server's exception said.
  const std::string& remote_message() const noexcept { return remote_message_; }

 private:
  std::string topic_;
  std::string remote_message_;
};

/// The Requester was destroyed while the request was waiting for its reply.
///
/// Thread safety: immutable; shared objects: safe.
class COURIER_EXPORT RequestAbandoned : public std::runtime_error {
 public:
  /// A request on `topic` lost its requester.
  explicit RequestAbandoned(const std::string& topic);
};

}  // namespace courier
