// The gather's retry: a task whose worker fails is rerun on another worker, and the rows the
// failed attempt had already delivered are discarded. Workers run in this process; a
// wrapping client makes one of them fail after part of its result.
#include "dux/coordinator/gather.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "dux/api/session.h"
#include "dux/coordinator/forwarding_client_testing.h"
#include "dux/pipeline/language.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/worker/in_process_client.h"

namespace dux::coordinator {
namespace {

// Passes `limit` bytes of the worker's stream through, then fails with `error`.
class FailingStream : public protocol::ResultStream {
 public:
  FailingStream(std::unique_ptr<protocol::ResultStream> in, size_t limit, Status error)
      : in_(std::move(in)), left_(limit), error_(std::move(error)) {}
  Result<size_t> Read(void* data, size_t size) override {
    if (left_ == 0) return error_;
    DUX_ASSIGN_OR_RETURN(size_t n, in_->Read(data, std::min(size, left_)));
    left_ -= n;
    return n;
  }
  void Cancel() override { in_->Cancel(); }

 private:
  std::unique_ptr<protocol::ResultStream> in_;
  size_t left_;
  Status error_;
};

// A worker whose results break off after `limit` bytes (and that still answers Health),
// by default as a lost worker's do.
class FailingClient : public ForwardingClient {
 public:
  FailingClient(std::shared_ptr<protocol::WorkerClient> in, size_t limit,
                std::optional<Status> error = {})
      : ForwardingClient(std::move(in)),
        limit_(limit),
        error_(error
                   ? *error
                   : Status::Unavailable("worker " + address() + " is unreachable or went away")) {}
  Result<std::unique_ptr<protocol::ResultStream>> Execute(const v1::ExecuteRequest& r) override {
    DUX_ASSIGN_OR_RETURN(auto stream, in_->Execute(r));
    return std::unique_ptr<protocol::ResultStream>(
        new FailingStream(std::move(stream), limit_, error_));
  }

 private:
  size_t limit_;
  Status error_;
};

// Passes `limit` bytes of the worker's stream through, then stalls until cancelled: a
// straggler that has delivered part of its rows.
class StallingStream : public protocol::ResultStream {
 public:
  StallingStream(std::unique_ptr<protocol::ResultStream> in, size_t limit)
      : in_(std::move(in)), left_(limit) {}
  Result<size_t> Read(void* data, size_t size) override {
    if (left_ == 0) {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return cancelled_; });
      return Status(StatusCode::kCancelled, "cancelled");
    }
    DUX_ASSIGN_OR_RETURN(size_t n, in_->Read(data, std::min(size, left_)));
    left_ -= n;
    return n;
  }
  void Cancel() override {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    in_->Cancel();
  }

 private:
  std::unique_ptr<protocol::ResultStream> in_;
  size_t left_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

class StallingClient : public ForwardingClient {
 public:
  StallingClient(std::shared_ptr<protocol::WorkerClient> in, size_t limit)
      : ForwardingClient(std::move(in)), limit_(limit) {}
  Result<std::unique_ptr<protocol::ResultStream>> Execute(const v1::ExecuteRequest& r) override {
    DUX_ASSIGN_OR_RETURN(auto stream, in_->Execute(r));
    return std::unique_ptr<protocol::ResultStream>(new StallingStream(std::move(stream), limit_));
  }

