/// \file
/// courier::Requester: request-reply over a bus (formix-pubsub's
/// request/response), the asking side; courier::serve (serve.hpp) answers.
///
/// \code
///   courier::serve<Sum>(bus, "rpc.add", [](const Sum& sum) { return sum.a + sum.b; });
///
///   courier::Requester<int> requester(bus);
///   int total = requester.request("rpc.add", Sum{2, 3}, 1s).get().data();   // 5
///   int same = requester.call("rpc.add", Sum{2, 3}, 1s).data();   // waits here, faster
///   auto reply = co_await requester.async_request("rpc.add", Sum{2, 3}, 1s,
///                                                 boost::asio::use_awaitable);
/// \endcode
///
/// A request is posted as an ordinary event with a fresh correlation id and
/// the requester's inbox topic in its headers (protocol.hpp), so middleware,
/// streams and bridges see it as any other. Every request finishes exactly
/// once, with the first of:
/// - the first reply carrying its correlation id (later ones are dropped);
/// - courier::RemoteError, naming the topic and the server's message, if the
///   server's handler threw;
/// - courier::NoResponders, as soon as the bus finds the request dead (no
///   server subscribed to its topic for its payload type), not after the
///   timeout;
/// - courier::Timeout, naming the topic and the timeout;
/// - courier::RequestAbandoned, if the Requester is destroyed first.
/// A reply never reaches another requester: each has its own inbox topic and
/// each request its own correlation id.
#pragma once

#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/signals2/connection.hpp>

#include "courier/event.hpp"
#include "courier/event_bus.hpp"
#include "courier/pipeline/detail/handler_completion.hpp"
#include "courier/pipeline/operators.hpp"
#include "courier/pipeline/timeout.hpp"
#include "courier/pipeline/timer_service.hpp"
#include "courier/pipeline/timer_thread.hpp"
#include "courier/request_reply/detail/awaited_reply.hpp"
#include "courier/request_reply/detail/pending_replies.hpp"
#include "courier/request_reply/errors.hpp"
#include "courier/request_reply/protocol.hpp"
#include "courier/subscription.hpp"

namespace courier {

/// Asks questions whose answers are Event<Rep>s. One Requester holds one
/// inbox subscription (two: replies and failure replies) on its bus, made
/// once, so a request costs no subscribe: keep one per bus and reply type,
/// and share it.
///
/// Thread safety: request and async_request may be called from any thread
/// at once, handlers of the bus included (the request is then posted as a
/// handler's post is: see EventBus). Destroy it from outside its bus's
/// handlers, before the bus.
template <class Rep>
class Requester {
 public:
  /// How long a request waits at most.
  using Duration = TimerService::Duration;

  /// Subscribes this requester's inbox on `bus`; timeouts run on `timers`.
  /// Throws what EventBus::subscribe throws (courier::LimitExceeded,
  /// BusClosed is not thrown: a closed bus fails each request instead).
  explicit Requester(EventBus& bus, TimerService& timers = shared_timer_thread())
      : bus_(bus),
        inbox_(detail::new_inbox_topic()),
        pending_(std::make_shared<detail::PendingReplies<Rep>>(timers)) {
    replies_ = bus.subscribe<Rep>(
        inbox_,
        [pending = pending_](const Event<Rep>& reply) {
          if (const auto id = detail::correlation_id_of(reply.headers())) {
            pending->reply(*id, reply);
          }
        },
        Concurrency::Concurrent);
    failures_ = bus.subscribe<RemoteFailure>(
        inbox_,
        [pending = pending_](const Event<RemoteFailure>& failure) {
          const auto id = detail::correlation_id_of(failure.headers());
          if (!id) return;
          pending->fail(*id, [&failure](const std::string&) {
            return std::make_exception_ptr(
                RemoteError(failure.data().topic, failure.data().message));
          });
        },
        Concurrency::Concurrent);
    dead_requests_ = bus.on_dead_event([pending = pending_, inbox = inbox_](const DeadEvent& dead) {
      const Headers* headers = pending->headers_of(dead);
      if (headers == nullptr) return;
      const std::string* reply_to = headers->find(kReplyToHeader);
      const auto id = detail::correlation_id_of(*headers);
      if (reply_to == nullptr || *reply_to != inbox || !id) return;
      pending->fail(*id, [](const std::string& topic) {
        return std::make_exception_ptr(NoResponders(topic));
      });
    });
  }

