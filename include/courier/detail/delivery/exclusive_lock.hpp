// The locks that keep a synchronous bus's Serial subscribers (and keyed
// events to Concurrent ones) to one invocation at a time across the threads
// that post to it, and a pull stream's consumer calls to one at a time
// (streams/: its consumer's thread holds the bias).
//
// ExclusiveLock is a mutex of one word. BiasedLock puts a bias in front of it:
// a lane's first taker becomes its owner, and from then on the owner enters
// and leaves with plain stores, no locked instruction, which is what a
// synchronous post pays most for (two locked instructions were half of a
// post's cycles). The owner's fast path is one side of a Dekker handshake:
//
// clang-format off
//   owner:    inside = true;  [compiler barrier]  if (revoked) back off;
//             ...call...;  inside = false
//   revoker:  take the ExclusiveLock;  revoked = true;  asymmetric_fence();
//             wait while inside
// clang-format on
//
// The owner's side has no hardware barrier; the revoker's asymmetric fence
// (Linux membarrier, PRIVATE_EXPEDITED) runs one on every CPU that runs a
// thread of this process, so either the owner sees `revoked`, or the revoker
// sees `inside` and waits for the owner's release store. A revoked lock stays
// revoked: every later taker, the owner included, goes through the
// ExclusiveLock. Any use of lock() revokes, so a lane that two threads post to
// costs what an ExclusiveLock costs after the first time, and unsubscribe
// (which takes each lane's lock to wait out a running call) ends the bias too.
// Where the fence is not available (not Linux, or membarrier refused) no lock
// is ever biased.
//
// Thread safety: Lockable; try_enter_biased()/leave_biased() pair up on the
// thread that owns the bias. BiasedGuard holds one for a scope, either way.
#pragma once

#include <atomic>
#include <cstdint>

#include "courier/detail/cache_line.hpp"
#include "courier/detail/export.hpp"
#include "courier/detail/spin.hpp"

