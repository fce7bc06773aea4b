// CatchUpPacing (include/courier/detail/delivery/catch_up_pacing.hpp): a drain keeps
// pausing while its pauses gather batches, and backs off, doubling, while
// they gather nothing.
#include "courier/detail/delivery/catch_up_pacing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

namespace {

using courier::detail::CatchUpPacing;

// How many times the drain catches up without pausing before it pauses again.
std::uint32_t skips_before_next_pause(CatchUpPacing& pacing) {
  std::uint32_t skips = 0;
  while (!pacing.should_pause()) ++skips;
  return skips;
}

TEST(CatchUpPacing, PausesTheFirstTimeADrainCatchesUp) {
  CatchUpPacing pacing;
  EXPECT_TRUE(pacing.should_pause());
}

TEST(CatchUpPacing, KeepsPausingWhilePausesGatherBatches) {
  CatchUpPacing pacing;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(pacing.should_pause()) << "catch-up " << i;
    pacing.judge(true);
  }
}

TEST(CatchUpPacing, BacksOffDoublingWhilePausesGatherNothing) {
  CatchUpPacing pacing;
  ASSERT_TRUE(pacing.should_pause());
  std::uint32_t expected = CatchUpPacing::kFirstSkip;
  for (int failed_pauses = 1; failed_pauses <= 12; ++failed_pauses) {
    pacing.judge(false);
    EXPECT_EQ(skips_before_next_pause(pacing), expected) << "after " << failed_pauses;
    expected = std::min(2 * expected, CatchUpPacing::kLongestSkip);
  }
}

TEST(CatchUpPacing, APauseThatGathersABatchEndsTheBackOff) {
  CatchUpPacing pacing;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(pacing.should_pause());
    pacing.judge(false);
    skips_before_next_pause(pacing);
  }
  pacing.judge(true);
  EXPECT_TRUE(pacing.should_pause());
  pacing.judge(false);
  EXPECT_EQ(skips_before_next_pause(pacing), CatchUpPacing::kFirstSkip);
}

}  // namespace
