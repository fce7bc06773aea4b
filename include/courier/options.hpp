/// \file
/// Options: how an EventBus is built.
#pragma once

#include <cstddef>
#include <limits>
#include <thread>

namespace courier {

/// How an EventBus is built: read once, by its constructor.
struct Options {
  /// Executor threads in the bus's fixed pool (ignored by a synchronous bus).
  /// Zero is rejected with std::invalid_argument.
  std::size_t threads = std::thread::hardware_concurrency();

  /// Events accepted but not yet fully delivered, at most. post() blocks and
  /// try_post() fails while the bus holds this many. Zero is rejected.
  std::size_t queue_capacity = 10000;

  /// Deliver on the posting thread, before post() returns, instead of on the pool.
  bool synchronous = false;

  /// Subscriptions the bus holds at most, counted as Stats::subscriptions is
  /// (one per subscriber and pattern; a stream counts as a subscriber). A
  /// subscribe() or stream() that would go over throws courier::LimitExceeded
  /// naming "Options::max_subscriptions", this maximum and the count it asked
  /// for, and changes nothing. Default: no limit.
  std::size_t max_subscriptions = std::numeric_limits<std::size_t>::max();

  /// Topics that per-topic counting (EventBus::track_topics) counts apart, at
  /// most: the counts of further topics are added up in one row,
  /// TopicCounts::other_topics. Bounds the memory of that counting (about
  /// 600 bytes a topic). Between 0 (every topic in that one row) and
  /// 1048576; more is rejected with std::invalid_argument.
  std::size_t max_tracked_topics = 1024;

  /// Stamp every posted event with an id (unique on this bus, increasing in
  /// each thread's post order) and the time of its post (system clock),
  /// where it has none yet (Event::set_id, set_timestamp keep theirs). Off
  /// by default: stamping gives each event a metadata block, which costs an
  /// allocation per post that has none already.
  bool stamp_events = false;

  /// Topics the bus keeps a retained event for at most (EventBus::post_retained),
  /// counted as Stats::retained. A post_retained() on a topic not yet retained
  /// beyond it throws courier::LimitExceeded naming "Options::max_retained",
  /// this maximum and the count it asked for, and changes nothing (the event
  /// is not posted either); replacing a topic's retained event always succeeds.
  /// Zero refuses every retained event. Each retained event is a copy the bus
  /// keeps until clear_retained() or its destruction.
  std::size_t max_retained = 10000;
};

}  // namespace courier
