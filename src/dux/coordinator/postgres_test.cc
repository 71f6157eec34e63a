// PostgreSQL in distributed runs (coordinator/postgres.h) against a real server
// (test/support/pg_server.h), with workers in this process: partitioned reads equal plain
// ones on 1, 2 and 3 workers, slices are disjoint and cover every row, the workers insert
// (plain, create, atomic) and a failed or retried share never leaves partial or duplicate
// rows, and no password is ever shown.
#include "dux/coordinator/postgres.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dux/api/session.h"
#include "dux/coordinator/forwarding_client_testing.h"
#include "dux/pg/table_writer.h"
#include "dux/pipeline/language.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/worker/in_process_client.h"
#include "pg_environment.h"

namespace dux::coordinator {
namespace {

test::PgServer*& server = test::SharedPgServer();
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new test::PgEnvironment);

constexpr const char* kPassword = "sl1ced-p4ssw0rd";

// A stream that fails at once, as one from a worker that went away.
class LostStream : public protocol::ResultStream {
 public:
  explicit LostStream(std::string address) : address_(std::move(address)) {}
  Result<size_t> Read(void*, size_t) override {
    return Status(StatusCode::kUnavailable, "worker " + address_ + " is unreachable or went away");
  }
  void Cancel() override {}

 private:
  std::string address_;
};

// A worker that runs each fragment to its end (an insert commits) and then goes away before
// the coordinator hears of it: the case where a retry must not insert twice.
class CommitsThenFails : public ForwardingClient {
 public:
  using ForwardingClient::ForwardingClient;
  Result<std::unique_ptr<protocol::ResultStream>> Execute(const v1::ExecuteRequest& r) override {
    DUX_ASSIGN_OR_RETURN(auto stream, in_->Execute(r));
    char buffer[4096];
    for (;;) {
      auto n = stream->Read(buffer, sizeof(buffer));
      if (!n.ok() || *n == 0) break;
    }
    return std::unique_ptr<protocol::ResultStream>(new LostStream(address()));
  }
};

// A stream that never ends until cancelled, as one from a worker that hangs.
class HungStream : public protocol::ResultStream {
 public:
  Result<size_t> Read(void*, size_t) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return cancelled_; });
    return Status(StatusCode::kCancelled, "cancelled");
  }
  void Cancel() override {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

// A worker that runs each fragment to its end (an insert commits into its staging table) and
// then hangs before the coordinator hears of it: a straggler whose rows must not count.
class CommitsThenHangs : public ForwardingClient {
 public:
  using ForwardingClient::ForwardingClient;
  Result<std::unique_ptr<protocol::ResultStream>> Execute(const v1::ExecuteRequest& r) override {
    DUX_ASSIGN_OR_RETURN(auto stream, in_->Execute(r));
    char buffer[4096];
    for (;;) {
      auto n = stream->Read(buffer, sizeof(buffer));
      if (!n.ok() || *n == 0) break;
    }
    return std::unique_ptr<protocol::ResultStream>(new HungStream);
  }
};

// A worker whose staging table goes once its share has committed, before the coordinator
// moves it: as when the worker drops it because the query's lease expired (it did not hear
// from the coordinator within its --lease-timeout, through a network partition, say).
class StageDroppedAfterCommit : public ForwardingClient {
 public:
  StageDroppedAfterCommit(std::shared_ptr<protocol::WorkerClient> in,
                          std::function<void(const std::string& stage)> drop)
      : ForwardingClient(std::move(in)), drop_(std::move(drop)) {}
  Result<std::unique_ptr<protocol::ResultStream>> Execute(const v1::ExecuteRequest& r) override {
    DUX_ASSIGN_OR_RETURN(auto stream, in_->Execute(r));
    return std::unique_ptr<protocol::ResultStream>(new Stream(
        std::move(stream),
        [this, stage = pg::AttemptStagingName(r.fragment().query_id())] { drop_(stage); }));
  }

 private:
  // Passes the worker's stream on; at its end (the share has committed), drops the stage.
  class Stream : public protocol::ResultStream {
   public:
    Stream(std::unique_ptr<protocol::ResultStream> in, std::function<void()> at_end)
        : in_(std::move(in)), at_end_(std::move(at_end)) {
      in_->OnReport([this](const v1::IpcChunk& report) { DeliverReport(report); });
    }
    Result<size_t> Read(void* data, size_t size) override {
      DUX_ASSIGN_OR_RETURN(size_t n, in_->Read(data, size));
      if (n == 0 && at_end_) std::exchange(at_end_, nullptr)();
      return n;
    }
    void Cancel() override { in_->Cancel(); }

   private:
    std::unique_ptr<protocol::ResultStream> in_;
    std::function<void()> at_end_;
  };
  std::function<void(const std::string&)> drop_;
};

// Rows as sorted text lines, for comparing results as multisets.
std::vector<std::string> Lines(const exec::Table& t) {
  std::vector<std::string> out;
  for (const auto& row : t.rows) {
    std::string line;
    for (const auto& v : row) line += v.ToString() + "|";
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Types(const exec::Table& t) {
  std::string out;
  for (const auto& c : t.schema.columns) out += c.name + " " + c.type + ", ";
  return out;
}

/// A fresh database per test, three in-process workers and a coordinator session.
class PostgresDistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server == nullptr) GTEST_SKIP() << "no PostgreSQL server (see the message above)";
    auto admin = pg::Connection::Open(server->ConnInfo());
    ASSERT_TRUE(admin.ok()) << admin.status().message();
    database_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : database_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASSERT_TRUE(admin->Execute("DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)").ok());
    ASSERT_TRUE(admin->Execute("CREATE DATABASE " + database_).ok());
    ASSERT_TRUE(admin
                    ->Execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                              "'slicer') THEN CREATE ROLE slicer LOGIN PASSWORD '" +
                              std::string(kPassword) + "'; END IF; END $$")
                    .ok());
    auto pg = pg::Connection::Open(server->ConnInfo(database_));
    ASSERT_TRUE(pg.ok()) << pg.status().message();
    pg_ = std::make_unique<pg::Connection>(std::move(pg).value());
    Pg("GRANT ALL ON SCHEMA public TO slicer");
    Pg("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO slicer");
    std::vector<std::pair<worker::Worker*, std::string>> peers;
    for (int i = 0; i < 3; ++i) {
      worker::WorkerOptions options;
      options.threads = 1;
      workers_.push_back(std::move(worker::Worker::Open(options)).value());
      std::string address = "in-process:" + std::to_string(i);
      clients_.push_back(worker::MakeInProcessClient(workers_.back().get(), address));
      peers.emplace_back(workers_.back().get(), address);
    }
    worker::ConnectInProcessPeers(peers);
    session_ = std::move(Session::Open()).value();
    ASSERT_TRUE(session_->connection().Execute("SET TimeZone = 'UTC'").ok());
    session_->telemetry().Subscribe([this](const Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    });
    conninfo_ = server->TcpConnInfo(database_, "slicer") + " password=" + kPassword;
    attach_ = "attach(\"pg\", \"" + conninfo_ + "\", type: postgres)\n";
  }

  void Pg(const std::string& sql) {
    auto done = pg_->Execute(sql);
    ASSERT_TRUE(done.ok()) << sql << ": " << done.status().message();
  }

  std::string PgValue(const std::string& sql) {
    auto rows = pg_->Query(sql);
    if (!rows.ok()) return "error: " + rows.status().message();
    if (rows->size() != 1) return "rows: " + std::to_string(rows->size());
    return (*rows)[0][0].value_or("NULL");
  }

  /// Runs `pipeline` (after the attach) locally (0 workers) or on the first `n` workers
  /// (or on `clients`).
  Result<exec::Table> Compute(const std::string& pipeline, size_t n,
                              std::vector<std::shared_ptr<protocol::WorkerClient>> clients = {}) {
    DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(attach_ + pipeline));
    Distribute(n, std::move(clients));
    for (const auto& a : script.attachments) DUX_RETURN_NOT_OK(session_->Attach(a, true));
    return session_->Compute(script.pipeline);
  }

  Result<int64_t> Write(const std::string& pipeline, size_t n,
                        std::vector<std::shared_ptr<protocol::WorkerClient>> clients = {}) {
    DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(attach_ + pipeline));
    Distribute(n, std::move(clients));
    for (const auto& a : script.attachments) DUX_RETURN_NOT_OK(session_->Attach(a, true));
    DUX_ASSIGN_OR_RETURN(exec::WriteReport report, session_->Write(script.pipeline));
    return report.rows;
  }

  Result<std::string> Explain(const std::string& pipeline, size_t n) {
    DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(attach_ + pipeline));
    Distribute(n, {});
    for (const auto& a : script.attachments) DUX_RETURN_NOT_OK(session_->Attach(a, true));
    return session_->Explain(script.pipeline);
  }

  void Distribute(size_t n, std::vector<std::shared_ptr<protocol::WorkerClient>> clients) {
    if (clients.empty()) clients.assign(clients_.begin(), clients_.begin() + n);
    if (clients.empty()) {
      session_->RunLocally();
      return;
    }
    ClusterOptions cluster;
    cluster.workers = std::move(clients);
    cluster.speculation = speculation_;
    session_->Distribute(std::move(cluster));
  }

  /// Expects the pipeline to give the same rows and types on 1, 2 and 3 workers as locally.
  void ExpectSameAsLocal(const std::string& pipeline) {
    auto local = Compute(pipeline, 0);
    ASSERT_TRUE(local.ok()) << local.status().message();
    ASSERT_GT(local->NumRows(), 0u) << pipeline;
    for (size_t n = 1; n <= 3; ++n) {
      auto distributed = Compute(pipeline, n);
      ASSERT_TRUE(distributed.ok()) << n << " workers: " << distributed.status().message();
      EXPECT_EQ(Types(*distributed), Types(*local)) << n << " workers: " << pipeline;
      EXPECT_TRUE(Lines(*distributed) == Lines(*local)) << n << " workers: " << pipeline;
    }
  }

  std::vector<Event> Events(const std::string& name) {
    std::lock_guard lock(mu_);
    std::vector<Event> out;
    for (const auto& e : events_) {
      if (e.name == name) out.push_back(e);
    }
    return out;
  }

  std::string AllEventText() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& e : events_) {
      out += e.name;
      for (const auto& [k, v] : e.metadata) out += " " + k + "=" + v;
      out += "\n";
    }
    return out;
  }

  int StagingTables() {
    return std::stoi(PgValue("SELECT count(*) FROM pg_tables WHERE tablename LIKE '__dux_stage%'"));
  }

  /// A table of every type dux reads, with NULL-heavy and unicode rows and NULL keys.
  void MakeWideTable() {
    Pg("CREATE TABLE wide AS SELECT i AS id, (i % 9) - 4 AS k, "
       "CASE WHEN i % 3 = 0 THEN NULL ELSE i % 13 END AS nk, i::bigint << 40 AS big, "
       "(i * 3.5)::numeric(14,3) AS amount, CASE WHEN i % 2 = 0 THEN NULL ELSE i * 0.5 END AS "
       "ratio, CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN 'Grüße, 世界 ' || i WHEN 2 THEN '' ELSE "
       "E'a\\tb\\nc \\\\ \"' || i END AS t, 'k' || (i % 23) AS tk, "
       "CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END AS flag, DATE '2000-02-28' + i AS day, "
       "TIMESTAMP '2024-03-31 01:30:00' + i * INTERVAL '17 minutes' AS ts, "
       "TIMESTAMPTZ '1999-12-31 23:00:00+05' + i * INTERVAL '7 hours' AS tz, "
       "md5(i::text)::uuid AS u, ('{\"v\": [' || i || ', null]}')::json AS j, "
       "('{\"w\": ' || i || '}')::jsonb AS jb, ARRAY[i, NULL] AS ai, ARRAY['x' || i, ''] AS at, "
       "CASE WHEN i % 7 = 0 THEN NULL ELSE sha256(i::text::bytea) END AS b "
       "FROM generate_series(-50, 449) g(i)");
    Pg("INSERT INTO wide (id) SELECT NULL FROM generate_series(1, 30)");
  }

  SpeculationPolicy speculation_;  // off unless a test turns it on
  std::string database_;
  std::string conninfo_;
  std::string attach_;
  std::unique_ptr<pg::Connection> pg_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
  std::vector<std::shared_ptr<protocol::WorkerClient>> clients_;
  std::unique_ptr<Session> session_;
  std::mutex mu_;
  std::vector<Event> events_;
};

