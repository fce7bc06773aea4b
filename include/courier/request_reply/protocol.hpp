/// \file
/// How a request and its reply are spelled on the bus (request_reply/):
/// what Requester and serve agree on, and what a program that answers
/// requests by hand (or a bridge carrying them across processes) must keep.
///
/// - A request is an Event<Req> on the service's topic with two headers:
///   kReplyToHeader, the requester's inbox topic, and kCorrelationIdHeader,
///   a number unique among that requester's requests.
/// - A reply is an Event<Rep> posted on the inbox topic with the request's
///   kCorrelationIdHeader. A server whose handler threw posts, instead, an
///   Event<RemoteFailure> there, with the same header.
/// - A request without both headers is served, and its result dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "courier/detail/export.hpp"
#include "courier/headers.hpp"

namespace courier {

/// The header naming the topic a reply goes to.
inline constexpr std::string_view kReplyToHeader = "reply-to";
/// The header a reply shares with its request.
inline constexpr std::string_view kCorrelationIdHeader = "correlation-id";

/// The reply of a server whose handler threw: what the requester then
/// raises as courier::RemoteError.
struct RemoteFailure {
  std::string topic;    ///< the request's topic
  std::string message;  ///< what() of what the handler threw
};

namespace detail {

// A new inbox topic, unique in this process and, with high probability,
// among processes ("_courier.inbox.<random>.<n>": bridged buses share topics).
COURIER_EXPORT std::string new_inbox_topic();

// The correlation id in `headers`, if it has a well-formed one.
COURIER_EXPORT std::optional<std::uint64_t> correlation_id_of(const Headers& headers) noexcept;

// The text of an exception, for a RemoteFailure.
COURIER_EXPORT std::string describe(std::exception_ptr error);

}  // namespace detail
}  // namespace courier