namespace courier::detail {

// A full memory barrier on every CPU running a thread of this process (see
// above). Only call it after asymmetric_fence_available() returned true.
COURIER_EXPORT void asymmetric_fence() noexcept;
// True if asymmetric_fence() works here; registers the process the first time.
COURIER_EXPORT bool asymmetric_fence_available() noexcept;
// A number for the calling thread, unique for the process's lifetime (unlike
// an address, which a later thread may reuse): what a BiasedLock's owner is.
COURIER_EXPORT std::uint64_t current_thread_number() noexcept;

// A mutex of one word (a Lockable): taking it free is one compare-exchange and
// releasing it one exchange, both inline, where std::mutex adds two calls
// into glibc. A thread that finds it taken spins briefly, then sleeps on the
// word; only a release that finds a sleeper (kContended) wakes one.
class ExclusiveLock {
 public:
  void lock() noexcept {
    std::uint32_t expected = kFree;
    if (!state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      lock_contended();
    }
  }
  bool try_lock() noexcept {
    std::uint32_t expected = kFree;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  // Sequentially consistent, like the sleepers' registration inside
  // atomic::wait, so that a release either sees a sleeper or the sleeper sees
  // the lock free (on x86 the same instruction as a release exchange).
  void unlock() noexcept {
    if (state_.exchange(kFree, std::memory_order_seq_cst) == kContended) state_.notify_one();
  }

 private:
  static constexpr std::uint32_t kFree = 0, kLocked = 1, kContended = 2;

  [[gnu::noinline]] void lock_contended() noexcept {
    const bool taken = spin_until([&] {
      std::uint32_t expected = kFree;
      return state_.load(std::memory_order_relaxed) == kFree &&
             state_.compare_exchange_weak(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
    });
    if (taken) return;
    // Whoever takes it from here marks it contended: it cannot tell whether
    // other sleepers remain, so its release wakes one to find out.
    while (state_.exchange(kContended, std::memory_order_seq_cst) != kFree) {
      state_.wait(kContended, std::memory_order_relaxed);
    }
  }

  std::atomic<std::uint32_t> state_{kFree};
};

class BiasedLock {
 public:
  // The owner's fast path: true if the calling thread (`thread`: a number
  // unique to it for the process's lifetime) now holds the lock through its
  // bias; it must then call leave_biased(). False: take it with lock().
  [[gnu::always_inline]] bool try_enter_biased(std::uint64_t thread) noexcept {
    const std::uint64_t owner = owner_.load(std::memory_order_relaxed);
    if (owner != thread && (owner != kNoOwner || !claim(thread))) return false;
    inside_.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (!revoked_.load(std::memory_order_relaxed)) return true;
    leave_biased();
    return false;
  }

  // As try_enter_biased(), for a thread that only enters a lock it already
  // owns, and so never claims one: `thread` may be 0 (a thread that has no
  // number yet, and so owns nothing).
  [[gnu::always_inline]] bool try_enter_as_owner(std::uint64_t thread) noexcept {
    if (owner_.load(std::memory_order_relaxed) != thread) return false;
    inside_.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (!revoked_.load(std::memory_order_relaxed)) return true;
    leave_biased();
    return false;
  }

  [[gnu::always_inline]] void leave_biased() noexcept {
    inside_.store(false, std::memory_order_release);
    if (revoked_.load(std::memory_order_relaxed)) inside_.notify_all();
  }

  // Ends the bias for good (the first time), then waits for the owner to leave.
  void lock() noexcept {
    lock_.lock();
    if (!revoked_.load(std::memory_order_relaxed)) revoke();  // only lock holders write it
    while (inside_.load(std::memory_order_acquire)) inside_.wait(true, std::memory_order_acquire);
  }
  // For a thread that must not wait: false, holding nothing, if the lock is
  // taken or its owner is inside. Ends the bias, as lock() does.
  bool try_lock() noexcept {
    if (!lock_.try_lock()) return false;
    if (!revoked_.load(std::memory_order_relaxed)) revoke();
    if (!inside_.load(std::memory_order_acquire)) return true;
    lock_.unlock();
    return false;
  }
  void unlock() noexcept { lock_.unlock(); }

 private:
  // No thread's number: they count up from 1, and 0 stands for a thread that
  // has none yet (see try_enter_as_owner).
  static constexpr std::uint64_t kNoOwner = ~std::uint64_t{0};

  // The first taker becomes the owner, unless the lock was revoked first: the
  // sequentially consistent pair (claim, then read `revoked`; revoke, then
  // read the owner) means either the claimant sees `revoked` or the revoker
  // sees the owner and fences.
  bool claim(std::uint64_t thread) noexcept {
    if (!asymmetric_fence_available()) return false;
    std::uint64_t expected = kNoOwner;
    if (!owner_.compare_exchange_strong(expected, thread, std::memory_order_seq_cst)) return false;
    return !revoked_.load(std::memory_order_seq_cst);
  }

  [[gnu::noinline]] void revoke() noexcept {
    revoked_.store(true, std::memory_order_seq_cst);
    if (owner_.load(std::memory_order_seq_cst) != kNoOwner) asymmetric_fence();
  }

  // revoked_ and inside_ in different words: the owner stores inside_ and at
  // once loads revoked_, and with both in one word the load waited on the
  // store (perf, W1: a third of the synchronous post's samples on that load).
  std::atomic<bool> revoked_{false};  // written under lock_ only
  std::atomic<std::uint64_t> owner_{kNoOwner};
  std::atomic<bool> inside_{false};  // written by the owner only
  ExclusiveLock lock_;
};

// Holds a BiasedLock for a scope: through its bias if the calling thread owns
// it (or becomes its owner now), else taken with lock().
class BiasedGuard {
 public:
  explicit BiasedGuard(BiasedLock& lock) noexcept
      : lock_(lock), biased_(lock.try_enter_biased(current_thread_number())) {
    if (!biased_) lock_.lock();
  }
  ~BiasedGuard() {
    if (biased_) {
      lock_.leave_biased();
    } else {
      lock_.unlock();
    }
  }
  BiasedGuard(const BiasedGuard&) = delete;
  BiasedGuard& operator=(const BiasedGuard&) = delete;

 private:
  BiasedLock& lock_;
  const bool biased_;
};

}  // namespace courier::detail