TEST_F(PostgresDistTest, PartitionedReadsEqualPlainReadsForEveryTypeAndKey) {
  MakeWideTable();
  for (const char* key : {"id", "k", "nk", "tk", "t", "day", "ts", "tz", "u", "amount", "flag"}) {
    SCOPED_TRACE(key);
    ExpectSameAsLocal("from_attached(\"pg\", \"wide\", partition_by: " + std::string(key) + ")");
  }
  // Every worker read a slice of its own, PostgreSQL told which.
  {
    std::lock_guard lock(mu_);
    events_.clear();
  }
  ASSERT_TRUE(Compute("from_attached(\"pg\", \"wide\", partition_by: id)", 3).ok());
  ASSERT_EQ(Events("postgres.read.plan").size(), 1u);
  EXPECT_EQ(Events("postgres.read.plan")[0].measurements.at("n_partitions"), 3.0);
  std::set<double> ran_on;
  for (const auto& e : Events("distributed.worker.stop")) {
    ran_on.insert(e.measurements.at("worker_index"));
  }
  EXPECT_EQ(ran_on.size(), 3u);
}

TEST_F(PostgresDistTest, SlicesAreDisjointAndHoldEveryRowOnce) {
  MakeWideTable();
  const int64_t total = std::stoll(PgValue("SELECT count(*) FROM wide"));
  for (const char* key : {"id", "nk", "tk", "u", "day"}) {
    for (size_t n : {2, 3, 5}) {
      pipeline::AttachedSource source{"pg", "wide", key, {}, std::nullopt};
      auto partitioning = PartitionPostgres(*pg_, source, n);
      ASSERT_TRUE(partitioning.ok()) << partitioning.status().message();
      ASSERT_EQ(partitioning->partitions.size(), n);
      int64_t sum = 0;
      for (size_t i = 0; i < n; ++i) {
        const Partition& p = partitioning->partitions[i];
        ASSERT_TRUE(p.slice);
        int64_t rows = std::stoll(PgValue("SELECT count(*) FROM wide WHERE " + p.slice_predicate));
        int64_t null_keys =
            std::stoll(PgValue("SELECT count(*) FROM wide WHERE (" + p.slice_predicate +
                               ") AND \"" + key + "\" IS NULL"));
        // NULL keys all belong to slice 0.
        if (i > 0) {
          EXPECT_EQ(null_keys, 0) << key << " slice " << i;
        }
        EXPECT_GT(rows, 0) << key << " slice " << i << " of " << n;
        sum += rows;
      }
      EXPECT_EQ(sum, total) << key << " in " << n;
    }
  }
  // Without partition_by, or on one worker: one partition, the whole table.
  auto whole = PartitionPostgres(*pg_, {"pg", "wide", "", {}, std::nullopt}, 3);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->partitions.size(), 1u);
  EXPECT_FALSE(whole->partitions[0].slice);
}

