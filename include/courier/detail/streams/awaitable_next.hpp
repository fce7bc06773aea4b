// Stream::async_next(use_awaitable) without a round through the executor
// when an item is already there.
//
// Why. Through async_initiate, every co_await of async_next suspends the
// coroutine, completes its handler through asio::defer and waits for the
// executor's scheduler to resume it, even when the stream already holds the
// next event: about 150 ns a round in an io_context, more than the stream's
// own work. Asio 1.82's immediate executors would let the initiation resume
// the coroutine at once; Debian 12's Boost 1.81 has none. So for
// use_awaitable and as_tuple(use_awaitable) (only for them: their result is
// an awaitable, which Asio resumes on the coroutine's own executor),
// async_next returns an awaitable of its own that polls the stream first and
// returns a ready item without suspending; only when it would have to wait
// does it go through async_initiate, with its cancellation, heartbeats and
// errors.
//
// Fairness. A coroutine whose stream never runs dry would then never yield
// to its executor, and the other handlers of that io_context would starve.
// So after kMostImmediateInARow items returned at once on one thread, the
// next wait goes through async_initiate (and the executor's queue) even if
// an item is there.
//
// Errors as async_initiate gives them with the same token: use_awaitable
// throws an outcome's error as boost::system::system_error, as_tuple hands
// it over.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "courier/detail/streams/async_waiter.hpp"
#include "courier/detail/streams/stream_source.hpp"

namespace courier::detail {

// The tokens that take the shortcut: use_awaitable, whose awaitable yields
// the item and throws an error as boost::system::system_error, and
// as_tuple(use_awaitable), whose awaitable yields (error, item).
template <class Token>
struct AwaitableToken {
  static constexpr bool shortcut = false;
};
template <class Executor>
struct AwaitableToken<boost::asio::use_awaitable_t<Executor>> {
  static constexpr bool shortcut = true;
  using executor_type = Executor;
  template <class Item>
  using result_type = Item;
  template <class Item>
  static Item result(boost::system::error_code error, Item item) {
    if (error) boost::throw_exception(boost::system::system_error(error));
    return item;
  }
};
template <class Executor>
struct AwaitableToken<boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>>> {
  static constexpr bool shortcut = true;
  using executor_type = Executor;
  template <class Item>
  using result_type = std::tuple<boost::system::error_code, Item>;
  template <class Item>
  static result_type<Item> result(boost::system::error_code error, Item item) {
    return {error, std::move(item)};
  }
};

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

// async_next with a shortcut token: `Item` is StreamItem<T>, `initiation`
// what async_next hands async_initiate.
template <class Item, class T, class Token, class Initiation,
          class Result = typename AwaitableToken<Token>::template result_type<Item>>
boost::asio::awaitable<Result, typename AwaitableToken<Token>::executor_type> next_or_wait(
    std::shared_ptr<StreamSource<T>> source, Token token, Initiation initiation) {
  if (source != nullptr && immediate_turn()) {
    if (std::optional<Outcome<T>> ready = source->poll()) {
      co_return AwaitableToken<Token>::result(ready->error, Item(std::move(ready->taken)));
    }
  }
  co_return co_await boost::asio::async_initiate<Token, void(boost::system::error_code, Item)>(
      std::move(initiation), token);
}

}  // namespace courier::detail
