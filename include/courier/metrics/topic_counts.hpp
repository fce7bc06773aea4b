/// \file
/// TopicCounts: what a bus counted for one topic while asked to
/// (EventBus::track_topics, issue 16 item 8), and the concurrent table that
/// counts it.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "courier/detail/cache_line.hpp"
#include "courier/detail/export.hpp"

namespace courier {

/// The counts of one topic: a row of EventBus::topic_stats() and Stats::topics.
///
/// Each count covers only what happened while topic tracking was on
/// (EventBus::track_topics): an event posted while it was off and delivered
/// while it was on counts as delivered, not as posted.
///
/// A plain value: distinct and shared objects alike are safe to read from any
/// thread; writing one while another thread reads it is a data race.
struct TopicCounts {
  /// The row of the topics beyond Options::max_tracked_topics: they share
  /// it. No topic can have this name (a topic's tokens are [A-Za-z0-9_-]).
  static constexpr std::string_view other_topics = "(other)";

  std::string topic{};          ///< the topic, or other_topics
  std::uint64_t posted = 0;     ///< events accepted by post() and try_post()
  std::uint64_t delivered = 0;  ///< process() invocations that ran (each subscriber and
                                ///< stream counts; those that threw too), as Stats::delivered
  std::uint64_t dropped = 0;    ///< events streams dropped by their overflow policy
  std::uint64_t failed = 0;     ///< invocations that threw (and filters that threw)

  /// Member-wise equality.
  friend bool operator==(const TopicCounts&, const TopicCounts&) = default;
};

namespace detail {

// The counting behind EventBus::track_topics: a concurrent map from topic to
// four counters, which posting threads and executor threads update at once.
//
// Contention. A topic's counters are sharded: a thread adds to the shard of
// its own number (kShards of them, a cache line each), so threads posting to
// or delivering one topic do not share a line unless their numbers collide
// modulo kShards. Each count is one relaxed fetch_add on that line.
//
// The map is an open-addressing table of entry pointers, twice as large as
// the bound, that only grows: a topic's entry is made by the first thread to
// count it and installed with a compare-and-swap, never removed while the
// table lives. A lookup hashes the topic and probes; no lock anywhere.
//
// Bound. At most `max_topics` topics get an entry of their own; a count for
// any other topic goes to one shared entry, reported as
// TopicCounts::other_topics. Memory is bounded by max_topics entries of
// kShards lines plus the topic text, and a table of 2 * max_topics pointers
// (rounded up to a power of two).
//
// Snapshot. snapshot() reads every counter with a relaxed load, one after the
// other: while counts are added it is no consistent cut (a delivery may show
// before its post), but each counter is exact at some moment during the call,
// and once every count happens-before it (EventBus::wait_idle() returned, the
// counting threads joined) it is exact.
//
// Thread safety: count() and snapshot() may be called from any threads at
// once. count() never blocks, never throws; it allocates once per new topic
// (an allocation that fails sends the count to the shared entry).
class COURIER_EXPORT TopicCounters {
 public:
  static constexpr std::size_t kShards = 8;
  // What count() counts: indices into a shard's counters.
  enum class Count : std::size_t { Posted, Delivered, Dropped, Failed };

  // Throws std::bad_alloc only (the bound is validated by the bus).
  explicit TopicCounters(std::size_t max_topics);
  ~TopicCounters();
  TopicCounters(const TopicCounters&) = delete;
  TopicCounters& operator=(const TopicCounters&) = delete;

  void count(std::string_view topic, Count what) noexcept;

  // Rows sorted by topic (other_topics, if anything went to it, first:
  // '(' sorts before every character of a topic). Topics whose counts are
  // all zero are left out.
  std::vector<TopicCounts> snapshot() const;

 private:
  struct alignas(kCacheLine) Shard {
    std::array<std::atomic<std::uint64_t>, 4> counts{};
  };
  struct Entry {
    Entry(std::string_view name, std::size_t name_hash) : topic(name), hash(name_hash) {}
    const std::string topic;
    const std::size_t hash;
    std::array<Shard, kShards> shards;
  };

  Entry& entry_for(std::string_view topic) noexcept;
  Entry* insert_at(std::atomic<Entry*>& slot, std::string_view topic, std::size_t hash) noexcept;
  bool claim_room() noexcept;
  static TopicCounts read(const Entry& entry);

  const std::size_t max_topics_;
  const std::size_t mask_;  // table size - 1, a power of two
  std::unique_ptr<std::atomic<Entry*>[]> table_;
  std::atomic<std::size_t> entries_{0};  // entries made, at most max_topics_
  Entry other_;
};

}  // namespace detail
}  // namespace courier