TEST_F(PostgresDistTest, ExplainShowsEachSliceAndNoPassword) {
  Pg("CREATE TABLE t (id bigint, name text)");
  auto explain = Explain("from_attached(\"pg\", \"t\", partition_by: id) |> filter(id > 3)", 3);
  ASSERT_TRUE(explain.ok()) << explain.status().message();
  EXPECT_NE(explain->find("-- distributed: 3 partitions on 3 workers"), std::string::npos)
      << *explain;
  EXPECT_NE(
      explain->find(
          "COPY (SELECT \"id\", \"name\" FROM \"public\".\"t\" WHERE (\"id\" > 3)) TO STDOUT"),
      std::string::npos)
      << *explain;
  EXPECT_NE(explain->find("-- partition 2 on worker in-process:2: slice 2 of 3: (((\"id\" % 3) + "
                          "3) % 3 = 2)"),
            std::string::npos)
      << *explain;
  EXPECT_NE(explain->find("slice 0 of 3: (((\"id\" % 3) + 3) % 3 = 0 OR \"id\" IS NULL)"),
            std::string::npos)
      << *explain;
  EXPECT_NE(explain->find("password=***"), std::string::npos) << *explain;
  EXPECT_EQ(explain->find(kPassword), std::string::npos) << *explain;
  auto insert = Explain(
      "from_attached(\"pg\", \"t\", partition_by: id) |> insert_into(\"pg.u\", create: true, "
      "atomic: true)",
      2);
  ASSERT_TRUE(insert.ok()) << insert.status().message();
  EXPECT_NE(insert->find("the workers write into PostgreSQL"), std::string::npos) << *insert;
  EXPECT_NE(insert->find("CREATE UNLOGGED TABLE \"__dux_stage_<attempt>\""), std::string::npos)
      << *insert;
  EXPECT_EQ(insert->find(kPassword), std::string::npos) << *insert;
}

