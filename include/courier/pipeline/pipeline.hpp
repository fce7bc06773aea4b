/// \file
/// courier::pipe: operators (operators.hpp) between a subscription and its
/// sink, as one callable that EventBus::subscribe takes, or that a stream's
/// consumer calls with each event it takes.
///
/// \code
///   bus.subscribe<int>("n.*", courier::pipe<int>(courier::filter(is_even), print));
///
///   courier::Stream<int> stream = bus.stream<int>("n.*");
///   courier::Pipeline<int> evens = courier::pipe<int>(courier::filter(is_even), print);
///   for (const courier::Event<int>& event : stream) evens(event);
/// \endcode
///
/// Lifetime. A Pipeline is move-only and ends its stages when destroyed:
/// pending items (a debounced event, a partial batch) are dropped, timers
/// cancelled, and no call to the sink runs or starts once the destructor
/// returns (except one on the destroying thread itself). The bus destroys
/// the pipeline it holds when the subscription is cancelled from outside its
/// handlers (Subscription::cancel returns after that), so the sink may then
/// be destroyed; from inside a handler, later.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include "courier/event.hpp"
#include "courier/pipeline/detail/basic_stages.hpp"
#include "courier/pipeline/detail/receiver.hpp"
#include "courier/pipeline/operators.hpp"

namespace courier {

namespace detail {

template <class In, class Sink>
std::shared_ptr<Receiver<In>> link_stages(Sink&& sink) {
  return std::make_shared<SinkStage<In, std::decay_t<Sink>>>(std::forward<Sink>(sink));
}

// Links from the sink back: each stage's input is the output of the ones
// before it.
template <class In, class Operator, class Next, class... Rest>
std::shared_ptr<Receiver<In>> link_stages(Operator&& op, Next&& next, Rest&&... rest) {
  using Out = typename std::decay_t<Operator>::template output<In>;
  auto downstream = link_stages<Out>(std::forward<Next>(next), std::forward<Rest>(rest)...);
  return std::decay_t<Operator>(std::forward<Operator>(op))
      .template link<In>(std::move(downstream));
}

}  // namespace detail

/// Events of type T through a chain of operators to a sink: a callable
/// taking `const Event<T>&`, for EventBus::subscribe<T> or a stream's
/// consumer. Made by courier::pipe.
///
/// Thread safety: operator() is as safe as its stages (operators.hpp): from
/// several threads at once when its filter and map functions are. Moving or
/// destroying it while another thread calls it is not safe.
template <class T>
class Pipeline {
 public:
  /// Made by courier::pipe.
  explicit Pipeline(std::shared_ptr<detail::Receiver<Event<T>>> head) noexcept
      : head_(std::move(head)) {}
  /// Ends the stages (see the top of pipeline.hpp).
  ~Pipeline() {
    if (head_ != nullptr) head_->close();
  }
  /// Takes `other`'s stages over; `other` is left empty.
  Pipeline(Pipeline&& other) noexcept = default;
  /// Ends this pipeline's stages, then takes `other`'s over.
  Pipeline& operator=(Pipeline&& other) noexcept {
    if (this != &other) {
      if (head_ != nullptr) head_->close();
      head_ = std::move(other.head_);
    }
    return *this;
  }
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Feeds `event` to the first stage. What the stages throw propagates.
  void operator()(const Event<T>& event) const { head_->receive(event); }

 private:
  std::shared_ptr<detail::Receiver<Event<T>>> head_;
};

/// Links `operators_then_sink` (zero or more operators from operators.hpp,
/// then a sink taking what the last one hands on, by const reference; for
/// events, their payload will do) into a Pipeline<T>:
/// `courier::pipe<int>(courier::filter(is_even), courier::buffer(10, 1s, timers), store)`.
/// The sink is called as operators.hpp says: one call at a time after a
/// stateful operator, concurrently only behind a Concurrent subscription
/// with stateless operators alone.
template <class T, class... OperatorsThenSink>
Pipeline<T> pipe(OperatorsThenSink&&... operators_then_sink) {
  static_assert(sizeof...(OperatorsThenSink) > 0, "courier::pipe needs a sink, last");
  return Pipeline<T>(
      detail::link_stages<Event<T>>(std::forward<OperatorsThenSink>(operators_then_sink)...));
}

}  // namespace courier
