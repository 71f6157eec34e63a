// QueryLog and its JSON: reports put together into queries, stages and partitions derived from
// the events, the finished ones bounded, silent ones lost, and the metrics they count.
#include "dux/status_page/query_log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

namespace dux::status_page {
namespace {

using nlohmann::json;

v1::QueryEvent WorkerStop(const std::string& stage, const std::string& task,
                          const std::string& worker, double end_seconds, double seconds,
                          double bytes) {
  v1::QueryEvent e;
  e.set_name("distributed.worker.stop");
  e.set_at_us(static_cast<int64_t>(end_seconds * 1e6));
  (*e.mutable_measurements())["duration"] = seconds;
  (*e.mutable_measurements())["ipc_bytes"] = bytes;
  (*e.mutable_measurements())["read_bytes"] = 3 * bytes;
  (*e.mutable_metadata())["stage"] = stage;
  (*e.mutable_metadata())["task"] = task;
  (*e.mutable_metadata())["address"] = worker;
  (*e.mutable_metadata())["status"] = "ok";
  return e;
}

v1::QueryEvent Named(const std::string& name, const std::map<std::string, double>& measurements) {
  v1::QueryEvent e;
  e.set_name(name);
  for (const auto& [k, v] : measurements) (*e.mutable_measurements())[k] = v;
  return e;
}

v1::QueryReport Started(const std::string& id) {
  v1::QueryReport r;
  r.set_query_id(id);
  r.set_pipeline("from_parquet(\"x/*.parquet\")");
  r.set_plan("-- distributed: 2 partitions on 2 workers");
  r.set_start_unix_ms(1000);
  r.set_coordinator("host 1");
  return r;
}

v1::QueryReport Ended(const std::string& id, const std::string& status) {
  v1::QueryReport r;
  r.set_query_id(id);
  r.set_finished(true);
  r.set_end_unix_ms(3500);
  r.set_status(status);
  if (status != "ok") r.set_error("it broke");
  return r;
}

int64_t UnixMillisNowForTest() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class QueryLogTest : public ::testing::Test {
 protected:
  MetricsRegistry registry_;
  QueryMetrics metrics_{&registry_};
};

TEST_F(QueryLogTest, PutsReportsTogetherIntoStagesAndPartitions) {
  QueryLog log(&metrics_);
  log.Apply(Started("q1"));
  v1::QueryReport events;
  events.set_query_id("q1");
  *events.add_events() = WorkerStop("exchange", "partition 0", "w1:1", 1.0, 0.75, 100);
  *events.add_events() = WorkerStop("exchange", "partition 1", "w2:1", 1.5, 1.0, 200);
  log.Apply(events);
  EXPECT_EQ(log.running(), 1u);
  json running = json::parse(*log.DetailJson("q1"));
  EXPECT_EQ(running["status"], "running");
  EXPECT_TRUE(running["end_unix_ms"].is_null());

  v1::QueryReport last = Ended("q1", "ok");
  *last.add_events() = WorkerStop("gather", "buckets of worker 0", "w1:1", 2.0, 0.5, 30);
  *last.add_events() = Named("distributed.merge.stop",
                             {{"rows", 7}, {"ipc_bytes", 30}, {"exchanged_ipc_bytes", 300}});
  *last.add_events() = Named("distributed.broadcast.stop", {{"bytes", 10}, {"n_workers", 2}});
  *last.add_events() = Named("query.stop", {{"rows", 7}});
  log.Apply(last);
  EXPECT_EQ(log.running(), 0u);

  json q = json::parse(*log.DetailJson("q1"));
  EXPECT_EQ(q["status"], "ok");
  EXPECT_EQ(q["pipeline"], "from_parquet(\"x/*.parquet\")");
  EXPECT_EQ(q["plan"], "-- distributed: 2 partitions on 2 workers");
  EXPECT_DOUBLE_EQ(q["seconds"].get<double>(), 2.5);
  EXPECT_EQ(q["rows"], 7);
  EXPECT_EQ(q["partitions_done"], 3);
  EXPECT_EQ(q["read_bytes"], 3 * (100 + 200 + 30));
  EXPECT_EQ(q["gathered_bytes"], 30);
  EXPECT_EQ(q["exchanged_bytes"], 300);
  EXPECT_EQ(q["broadcast_bytes"], 20);
  ASSERT_EQ(q["stages"].size(), 2u);
  EXPECT_EQ(q["stages"][0]["name"], "exchange");
  EXPECT_EQ(q["stages"][0]["partitions"], 2);
  EXPECT_DOUBLE_EQ(q["stages"][0]["start_seconds"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(q["stages"][0]["end_seconds"].get<double>(), 1.5);
  EXPECT_EQ(q["stages"][0]["bytes"], 300);
  EXPECT_EQ(q["stages"][1]["name"], "gather");
  ASSERT_EQ(q["partitions"].size(), 3u);
  EXPECT_EQ(q["partitions"][1]["worker"], "w2:1");
  EXPECT_DOUBLE_EQ(q["partitions"][1]["start_seconds"].get<double>(), 0.5);
  EXPECT_TRUE(q["partitions"][1]["rows"].is_null());
  EXPECT_EQ(q["events"].size(), 6u);

  json list = json::parse(log.ListJson());
  EXPECT_TRUE(list["running"].empty());
  ASSERT_EQ(list["finished"].size(), 1u);
  EXPECT_EQ(list["finished"][0]["id"], "q1");
  EXPECT_EQ(list["finished"][0]["stages"], json::array({"exchange", "gather"}));

  const std::string text = registry_.Render();
  EXPECT_NE(text.find("dux_queries_total{status=\"ok\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dux_read_bytes_total 990\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dux_gathered_bytes_total 30\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dux_exchanged_bytes_total 300\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dux_broadcast_bytes_total 20\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dux_rows_out_total 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dux_partition_duration_seconds_count 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dux_query_duration_seconds_count 1\n"), std::string::npos) << text;
}

TEST_F(QueryLogTest, ShowsPartitionsStillRunningAndStagesAsTheyStopped) {
  QueryLog log(&metrics_);
  v1::QueryReport r = Started("q");
  r.set_start_unix_ms(UnixMillisNowForTest() - 2000);
  v1::QueryEvent start = Named("partition.start", {});
  start.set_at_us(500000);
  (*start.mutable_metadata())["stage"] = "scan";
  (*start.mutable_metadata())["task"] = "partition 1";
  (*start.mutable_metadata())["address"] = "w2:1";
  *r.add_events() = start;
  v1::QueryEvent done = start;
  (*done.mutable_metadata())["task"] = "partition 0";
  *r.add_events() = done;
  *r.add_events() = WorkerStop("scan", "partition 0", "w2:1", 1.0, 0.5, 10);
  v1::QueryEvent stage = Named("stage.stop", {{"duration", 0.25}, {"rows", 5}, {"bytes", 64}});
  stage.set_at_us(1250000);
  (*stage.mutable_metadata())["stage"] = "final";
  *r.add_events() = stage;
  log.Apply(r);
  json q = json::parse(*log.DetailJson("q"));
  ASSERT_EQ(q["partitions"].size(), 2u) << q.dump();
  EXPECT_EQ(q["partitions"][0]["status"], "ok");
  EXPECT_EQ(q["partitions"][1]["task"], "partition 1");
  EXPECT_EQ(q["partitions"][1]["status"], "running");
  EXPECT_DOUBLE_EQ(q["partitions"][1]["start_seconds"].get<double>(), 0.5);
  EXPECT_GE(q["partitions"][1]["seconds"].get<double>(), 1.4);
  ASSERT_EQ(q["stages"].size(), 2u);
  EXPECT_EQ(q["stages"][1]["name"], "final");
  EXPECT_EQ(q["stages"][1]["rows"], 5);
  EXPECT_EQ(q["stages"][1]["bytes"], 64);
  EXPECT_DOUBLE_EQ(q["stages"][1]["start_seconds"].get<double>(), 1.0);
  EXPECT_EQ(q["partitions_done"], 1);
}

TEST_F(QueryLogTest, KeepsTheLastFinishedAndIgnoresLateReports) {
  QueryLog log(&metrics_, /*keep_finished=*/2);
  for (const char* id : {"a", "b", "c"}) {
    log.Apply(Started(id));
    log.Apply(Ended(id, id == std::string("b") ? "INVALID_ARGUMENT" : "ok"));
  }
  json list = json::parse(log.ListJson());
  ASSERT_EQ(list["finished"].size(), 2u);
  EXPECT_EQ(list["finished"][0]["id"], "c");
  EXPECT_EQ(list["finished"][1]["id"], "b");
  EXPECT_EQ(list["finished"][1]["error"], "it broke");
  EXPECT_FALSE(log.DetailJson("a"));
  log.Apply(Ended("c", "ok"));  // again: not a second query
  const std::string text = registry_.Render();
  EXPECT_NE(text.find("dux_queries_total{status=\"ok\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dux_queries_total{status=\"INVALID_ARGUMENT\"} 1\n"), std::string::npos)
      << text;
}

TEST_F(QueryLogTest, AQueryWhoseCoordinatorFellSilentIsLost) {
  QueryLog log(&metrics_, 100, std::chrono::seconds(0));
  log.Apply(Started("q"));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(log.running(), 0u);
  json q = json::parse(*log.DetailJson("q"));
  EXPECT_EQ(q["status"], "lost");
  EXPECT_NE(registry_.Render().find("dux_queries_total{status=\"lost\"} 1\n"), std::string::npos);
}

TEST_F(QueryLogTest, KeepsAtMostMaxEventsAndCountsTheRest) {
  QueryLog log(&metrics_);
  v1::QueryReport r = Started("q");
  r.set_dropped_events(4);
  for (size_t i = 0; i < QueryLog::kMaxEvents + 10; ++i) *r.add_events() = Named("x", {});
  log.Apply(r);
  json q = json::parse(*log.DetailJson("q"));
  EXPECT_EQ(q["events"].size(), QueryLog::kMaxEvents);
  EXPECT_EQ(q["dropped_events"], 14);
}

}  // namespace
}  // namespace dux::status_page