TEST_F(PostgresDistTest, WorkersInsertAwkwardValuesIntact) {
  MakeWideTable();
  int made = 0;
  for (size_t n = 1; n <= 3; ++n) {
    for (bool atomic : {false, true}) {
      SCOPED_TRACE(std::to_string(n) + " workers, atomic " + std::to_string(atomic));
      std::string table = "made_" + std::to_string(made++);
      {
        std::lock_guard lock(mu_);
        events_.clear();
      }
      auto rows = Write("from_attached(\"pg\", \"wide\", partition_by: tk) |> insert_into(\"pg." +
                            table + "\", create: true" + (atomic ? ", atomic: true" : "") + ")",
                        n);
      ASSERT_TRUE(rows.ok()) << rows.status().message();
      EXPECT_EQ(*rows, 530);
      ASSERT_EQ(Events("postgres.write.stop").size(), 1u);
      EXPECT_EQ(Events("postgres.write.stop")[0].metadata.at("by"), "workers");
      // json has no equality in PostgreSQL, and jsonb comes back as json: compared as text
      // and jsonb.
      Pg("ALTER TABLE " + table +
         " ALTER COLUMN j TYPE text, ALTER COLUMN jb TYPE jsonb USING "
         "jb::jsonb");
      auto text_wide =
          "(SELECT id, k, nk, big, amount, ratio, t, tk, flag, day, ts, tz, u, "
          "j::text AS j, jb, ai, at, b FROM wide)";
      std::string sql = "SELECT count(*) FROM ((SELECT * FROM " + std::string(text_wide) +
                        " w EXCEPT ALL SELECT * FROM " + table + ") UNION ALL (SELECT * FROM " +
                        table + " EXCEPT ALL SELECT * FROM " + text_wide + " w2)) d";
      EXPECT_EQ(PgValue(sql), "0");
      EXPECT_EQ(PgValue("SELECT count(*) FROM " + table), "530");
      EXPECT_EQ(StagingTables(), 0);
    }
  }
  // Into an existing table, twice: appended.
  Pg("CREATE TABLE target (id integer, t text, b bytea, extra text DEFAULT 'd')");
  for (int round = 0; round < 2; ++round) {
    auto rows = Write(
        "from_attached(\"pg\", \"wide\", partition_by: id, columns: [id, t, b]) "
        "|> insert_into(\"pg.public.target\", atomic: true)",
        3);
    ASSERT_TRUE(rows.ok()) << rows.status().message();
    EXPECT_EQ(*rows, 530);
  }
  EXPECT_EQ(PgValue("SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || count(*) FILTER "
                    "(WHERE extra = 'd') || ' ' || count(*) FILTER (WHERE t = '') FROM target"),
            "1060 500 1060 224");
}