 private:
  size_t limit_;
};

v1::Fragment Fragment(const std::string& text, const std::string& query_id) {
  auto script = pipeline::ParseScript(text);
  EXPECT_TRUE(script.ok()) << script.status().message();
  v1::Fragment f;
  f.set_query_id(query_id);
  pipeline::ToProto(*script, f.mutable_script());
  return f;
}

// 20000 rows in ten IPC chunks or so: the padding makes every batch about 1 MiB.
constexpr const char* kRows =
    "from_query(\"SELECT range AS k, repeat('x', 500) AS pad FROM range(0, 20000)\")";

class GatherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      worker::WorkerOptions options;
      options.threads = 1;
      workers_.push_back(std::move(worker::Worker::Open(options)).value());
      clients_.push_back(
          worker::MakeInProcessClient(workers_.back().get(), "in-process:" + std::to_string(i)));
    }
    session_ = std::move(Session::Open()).value();
    telemetry_.Subscribe([this](const Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    });
  }

  ClusterOptions Options(std::vector<std::shared_ptr<protocol::WorkerClient>> workers) {
    ClusterOptions o;
    o.workers = std::move(workers);
    o.telemetry = &telemetry_;
    return o;
  }

  std::vector<Event> Retries() {
    std::lock_guard lock(mu_);
    std::vector<Event> out;
    for (const auto& e : events_) {
      if (e.name == "partition.retry") out.push_back(e);
    }
    return out;
  }

  std::string Text(const std::string& sql) {
    auto rows = session_->connection().QueryText(sql);
    EXPECT_TRUE(rows.ok()) << rows.status().message();
    return rows.ok() ? rows->at(0).at(0).value_or("NULL") : "";
  }

  std::vector<std::unique_ptr<worker::Worker>> workers_;
  std::vector<std::shared_ptr<protocol::WorkerClient>> clients_;
  std::unique_ptr<Session> session_;
  Telemetry telemetry_;
  std::mutex mu_;
  std::vector<Event> events_;
};

TEST_F(GatherTest, RetryDiscardsTheRowsOfTheFailedAttempt) {
  auto failing = std::make_shared<FailingClient>(clients_[0], 3 << 20);
  auto options = Options({failing, clients_[1]});
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "g1"), true, "partition 0"}};
  auto gathered = GatherInto(session_->connection(), tasks, options, "gather", "t1");
  ASSERT_TRUE(gathered.ok()) << gathered.status().message();
  EXPECT_EQ(gathered->rows, 20000);
  EXPECT_EQ(Text("SELECT CAST(count(*) AS VARCHAR) || '/' || CAST(count(DISTINCT k) AS VARCHAR) "
                 "FROM temp.t1"),
            "20000/20000");
  ASSERT_EQ(Retries().size(), 1u);
  EXPECT_EQ(Retries()[0].measurements.at("discarded"), 1.0);
  EXPECT_EQ(Retries()[0].metadata.at("failed_worker"), "in-process:0");
  // The retry ran under a query id of its own.
  EXPECT_EQ(gathered->completed[0].query_id(), "g1-retry");
}

TEST_F(GatherTest, IdleWorkersTakeQueuedTasks) {
  // Five tasks all meant for worker 0: worker 1 takes some, and every row arrives once.
  std::vector<GatherTask> tasks;
  tasks.reserve(5);
  for (int i = 0; i < 5; ++i) {
    tasks.push_back({0,
                     Fragment("from_query(\"SELECT range + " + std::to_string(i * 20000) +
                                  " AS k FROM range(0, 20000)\")",
                              "q" + std::to_string(i)),
                     true, "partition " + std::to_string(i)});
  }
  auto gathered = GatherInto(session_->connection(), tasks, Options(clients_), "gather", "t0");
  ASSERT_TRUE(gathered.ok()) << gathered.status().message();
  EXPECT_EQ(Text("SELECT CAST(count(*) AS VARCHAR) || '/' || CAST(count(DISTINCT k) AS VARCHAR) "
                 "FROM temp.t0"),
            "100000/100000");
  std::set<double> ran_on;
  {
    std::lock_guard lock(mu_);
    for (const auto& e : events_) {
      if (e.name == "distributed.worker.stop") ran_on.insert(e.measurements.at("worker_index"));
    }
  }
  EXPECT_EQ(ran_on.size(), 2u) << "the idle worker took no task";
}

TEST_F(GatherTest, TwoFailuresFailTheCallNamingBoth) {
  auto a = std::make_shared<FailingClient>(clients_[0], 1 << 20);
  auto b = std::make_shared<FailingClient>(clients_[1], 1 << 20);
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "g2"), true, "partition 3"}};
  auto gathered = GatherInto(session_->connection(), tasks, Options({a, b}), "gather", "t2");
  ASSERT_FALSE(gathered.ok());
  EXPECT_EQ(gathered.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(gathered.status().message(),
            "partition 3 failed twice: worker in-process:0 is unreachable or went away; then "
            "worker in-process:1 is unreachable or went away");
}

TEST_F(GatherTest, TaskBoundToItsWorkerIsNotRetried) {
  auto failing = std::make_shared<FailingClient>(clients_[0], 1 << 20);
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "g3"), false, "bucket 0"}};
  auto gathered =
      GatherInto(session_->connection(), tasks, Options({failing, clients_[1]}), "gather", "t3");
  ASSERT_FALSE(gathered.ok());
  EXPECT_EQ(gathered.status().message(), "worker in-process:0 is unreachable or went away");
  EXPECT_TRUE(Retries().empty());
}

