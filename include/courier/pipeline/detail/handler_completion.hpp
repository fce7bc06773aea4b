// HandlerCompletion: completes an Asio handler of signature
// void(std::exception_ptr, std::optional<Value>) through its associated
// executor, never inline, keeping that executor's context from running out
// of work meanwhile. Used by the waits (waiting.hpp) and requests
// (request_reply/requester.hpp) that take a completion token.
//
// Thread safety: called once, from any thread.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

namespace courier::detail {

template <class Value, class Handler>
class HandlerCompletion {
 public:
  explicit HandlerCompletion(Handler handler)
      : work_(boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                  boost::asio::execution::outstanding_work.tracked)),
        handler_(std::move(handler)) {}

  // The work guard goes with the handler: the object that completes it may
  // outlive it (the bus lets go of a handler cancelled from inside a
  // handler later).
  void operator()(std::exception_ptr error, std::optional<Value> value) && {
    const WorkExecutor executor = work_;
    boost::asio::post(executor, [work = std::move(work_), handler = std::move(handler_),
                                 error = std::move(error), value = std::move(value)]() mutable {
      std::move(handler)(std::move(error), std::move(value));
    });
  }

 private:
  using WorkExecutor = std::decay_t<decltype(boost::asio::prefer(
      std::declval<boost::asio::associated_executor_t<Handler>>(),
      boost::asio::execution::outstanding_work.tracked))>;
  WorkExecutor work_;
  Handler handler_;
};

}  // namespace courier::detail