TEST_F(PostgresDistTest, SchemaMismatchIsOneLineAndTouchesNothing) {
  MakeWideTable();
  Pg("CREATE TABLE target (id integer NOT NULL, day date)");
  Pg("INSERT INTO target VALUES (1, '2020-01-01')");
  for (bool atomic : {false, true}) {
    auto rows = Write(
        "from_attached(\"pg\", \"wide\", partition_by: id) |> mutate(day: id * 2) |> select(id, "
        "day) "
        "|> insert_into(\"pg.target\"" +
            std::string(atomic ? ", atomic: true" : "") + ")",
        3);
    ASSERT_FALSE(rows.ok());
    EXPECT_EQ(rows.status().message().rfind(
                  "insert_into: column \"day\" is INTEGER in the pipeline but date in pg.target "
                  "(line 2, col ",
                  0),
              0u)
        << rows.status().message();
    auto unknown = Write(
        "from_attached(\"pg\", \"wide\", partition_by: id) |> mutate(nope: t) |> select(id, nope) "
        "|> insert_into(\"pg.target\"" +
            std::string(atomic ? ", atomic: true" : "") + ")",
        2);
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.status().message().find('\n'), std::string::npos);
    EXPECT_NE(unknown.status().message().find("column \"nope\" is not in pg.target"),
              std::string::npos)
        << unknown.status().message();
  }
  EXPECT_EQ(PgValue("SELECT count(*) FROM target"), "1");
  EXPECT_EQ(StagingTables(), 0);
}

