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
// So after kMostImmediateInARow items returned at once on one thread (a
// wait through the executor starts the count again), the next wait goes
// through async_initiate (and the executor's queue) even if an item is
// there.
//
// Errors as async_initiate gives them with the same token: use_awaitable
// throws an outcome's error as boost::system::system_error, as_tuple hands
// it over.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "courier/detail/streams/async_waiter.hpp"
#include "courier/detail/streams/stream_source.hpp"

namespace courier::detail {

// Without coroutine support (BOOST_ASIO_HAS_CO_AWAIT unset) there is no
// use_awaitable, and every token goes through async_initiate.
template <class Token>
struct AwaitableToken {
  static constexpr bool shortcut = false;
};

#if defined(BOOST_ASIO_HAS_CO_AWAIT)

// async_next with a shortcut token (defined below): `Item` is StreamItem<T>,
// `Initiation` what async_next hands async_initiate, made from `source` only
// when the wait goes through it (so that a ready item costs one copy of the
// shared pointer, not two: each is an atomic increment and decrement).
template <class Item, class Initiation, class T, class Token,
          class Result = typename AwaitableToken<Token>::template result_type<Item>>
boost::asio::awaitable<Result, typename AwaitableToken<Token>::executor_type> next_or_wait(
    std::shared_ptr<StreamSource<T>> source, Token token);

// What both shortcut tokens share: Stream::async_next's call, a dependent
// name so that stream.hpp compiles without coroutine support too.
template <class Token, class Executor>
struct ShortcutToken {
  static constexpr bool shortcut = true;
  using executor_type = Executor;
  template <class Item, class Initiation, class T>
  static auto next(std::shared_ptr<StreamSource<T>> source, Token token) {
    return next_or_wait<Item, Initiation>(std::move(source), token);
  }
};

// The tokens that take the shortcut: use_awaitable, whose awaitable yields
// the item and throws an error as boost::system::system_error, and
// as_tuple(use_awaitable), whose awaitable yields (error, item).
template <class Executor>
struct AwaitableToken<boost::asio::use_awaitable_t<Executor>>
    : ShortcutToken<boost::asio::use_awaitable_t<Executor>, Executor> {
  template <class Item>
  using result_type = Item;
  template <class Item>
  static Item result(boost::system::error_code error, Item item) {
    if (error) throw boost::system::system_error(error);
    return item;
  }
};
template <class Executor>
struct AwaitableToken<boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>>>
    : ShortcutToken<boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>>, Executor> {
  template <class Item>
  using result_type = std::tuple<boost::system::error_code, Item>;
  template <class Item>
  static result_type<Item> result(boost::system::error_code error, Item item) {
    return {error, std::move(item)};
  }
};

// Items a thread may return at once in a row before it yields once.
inline constexpr unsigned kMostImmediateInARow = 64;

// Items this thread returned at once since it last went through an executor.
inline thread_local unsigned immediate_in_a_row = 0;

template <class Item, class Initiation, class T, class Token, class Result>
boost::asio::awaitable<Result, typename AwaitableToken<Token>::executor_type> next_or_wait(
    std::shared_ptr<StreamSource<T>> source, Token token) {
  if (source != nullptr && immediate_in_a_row < kMostImmediateInARow) {
    // The common case first: an event the consumer holds (see
    // StreamSource::take_at_hand); then anything else ready, errors included.
    if (std::optional<Event<T>> event = source->take_at_hand()) {
      ++immediate_in_a_row;
      Taken<T> taken{std::move(event)};
      co_return AwaitableToken<Token>::result({}, Item(std::move(taken)));
    }
    if (std::optional<Outcome<T>> ready = source->poll()) {
      ++immediate_in_a_row;
      co_return AwaitableToken<Token>::result(ready->error, Item(std::move(ready->taken)));
    }
  }
  immediate_in_a_row = 0;  // this wait goes through the executor
  // Named, not a temporary in the co_await expression: built there, g++ 12
  // destroyed it twice, releasing `source` once too often (AddressSanitizer
  // saw the stream freed under the coroutine).
  Initiation initiation{std::move(source)};
  co_return co_await boost::asio::async_initiate<Token, void(boost::system::error_code, Item)>(
      std::move(initiation), token);
}

#endif  // BOOST_ASIO_HAS_CO_AWAIT

}  // namespace courier::detail
