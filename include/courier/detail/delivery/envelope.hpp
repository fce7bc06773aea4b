// Envelope: one slot of the bus's bounded queue, holding one accepted event.
//
// An event is moved into an envelope once, when it is posted, and stays there,
// in place, until its last delivery has finished; every lane it goes to gets a
// DeliveryNode pointing at it. Envelopes are recycled, not freed: the bus owns
// `queue_capacity` of them, so a post in steady state allocates nothing.
//
// Size is the point of the layout. A full queue holds `queue_capacity`
// envelopes, and every event crosses from the posting core to a delivering one
// line by line, so an envelope is exactly two cache lines, 128 bytes, aligned
// to a line. It was 112 bytes once, and then its last line was also the next
// envelope's first: the executor reading one event and the poster writing the
// next traded that line for every event (W2 side by side: 13.9 vs 15.0 M
// events/s for 128 bytes).
//
//   bytes   0..87   the event itself, when it fits (Event<T> with sizeof(T) <= 16:
//                   two 32-byte texts, the payload and the metadata pointer);
//                   otherwise a pointer to it
//   bytes  88..95   its EventOps (type, destroy, topic, ordering key)
//   bytes  96..111  the first DeliveryNode (most events go to one lane)
//   bytes 112..119  the Spill: storage this envelope grew once and keeps
//   bytes 120..125  `pending` deliveries, `reached`, `published`
//
// For a small event (inline, with a trivially destructible payload and
// inline texts) the executor needs only the second line: the payload, the
// ops, the node and the counts. The first line holds the texts, which it
// reads only if a subscriber asks for them or the event is reported (dead,
// or its handler threw), since an event whose destructor would do nothing is
// not destroyed (see store()). That line then stays in the posting core's
// cache: W3 side by side went from 63 to 167 M deliveries/s, W2 from 14.4 to
// 15.1 M events/s. A stream copies the events it takes, texts and all; a
// stream on one exact topic knows the topic, so for such an event without
// an ordering key (EventOps::rebuildable_from_payload) it copies the payload
// alone and keeps that line out of its core too (stream.hpp, StreamHandler).
//
// What does not fit goes to the envelope's Spill, allocated the first time it
// is needed and kept for the envelope's next events: a block for events of up
// to kRetainedEventBytes (so that payloads of 64 bytes, like smaller ones,
// cost no allocation in steady state), and the nodes of a fan-out beyond one
// lane. Events larger than that, or over-aligned, are allocated per post.
// The Spill also keeps the post time of the event while the bus tracks
// latency (EventBus::track_latency): the envelope has no byte to spare, and
// a bus that does not track never makes or reads that stamp.
//
// Thread safety: the posting thread fills an envelope before publishing its
// nodes; delivery threads then only read the event, store `reached` and count
// `pending` down. The thread that brings `pending` to zero owns the envelope
// again.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string_view>
#include <typeinfo>
#include <utility>

#include "courier/detail/cache_line.hpp"
#include "courier/detail/delivery/mailbox.hpp"
#include "courier/event.hpp"

namespace courier::detail {

struct Lane;

// What the bus needs to know of an event without knowing its payload type.
struct EventOps {
  const std::type_info& type;
  // May be null for an inline event: destroying it would do nothing (see
  // Envelope::store).
  void (*destroy)(void* event) noexcept;
  std::string_view (*topic)(const void* event) noexcept;
  std::string_view (*ordering_key)(const void* event) noexcept;
  // Where an envelope keeps the event: in its own bytes, or behind a pointer
  // stored there (a retained block or a per-post allocation).
  bool stored_inline = true;
  // The event is its topic and its payload, nothing more: left in place (see
  // Envelope::store: inline texts, no metadata) and without an ordering key.
  // A subscriber that knows the topic (a stream on one exact topic) copies
  // it from the payload alone, without reading the envelope's first line.
  bool rebuildable_from_payload = false;
};

template <class T>
inline constexpr EventOps event_ops{
    typeid(T),
    [](void* event) noexcept { static_cast<Event<T>*>(event)->~Event<T>(); },
    [](const void* event) noexcept { return static_cast<const Event<T>*>(event)->topic(); },
    [](const void* event) noexcept { return static_cast<const Event<T>*>(event)->ordering_key(); },
};

// A node of a fan-out beyond the first lane, and the lane it goes to (kept for
// the poster, which fills every node before pushing any).
struct ExtraDelivery {
  DeliveryNode node;
  Lane* lane = nullptr;
};

struct alignas(kCacheLine) Envelope {
  static constexpr std::size_t kInlineBytes = 88;
  static constexpr std::size_t kRetainedEventBytes = 256;

  template <class T>
  static constexpr bool fits_inline = sizeof(Event<T>) <= kInlineBytes &&
                                      alignof(Event<T>) <= alignof(std::max_align_t);
  template <class T>
  static constexpr bool fits_retained_block = sizeof(Event<T>) <= kRetainedEventBytes &&
                                              alignof(Event<T>) <= alignof(std::max_align_t);

  Envelope() noexcept { first_node_.envelope = this; }
  Envelope(const Envelope&) = delete;
  Envelope& operator=(const Envelope&) = delete;
  ~Envelope() { clear(); }

  // Moves `event` in. The envelope must be empty. Throws what the move throws,
  // or std::bad_alloc; the envelope is then still empty.
  template <class T>
  void store(Event<T>&& event) {
    if constexpr (fits_inline<T>) {
      // Asked of the event before the move, which empties its texts.
      const bool trivial = destructor_does_nothing(event);
      const bool keyless = event.ordering_key().empty();
      ::new (static_cast<void*>(bytes_)) Event<T>(std::move(event));
      if (!trivial) {
        ops_ = &event_ops<T>;
      } else {
        ops_ = keyless ? &event_ops_rebuildable<T> : &event_ops_left_in_place<T>;
      }
    } else if constexpr (fits_retained_block<T>) {
      void* block = spill().event_block();
      set_event_pointer(::new (block) Event<T>(std::move(event)));
      ops_ = &event_ops_in_block<T>;
    } else {
      set_event_pointer(new Event<T>(std::move(event)));
      ops_ = &event_ops_on_heap<T>;
    }
  }

