// Envelope: one slot of the bus's bounded queue, holding one accepted event.
//
// An event is copied into an envelope once, when it is posted, and stays there,
// in place, until its last delivery has finished; every lane it goes to gets a
// DeliveryNode pointing at it. Envelopes are recycled, not freed: the bus owns
// `queue_capacity` of them, and their storage (the inline buffer, the delivery
// nodes) keeps its size across uses, so that a post in steady state allocates
// nothing for payloads that fit inline and fan-outs seen before.
//
// Thread safety: the posting thread fills an envelope before publishing its
// nodes; delivery threads then only read the event and count `pending` down.
// The thread that brings `pending` to zero owns the envelope again.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "courier/detail/mailbox.hpp"
#include "courier/event.hpp"

namespace courier::detail {

// What the bus needs to know of an event without knowing its payload type.
struct EventOps {
  const std::type_info& type;
  void (*destroy)(void* event) noexcept;
  const std::string& (*topic)(const void* event) noexcept;
  const std::string& (*ordering_key)(const void* event) noexcept;
};

template <class T>
inline constexpr EventOps event_ops{
    typeid(T),
    [](void* event) noexcept { static_cast<Event<T>*>(event)->~Event<T>(); },
    [](const void* event) noexcept -> const std::string& {
      return static_cast<const Event<T>*>(event)->topic();
    },
    [](const void* event) noexcept -> const std::string& {
      return static_cast<const Event<T>*>(event)->ordering_key();
    },
};

struct Envelope {
  // Room for an Event<T> with a payload of up to 64 bytes (two strings + 64).
  static constexpr std::size_t kInlineBytes = 2 * sizeof(std::string) + 64;
  static constexpr std::size_t kInlineNodes = 4;
  static constexpr std::uint32_t kOverflowIndex = ~std::uint32_t{0};

  template <class T>
  static constexpr bool fits_inline = sizeof(Event<T>) <= kInlineBytes &&
                                      alignof(Event<T>) <= alignof(std::max_align_t);

  Envelope() = default;
  Envelope(const Envelope&) = delete;
  Envelope& operator=(const Envelope&) = delete;
  ~Envelope() { clear(); }

  // Moves `event` in. The envelope must be empty.
  template <class T>
  void store(Event<T>&& event) {
    if constexpr (fits_inline<T>) {
      event_ = ::new (static_cast<void*>(inline_storage_)) Event<T>(std::move(event));
      ops_ = &event_ops<T>;
    } else {
      event_ = new Event<T>(std::move(event));
      ops_ = &heap_event_ops<T>;
    }
  }

  // Destroys the event, keeping the storage for the next one.
  void clear() noexcept {
    if (event_ != nullptr) ops_->destroy(event_);
    event_ = nullptr;
  }

  const void* event() const noexcept { return event_; }
  const EventOps& ops() const noexcept { return *ops_; }
  const std::string& topic() const noexcept { return ops_->topic(event_); }

  // Delivery node `i`; room for `count` nodes must have been made with reserve_nodes().
  DeliveryNode& node(std::size_t i) noexcept {
    return i < kInlineNodes ? inline_nodes_[i] : extra_nodes_[i - kInlineNodes];
  }

  // Makes room for `count` nodes, keeping the targets of those already filled.
  // Allocates only beyond the largest fan-out this envelope has seen.
  void reserve_nodes(std::size_t count) {
    if (count <= kInlineNodes + extra_node_count_) return;
    const std::size_t extra = std::max(count - kInlineNodes, 2 * extra_node_count_);
    auto grown = std::make_unique<DeliveryNode[]>(extra);
    for (std::size_t i = 0; i < extra_node_count_; ++i) {
      grown[i].envelope = extra_nodes_[i].envelope;
      grown[i].lane = extra_nodes_[i].lane;
    }
    extra_nodes_ = std::move(grown);
    extra_node_count_ = extra;
  }

  std::atomic<std::uint32_t> pending{0};  // deliveries not yet finished
  std::atomic<bool> reached{false};       // some subscriber's process() ran for it
  std::uint32_t index = kOverflowIndex;   // slot number, or kOverflowIndex if heap-allocated
  std::size_t lane_hint = 0;              // picks the lane of Concurrent subscribers

 private:
  template <class T>
  static constexpr EventOps heap_event_ops{
      typeid(T),
      [](void* event) noexcept { delete static_cast<Event<T>*>(event); },
      event_ops<T>.topic,
      event_ops<T>.ordering_key,
  };

  alignas(std::max_align_t) unsigned char inline_storage_[kInlineBytes];
  void* event_ = nullptr;
  const EventOps* ops_ = nullptr;
  DeliveryNode inline_nodes_[kInlineNodes];
  std::unique_ptr<DeliveryNode[]> extra_nodes_;
  std::size_t extra_node_count_ = 0;
};

}  // namespace courier::detail
