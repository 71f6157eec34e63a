// RunProgress: the line a distributed run's events make, step by step.
#include "dux/cli/run_progress.h"

#include <gtest/gtest.h>

namespace dux::cli {
namespace {

using Clock = RunProgress::Clock;
using std::chrono::milliseconds;

Event WorkerStop(const std::string& stage, const std::string& task, double rows, double bytes,
                 const std::string& status = "ok") {
  return {"distributed.worker.stop",
          {{"rows", rows}, {"ipc_bytes", bytes}, {"duration", 0.1}},
          {{"stage", stage}, {"task", task}, {"status", status}, {"address", "w"}}};
}

TEST(RunProgress, FollowsStagesPartitionsRowsAndBytes) {
  Clock::time_point t0 = Clock::now();
  RunProgress progress(t0);
  EXPECT_EQ(progress.Line(t0), "");
  progress.Add({"stage.start", {{"partitions", 4}}, {{"stage", "s1"}, {"kind", "scan"}}}, t0);
  EXPECT_EQ(progress.Line(t0), "dux: scan (stage 1): 0/4 partitions, 0 rows, 0 B, 0s elapsed");
  progress.Add(WorkerStop("s1", "partition 0", 1000, 2048), t0 + milliseconds(500));
  progress.Add({"partition.progress",
                {{"percentage", 50}, {"rows_processed", 10}, {"total_rows", 20}},
                {{"stage", "s1"}, {"task", "partition 1"}, {"address", "w"}}},
               t0 + milliseconds(800));
  // 1.5 of 4 partitions in 2 s: 2 / 1.5 * 2.5 = 3.3 s left.
  EXPECT_EQ(progress.Line(t0 + milliseconds(2000)),
            "dux: scan (stage 1): 1/4 partitions, 1000 rows, 2.0 KiB, 2s elapsed, ~3s left");
  progress.Add(WorkerStop("s1", "partition 1", 0, 0, "UNAVAILABLE"), t0 + milliseconds(2100));
  progress.Add({"partition.retry", {}, {{"stage", "s1"}, {"task", "partition 1"}}},
               t0 + milliseconds(2100));
  for (int i = 1; i < 4; ++i) {
    progress.Add(WorkerStop("s1", "partition " + std::to_string(i), 10, 1024 * 1024),
                 t0 + milliseconds(3000));
  }
  EXPECT_EQ(progress.stages_complete(), 1);
  EXPECT_EQ(progress.Counts(), "dux: scan (stage 1): 4/4 partitions, 1030 rows, 3.0 MiB, 1 retry");
  progress.Add({"distributed.shuffle.stop", {{"bytes", 1024 * 1024}}, {}}, t0 + milliseconds(3000));
  progress.Add({"stage.start", {{"partitions", 1}}, {{"stage", "s2"}, {"kind", "final"}}},
               t0 + milliseconds(3000));
  EXPECT_EQ(progress.Counts(), "dux: final (stage 2): 0/1 partitions, 1030 rows, 4.0 MiB, 1 retry");
  // The coordinator's own stage has no worker: its good end completes it.
  progress.Add(
      {"stage.stop", {{"duration", 1}}, {{"stage", "s2"}, {"kind", "final"}, {"status", "ok"}}},
      t0 + milliseconds(61000));
  EXPECT_EQ(progress.stages_complete(), 2);
  EXPECT_EQ(progress.Line(t0 + milliseconds(61000)),
            "dux: final (stage 2): 1/1 partitions, 1030 rows, 4.0 MiB, 1 retry, 1m01s elapsed");
}

TEST(RunProgress, ASpeculatedTaskCountsOnceAndIsShown) {
  Clock::time_point t0 = Clock::now();
  RunProgress progress(t0);
  progress.Add({"stage.start", {{"partitions", 2}}, {{"stage", "s1"}, {"kind", "scan"}}}, t0);
  progress.Add(WorkerStop("s1", "partition 0", 10, 100), t0);
  progress.Add({"partition.speculate", {}, {{"stage", "s1"}, {"task", "partition 1"}}}, t0);
  progress.Add(WorkerStop("s1", "partition 1", 20, 200), t0);
  // The straggler completes too, before its cancellation lands: nothing counted twice.
  progress.Add(WorkerStop("s1", "partition 1", 20, 200), t0);
  EXPECT_EQ(progress.Counts(), "dux: scan (stage 1): 2/2 partitions, 30 rows, 300 B, 1 speculated");
  // Another stage: the cancelled loser ends first, then the winner counts.
  progress.Add({"stage.start", {{"partitions", 1}}, {{"stage", "s2"}, {"kind", "scan"}}}, t0);
  progress.Add({"partition.speculate", {}, {{"stage", "s2"}, {"task", "partition 0"}}}, t0);
  progress.Add(WorkerStop("s2", "partition 0", 0, 0, "CANCELLED"), t0);
  progress.Add(WorkerStop("s2", "partition 0", 5, 50), t0);
  EXPECT_EQ(progress.Counts(), "dux: scan (stage 2): 1/1 partitions, 35 rows, 350 B, 2 speculated");
}

TEST(RunProgress, WithoutStageEventsTheFanOutGivesTheFirstStagesPartitions) {
  Clock::time_point t0 = Clock::now();
  RunProgress progress(t0);
  progress.Add({"distributed.fan_out.start", {{"n_partitions", 3}, {"n_workers", 2}}, {}}, t0);
  progress.Add(WorkerStop("exchange", "partition 0", 5, 100), t0);
  EXPECT_EQ(progress.Counts(), "dux: exchange (stage 1): 1/3 partitions, 5 rows, 100 B");
  progress.Add(WorkerStop("gather", "buckets of worker 0", 7, 100), t0);
  EXPECT_EQ(progress.Counts(), "dux: gather (stage 2): 1 partitions done, 12 rows, 200 B");
}

TEST(RunProgress, TheCoordinatorsOwnStageHasNoPartitions) {
  Clock::time_point t0 = Clock::now();
  RunProgress progress(t0);
  progress.Add({"stage.start", {{"partitions", 0}}, {{"stage", "final"}, {"kind", "final"}}}, t0);
  EXPECT_EQ(progress.stages_complete(), 1);
  EXPECT_EQ(progress.Counts(), "dux: final (stage 1): on the coordinator, 0 rows, 0 B");
}

}  // namespace
}  // namespace dux::cli