TEST_F(GatherTest, MistakeInThePipelineIsNotRetried) {
  std::vector<GatherTask> tasks = {
      {0, Fragment("from_query(\"SELECT CAST('x' AS INTEGER) AS v\")", "g4"), true, "partition 0"}};
  auto gathered = GatherInto(session_->connection(), tasks, Options(clients_), "gather", "t4");
  ASSERT_FALSE(gathered.ok());
  EXPECT_EQ(gathered.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Retries().empty());
}

TEST_F(GatherTest, IoErrorIsNotRetried) {
  // A disk that is full, a file that cannot be read: the next worker meets the same.
  auto failing = std::make_shared<FailingClient>(
      clients_[0], 1 << 20, Status::IOError("cannot write \"/tmp/x\": No space left on device"));
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "g11"), true, "partition 0"}};
  auto gathered =
      GatherInto(session_->connection(), tasks, Options({failing, clients_[1]}), "gather", "t11");
  ASSERT_FALSE(gathered.ok());
  EXPECT_EQ(gathered.status().message(), "cannot write \"/tmp/x\": No space left on device");
  EXPECT_TRUE(Retries().empty());
}

TEST_F(GatherTest, OneWorkerLeftIsNotRetriedOnTheFailedOne) {
  auto failing = std::make_shared<FailingClient>(clients_[0], 1 << 20);
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "g5"), true, "partition 0"}};
  auto gathered = GatherInto(session_->connection(), tasks, Options({failing}), "gather", "t5");
  ASSERT_FALSE(gathered.ok());
  EXPECT_EQ(gathered.status().message(), "worker in-process:0 is unreachable or went away");
  EXPECT_TRUE(Retries().empty());
}

TEST_F(GatherTest, FoldedTaskIsNotRetriedAfterDeliveringRows) {
  // Folded rows cannot be told apart by attempt, so a retry could count them twice.
  auto failing = std::make_shared<FailingClient>(clients_[0], 3 << 20);
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "g6"), true, "partition 0"}};
  Fold fold{{"k"}, {}, {}};
  auto gathered = GatherInto(session_->connection(), tasks, Options({failing, clients_[1]}),
                             "gather", "t6", &fold);
  ASSERT_FALSE(gathered.ok());
  EXPECT_EQ(gathered.status().message(), "worker in-process:0 is unreachable or went away");
  EXPECT_TRUE(Retries().empty());
}

TEST_F(GatherTest, FoldedTaskIsRetriedWhenItHadDeliveredNothing) {
  // Found by the chaos campaign: the won retry listed the failed first attempt among those
  // whose rows must go, and deleting by attempt failed on the fold's table ("Referenced
  // column __dux_attempt not found"), so every lost worker failed a folded stage.
  auto failing = std::make_shared<FailingClient>(clients_[0], 0);
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "g9"), true, "partition 0"}};
  Fold fold{{}, {{"n", "count(*)"}, {"s", "sum(k)"}}, {}};
  auto gathered = GatherInto(session_->connection(), tasks, Options({failing, clients_[1]}),
                             "gather", "t9", &fold);
  ASSERT_TRUE(gathered.ok()) << gathered.status().message();
  EXPECT_EQ(Text("SELECT CAST(n AS VARCHAR) || '/' || CAST(s AS VARCHAR) FROM temp.t9"),
            "20000/199990000");
  ASSERT_EQ(Retries().size(), 1u);
  EXPECT_EQ(Retries()[0].measurements.at("discarded"), 0.0);
}