TEST_F(PostgresDistTest, RefusedRowsRollBackAndNameTheWorker) {
  MakeWideTable();
  Pg("CREATE TABLE target (id integer NOT NULL, t text)");
  // NULL ids are refused; they are all in slice 0 (worker 0), the other slices are fine.
  auto atomic = Write(
      "from_attached(\"pg\", \"wide\", partition_by: id, columns: [id, t]) "
      "|> insert_into(\"pg.target\", atomic: true)",
      3);
  ASSERT_FALSE(atomic.ok());
  EXPECT_EQ(atomic.status().message().find('\n'), std::string::npos);
  EXPECT_NE(atomic.status().message().find("null value in column \"id\""), std::string::npos)
      << atomic.status().message();
  EXPECT_NE(atomic.status().message().find("nothing was inserted"), std::string::npos)
      << atomic.status().message();
  EXPECT_EQ(PgValue("SELECT count(*) FROM target"), "0");
  EXPECT_EQ(StagingTables(), 0);

  // Without atomic the worker's own COPY fails: its transaction rolls back, and the error
  // names it and the rows it had sent.
  auto plain = Write(
      "from_attached(\"pg\", \"wide\", partition_by: id, columns: [id, t]) "
      "|> insert_into(\"pg.target\")",
      3);
  ASSERT_FALSE(plain.ok());
  const std::string& message = plain.status().message();
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_EQ(message.rfind("insert_into: worker in-process:0: cannot insert into pg.target: null "
                          "value in column \"id\"",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("this worker's transaction rolled back after it had sent "),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("stay committed"), std::string::npos) << message;
  // The other slices may have committed; never a row of slice 0.
  EXPECT_EQ(PgValue("SELECT count(*) FROM target WHERE (id % 3 + 3) % 3 = 0"), "0");
}

TEST_F(PostgresDistTest, AtomicShareOfALostWorkerIsRetriedWithoutDuplicates) {
  MakeWideTable();
  Pg("CREATE TABLE target (id integer, t text)");
  auto lost = std::make_shared<CommitsThenFails>(clients_[0]);
  auto rows = Write(
      "from_attached(\"pg\", \"wide\", partition_by: id, columns: [id, t]) "
      "|> insert_into(\"pg.target\", atomic: true)",
      0, {lost, clients_[1], clients_[2]});
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 530);
  EXPECT_EQ(PgValue("SELECT count(*) || ' ' || count(DISTINCT id) FROM target"), "530 500");
  EXPECT_EQ(StagingTables(), 0) << "the lost attempt's staging table was left behind";
  ASSERT_EQ(Events("partition.retry").size(), 1u);
  EXPECT_EQ(Events("partition.retry")[0].metadata.at("failed_worker"), "in-process:0");
  EXPECT_EQ(Events("partition.retry")[0].metadata.at("stage"), "write");
}

