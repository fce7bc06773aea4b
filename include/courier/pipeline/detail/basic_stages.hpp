// The stages of an operator pipeline that need no clock: the sink, filter,
// map, on_change (operators.hpp documents what each promises).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "courier/event.hpp"
#include "courier/pipeline/detail/receiver.hpp"
#include "courier/pipeline/detail/serial_delivery.hpp"

namespace courier::detail {

// The pipeline's last stage: the user's callable.
template <class Item, class Sink>
class SinkStage final : public Receiver<Item> {
 public:
  explicit SinkStage(Sink sink) : sink_(std::move(sink)) {}
  void receive(const Item& item) override { call_with(sink_, item); }
  void close() override {}

 private:
  Sink sink_;
};

template <class Item, class Predicate>
class FilterStage final : public Receiver<Item> {
 public:
  FilterStage(Predicate predicate, std::shared_ptr<Receiver<Item>> next)
      : predicate_(std::move(predicate)), next_(std::move(next)) {}
  void receive(const Item& item) override {
    if (call_with(predicate_, item)) next_->receive(item);
  }
  void close() override { next_->close(); }

 private:
  Predicate predicate_;
  const std::shared_ptr<Receiver<Item>> next_;
};

// What map(function) makes of an item: the function's result, as an event on
// the same topic with the same ordering key if the item was an event and the
// result is not one.
template <class Function, class Item>
struct MappedItem {
  using type = CallResult<Function, Item>;
};
template <class Function, class T>
struct MappedItem<Function, Event<T>> {
  using Result = CallResult<Function, Event<T>>;
  using type = std::conditional_t<IsEvent<Result>::value, Result, Event<Result>>;
};

template <class Item, class Function>
class MapStage final : public Receiver<Item> {
 public:
  using Out = typename MappedItem<Function, Item>::type;

  MapStage(Function function, std::shared_ptr<Receiver<Out>> next)
      : function_(std::move(function)), next_(std::move(next)) {}
  void receive(const Item& item) override { next_->receive(mapped(item)); }
  void close() override { next_->close(); }

 private:
  Out mapped(const Item& item) {
    if constexpr (IsEvent<Item>::value && !IsEvent<CallResult<Function, Item>>::value) {
      return Out(item.topic(), call_with(function_, item), item.ordering_key());
    } else {
      return call_with(function_, item);
    }
  }

  Function function_;
  const std::shared_ptr<Receiver<Out>> next_;
};

template <class Item, class KeyFunction>
class OnChangeStage final : public Receiver<Item> {
 public:
  using Key = CallResult<KeyFunction, Item>;

  OnChangeStage(KeyFunction key, std::shared_ptr<Receiver<Item>> next)
      : key_(std::move(key)), output_(next), next_(std::move(next)) {}

  void receive(const Item& item) override {
    Key key = call_with(key_, item);  // outside the lock: it may be slow
    {
      std::lock_guard lock(mutex_);
      if (last_key_ == key) return;
      last_key_ = std::move(key);
      output_.enqueue(item);
    }
    output_.deliver();
  }

  void close() override {
    output_.close();
    next_->close();
  }

 private:
  KeyFunction key_;
  std::mutex mutex_;
  std::optional<Key> last_key_;  // guarded by mutex_
  SerialDelivery<Item> output_;
  const std::shared_ptr<Receiver<Item>> next_;
};

}  // namespace courier::detail
