// CatchUpPacing: whether a lane's drain, having emptied its mailbox, pauses
// before it looks again.
//
// A drain that empties its mailbox has caught up with the producers. Looking
// again at once keeps it in step with a producer that streams: each event is
// then handed over alone, and every hand-off moves the mailbox's lines (its
// end, the stub, the node just linked) between the producer's core and the
// drainer's while both write them. Pausing for kPause, reading none of those
// lines, lets the producer run ahead; the drain then takes a batch. W2 (one
// producer, one Serial subscriber), side by side: 15.9 -> 27.5 M events/s.
//
// The pause costs where the next event waits for this one's effect: a
// handler's reply to another lane, a request and its answer. That event
// arrives during the pause and waits out the rest of it: two Serial lanes
// bouncing one event took 0.17 us a hop without the pause, 1.0 us with it.
// So each pause is judged by what it gathered. Two events or more: the drain
// goes on pausing whenever it catches up. Fewer: it looks again at once the
// next `skip` times it catches up, then tries a pause again, `skip` doubling
// from 16 to 1024 while pauses keep gathering nothing.
//
// Nor does a pause pay when the producers have no room to run ahead: with
// fewer than kRoomToRunAhead free slots, they would soon wait for the very
// slots the pausing drain is not freeing. A queue of 2 slots and 6 producers
// (the slot-recycling stress scenario) made 32-34 rounds in 5 s with pauses
// judged by their gathering alone, 91-193 without any pause. That counts as
// a pause that gathered nothing.
//
// A poster's wait for slots on a full queue is paced the same way, by its
// own thread's copy (BusCore::let_slots_come_back).
//
// Thread safety: used by one thread at a time: the lane's current drainer
// (the lane's scheduling handshake orders one drainer's use before the next
// one's), or the posting thread that owns it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace courier::detail {

class CatchUpPacing {
 public:
  // Long enough for a streaming producer to post a batch (dozens of events),
  // short enough that an event arriving during it is not kept long.
  static constexpr std::chrono::nanoseconds kPause{2000};
  // After a pause that gathered nothing, how many times to look again at once
  // before the next pause: the first time, and at most.
  static constexpr std::uint32_t kFirstSkip = 16;
  static constexpr std::uint32_t kLongestSkip = 1024;
  // Free slots below which a drain does not pause: about what a producer
  // posts during one pause.
  static constexpr std::size_t kRoomToRunAhead = 64;

  // At an empty mailbox: true if the drain should pause now.
  bool should_pause() noexcept {
    if (skips_left_ == 0) return true;
    --skips_left_;
    return false;
  }

  // After a pause: `gathered_a_batch` if it found two events or more.
  void judge(bool gathered_a_batch) noexcept {
    if (gathered_a_batch) {
      next_skip_ = kFirstSkip;
      return;
    }
    skips_left_ = next_skip_;
    next_skip_ = std::min(2 * next_skip_, kLongestSkip);
  }

 private:
  std::uint32_t skips_left_ = 0;
  std::uint32_t next_skip_ = kFirstSkip;
};

}  // namespace courier::detail
