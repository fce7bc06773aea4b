// EventMetadata: what an event carries beyond its topic, payload and ordering
// key (an id, a post timestamp, headers, an audience), held out of line so that an event
// without any pays one null pointer and nothing else.
//
// The block is shared, copy on write: copying an event (a stream's queue, a
// retained copy) shares it; changing a shared block (set_header on a copy)
// clones it first. Sharing is safe because an event's owner is the only one
// that may change it, and only before it is posted, so the count it reads
// can only grow if it is already above one.
//
// Everything but the null checks is out of line (lib/event.cpp): an
// Event's move and destructor run on every post, and inlining the release
// of a block (a count, a delete, the headers' destructors) into them made
// the compiler stop inlining the post itself (W1: 33 more instructions per
// post, callgrind).
//
// Thread safety: as for the Event that holds it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include "courier/audience.hpp"
#include "courier/detail/export.hpp"
#include "courier/headers.hpp"

namespace courier::detail {

struct EventMetadata {
  std::atomic<std::uint32_t> holders{1};
  std::uint64_t id = 0;                               // 0: none
  std::chrono::system_clock::time_point timestamp{};  // the epoch: none
  Headers headers;
  // Set: the event reaches only these users' subscriptions (audience.hpp);
  // EventBus::post_event sends an event with a block the long way, which
  // reads it.
  std::optional<Audience> audience;
};

// The block's count, and the block made ready to change.
COURIER_EXPORT void share(EventMetadata& block) noexcept;
COURIER_EXPORT void let_go(EventMetadata* block) noexcept;
COURIER_EXPORT EventMetadata& only_holder(EventMetadata*& block);

class MetadataPointer {
 public:
  MetadataPointer() noexcept = default;
  MetadataPointer(const MetadataPointer& other) noexcept : block_(other.block_) {
    if (block_ != nullptr) [[unlikely]]
      share(*block_);
  }
  MetadataPointer(MetadataPointer&& other) noexcept
      : block_(std::exchange(other.block_, nullptr)) {}
  MetadataPointer& operator=(MetadataPointer other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  ~MetadataPointer() {
    if (block_ != nullptr) [[unlikely]]
      let_go(block_);
  }

  const EventMetadata* get() const noexcept { return block_; }
  explicit operator bool() const noexcept { return block_ != nullptr; }

  // The block, made or cloned so that this pointer is its only holder.
  EventMetadata& writable() { return only_holder(block_); }

 private:
  EventMetadata* block_ = nullptr;
};

// Options::stamp_events: gives `metadata` an id from `next_id` and the time
// now, each only if it has none yet.
COURIER_EXPORT void stamp(MetadataPointer& metadata, std::atomic<std::uint64_t>& next_id);

}  // namespace courier::detail
