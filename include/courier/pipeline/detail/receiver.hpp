// Receiver: one stage of an operator pipeline (operators.hpp), as the stage
// before it sees it.
#pragma once

#include <exception>
#include <type_traits>
#include <utility>

#include "courier/detail/export.hpp"
#include "courier/event.hpp"

namespace courier::detail {

template <class Item>
class Receiver {
 public:
  virtual ~Receiver() = default;
  // Takes one item; may run on several threads at once (see each stage).
  virtual void receive(const Item& item) = 0;
  // Ends this stage and the ones after it: pending items are dropped, timers
  // cancelled, and no call to the sink runs or starts once it returns (but
  // one on the calling thread).
  virtual void close() = 0;
};

template <class Item>
struct IsEvent : std::false_type {};
template <class T>
struct IsEvent<Event<T>> : std::true_type {};

// Calls `function` with `item`, or with its payload if `item` is an event and
// `function` takes the payload only: filter([](const Reading& r) {...}).
template <class Function, class Item>
decltype(auto) call_with(Function& function, const Item& item) {
  if constexpr (std::is_invocable_v<Function&, const Item&>) {
    return function(item);
  } else if constexpr (IsEvent<Item>::value) {
    static_assert(std::is_invocable_v<Function&, const typename Item::data_type&>,
                  "an operator's function must take the event or its payload by const&");
    return function(item.data());
  } else {
    static_assert(std::is_invocable_v<Function&, const Item&>,
                  "an operator's function must take the batch by const&");
  }
}

// What call_with(function, item) returns.
template <class Function, class Item>
using CallResult =
    std::decay_t<decltype(call_with(std::declval<Function&>(), std::declval<const Item&>()))>;

// A timer task's sink threw: it cannot reach the bus's on_error, so it goes
// to stderr, one line, naming the exception.
COURIER_EXPORT void report_timer_delivery_failure(std::exception_ptr error) noexcept;

}  // namespace courier::detail
