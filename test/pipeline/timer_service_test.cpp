// TimerService implementations (pipeline/manual_clock.hpp,
// pipeline/timer_thread.hpp): due order, cancellation, timers scheduled by
// timers, bad input.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <vector>

#include "courier/pipeline/manual_clock.hpp"
#include "courier/pipeline/timer_thread.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using courier::ManualClock;
using courier::TimerThread;
using courier_test::finishes_promptly;
using courier_test::mentions;

TEST(ManualClock, RunsDueTimersInDueOrderWithTheirTimeAsNow) {
  ManualClock clock;
  const auto start = clock.now();
  std::vector<std::pair<int, ManualClock::Duration>> ran;
  clock.schedule_after(30ms, [&] { ran.emplace_back(3, clock.now() - start); });
  clock.schedule_after(10ms, [&] { ran.emplace_back(1, clock.now() - start); });
  clock.schedule_after(10ms, [&] { ran.emplace_back(2, clock.now() - start); });
  clock.advance(20ms);
  EXPECT_EQ(ran, (std::vector<std::pair<int, ManualClock::Duration>>{{1, 10ms}, {2, 10ms}}));
  clock.advance(10ms);
  ASSERT_EQ(ran.size(), 3U);
  EXPECT_EQ(ran[2], (std::pair<int, ManualClock::Duration>{3, 30ms}));
  EXPECT_EQ(clock.now() - start, 30ms);
}

TEST(ManualClock, RunsATimerThatATimerSchedulesWithinTheSameAdvance) {
  ManualClock clock;
  int fired = 0;
  clock.schedule_after(5ms, [&] { clock.schedule_after(5ms, [&] { ++fired; }); });
  clock.advance(10ms);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(clock.pending(), 0U);
}

TEST(ManualClock, ACancelledTimerNeverRuns) {
  ManualClock clock;
  bool ran = false;
  const auto id = clock.schedule_after(1ms, [&] { ran = true; });
  EXPECT_TRUE(clock.cancel(id));
  EXPECT_FALSE(clock.cancel(id));
  clock.advance(1s);
  EXPECT_FALSE(ran);
}

TEST(ManualClock, RejectsANegativeAdvance) {
  ManualClock clock;
  try {
    clock.advance(-1ms);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& error) {
    EXPECT_TRUE(mentions(error.what(), "-1000000 ns"));
  }
}

TEST(TimerThread, RunsTimersOnItsThreadInDueOrder) {
  TimerThread timers;
  std::promise<std::vector<int>> order;
  std::vector<int> ran;  // touched by the timer thread only
  const auto now = timers.now();
  timers.schedule_at(now + 2ms, [&] {
    ran.push_back(2);
    order.set_value(ran);
  });
  timers.schedule_at(now + 1ms, [&] { ran.push_back(1); });
  auto result = order.get_future();
  ASSERT_TRUE(finishes_promptly(result));
  EXPECT_EQ(result.get(), (std::vector<int>{1, 2}));
}

TEST(TimerThread, DropsPendingTimersWhenDestroyed) {
  bool ran = false;
  {
    TimerThread timers;
    timers.schedule_after(1h, [&] { ran = true; });
    EXPECT_EQ(timers.pending(), 1U);
  }
  EXPECT_FALSE(ran);
}

}  // namespace
