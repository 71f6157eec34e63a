#include "dux/common/query_profile.h"

#include <gtest/gtest.h>

namespace dux {
namespace {

Event StageStart(const std::string& stage, const std::string& kind, double partitions) {
  return {"stage.start", {{"partitions", partitions}}, {{"stage", stage}, {"kind", kind}}};
}

Event StageStop(const std::string& stage, const std::string& kind,
                std::map<std::string, double> measurements = {},
                std::map<std::string, std::string> metadata = {}) {
  metadata["stage"] = stage;
  metadata["kind"] = kind;
  metadata["status"] = "ok";
  return {"stage.stop", std::move(measurements), std::move(metadata)};
}

Event PartitionStart(const std::string& stage, const std::string& task, const std::string& address,
                     double attempt = 0) {
  return {"partition.start",
          {{"attempt", attempt}},
          {{"stage", stage}, {"task", task}, {"address", address}}};
}

Event WorkerStop(const std::string& stage, const std::string& task, const std::string& address,
                 std::map<std::string, double> measurements, const std::string& status = "ok") {
  return {"distributed.worker.stop",
          std::move(measurements),
          {{"stage", stage}, {"task", task}, {"address", address}, {"status", status}}};
}

TEST(QueryProfile, BucketSizesGiveTheLargestOverTheUpperMedian) {
  BucketSizes sizes = ParseBucketSizes("10,900,20,30", "1,2,3,4");
  EXPECT_EQ(sizes.rows, (std::vector<int64_t>{10, 900, 20, 30}));
  EXPECT_EQ(sizes.bytes, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(sizes.largest, 900);
  EXPECT_EQ(sizes.median, 30);  // sorted 10, 20, 30, 900: element 2
  ASSERT_TRUE(sizes.skew.has_value());
  EXPECT_DOUBLE_EQ(*sizes.skew, 30.0);
  // An empty median bucket gives no ratio.
  EXPECT_FALSE(ParseBucketSizes("0,0,5", "").skew.has_value());
  EXPECT_TRUE(ParseBucketSizes("", "").rows.empty());
}

// A shuffle join as the runner reports it: two producing scans into one exchange, the bucket
// owners reading it, and the coordinator's final stage.
TEST(QueryProfile, CollectsStagesPartitionsWorkersAndExchanges) {
  QueryProfile profile;
  profile.RecordAt(StageStart("scan", "scan", 2), 0);
  profile.RecordAt(PartitionStart("scan", "partition 0", "w1"), 0.1);
  profile.RecordAt(PartitionStart("scan", "partition 1", "w2"), 0.1);
  profile.RecordAt({"partition.progress",
                    {{"percentage", 50}, {"rows_processed", 40}, {"total_rows", 80}},
                    {{"stage", "scan"}, {"task", "partition 0"}, {"address", "w1"}}},
                   0.2);
  profile.RecordAt(WorkerStop("scan", "partition 0", "w1",
                              {{"rows", 80},
                               {"rows_processed", 80},
                               {"ipc_bytes", 100},
                               {"peak_memory_bytes", 5000},
                               {"spill_bytes", 0}}),
                   0.5);
  // Partition 1 fails on w2 and is retried on w1.
  profile.RecordAt(WorkerStop("scan", "partition 1", "w2", {{"ipc_bytes", 0}}, "UNAVAILABLE"), 0.3);
  profile.RecordAt({"partition.retry", {}, {{"stage", "scan"}, {"task", "partition 1"}}}, 0.3);
  profile.RecordAt(PartitionStart("scan", "partition 1", "w1", 1), 0.5);
  profile.RecordAt(WorkerStop("scan", "partition 1", "w1",
                              {{"rows", 20},
                               {"rows_processed", 20},
                               {"ipc_bytes", 50},
                               {"peak_memory_bytes", 7000},
                               {"spill_bytes", 1024}}),
                   0.7);
  profile.RecordAt(
      StageStop(
          "scan", "scan", {{"rows", 100}, {"bytes", 300}},
          {{"exchange", "exchange"}, {"bucket_rows", "90,4,6"}, {"bucket_bytes", "200,40,60"}}),
      0.8);
  profile.RecordAt(StageStart("scan right", "scan", 1), 0.8);
  profile.RecordAt(PartitionStart("scan right", "partition 0", "w2"), 0.8);
  profile.RecordAt(WorkerStop("scan right", "partition 0", "w2", {{"rows", 3}, {"ipc_bytes", 9}}),
                   0.9);
  profile.RecordAt(StageStop("scan right", "scan", {{"rows", 3}, {"bytes", 12}},
                             {{"exchange", "exchange"}, {"bucket_rows", "1,1,1"}}),
                   0.9);
  profile.RecordAt({"distributed.shuffle.stop",
                    {{"rows", 103}},
                    {{"stage", "exchange"}, {"keys", "k"}, {"bucket_rows", "91,5,7"}}},
                   0.9);
  profile.RecordAt({"distributed.shuffle.skew_detected",
                    {{"bucket", 0}, {"rows", 91}, {"median_rows", 7}, {"split_into", 2}},
                    {{"stage", "exchange"}}},
                   0.9);
  profile.RecordAt(StageStart("exchange", "exchange", 2), 1.0);
  profile.RecordAt(PartitionStart("exchange", "buckets of worker 0", "w1"), 1.0);
  profile.RecordAt(PartitionStart("exchange", "buckets of worker 1", "w2"), 1.0);
  profile.RecordAt(
      WorkerStop("exchange", "buckets of worker 0", "w1", {{"rows", 60}, {"ipc_bytes", 600}}), 1.4);
  profile.RecordAt(
      WorkerStop("exchange", "buckets of worker 1", "w2", {{"rows", 30}, {"ipc_bytes", 300}}), 1.2);
  profile.RecordAt(StageStop("exchange", "exchange", {{"rows", 90}, {"bytes", 900}}), 1.5);
  profile.RecordAt(StageStart("final", "final", 0), 1.5);
  profile.RecordAt(StageStop("final", "final", {{"rows", 90}}), 1.6);

  RunProfile run = profile.Profile();
  EXPECT_DOUBLE_EQ(run.seconds, 1.6);
  ASSERT_TRUE(run.rows.has_value());
  EXPECT_EQ(*run.rows, 90);
  EXPECT_EQ(run.addresses, (std::vector<std::string>{"w1", "w2"}));
  ASSERT_EQ(run.stages.size(), 4u);

  const StageProfile& scan = run.stages[0];
  EXPECT_EQ(scan.kind, "scan");
  EXPECT_EQ(scan.partitions, 2);
  EXPECT_EQ(scan.tasks.size(), 3u);  // the failed attempt counts as a task
  EXPECT_EQ(scan.retries, 1);
  EXPECT_EQ(scan.rows_out, 100);  // the attempts that succeeded
  EXPECT_EQ(scan.rows_in, 100);
  EXPECT_EQ(scan.bytes, 300);
  EXPECT_EQ(scan.peak_memory_bytes, 7000);
  EXPECT_EQ(scan.spill_bytes, 1024);
  EXPECT_DOUBLE_EQ(scan.end - scan.start, 0.8);
  ASSERT_EQ(scan.workers.size(), 2u);
  EXPECT_EQ(scan.workers[0].address, "w1");
  EXPECT_EQ(scan.workers[0].partitions, 2);
  EXPECT_EQ(scan.workers[0].rows_out, 100);
  EXPECT_EQ(scan.workers[0].bytes, 150);
  EXPECT_DOUBLE_EQ(scan.workers[0].busy_seconds, 0.4 + 0.2);
  EXPECT_EQ(scan.workers[1].address, "w2");
  EXPECT_EQ(scan.workers[1].partitions, 1);
  EXPECT_FALSE(scan.workers[1].rows_out.has_value());  // it finished nothing
  EXPECT_FALSE(scan.workers[1].peak_memory_bytes.has_value());
  EXPECT_EQ(scan.tasks[0].percentage, 50);

  // The right side's worker reported no rows processed: unknown, not 0.
  EXPECT_FALSE(run.stages[1].rows_in.has_value());
  EXPECT_EQ(run.stages[1].rows_out, 3);

  const StageProfile& exchange = run.stages[2];
  EXPECT_EQ(exchange.keys, "k");
  EXPECT_EQ(exchange.rows_in, 103);  // both sides' buckets
  EXPECT_EQ(exchange.rows_out, 90);
  ASSERT_TRUE(exchange.buckets.has_value());
  EXPECT_EQ(exchange.buckets->largest, 91);
  EXPECT_DOUBLE_EQ(*exchange.buckets->skew, 13.0);
  ASSERT_EQ(exchange.skewed.size(), 1u);
  EXPECT_EQ(exchange.skewed[0].split_into, 2);
  int64_t per_worker = 0;
  for (const auto& w : exchange.workers) per_worker += *w.rows_out;
  EXPECT_EQ(per_worker, 90);

  const StageProfile& final_stage = run.stages[3];
  EXPECT_EQ(final_stage.rows_in, 90);  // what the exchange stage put out
  EXPECT_EQ(final_stage.rows_out, 90);

  ASSERT_EQ(run.exchanges.size(), 2u);
  EXPECT_EQ(run.exchanges[0].from, "scan");
  EXPECT_EQ(run.exchanges[0].into, "exchange");
  EXPECT_EQ(run.exchanges[0].rows, 100);
  EXPECT_EQ(run.exchanges[0].buckets.bytes, (std::vector<int64_t>{200, 40, 60}));
  EXPECT_DOUBLE_EQ(*run.exchanges[0].buckets.skew, 15.0);
  EXPECT_EQ(run.exchanges[1].from, "scan right");
  EXPECT_DOUBLE_EQ(*run.exchanges[1].buckets.skew, 1.0);
}

TEST(QueryProfile, CountsSpeculativeAttemptsAndTheOnesThatWon) {
  QueryProfile profile;
  profile.RecordAt(StageStart("scan", "scan", 2), 0);
  profile.RecordAt(PartitionStart("scan", "partition 0", "w1"), 0);
  profile.RecordAt(PartitionStart("scan", "partition 1", "w2"), 0);
  profile.RecordAt(WorkerStop("scan", "partition 0", "w1", {{"rows", 5}}), 0.2);
  profile.RecordAt({"partition.speculate", {}, {{"stage", "scan"}, {"task", "partition 1"}}}, 1);
  profile.RecordAt(PartitionStart("scan", "partition 1", "w1", 2), 1);
  profile.RecordAt(WorkerStop("scan", "partition 1", "w1", {{"rows", 5}}), 1.2);
  profile.RecordAt({"partition.speculate.stop",
                    {},
                    {{"stage", "scan"}, {"task", "partition 1"}, {"winner", "speculative"}}},
                   1.2);
  profile.RecordAt(WorkerStop("scan", "partition 1", "w2", {}, "CANCELLED"), 1.3);
  profile.RecordAt(StageStop("scan", "scan", {{"rows", 10}}), 1.3);
  RunProfile run = profile.Profile();
  ASSERT_EQ(run.stages.size(), 1u);
  EXPECT_EQ(run.stages[0].speculated, 1);
  EXPECT_EQ(run.stages[0].speculation_won, 1);
  EXPECT_EQ(run.stages[0].retries, 0);
  ASSERT_EQ(run.stages[0].tasks.size(), 3u);
  EXPECT_EQ(run.stages[0].tasks[2].attempt, 2);
}

TEST(QueryProfile, EventsOfUnknownStagesAreIgnored) {
  QueryProfile profile;
  profile.RecordAt(PartitionStart("scan", "partition 0", "w1"), 0);
  profile.RecordAt(WorkerStop("scan", "partition 0", "w1", {{"rows", 1}}), 0.1);
  profile.RecordAt(StageStop("scan", "scan"), 0.2);
  RunProfile run = profile.Profile();
  EXPECT_TRUE(run.stages.empty());
  EXPECT_FALSE(run.rows.has_value());
}

TEST(QueryProfile, ASubscriptionRecordsWhileItLives) {
  Telemetry telemetry;
  QueryProfile profile;
  {
    ProfileSubscription subscription(&telemetry, &profile);
    telemetry.Emit(StageStart("scan", "scan", 1));
  }
  telemetry.Emit(StageStart("final", "final", 0));
  RunProfile run = profile.Profile();
  ASSERT_EQ(run.stages.size(), 1u);
  EXPECT_EQ(run.stages[0].name, "scan");
}

TEST(QueryProfile, CountsTheTasksThatKeptOrSkippedTheirPartialAggregate) {
  QueryProfile profile;
  profile.RecordAt(StageStart("scan", "scan", 3), 0);
  for (const char* task : {"partition 0", "partition 1", "partition 2"}) {
    profile.RecordAt(PartitionStart("scan", task, "w1"), 0.1);
  }
  auto stop = [](const char* task, const char* choice, double rows_per_group,
                 const char* status = "ok") {
    Event e =
        WorkerStop("scan", task, "w1", {{"rows", 10}, {"rows_per_group", rows_per_group}}, status);
    e.metadata["partial_aggregation"] = choice;
    return e;
  };
  profile.RecordAt(stop("partition 0", "skipped", 1.0), 0.2);
  profile.RecordAt(stop("partition 1", "kept", 50.5), 0.3);
  // A failed attempt counts for neither.
  profile.RecordAt(stop("partition 2", "skipped", 1.0, "UNAVAILABLE"), 0.4);
  RunProfile run = profile.Profile();
  ASSERT_EQ(run.stages.size(), 1u);
  const StageProfile& scan = run.stages[0];
  EXPECT_EQ(scan.partial_aggregation_skipped, 1);
  EXPECT_EQ(scan.partial_aggregation_kept, 1);
  ASSERT_EQ(scan.tasks.size(), 3u);
  EXPECT_EQ(scan.tasks[0].partial_aggregation, "skipped");
  EXPECT_EQ(scan.tasks[1].rows_per_group, 50.5);
}

}  // namespace
}  // namespace dux
