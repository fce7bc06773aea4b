// BiasedLock (include/courier/detail/delivery/exclusive_lock.hpp): the owner's plain-store
// fast path and the revoking slow path must still exclude each other. The
// counters below are plain ints: a broken exclusion shows as a wrong total,
// and under ThreadSanitizer as a data race.
#include "courier/detail/delivery/exclusive_lock.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <mutex>
#include <vector>

#include "test_support.hpp"

namespace {

using courier::detail::BiasedLock;
using courier_test::ConcurrencyProbe;
using courier_test::Gate;
using courier_test::run_on_thread;

constexpr std::uint64_t kOwner = 1;
constexpr std::uint64_t kOther = 2;

// Enters through the bias when it can, as a synchronous post does.
template <class Work>
bool run_exclusively(BiasedLock& lock, std::uint64_t thread, Work work) {
  if (lock.try_enter_biased(thread)) {
    work();
    lock.leave_biased();
    return true;
  }
  const std::lock_guard guard(lock);
  work();
  return false;
}

TEST(BiasedLock, TheFirstTakerOwnsItUntilAnotherThreadLocks) {
  BiasedLock lock;
  int runs = 0;
  const bool biased_first = run_exclusively(lock, kOwner, [&] { ++runs; });
  const bool biased_again = run_exclusively(lock, kOwner, [&] { ++runs; });
  const bool other_biased = run_exclusively(lock, kOther, [&] { ++runs; });
  const bool biased_after = run_exclusively(lock, kOwner, [&] { ++runs; });

  EXPECT_EQ(biased_first, courier::detail::asymmetric_fence_available());
  EXPECT_EQ(biased_again, biased_first);
  EXPECT_FALSE(other_biased);
  EXPECT_FALSE(biased_after) << "a revoked bias came back";
  EXPECT_EQ(runs, 4);
}

// try_enter_as_owner() enters only a lock its caller already owns: it claims
// nothing, and 0 (a thread without a number yet) owns nothing.
TEST(BiasedLock, EnteringAsOwnerNeedsTheBiasAndNeverClaimsIt) {
  BiasedLock lock;
  EXPECT_FALSE(lock.try_enter_as_owner(0)) << "a thread without a number entered a free lock";
  EXPECT_FALSE(lock.try_enter_as_owner(kOwner)) << "entering as owner claimed a free lock";
  if (!courier::detail::asymmetric_fence_available()) GTEST_SKIP() << "no lock is biased here";

  ASSERT_TRUE(lock.try_enter_biased(kOwner));
  lock.leave_biased();
  EXPECT_FALSE(lock.try_enter_as_owner(0));
  EXPECT_FALSE(lock.try_enter_as_owner(kOther));
  ASSERT_TRUE(lock.try_enter_as_owner(kOwner));
  lock.leave_biased();

  { const std::lock_guard guard(lock); }  // another thread's way in: ends the bias
  EXPECT_FALSE(lock.try_enter_as_owner(kOwner)) << "a revoked bias came back";
}

TEST(BiasedLock, LockWaitsForTheOwnerInsideItsFastPath) {
  BiasedLock lock;
  Gate owner_inside;
  Gate release_owner;
  const auto open_on_exit = release_owner.open_on_exit();
  int value = 0;
  auto owner = run_on_thread([&] {
    return run_exclusively(lock, kOwner, [&] {
      owner_inside.open();
      release_owner.wait();
      value = 1;
    });
  });
  ASSERT_TRUE(owner_inside.wait_for(courier_test::kBoundedWait));
  auto other = run_on_thread([&] {
    const std::lock_guard guard(lock);
    return value;  // must see the owner's write: it waited for the owner to leave
  });
  EXPECT_EQ(other.wait_for(courier_test::kStillBlocked), std::future_status::timeout)
      << "lock() did not wait for the owner inside its fast path";
  release_owner.open();
  ASSERT_EQ(other.wait_for(courier_test::kBoundedWait), std::future_status::ready);
  EXPECT_EQ(other.get(), 1);
  owner.get();
}

// try_lock() is how a thread that must not wait (a stream's close()) takes
// the lock: it fails while the owner is inside, and ends the bias.
TEST(BiasedLock, TryLockFailsWhileTheOwnerIsInsideAndEndsTheBias) {
  BiasedLock lock;
  if (!courier::detail::asymmetric_fence_available()) GTEST_SKIP() << "no lock is biased here";
  ASSERT_TRUE(lock.try_enter_biased(kOwner));
  EXPECT_FALSE(lock.try_lock()) << "try_lock() took a lock its owner was inside";
  lock.leave_biased();

  ASSERT_TRUE(lock.try_lock());
  EXPECT_FALSE(lock.try_lock()) << "try_lock() took a lock already held";
  lock.unlock();
  EXPECT_FALSE(lock.try_enter_biased(kOwner)) << "try_lock() left the bias in place";
}

// Counts on several threads, each increment inside `exclusively(thread,
// work)`, and expects one at a time and every increment counted.
template <class Exclusively>
void expect_one_at_a_time(BiasedLock& lock, Exclusively exclusively) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 20000;
  ConcurrencyProbe probe;
  int counter = 0;
  std::vector<std::future<void>> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(run_on_thread([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        exclusively(lock, t, [&] {
          const ConcurrencyProbe::Inside inside(probe);
          ++counter;
        });
      }
    }));
  }
  for (auto& thread : threads) thread.get();
  EXPECT_EQ(counter, kThreads * kRounds);
  EXPECT_EQ(probe.max_running(), 1);
}

TEST(BiasedLock, ManyThreadsOneAtATime) {
  BiasedLock lock;
  expect_one_at_a_time(lock, [](BiasedLock& shared, int thread, auto work) {
    run_exclusively(shared, kOwner + static_cast<std::uint64_t>(thread), work);
  });
}

// BiasedGuard holds the lock for its scope whichever way it got in: through
// the bias on the first thread, by lock() on the others.
TEST(BiasedLock, GuardsFromManyThreadsOneAtATime) {
  BiasedLock lock;
  expect_one_at_a_time(lock, [](BiasedLock& shared, int /*thread*/, auto work) {
    const courier::detail::BiasedGuard guard(shared);
    work();
  });
}

}  // namespace
