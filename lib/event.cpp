// The cold paths of Event's argument types, and stamping (event.hpp).
#include "courier/event.hpp"

#include <memory>
#include <stdexcept>
#include <utility>

namespace courier::detail {

void share(EventMetadata& block) noexcept { block.holders.fetch_add(1, std::memory_order_relaxed); }

void let_go(EventMetadata* block) noexcept {
  // acq_rel: the last holder's delete sees every other holder's reads done.
  if (block->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) delete block;
}

EventMetadata& only_holder(EventMetadata*& block) {
  if (block == nullptr) {
    block = new EventMetadata();
  } else if (block->holders.load(std::memory_order_acquire) > 1) {
    auto copy = std::make_unique<EventMetadata>();
    copy->id = block->id;
    copy->timestamp = block->timestamp;
    copy->headers = block->headers;
    copy->audience = block->audience;
    let_go(std::exchange(block, copy.release()));
  }
  return *block;
}

void stamp(MetadataPointer& metadata, std::atomic<std::uint64_t>& next_id) {
  const EventMetadata* present = metadata.get();
  const bool has_id = present != nullptr && present->id != 0;
  const bool has_time =
      present != nullptr && present->timestamp != std::chrono::system_clock::time_point{};
  if (has_id && has_time) return;
  EventMetadata& block = metadata.writable();
  if (!has_id) block.id = next_id.fetch_add(1, std::memory_order_relaxed);
  if (!has_time) block.timestamp = std::chrono::system_clock::now();
}

const char* KeyArgument::reject_null_key() {
  throw std::invalid_argument("courier: an ordering key must not be a null pointer");
}

}  // namespace courier::detail
