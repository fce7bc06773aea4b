// Handler: the type-erased "call this subscriber with this event".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>

#include "courier/detail/export.hpp"
#include "courier/event.hpp"
#include "courier/subscriber.hpp"

namespace courier::detail {

struct EventOps;  // delivery/envelope.hpp

// Names a type for error messages ("MyCounter", not "9MyCounter").
COURIER_EXPORT std::string readable_type_name(const std::type_info& type);

class Handler {
 public:
  virtual ~Handler() = default;
  // `event` points at an Event<T> of the T the handler was made for; `ops`
  // are its EventOps (a stream reads rebuildable_from_payload). False if
  // the subscriber declined the event for now (a full stream that blocks,
  // stream.hpp; only ever on an asynchronous bus's Serial subscriber): the
  // bus keeps it, parks the subscriber's lane, and offers it again once the
  // subscriber resumes (BusCore::resume_deliveries).
  virtual bool invoke(const void* event, const EventOps& ops) = 0;
  // Who this is, for error reports.
  virtual std::string describe() const = 0;
};

template <class T>
class SubscriberHandler final : public Handler {
 public:
  explicit SubscriberHandler(std::shared_ptr<Subscriber<T>> subscriber)
      : subscriber_(std::move(subscriber)) {}

  bool invoke(const void* event, const EventOps& /*ops*/) override {
    subscriber_->process(*static_cast<const Event<T>*>(event));
    return true;
  }
  std::string describe() const override { return readable_type_name(typeid(*subscriber_)); }

 private:
  std::shared_ptr<Subscriber<T>> subscriber_;
};

template <class T, class F>
class CallableHandler final : public Handler {
 public:
  explicit CallableHandler(F callable) : callable_(std::move(callable)) {}

  bool invoke(const void* event, const EventOps& /*ops*/) override {
    std::invoke(callable_, *static_cast<const Event<T>*>(event));
    return true;
  }
  std::string describe() const override { return "callable " + readable_type_name(typeid(F)); }

 private:
  F callable_;
};

}  // namespace courier::detail
