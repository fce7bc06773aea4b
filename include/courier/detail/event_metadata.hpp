// EventMetadata: what an event carries beyond its topic, payload and ordering
// key (an id, a post timestamp, headers), held out of line so that an event
// without any pays one null pointer and nothing else.
//
// The block is shared, copy on write: copying an event (a stream's queue, a
// retained copy) shares it; changing a shared block (set_header on a copy)
// clones it first. Sharing is safe because an event's owner is the only one
// that may change it, and only before it is posted, so the count it reads
// can only grow if it is already above one.
//
// Thread safety: as for the Event that holds it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include "courier/detail/export.hpp"
#include "courier/headers.hpp"

namespace courier::detail {

struct EventMetadata : boost::intrusive_ref_counter<EventMetadata, boost::thread_safe_counter> {
  std::uint64_t id = 0;                               // 0: none
  std::chrono::system_clock::time_point timestamp{};  // the epoch: none
  Headers headers;

  EventMetadata() = default;
  EventMetadata(const EventMetadata& other)
      : boost::intrusive_ref_counter<EventMetadata, boost::thread_safe_counter>(),
        id(other.id),
        timestamp(other.timestamp),
        headers(other.headers) {}
  EventMetadata& operator=(const EventMetadata&) = delete;
};

class MetadataPointer {
 public:
  const EventMetadata* get() const noexcept { return block_.get(); }
  explicit operator bool() const noexcept { return block_ != nullptr; }

  // The block, made or cloned so that this pointer is its only holder.
  EventMetadata& writable() {
    if (block_ == nullptr) {
      block_ = new EventMetadata();
    } else if (block_->use_count() > 1) {
      block_ = new EventMetadata(*block_);
    }
    return *block_;
  }

 private:
  boost::intrusive_ptr<EventMetadata> block_;
};

// Options::stamp_events: gives `metadata` an id from `next_id` and the time
// now, each only if it has none yet.
COURIER_EXPORT void stamp(MetadataPointer& metadata, std::atomic<std::uint64_t>& next_id);

}  // namespace courier::detail
