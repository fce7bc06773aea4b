// The cold paths of Event's argument types, and stamping (event.hpp).
#include "courier/event.hpp"

#include <stdexcept>

namespace courier::detail {

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