// What a worker does with the staging table of an atomic share it committed: its query's
// lease holds it; a coordinator that goes silent (dead before its final move) leaves it to
// the worker, which drops it when the lease expires; a coordinator that moved it says so
// (DropTable naming it) and the worker forgets it without touching PostgreSQL.
TEST_F(PostgresDistTest, ACommittedStagingTableIsDroppedWhenItsLeaseExpires) {
  Pg("CREATE TABLE target (id integer, t text)");
  worker::WorkerOptions options;
  options.threads = 1;
  options.lease_timeout = std::chrono::milliseconds(400);
  auto w = std::move(worker::Worker::Open(options)).value();
  class Discard : public worker::ChunkWriter {
   public:
    bool Write(std::string) override { return true; }
  };
  auto share = [&](const std::string& query_id, const std::string& lease) {
    auto script = pipeline::ParseScript(
        attach_ +
        "from_query(\"SELECT 1 AS id, 'x' AS t\") |> insert_into(\"pg.target\", atomic: true)");
    EXPECT_TRUE(script.ok()) << script.status().message();
    v1::ExecuteRequest request;
    request.mutable_fragment()->set_query_id(query_id);
    request.mutable_fragment()->set_lease_id(lease);
    request.mutable_fragment()->mutable_postgres_insert()->set_staging(true);
    pipeline::ToProto(*script, request.mutable_fragment()->mutable_script());
    Discard out;
    return w->Execute(request, &out);
  };
  auto staged_for = [&](std::chrono::milliseconds wait, int want) {
    auto until = std::chrono::steady_clock::now() + wait;
    while (StagingTables() != want && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return StagingTables();
  };
  // The coordinator died: nothing renews the lease.
  ASSERT_TRUE(share("q-dead", "l-dead").ok());
  EXPECT_EQ(StagingTables(), 1);
  EXPECT_EQ(staged_for(std::chrono::seconds(5), 0), 0) << "the dead query's stage was left";
  // The coordinator moved it and said so: the worker forgets it and drops nothing.
  ASSERT_TRUE(share("q-moved", "l-moved").ok());
  v1::DropTableRequest moved;
  moved.set_if_exists(true);
  moved.set_lease_id("l-moved");
  moved.add_more_tables(pg::AttemptStagingName("q-moved"));
  ASSERT_TRUE(w->DropTable(moved).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // three leases
  EXPECT_EQ(StagingTables(), 1) << "a stage its coordinator owns again was dropped";
  EXPECT_EQ(PgValue("SELECT count(*) FROM target"), "0");
}

TEST_F(PostgresDistTest, AStagingTableItsWorkerDroppedFailsTheInsertNamingTheWorker) {
  MakeWideTable();
  Pg("CREATE TABLE target (id integer, t text)");
  auto dropping =
      std::make_shared<StageDroppedAfterCommit>(clients_[1], [&](const std::string& stage) {
        Pg("DROP TABLE " + pg::TableName{"public", stage}.Quoted());
      });
  auto rows = Write(
      "from_attached(\"pg\", \"wide\", partition_by: id, columns: [id, t]) "
      "|> insert_into(\"pg.target\", atomic: true)",
      0, {clients_[0], dropping, clients_[2]});
  ASSERT_FALSE(rows.ok());
  const std::string& message = rows.status().message();
  EXPECT_NE(message.find("cannot insert into pg.target: worker " + dropping->address() +
                         ": the staging table of partition "),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("--lease-timeout; nothing was inserted"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(PgValue("SELECT count(*) FROM target"), "0");
  EXPECT_EQ(StagingTables(), 0) << "the other shares' staging tables were left";
}

TEST_F(PostgresDistTest, AtomicShareOfAHungWorkerIsSpeculatedWithoutDuplicates) {
  MakeWideTable();
  Pg("CREATE TABLE target (id integer, t text)");
  speculation_.enabled = true;
  speculation_.min_seconds = 0.2;
  auto hung = std::make_shared<CommitsThenHangs>(clients_[0]);
  auto rows = Write(
      "from_attached(\"pg\", \"wide\", partition_by: id, columns: [id, t]) "
      "|> insert_into(\"pg.target\", atomic: true)",
      0, {hung, clients_[1], clients_[2]});
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 530);
  // The hung attempt committed its staging table too: only the winner's rows were moved.
  EXPECT_EQ(PgValue("SELECT count(*) || ' ' || count(DISTINCT id) FROM target"), "530 500");
  EXPECT_EQ(StagingTables(), 0) << "the hung attempt's staging table was left behind";
  ASSERT_EQ(Events("partition.speculate").size(), 1u) << AllEventText();
  EXPECT_EQ(Events("partition.speculate")[0].metadata.at("straggler"), "in-process:0");
  ASSERT_EQ(Events("partition.speculate.stop").size(), 1u);
  EXPECT_EQ(Events("partition.speculate.stop")[0].metadata.at("winner"), "speculative");
  EXPECT_TRUE(Events("partition.retry").empty());
}

TEST_F(PostgresDistTest, PlainShareOfALostWorkerIsNotRetried) {
  MakeWideTable();
  Pg("CREATE TABLE target (id integer, t text)");
  auto lost = std::make_shared<CommitsThenFails>(clients_[0]);
  auto rows = Write(
      "from_attached(\"pg\", \"wide\", partition_by: id, columns: [id, t]) "
      "|> insert_into(\"pg.target\")",
      0, {lost, clients_[1], clients_[2]});
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().message().find("worker in-process:0 is unreachable or went away"),
            std::string::npos)
      << rows.status().message();
  EXPECT_TRUE(Events("partition.retry").empty());
  // Its rows went in once (it had committed), never twice.
  EXPECT_EQ(PgValue("SELECT count(*) - count(DISTINCT (id, t)) FROM target WHERE id IS NOT NULL"),
            "0");

  // With create, the table made for the insert is dropped again: nothing was inserted.
  auto created = Write(
      "from_attached(\"pg\", \"wide\", partition_by: id, columns: [id, t]) "
      "|> insert_into(\"pg.fresh\", create: true)",
      0, {lost, clients_[1], clients_[2]});
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("nothing was inserted"), std::string::npos)
      << created.status().message();
  EXPECT_EQ(PgValue("SELECT count(*) FROM pg_tables WHERE tablename = 'fresh'"), "0");
}

TEST_F(PostgresDistTest, NoPasswordInErrorsOrTelemetry) {
  MakeWideTable();
  Pg("REVOKE INSERT ON wide FROM slicer");
  ASSERT_TRUE(Compute("from_attached(\"pg\", \"wide\", partition_by: tk)", 3).ok());
  auto missing = Compute("from_attached(\"pg\", \"nothere\", partition_by: id)", 3);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message().find(kPassword), std::string::npos);
  auto made = Write(
      "from_attached(\"pg\", \"wide\", partition_by: id) |> insert_into(\"pg.x\", "
      "create: true, atomic: true)",
      2);
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto refused =
      Write("from_attached(\"pg\", \"wide\", partition_by: id) |> insert_into(\"pg.wide\")", 2);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("permission denied"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(refused.status().message().find(kPassword), std::string::npos);
  std::string events = AllEventText();
  EXPECT_NE(events.find("password=***"), std::string::npos) << events;
  EXPECT_EQ(events.find(kPassword), std::string::npos) << events;
}

}  // namespace
}  // namespace dux::coordinator
