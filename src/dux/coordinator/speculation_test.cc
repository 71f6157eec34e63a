// The straggler rule (speculation.h) driven by a fake clock: time points made by hand.
#include "dux/coordinator/speculation.h"

#include <gtest/gtest.h>

namespace dux::coordinator {
namespace {

using Clock = StragglerWatch::Clock;
using std::chrono::milliseconds;

// A fixed origin; every time point of a test is this plus some milliseconds.
Clock::time_point At(int64_t ms) { return Clock::time_point{} + milliseconds(1'000'000 + ms); }

SpeculationPolicy On() {
  SpeculationPolicy policy;
  policy.enabled = true;
  return policy;
}

TEST(StragglerWatch, ThreeTimesTheMedianOfFinishedPeersAfterTheMinimum) {
  StragglerWatch watch(On(), 4);
  for (size_t t = 0; t < 4; ++t) watch.Started(t, At(0));
  watch.Finished(0, At(500));
  watch.Finished(1, At(600));
  ASSERT_NEAR(*watch.MedianSeconds(), 0.55, 1e-12);
  // Half the stage has finished: 3 x 0.55 s = 1.65 s is the bar, above the 1 s minimum.
  EXPECT_FALSE(watch.IsStraggler(2, At(1600)));
  EXPECT_TRUE(watch.IsStraggler(2, At(1700)));
  EXPECT_DOUBLE_EQ(watch.ElapsedSeconds(3, At(1700)), 1.7);
}

TEST(StragglerWatch, NotBeforeTheMinimumTime) {
  StragglerWatch watch(On(), 2);
  watch.Started(0, At(0));
  watch.Started(1, At(0));
  watch.Finished(0, At(10));
  // 50 x the median, but under the 1 s minimum.
  EXPECT_FALSE(watch.IsStraggler(1, At(500)));
  EXPECT_FALSE(watch.IsStraggler(1, At(1000)));
  EXPECT_TRUE(watch.IsStraggler(1, At(1001)));
}

TEST(StragglerWatch, NotBeforeHalfTheStageFinished) {
  StragglerWatch watch(On(), 5);
  for (size_t t = 0; t < 5; ++t) watch.Started(t, At(0));
  watch.Finished(0, At(100));
  watch.Finished(1, At(100));
  EXPECT_FALSE(watch.IsStraggler(4, At(60'000)));  // 2 of 5 finished: below half
  watch.Finished(2, At(100));
  EXPECT_TRUE(watch.IsStraggler(4, At(60'000)));  // 3 of 5
}

TEST(StragglerWatch, NothingFinishedNothingIsAStraggler) {
  SpeculationPolicy policy = On();
  policy.min_finished_fraction = 0;
  StragglerWatch watch(policy, 3);
  watch.Started(0, At(0));
  EXPECT_FALSE(watch.MedianSeconds().has_value());
  EXPECT_FALSE(watch.IsStraggler(0, At(100'000)));
}

TEST(StragglerWatch, OffNotRunningOrFinishedIsNeverAStraggler) {
  SpeculationPolicy off;
  StragglerWatch disabled(off, 2);
  disabled.Started(0, At(0));
  disabled.Started(1, At(0));
  disabled.Finished(0, At(10));
  EXPECT_FALSE(disabled.IsStraggler(1, At(100'000)));

  StragglerWatch watch(On(), 3);
  watch.Started(0, At(0));
  watch.Finished(0, At(10));
  watch.Started(1, At(0));
  watch.Finished(1, At(20));
  EXPECT_FALSE(watch.IsStraggler(0, At(100'000)));  // finished
  EXPECT_FALSE(watch.IsStraggler(2, At(100'000)));  // never started
  EXPECT_FALSE(watch.IsStraggler(7, At(100'000)));  // no such task
}

TEST(StragglerWatch, ARetryRestartsTheClockAndTheMultiplierIsTheOnePassed) {
  SpeculationPolicy policy = On();
  policy.multiplier = 10;
  policy.min_seconds = 0;
  StragglerWatch watch(policy, 2);
  watch.Started(0, At(0));
  watch.Started(1, At(0));
  watch.Finished(0, At(100));
  EXPECT_FALSE(watch.IsStraggler(1, At(990)));  // under 10 x 0.1 s
  EXPECT_TRUE(watch.IsStraggler(1, At(1001)));
  watch.Started(1, At(1001));  // its retry
  EXPECT_FALSE(watch.IsStraggler(1, At(1500)));
  EXPECT_TRUE(watch.IsStraggler(1, At(2002)));
}

TEST(StragglerWatch, MedianOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
  StragglerWatch watch(On(), 4);
  for (size_t t = 0; t < 4; ++t) watch.Started(t, At(0));
  watch.Finished(0, At(100));
  watch.Finished(1, At(300));
  watch.Finished(2, At(200));
  EXPECT_DOUBLE_EQ(*watch.MedianSeconds(), 0.2);
  watch.Finished(3, At(900));
  EXPECT_DOUBLE_EQ(*watch.MedianSeconds(), 0.25);
}

}  // namespace
}  // namespace dux::coordinator
