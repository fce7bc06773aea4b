/// \file
/// courier::serve: the answering side of request-reply (requester.hpp).
///
/// \code
///   courier::Subscription adder = courier::serve<Sum>(
///       bus, "rpc.add", [](const Sum& sum) { return sum.a + sum.b; },
///       courier::Concurrency::Concurrent);
/// \endcode
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "courier/event.hpp"
#include "courier/event_bus.hpp"
#include "courier/pipeline/detail/receiver.hpp"
#include "courier/request_reply/protocol.hpp"
#include "courier/subscriber.hpp"
#include "courier/subscription.hpp"

namespace courier {

/// Answers the requests (Event<Req>s) posted on topics matching `pattern`:
/// `handler` takes the request event or its payload by const reference and
/// returns the reply's payload, which is posted to the request's inbox with
/// its correlation id (protocol.hpp). If the handler throws, a RemoteFailure
/// with its message is posted instead (the requester raises RemoteError);
/// the exception goes nowhere else. A request without reply headers is
/// handled and its result dropped. The handler runs as a subscriber of
/// `concurrency` does (Serial: one request at a time, in post order).
/// Returns the subscription: cancel it to stop serving. Throws as
/// EventBus::subscribe does. Thread-safe.
template <class Req, class Handler>
Subscription serve(EventBus& bus, std::string_view pattern, Handler handler,
                   Concurrency concurrency = Concurrency::Serial) {
  using Rep = detail::CallResult<Handler, Event<Req>>;
  static_assert(!std::is_void_v<Rep>, "a server's handler must return the reply's payload");
  return bus.subscribe<Req>(
      pattern,
      [&bus, handler = std::move(handler)](const Event<Req>& request) mutable {
        const std::string* reply_to = request.headers().find(kReplyToHeader);
        const std::string* id = request.headers().find(kCorrelationIdHeader);
        if (reply_to == nullptr || id == nullptr) {
          detail::call_with(handler, request);
          return;
        }
        std::optional<Rep> reply;
        std::exception_ptr failure;
        try {
          reply.emplace(detail::call_with(handler, request));
        } catch (...) {
          failure = std::current_exception();
        }
        if (reply) {
          bus.post(Event<Rep>(*reply_to, std::move(*reply)).set_header(kCorrelationIdHeader, *id));
        } else {
          bus.post(Event<RemoteFailure>(*reply_to, RemoteFailure{std::string(request.topic()),
                                                                 detail::describe(failure)})
                       .set_header(kCorrelationIdHeader, *id));
        }
      },
      concurrency);
}

}  // namespace courier
