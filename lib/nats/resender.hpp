// Resender: at-least-once publishes sent again after they failed.
//
// An at-least-once export is published to JetStream asynchronously
// (js_PublishMsgAsync); the server answers each with an acknowledgement once
// it has stored the message. Three things can go wrong, and each would lose
// the event if nothing sent it again:
// - the publish call itself fails (libnats stalled on too many messages in
//   flight, or could not buffer it): the route's thread gets the error;
// - the server answers with an error, e.g. "no responders" while JetStream
//   is still recovering after a restart, or the stream is gone: libnats calls
//   the context's error handler, on its own thread;
// - no answer ever comes (the server died between receiving and answering):
//   libnats 3.4 keeps such a message pending forever; the route's thread
//   notices when js_PublishAsyncComplete times out and takes the pending
//   messages back (js_PublishAsyncGetPendingList).
// In each case keep() stores a copy of the message and resend() publishes it
// again, later: attempt n+1 waits first_wait * 2^(n-1), at most kLongestWait,
// so an outage of a few seconds costs a few resends, not a busy loop. Every
// message carries `Nats-Msg-Id`, so a resend of a message the server did
// store is dropped by its duplicate window: resending is always safe. The
// attempt count travels in the copy's `courier-attempt` header (imports drop
// courier-* headers). After `attempts` sends in all, the message is given up:
// the owner's GiveUp counts and reports it.
//
// One Resender serves all the at-least-once routes of a bridge (they share
// its JetStream context). While copies wait here, a route sends those due
// before it publishes its next event (Link's export route), so roughly the
// messages in flight (jsOptions MaxPending) wait here at most, and the
// routes' bounded queues hold the rest back. Taking back the unacknowledged
// messages takes all of the context's, those of every route, including any
// a healthy but slow server was about to acknowledge: their resends are
// duplicates the server drops, so this costs load, never a second copy. A
// publish libnats refuses at once because too many are in flight (a stall)
// counts as a send.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace courier::nats::detail {

class Resender {
 public:
  static constexpr std::chrono::milliseconds kLongestWait{2000};

  // Told of a message given up (had all its attempts, or came while
  // stopping): its subject and why, in words. Called with no lock held.
  using GiveUp = std::function<void(std::string_view subject, std::string reason)>;

  // `attempts`: sends in all, the first included (at least 1).
  Resender(int attempts, std::chrono::milliseconds first_wait, GiveUp give_up)
      : attempts_(attempts), first_wait_(first_wait), give_up_(std::move(give_up)) {}
  ~Resender() { stop(); }
  Resender(const Resender&) = delete;
  Resender& operator=(const Resender&) = delete;

  // Keeps a copy of `msg` (which stays the caller's) to send again, or gives
  // it up once it has had all its attempts or after stop(). `reason`: why
  // its last send failed.
  void keep(natsMsg* msg, std::string_view reason);

  // Takes back from `jetstream` the messages still waiting for an
  // acknowledgement (its js_PublishAsyncComplete timed out) and keeps them.
  void reclaim_unacknowledged(jsCtx* jetstream);

  // Publishes again, on `jetstream`, every kept message, each once its wait
  // is over; blocks until none is kept or stop() is called. A publish that
  // fails at once is kept again.
  void resend(jsCtx* jetstream);

  // Whether messages wait to be sent again.
  bool waiting() const { return count_.load(std::memory_order_acquire) != 0; }

  // Blocks until no message waits to be sent again (resend() took them all,
  // or they were given up), stop() was called, or `deadline` passed. A
  // message taken for a resend may come back (refused again) after this
  // returns.
  void wait_until_sent(std::chrono::steady_clock::time_point deadline);

  // The sends after the first so far, counted as each starts.
  std::uint64_t resent() const { return resent_.load(std::memory_order_relaxed); }

  // Wakes resend(), gives up whatever comes from now on, and destroys what is
  // kept; returns how many that was.
  std::size_t stop();

 private:
  struct Kept {
    natsMsg* msg;
    std::chrono::steady_clock::time_point due;
  };

  const int attempts_;
  const std::chrono::milliseconds first_wait_;
  const GiveUp give_up_;
  std::mutex mutex_;
  std::condition_variable changed_;    // a message kept or taken, or stop()
  std::vector<Kept> kept_;             // guarded by mutex_
  bool stopping_ = false;              // guarded by mutex_
  std::atomic<std::size_t> count_{0};  // kept_.size(), read without the lock
  std::atomic<std::uint64_t> resent_{0};
};

}  // namespace courier::nats::detail