  /// Cancels the inbox, then finishes every request still waiting with
  /// courier::RequestAbandoned.
  ~Requester() {
    replies_.cancel();
    failures_.cancel();
    dead_requests_.disconnect();
    pending_->abandon_all();
  }

  Requester(const Requester&) = delete;
  Requester& operator=(const Requester&) = delete;

  /// The topic replies to this requester are posted on.
  const std::string& inbox() const noexcept { return inbox_; }

  /// Posts `request` on `topic` and returns a future of its reply (see the
  /// file comment for how it finishes). Throws, before anything is posted,
  /// std::invalid_argument for an invalid topic or a timeout that is not
  /// positive; after, what EventBus::post throws (BusClosed), the request
  /// then forgotten.
  template <class Req>
  std::future<Event<Rep>> request(std::string_view topic, Req request, Duration timeout) {
    std::promise<Event<Rep>> promise;
    std::future<Event<Rep>> future = promise.get_future();
    start(topic, std::move(request), timeout,
          [promise = std::move(promise)](std::exception_ptr error,
                                         std::optional<Event<Rep>> reply) mutable {
            if (error) return promise.set_exception(std::move(error));
            promise.set_value(std::move(*reply));
          });
    return future;
  }

  /// Asks and waits on the calling thread: the reply, or the error that
  /// request()'s future would throw (courier::RemoteError, NoResponders,
  /// Timeout, RequestAbandoned); throws what request() throws, too. Faster
  /// than request().get(): the wait spins for a few dozen microseconds before
  /// it sleeps, and a reply from a server on a busy bus usually comes within
  /// them (detail/awaited_reply.hpp). As with get(), do not call it from a
  /// handler of an asynchronous bus: the handler would hold an executor the
  /// reply may need.
  template <class Req>
  Event<Rep> call(std::string_view topic, Req request, Duration timeout) {
    auto answer = std::make_shared<detail::AwaitedReply<Rep>>();
    start(topic, std::move(request), timeout,
          [answer](std::exception_ptr error, std::optional<Event<Rep>> reply) {
            answer->finish(std::move(error), std::move(reply));
          });
    return answer->take();
  }

  /// request() with any Asio completion token: a callback, use_future,
  /// use_awaitable, deferred. Signature: void(std::exception_ptr,
  /// std::optional<Event<Rep>>): the reply, or an error and nullopt (so
  /// use_future and use_awaitable throw it). The handler runs on its
  /// associated executor, never inside this call. Throws as request() does
  /// (with deferred, when launched).
  template <class Req, class CompletionToken>
  auto async_request(std::string_view topic, Req request, Duration timeout,
                     CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken,
                                       void(std::exception_ptr, std::optional<Event<Rep>>)>(
        [self = this, timeout](auto handler, std::string topic_copy, Req request_copy) {
          using Completion = detail::HandlerCompletion<Event<Rep>, std::decay_t<decltype(handler)>>;
          self->start(topic_copy, std::move(request_copy), timeout, Completion(std::move(handler)));
        },
        token, std::string(topic), std::move(request));
  }

 private:
  template <class Req, class F>
  void start(std::string_view topic, Req request, Duration timeout, F completion) {
    detail::checked_positive("a request's timeout", timeout);
    Event<Req> event(topic, std::move(request));
    pending_->template note_request_type<Req>();
    using Completion = typename detail::PendingReplies<Rep>::template CompletionOf<F>;
    const std::uint64_t id = pending_->add(std::string(topic), timeout,
                                           std::make_unique<Completion>(std::move(completion)));
    event.set_header(kReplyToHeader, inbox_).set_header(kCorrelationIdHeader, std::to_string(id));
    try {
      bus_.post(std::move(event));
    } catch (...) {
      pending_->forget(id);
      throw;
    }
  }

  EventBus& bus_;
  std::string inbox_;
  std::shared_ptr<detail::PendingReplies<Rep>> pending_;
  Subscription replies_;
  Subscription failures_;
  boost::signals2::scoped_connection dead_requests_;
};

}  // namespace courier
