#include "courier/metrics/topic_counts.hpp"

#include <algorithm>
#include <bit>
#include <functional>
#include <new>

namespace courier::detail {
namespace {

std::atomic<std::size_t> next_shard{0};

// This thread's shard, plus one (0: not chosen yet). Constant-initialised, so
// reading it costs no initialisation guard.
constinit thread_local std::size_t shard_plus_one = 0;

std::size_t this_thread_shard() noexcept {
  if (shard_plus_one == 0) [[unlikely]]
    shard_plus_one =
        next_shard.fetch_add(1, std::memory_order_relaxed) % TopicCounters::kShards + 1;
  return shard_plus_one - 1;
}

}  // namespace

TopicCounters::TopicCounters(std::size_t max_topics)
    : max_topics_(max_topics),
      mask_(std::bit_ceil(2 * std::max<std::size_t>(max_topics, 1)) - 1),
      table_(std::make_unique<std::atomic<Entry*>[]>(mask_ + 1)),
      other_(TopicCounts::other_topics, 0) {}

TopicCounters::~TopicCounters() {
  for (std::size_t i = 0; i <= mask_; ++i) delete table_[i].load(std::memory_order_relaxed);
}

void TopicCounters::count(std::string_view topic, Count what) noexcept {
  Shard& shard = entry_for(topic).shards[this_thread_shard()];
  shard.counts[static_cast<std::size_t>(what)].fetch_add(1, std::memory_order_relaxed);
}

// The table is at most half full, so a probe meets the topic or an empty slot
// soon. An empty slot ends the search: entries are never removed.
TopicCounters::Entry& TopicCounters::entry_for(std::string_view topic) noexcept {
  const std::size_t hash = std::hash<std::string_view>{}(topic);
  for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
    Entry* entry = table_[i].load(std::memory_order_acquire);
    if (entry == nullptr) {
      entry = insert_at(table_[i], topic, hash);
      if (entry == nullptr) return other_;
    }
    if (entry->hash == hash && entry->topic == topic) return *entry;
  }
}

// The entry now in `slot`: a new one for `topic`, or the one another thread
// installed first (which the caller compares). Null: no room (the bound, or
// memory).
TopicCounters::Entry* TopicCounters::insert_at(std::atomic<Entry*>& slot, std::string_view topic,
                                               std::size_t hash) noexcept {
  if (!claim_room()) return nullptr;
  Entry* fresh = nullptr;
  try {
    fresh = new Entry(topic, hash);
  } catch (...) {
    entries_.fetch_sub(1, std::memory_order_relaxed);
    return nullptr;
  }
  Entry* installed = nullptr;
  if (slot.compare_exchange_strong(installed, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;  // another thread filled the slot first: its entry stays
  entries_.fetch_sub(1, std::memory_order_relaxed);
  return installed;
}

bool TopicCounters::claim_room() noexcept {
  std::size_t made = entries_.load(std::memory_order_relaxed);
  do {
    if (made >= max_topics_) return false;
  } while (!entries_.compare_exchange_weak(made, made + 1, std::memory_order_relaxed));
  return true;
}

TopicCounts TopicCounters::read(const Entry& entry) {
  TopicCounts row;
  row.topic = entry.topic;
  std::array<std::uint64_t, 4> sums{};
  for (const Shard& shard : entry.shards) {
    for (std::size_t i = 0; i < sums.size(); ++i)
      sums[i] += shard.counts[i].load(std::memory_order_relaxed);
  }
  row.posted = sums[static_cast<std::size_t>(Count::Posted)];
  row.delivered = sums[static_cast<std::size_t>(Count::Delivered)];
  row.dropped = sums[static_cast<std::size_t>(Count::Dropped)];
  row.failed = sums[static_cast<std::size_t>(Count::Failed)];
  return row;
}

std::vector<TopicCounts> TopicCounters::snapshot() const {
  std::vector<TopicCounts> rows;
  auto add = [&rows](TopicCounts row) {
    if (row.posted != 0 || row.delivered != 0 || row.dropped != 0 || row.failed != 0)
      rows.push_back(std::move(row));
  };
  for (std::size_t i = 0; i <= mask_; ++i) {
    if (const Entry* entry = table_[i].load(std::memory_order_acquire)) add(read(*entry));
  }
  add(read(other_));
  std::sort(rows.begin(), rows.end(),
            [](const TopicCounts& a, const TopicCounts& b) { return a.topic < b.topic; });
  return rows;
}

}  // namespace courier::detail