TEST_F(GatherTest, ConsumerReadsTheRowsWithoutTheAttemptColumn) {
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "g7"), true, "partition 0"},
                                   {1, Fragment(kRows, "g8"), true, "partition 1"}};
  std::string columns;
  auto gathered = GatherTo(
      session_->connection(), tasks, Options(clients_), "gather",
      [&](const std::string& select) -> Result<int64_t> {
        DUX_ASSIGN_OR_RETURN(
            auto rows, session_->connection().QueryText("SELECT string_agg(column_name, ',') FROM "
                                                        "(DESCRIBE " +
                                                        select + ")"));
        columns = rows.at(0).at(0).value_or("");
        return session_->connection().Execute("CREATE TEMPORARY TABLE t7 AS " + select);
      });
  ASSERT_TRUE(gathered.ok()) << gathered.status().message();
  EXPECT_EQ(gathered->rows, 40000);
  EXPECT_EQ(columns, "k,pad");
  EXPECT_EQ(Text("SELECT CAST(count(*) AS VARCHAR) || '/' || CAST(count(DISTINCT k) AS VARCHAR) "
                 "FROM temp.t7"),
            "40000/20000");
}

TEST_F(GatherTest, ConsumedTaskIsNotRetriedAfterDeliveringRows) {
  // Rows handed on cannot be taken back: a retry would deliver them twice.
  auto failing = std::make_shared<FailingClient>(clients_[0], 3 << 20);
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "g9"), true, "partition 0"}};
  auto gathered =
      GatherTo(session_->connection(), tasks, Options({failing, clients_[1]}), "gather",
               [&](const std::string& select) -> Result<int64_t> {
                 return session_->connection().Execute("CREATE TEMPORARY TABLE t9 AS " + select);
               });
  ASSERT_FALSE(gathered.ok());
  EXPECT_EQ(gathered.status().message(), "worker in-process:0 is unreachable or went away");
  EXPECT_TRUE(Retries().empty());
}

TEST_F(GatherTest, FailedConsumerCancelsTheWorkers) {
  // The consumer stops reading after one batch, as a writer whose reader went away does.
  std::vector<GatherTask> tasks = {
      {0, Fragment("from_query(\"SELECT range AS k FROM range(0, 300000000000)\")", "g10"), true,
       "partition 0"}};
  auto gathered = GatherTo(
      session_->connection(), tasks, Options(clients_), "gather",
      [&](const std::string& select) -> Result<int64_t> {
        DUX_RETURN_NOT_OK(
            session_->connection().Execute("SELECT * FROM (" + select + ") LIMIT 1").status());
        return Status::IOError("cannot write output: Broken pipe");
      });
  ASSERT_FALSE(gathered.ok());
  EXPECT_EQ(gathered.status().message(), "cannot write output: Broken pipe");
  // The endless fragment was cancelled: the call returned, and the worker stops it.
  int running = -1;
  for (int i = 0; i < 100 && running != 0; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto info = clients_[0]->Info();
    ASSERT_TRUE(info.ok()) << info.status().message();
    running = info->running_queries_size();
  }
  EXPECT_EQ(running, 0);
}

// The events of each attempt name the stage, the task and the worker, and carry what the
// worker reported at the fragment's end.
TEST_F(GatherTest, EventsNameTheStageAndCarryTheWorkersStats) {
  auto options = Options({clients_[0], clients_[1]});
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "e1"), true, "partition 0"},
                                   {1, Fragment(kRows, "e2"), true, "partition 1"}};
  auto gathered = GatherInto(session_->connection(), tasks, options, "scan", "t_events");
  ASSERT_TRUE(gathered.ok()) << gathered.status().message();
  std::lock_guard lock(mu_);
  std::set<std::string> started, stopped;
  for (const auto& e : events_) {
    if (e.name == "partition.start") {
      EXPECT_EQ(e.metadata.at("stage"), "scan");
      started.insert(e.metadata.at("task") + "@" + e.metadata.at("address"));
    }
    if (e.name == "distributed.worker.stop") {
      EXPECT_EQ(e.metadata.at("stage"), "scan");
      EXPECT_EQ(e.metadata.at("status"), "ok");
      EXPECT_EQ(e.measurements.at("rows"), 20000);
      EXPECT_EQ(e.measurements.count("peak_memory_bytes"), 1u);
      EXPECT_EQ(e.measurements.at("spill_bytes"), 0);
      stopped.insert(e.metadata.at("task") + "@" + e.metadata.at("address"));
    }
  }
  std::set<std::string> both = {"partition 0@in-process:0", "partition 1@in-process:1"};
  EXPECT_EQ(started, both);
  EXPECT_EQ(stopped, both);
}