  // Ends the event's life, keeping the storage for the next one: destroys it,
  // unless its destructor would do nothing (then the storage is just reused).
  void clear() noexcept {
    if (ops_ == nullptr) return;
    if (ops_->destroy != nullptr) ops_->destroy(event());
    ops_ = nullptr;
  }

  const void* event() const noexcept {
    return ops_->stored_inline ? static_cast<const void*>(bytes_) : event_pointer();
  }
  void* event() noexcept { return const_cast<void*>(std::as_const(*this).event()); }
  const EventOps& ops() const noexcept { return *ops_; }

  // The first delivery; a fan-out's others are extra_delivery(0), (1), ...
  DeliveryNode& first_node() noexcept { return first_node_; }
  // Makes room for `count` extra deliveries, keeping those already filled.
  // Allocates only beyond the largest fan-out this envelope has seen.
  void reserve_extra_deliveries(std::size_t count) { spill().reserve_deliveries(count); }
  ExtraDelivery& extra_delivery(std::size_t i) noexcept { return spill_->deliveries[i]; }

  // When the event was posted (steady clock, nanoseconds), and the bus's
  // latency-tracking generation then: a stamp of another generation is a
  // previous event's, left by a post made while tracking was off. Written by
  // the poster before publishing, read by deliveries (lib/metrics/observation.cpp).
  struct PostStamp {
    std::int64_t nanoseconds = 0;
    std::uint32_t generation = 0;  // 0: never stamped
  };
  // Makes the Spill if needed: throws std::bad_alloc.
  PostStamp& post_stamp() { return spill().post_stamp; }
  const PostStamp* post_stamp_if_any() const noexcept {
    return spill_ != nullptr ? &spill_->post_stamp : nullptr;
  }

 private:
  struct Spill {
    struct FreeBlock {
      void operator()(void* block) const noexcept { ::operator delete(block); }
    };
    std::unique_ptr<void, FreeBlock> event_storage;
    std::unique_ptr<ExtraDelivery[]> deliveries;
    std::size_t delivery_capacity = 0;
    PostStamp post_stamp;

    // A block of kRetainedEventBytes, made on first use.
    void* event_block() {
      if (event_storage == nullptr) event_storage.reset(::operator new(kRetainedEventBytes));
      return event_storage.get();
    }
    void reserve_deliveries(std::size_t count) {
      if (count <= delivery_capacity) return;
      const std::size_t capacity = std::max(count, 2 * delivery_capacity);
      auto grown = std::make_unique<ExtraDelivery[]>(capacity);
      for (std::size_t i = 0; i < delivery_capacity; ++i) grown[i].lane = deliveries[i].lane;
      deliveries = std::move(grown);
      delivery_capacity = capacity;
    }
  };

  // For an inline event whose destructor would do nothing
  // (detail::destructor_does_nothing, event.hpp): its storage is reused
  // without calling the destructor, which the language allows when nothing
  // depends on the destructor's effects ([basic.life]/5). The point is the
  // cache line: the texts sit on the envelope's first line, and SmallText's
  // destructor reads their sizes to see whether to free them; not calling it
  // means the executor never reads that line, so it stays in the posting
  // core's cache instead of crossing to the executor and back for every event.
  template <class T>
  static constexpr EventOps event_ops_left_in_place{typeid(T), nullptr, event_ops<T>.topic,
                                                    event_ops<T>.ordering_key, true};
  // The same, for an event without an ordering key: EventOps::rebuildable_from_payload.
  template <class T>
  static constexpr EventOps event_ops_rebuildable{.type = typeid(T),
                                                  .destroy = nullptr,
                                                  .topic = event_ops<T>.topic,
                                                  .ordering_key = event_ops<T>.ordering_key,
                                                  .stored_inline = true,
                                                  .rebuildable_from_payload = true};
  template <class T>
  static constexpr EventOps event_ops_in_block{typeid(T), event_ops<T>.destroy, event_ops<T>.topic,
                                               event_ops<T>.ordering_key, false};
  template <class T>
  static constexpr EventOps event_ops_on_heap{
      typeid(T), [](void* event) noexcept { delete static_cast<Event<T>*>(event); },
      event_ops<T>.topic, event_ops<T>.ordering_key, false};

  Spill& spill() {
    if (spill_ == nullptr) spill_ = std::make_unique<Spill>();
    return *spill_;
  }
  void set_event_pointer(void* event) noexcept { ::new (static_cast<void*>(bytes_)) void*(event); }
  void* event_pointer() const noexcept {
    return *std::launder(reinterpret_cast<void* const*>(bytes_));
  }

  alignas(std::max_align_t) unsigned char bytes_[kInlineBytes];
  const EventOps* ops_ = nullptr;  // null while empty
  DeliveryNode first_node_;
  std::unique_ptr<Spill> spill_;

 public:
  // Last, after the event and its first node (see the layout above).
  std::atomic<std::uint32_t> pending{0};  // deliveries not yet finished
  std::atomic<bool> reached{false};       // some subscriber's process() ran for it
  // Every node of the event is in its lane's mailbox (see BusCore::publish).
  std::atomic<bool> published{true};
};

static_assert(sizeof(void*) != 8 || sizeof(Envelope) == 2 * kCacheLine,
              "the layout described at the top of this file");

}  // namespace courier::detail
