// Stream::async_next(use_awaitable) without a round through the executor
// when an item is already there.
//
// Why. Through async_initiate, every co_await of async_next suspends the
// coroutine, completes its handler through asio::defer and waits for the
// executor's scheduler to resume it, even when the stream already holds the
// next event: about 150 ns a round in an io_context, more than the stream's
// own work. Asio 1.82's immediate executors would let the initiation resume
// the coroutine at once; Debian 12's Boost 1.81 has none. So for
// use_awaitable (and only for it: its result is an awaitable, which Asio
// resumes on the coroutine's own executor), async_next returns an awaitable
// of its own that polls the stream first and returns a ready item without
// suspending; only when it would have to wait does it go through
// async_initiate, with its cancellation, heartbeats and errors.
//
// Fairness. A coroutine whose stream never runs dry would then never yield
// to its executor, and the other handlers of that io_context would starve.
// So after kMostImmediateInARow items returned at once on one thread, the
// next wait goes through async_initiate (and the executor's queue) even if
// an item is there.
//
// Errors as async_initiate's use_awaitable gives them: an outcome with an
// error is thrown as boost::system::system_error.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "courier/detail/streams/async_waiter.hpp"
#include "courier/detail/streams/stream_source.hpp"

namespace courier::detail {

template <class Token>
struct is_use_awaitable : std::false_type {};
template <class Executor>
struct is_use_awaitable<boost::asio::use_awaitable_t<Executor>> : std::true_type {};

// Items a thread may return at once in a row before it yields once.
inline constexpr unsigned kMostImmediateInARow = 64;

// True if this thread may return a ready item at once; false once in every
// kMostImmediateInARow + 1 calls.
inline bool immediate_turn() noexcept {
  thread_local unsigned immediate_in_a_row = 0;
  if (++immediate_in_a_row <= kMostImmediateInARow) return true;
  immediate_in_a_row = 0;
  return false;
}

// async_next(use_awaitable): `Item` is StreamItem<T>, `initiation` what
// async_next hands async_initiate.
template <class Item, class T, class Executor, class Initiation>
boost::asio::awaitable<Item, Executor> next_or_wait(std::shared_ptr<StreamSource<T>> source,
                                                    boost::asio::use_awaitable_t<Executor> token,
                                                    Initiation initiation) {
  if (source != nullptr && immediate_turn()) {
    if (std::optional<Outcome<T>> ready = source->poll()) {
      if (ready->error) boost::throw_exception(boost::system::system_error(ready->error));
      co_return Item(std::move(ready->taken));
    }
  }
  co_return co_await boost::asio::async_initiate<boost::asio::use_awaitable_t<Executor>,
                                                 void(boost::system::error_code, Item)>(
      std::move(initiation), token);
}

}  // namespace courier::detail