// A worker that sends no reports (an older one; here a client that drops them) still runs
// its tasks: the coordinator counts the rows it decoded instead.
TEST_F(GatherTest, AWorkerThatReportsNothingStillWorks) {
  auto silent = std::make_shared<FailingClient>(clients_[0], SIZE_MAX);
  auto options = Options({silent});
  std::vector<GatherTask> tasks = {{0, Fragment(kRows, "s1"), true, "partition 0"}};
  auto gathered = GatherInto(session_->connection(), tasks, options, "scan", "t_silent");
  ASSERT_TRUE(gathered.ok()) << gathered.status().message();
  EXPECT_EQ(gathered->rows, 20000);
  std::lock_guard lock(mu_);
  int stops = 0;
  for (const auto& e : events_) {
    if (e.name != "distributed.worker.stop") continue;
    ++stops;
    EXPECT_EQ(e.measurements.at("rows"), 20000);
    EXPECT_EQ(e.measurements.count("peak_memory_bytes"), 0u);
  }
  EXPECT_EQ(stops, 1);
}

TEST_F(GatherTest, StragglerIsSpeculatedAndOnlyTheWinnersRowsStay) {
  // Partition 0's worker delivers about 3 MiB of its rows, then stalls; partition 1 is quick.
  auto stalling = std::make_shared<StallingClient>(clients_[0], 3 << 20);
  auto options = Options({stalling, clients_[1]});
  options.speculation.enabled = true;
  options.speculation.min_seconds = 0.2;
  std::vector<GatherTask> tasks = {
      {0, Fragment(kRows, "g"), true, "partition 0"},
      {1, Fragment("from_query(\"SELECT range AS k, 'y' AS pad FROM range(20000, 20100)\")", "h"),
       true, "partition 1"}};
  auto start = std::chrono::steady_clock::now();
  auto gathered = GatherInto(session_->connection(), tasks, options, "scan", "t_spec");
  ASSERT_TRUE(gathered.ok()) << gathered.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(gathered->rows, 20100);
  EXPECT_EQ(Text("SELECT CAST(count(*) AS VARCHAR) || '/' || CAST(count(DISTINCT k) AS VARCHAR) "
                 "FROM temp.t_spec"),
            "20100/20100");
  EXPECT_EQ(gathered->speculated, 1);
  EXPECT_EQ(gathered->speculation_won, 1);
  EXPECT_EQ(gathered->completed[0].query_id(), "g-spec");
  EXPECT_EQ(gathered->completed[1].query_id(), "h");
  EXPECT_TRUE(Retries().empty());
  std::lock_guard lock(mu_);
  int speculated = 0, won = 0;
  for (const auto& e : events_) {
    if (e.name == "partition.speculate") {
      ++speculated;
      EXPECT_EQ(e.metadata.at("task"), "partition 0");
      EXPECT_EQ(e.metadata.at("straggler"), "in-process:0");
      EXPECT_EQ(e.metadata.at("address"), "in-process:1");
      EXPECT_GT(e.measurements.at("elapsed"), 0.2);
    }
    if (e.name == "partition.speculate.stop") {
      ++won;
      EXPECT_EQ(e.metadata.at("winner"), "speculative");
    }
  }
  EXPECT_EQ(speculated, 1);
  EXPECT_EQ(won, 1);
}

TEST_F(GatherTest, FoldedGatherNeverSpeculates) {
  // A fold cannot take back a loser's rows: with the rule met, nothing is speculated, and
  // the slow partition is waited for.
  auto options = Options(clients_);
  options.speculation.enabled = true;
  options.speculation.min_seconds = 0;
  options.speculation.multiplier = 0.01;
  Fold fold{{}, {{"n", "sum(n)"}}, {}};
  std::vector<GatherTask> tasks = {
      {0,
       Fragment("from_query(\"SELECT count(*) AS n FROM range(0, 30000000) t(i) "
                "WHERE i % 7 = 3\")",
                "f0"),
       true, "partition 0"},
      {1, Fragment("from_query(\"SELECT 1::BIGINT AS n\")", "f1"), true, "partition 1"}};
  auto gathered = GatherInto(session_->connection(), tasks, options, "scan", "t_fold", &fold);
  ASSERT_TRUE(gathered.ok()) << gathered.status().message();
  EXPECT_EQ(gathered->speculated, 0);
  EXPECT_EQ(Text("SELECT CAST(n AS VARCHAR) FROM temp.t_fold"), "4285715");
}

}  // namespace
}  // namespace dux::coordinator
