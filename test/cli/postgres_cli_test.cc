// The real dux binary against a real PostgreSQL server (test/support/pg_server.h), one server
// for the whole binary: reads, writes, explain, telemetry and errors, and never a password
// on stdout or stderr.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "http_get.h"
#include "pg_environment.h"
#include "subprocess.h"

namespace {

namespace fs = std::filesystem;
using Outcome = dux::test::ProcessOutcome;

dux::test::PgServer*& server = dux::test::SharedPgServer();
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new dux::test::PgEnvironment);

constexpr const char* kPassword = "c0rrect-h0rse-staple";
constexpr const char* kWrongPassword = "wr0ng-b4ttery-guess";

class PostgresCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server == nullptr) GTEST_SKIP() << "no PostgreSQL server (see the message above)";
    std::string tmpl = (fs::temp_directory_path() / "dux-pg-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    database_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::transform(database_.begin(), database_.end(), database_.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    Psql("postgres", "DROP DATABASE IF EXISTS " + database_);
    Psql("postgres", "CREATE DATABASE " + database_);
    Psql(database_,
         "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'secret_user') THEN "
         "CREATE ROLE secret_user LOGIN PASSWORD '" +
             std::string(kPassword) +
             "'; END IF; END $$;"
             "GRANT ALL ON SCHEMA public TO secret_user;"
             "CREATE TABLE orders (id bigint, customer text, amount numeric(10,2));"
             "INSERT INTO orders VALUES (1, 'ann', 10.50), (2, 'bob', 99.99), (3, 'ann', NULL);"
             "GRANT ALL ON orders TO secret_user");
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  // SQL through the psql of the server's installation (no dux code involved).
  std::string Psql(const std::string& db, const std::string& sql) {
    fs::path psql = "/usr/lib/postgresql/15/bin/psql";
    if (const char* bin = getenv("DUX_PG_BIN")) psql = fs::path(bin) / "psql";
    Outcome o = dux::test::RunProcess({psql.string(), "-X", "-q", "-A", "-t", "-v",
                                       "ON_ERROR_STOP=1", "-d", server->ConnInfo(db), "-c", sql},
                                      dir_.empty() ? fs::temp_directory_path() : dir_);
    EXPECT_EQ(o.exit_code, 0) << sql << ": " << o.err;
    return o.out;
  }

  Outcome Dux(const std::vector<std::string>& args,
              std::vector<std::pair<std::string, std::string>> environment = {}) {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    dux::test::ProcessOptions options;
    options.working_directory = dir_;
    options.environment = std::move(environment);
    return dux::test::RunProcess(argv, dir_, options);
  }

  // A connection string for secret_user over TCP, with `password` (none when empty).
  std::string SecretConnInfo(const std::string& password) const {
    std::string c = server->TcpConnInfo(database_, "secret_user");
    return password.empty() ? c : c + " password=" + password;
  }

  static void ExpectNoPassword(const Outcome& o) {
    for (const char* secret : {kPassword, kWrongPassword}) {
      EXPECT_EQ(o.out.find(secret), std::string::npos) << o.out;
      EXPECT_EQ(o.err.find(secret), std::string::npos) << o.err;
    }
  }

  fs::path dir_;
  std::string database_;
};

TEST_F(PostgresCliTest, RunsReadsAndWrites) {
  const std::string attach =
      "attach(\"pg\", \"" + SecretConnInfo(kPassword) + "\", type: postgres)\n";
  Outcome read = Dux({"run", "--format", "csv",
                      attach + "from_attached(\"pg\", \"public.orders\") |> sort_by(id)"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(read.out, "id,customer,amount\n1,ann,10.50\n2,bob,99.99\n3,ann,\n");
  ExpectNoPassword(read);

  Outcome write = Dux({"run", attach + "from_attached(\"pg\", \"orders\") |> group_by(customer) "
                                       "|> summarise(n: count(*), total: sum(amount))"
                                       "|> insert_into(\"pg.public.totals\", create: true, atomic: "
                                       "true)"});
  EXPECT_EQ(write.exit_code, 0) << write.err;
  EXPECT_EQ(write.out, "insert_into: wrote 2 rows\n");
  ExpectNoPassword(write);
  EXPECT_EQ(Psql(database_, "SELECT customer || ' ' || n || ' ' || total FROM totals ORDER BY 1"),
            "ann 2 10.50\nbob 1 99.99\n");
}

TEST_F(PostgresCliTest, ExplainAndTelemetryRedactThePassword) {
  const std::string pipeline = "attach(\"pg\", \"" + SecretConnInfo(kPassword) +
                               "\", type: postgres)\n"
                               "from_attached(\"pg\", \"orders\") |> filter(id >= 2)";
  Outcome explain = Dux({"explain", pipeline});
  EXPECT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_NE(explain.out.find("password=***) runs COPY (SELECT \"id\", \"customer\", \"amount\" "
                             "FROM \"public\".\"orders\" WHERE (\"id\" >= 2)) TO STDOUT"),
            std::string::npos)
      << explain.out;
  ExpectNoPassword(explain);

  // Distributed, a worker reads the table; the coordinator's events name the redacted source.
  Outcome run = Dux({"run", "--local-workers", "1", "--telemetry", "--format", "csv", pipeline});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "id,customer,amount\n2,bob,99.99\n3,ann,\n");
  EXPECT_NE(run.err.find("\"postgres.read.plan\""), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("password=***"), std::string::npos) << run.err;
  ExpectNoPassword(run);
  Outcome explain_distributed = Dux({"explain", "--local-workers", "1", pipeline});
  EXPECT_EQ(explain_distributed.exit_code, 0) << explain_distributed.err;
  EXPECT_EQ(explain_distributed.out.rfind("-- distributed: 1 partition on 1 worker", 0), 0u)
      << explain_distributed.out;
  EXPECT_NE(explain_distributed.out.find("password=***) runs COPY (SELECT"), std::string::npos)
      << explain_distributed.out;
  ExpectNoPassword(explain_distributed);
}

TEST_F(PostgresCliTest, WrongPasswordIsOneRedactedLine) {
  for (const std::string& conninfo :
       {SecretConnInfo(kWrongPassword), "postgresql://secret_user:" + std::string(kWrongPassword) +
                                            "@127.0.0.1:" + std::to_string(server->port()) + "/" +
                                            database_}) {
    Outcome o = Dux({"run", "attach(\"pg\", \"" + conninfo +
                                "\", type: postgres)\nfrom_attached(\"pg\", \"orders\")"});
    EXPECT_EQ(o.exit_code, 1) << o.err;
    EXPECT_EQ(o.out, "");
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_EQ(o.err.rfind("dux: attach \"pg\": cannot connect to PostgreSQL (", 0), 0u) << o.err;
    EXPECT_NE(o.err.find("password authentication failed for user \"secret_user\""),
              std::string::npos)
        << o.err;
    EXPECT_NE(o.err.find("***"), std::string::npos) << o.err;
    ExpectNoPassword(o);
  }
}

TEST_F(PostgresCliTest, ScriptErrorsQuotingThePasswordRedactIt) {
  // A missing comma: the parser's message quotes the connection string that follows.
  Outcome o = Dux({"run", "attach(\"pg\" \"host=h password=" + std::string(kPassword) +
                              "\", type: postgres)\nfrom_attached(\"pg\", \"t\")"});
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_NE(o.err.find("password=***"), std::string::npos) << o.err;
  ExpectNoPassword(o);
}

TEST_F(PostgresCliTest, PasswordFromTheEnvironment) {
  // How workers get credentials: libpq's own PGPASSWORD (or PGPASSFILE).
  const std::string pipeline = "attach(\"pg\", \"" + SecretConnInfo("") +
                               "\", type: postgres)\nfrom_attached(\"pg\", \"orders\") "
                               "|> summarise(n: count(*))";
  Outcome with = Dux({"run", "--format", "csv", pipeline}, {{"PGPASSWORD", kPassword}});
  EXPECT_EQ(with.exit_code, 0) << with.err;
  EXPECT_EQ(with.out, "n\n3\n");
  fs::path passfile = dir_ / "pgpass";
  dux::test::WriteFile(passfile, "127.0.0.1:*:*:secret_user:" + std::string(kPassword) + "\n");
  fs::permissions(passfile, fs::perms::owner_read | fs::perms::owner_write);
  Outcome file = Dux({"run", "--format", "csv", pipeline}, {{"PGPASSFILE", passfile.string()}});
  EXPECT_EQ(file.exit_code, 0) << file.err;
  EXPECT_EQ(file.out, "n\n3\n");
}

// A `dux worker` process on loopback; killed when destroyed.
struct WorkerProcess {
  std::unique_ptr<dux::test::ChildProcess> process;
  std::string address;
};

WorkerProcess StartWorker(const fs::path& dir, int index,
                          std::vector<std::pair<std::string, std::string>> environment = {}) {
  WorkerProcess w;
  dux::test::ChildOptions options;
  options.stderr_file = dir / ("worker-" + std::to_string(index) + ".err");
  options.environment = std::move(environment);
  std::string error;
  auto started =
      dux::test::StartListening({DUX_BINARY, "worker", "--listen", "127.0.0.1:0", "--threads", "1"},
                                options, std::chrono::seconds(20), &error);
  EXPECT_TRUE(started) << error;
  if (!started) return w;
  w.process = std::move(started->process);
  w.address = started->address;
  return w;
}

TEST_F(PostgresCliTest, WorkersReadSlicesAndInsertWithTheirOwnPassword) {
  // The workers get the connection string without a password and take theirs from
  // PGPASSWORD, as does the coordinator; explain shows every slice; nothing shows a password.
  WorkerProcess a = StartWorker(dir_, 0, {{"PGPASSWORD", kPassword}});
  WorkerProcess b = StartWorker(dir_, 1, {{"PGPASSWORD", kPassword}});
  ASSERT_FALSE(a.address.empty() || b.address.empty());
  const std::string workers = a.address + "," + b.address;
  const std::string attach = "attach(\"pg\", \"" + SecretConnInfo("") + "\", type: postgres)\n";
  Outcome read = Dux({"run", "--workers", workers, "--format", "csv", "--telemetry",
                      attach + "from_attached(\"pg\", \"orders\", partition_by: id) |> "
                               "filter(id > 0) |> sort_by(id)"},
                     {{"PGPASSWORD", kPassword}});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(read.out, "id,customer,amount\n1,ann,10.50\n2,bob,99.99\n3,ann,\n");
  EXPECT_NE(read.err.find("\"postgres.read.plan\""), std::string::npos) << read.err;
  EXPECT_EQ(read.err.find("\"postgres.read.stop\""), std::string::npos)
      << "the coordinator read the table itself: " << read.err;
  Outcome explain =
      Dux({"explain", "--workers", workers,
           "attach(\"pg\", \"" + SecretConnInfo(kPassword) +
               "\", type: postgres)\nfrom_attached(\"pg\", \"orders\", "
               "partition_by: customer) |> insert_into(\"pg.copied\", create: true)"});
  EXPECT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_NE(explain.out.find("slice 1 of 2: (((hashtext(\"customer\"::text) % 2) + 2) % 2 = 1)"),
            std::string::npos)
      << explain.out;
  EXPECT_NE(explain.out.find("password=***"), std::string::npos) << explain.out;
  ExpectNoPassword(explain);
  Outcome write = Dux({"run", "--workers", workers,
                       attach + "from_attached(\"pg\", \"orders\", partition_by: customer) |> "
                                "insert_into(\"pg.copied\", create: true, atomic: true)"},
                      {{"PGPASSWORD", kPassword}});
  EXPECT_EQ(write.exit_code, 0) << write.err;
  EXPECT_EQ(write.out, "insert_into: wrote 3 rows\n");
  EXPECT_EQ(Psql(database_, "SELECT count(*), sum(amount) FROM copied"), "3|110.49\n");
  // Workers without a password fail on the worker's account, in one redacted line.
  WorkerProcess c = StartWorker(dir_, 2);
  ASSERT_FALSE(c.address.empty());
  Outcome denied = Dux({"run", "--workers", c.address,
                        "attach(\"pg\", \"" + SecretConnInfo("") +
                            "\", type: postgres)\nfrom_attached(\"pg\", \"orders\")"},
                       {{"PGPASSWORD", kPassword}});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_EQ(std::count(denied.err.begin(), denied.err.end(), '\n'), 1) << denied.err;
  EXPECT_NE(denied.err.find("worker " + c.address), std::string::npos) << denied.err;
  EXPECT_NE(denied.err.find("cannot connect to PostgreSQL"), std::string::npos) << denied.err;
  for (const Outcome* o : {&read, &write, &denied}) ExpectNoPassword(*o);
}

TEST_F(PostgresCliTest, KilledWorkerMidInsertLeavesNoPartialRows) {
  // atomic: the share of a worker killed while it copies is retried on the other worker, and
  // the target gets every row exactly once (or, had the retry failed, none).
  Psql(database_,
       "CREATE TABLE big AS SELECT i AS id, repeat(md5(i::text), 8) AS pad "
       "FROM generate_series(1, 400000) i; CREATE TABLE target (id integer, pad text)");
  // libpq names worker a's connections (PGAPPNAME), so the test sees when it copies.
  WorkerProcess a = StartWorker(dir_, 0, {{"PGAPPNAME", "dux_worker_a"}});
  WorkerProcess b = StartWorker(dir_, 1);
  ASSERT_FALSE(a.address.empty() || b.address.empty());
  const std::string attach =
      "attach(\"pg\", \"" + server->ConnInfo(database_) + "\", type: postgres)\n";
  dux::test::ChildOptions options;
  options.stdout_file = dir_ / "run.out";
  options.stderr_file = dir_ / "run.err";
  std::string error;
  auto run = dux::test::ChildProcess::Start(
      {DUX_BINARY, "run", "--workers", a.address + "," + b.address, "--telemetry",
       attach + "from_attached(\"pg\", \"big\", partition_by: id) |> "
                "insert_into(\"pg.target\", atomic: true)"},
      options, &error);
  ASSERT_TRUE(run) << error;
  // Kill worker a while it copies into its staging table.
  bool copying = false;
  for (int i = 0; i < 600 && !copying; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    copying =
        Psql(database_,
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
             "'dux_worker_a' AND state = 'active' AND query LIKE 'COPY %FROM STDIN'") == "1\n";
  }
  ASSERT_TRUE(copying) << "worker a never copied";
  a.process->Signal(SIGKILL);
  auto code = run->Wait(std::chrono::seconds(120));
  ASSERT_TRUE(code.has_value()) << "the run did not end";
  std::string err = dux::test::ReadFile(dir_ / "run.err");
  EXPECT_EQ(*code, 0) << err;
  EXPECT_EQ(dux::test::ReadFile(dir_ / "run.out"), "insert_into: wrote 400000 rows\n");
  EXPECT_NE(err.find("\"partition.retry\""), std::string::npos) << err;
  EXPECT_EQ(Psql(database_, "SELECT count(*), count(DISTINCT id) FROM target"), "400000|400000\n");
  // The killed worker's transaction is rolled back by the server (its staging table with it)
  // once the server notices the connection is gone.
  std::string stages;
  for (int i = 0; i < 100; ++i) {
    stages = Psql(database_, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '__dux_stage%'");
    if (stages == "0\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(stages, "0\n");
}

TEST_F(PostgresCliTest, TheRegistryShowsNoPasswordOfTheQueriesReportedToIt) {
  // A registry with its status page, a worker that joined it with its own password, and one
  // that has none (its share fails, with the connection string in the error).
  dux::test::ChildOptions options;
  options.stderr_file = dir_ / "registry.err";
  std::string error;
  auto registry = dux::test::ChildProcess::Start(
      {DUX_BINARY, "registry", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, options,
      &error);
  ASSERT_TRUE(registry) << error;
  auto listening = registry->ReadLine(std::chrono::seconds(20));
  auto http = registry->ReadLine(std::chrono::seconds(20));
  ASSERT_TRUE(listening && http) << dux::test::ReadFile(options.stderr_file);
  const std::string address = listening->substr(listening->find(' ') + 1);
  const std::string page = http->substr(http->find(' ') + 1);
  const std::string attach =
      "attach(\"pg\", \"" + SecretConnInfo(kPassword) + "\", type: postgres)\n";
  std::vector<Outcome> runs;
  for (bool worker_password : {true, false}) {
    dux::test::ChildOptions worker;
    worker.stderr_file = dir_ / "worker.err";
    if (worker_password) worker.environment = {{"PGPASSWORD", kPassword}};
    auto w = dux::test::ChildProcess::Start(
        {DUX_BINARY, "worker", "--listen", "127.0.0.1:0", "--threads", "1", "--join", address},
        worker, &error);
    ASSERT_TRUE(w) << error;
    ASSERT_TRUE(w->ReadLine(std::chrono::seconds(20)));
    for (int i = 0; i < 400; ++i) {  // until the registry lists it
      if (Dux({"workers", "--registry", address}).exit_code == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // The first run names the password in its script; the second takes it from PGPASSWORD,
    // as the workers must (one has none: the run fails).
    const std::string script =
        worker_password ? attach
                        : "attach(\"pg\", \"" + SecretConnInfo("") + "\", type: postgres)\n";
    runs.push_back(Dux({"run", "--registry", address, "--format", "csv",
                        script + "from_attached(\"pg\", \"orders\", partition_by: id) |> "
                                 "sort_by(id)"},
                       {{"PGPASSWORD", kPassword}}));
    w->Signal(SIGTERM);  // it leaves the registry on its way out
    EXPECT_EQ(w->Wait(std::chrono::seconds(20)), 0);
  }
  EXPECT_EQ(runs[0].exit_code, 0) << runs[0].err;
  EXPECT_EQ(runs[0].out, "id,customer,amount\n1,ann,10.50\n2,bob,99.99\n3,ann,\n");
  EXPECT_EQ(runs[1].exit_code, 1) << runs[1].out;
  EXPECT_NE(runs[1].err.find("cannot connect to PostgreSQL"), std::string::npos) << runs[1].err;
  dux::test::HttpReply list = dux::test::HttpGet(page, "/api/queries");
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("password=***"), std::string::npos) << list.body;
  EXPECT_NE(list.body.find("cannot connect to PostgreSQL"), std::string::npos) << list.body;
  std::string shown = list.body;
  for (size_t at = list.body.find("\"id\":\""); at != std::string::npos;
       at = list.body.find("\"id\":\"", at + 1)) {
    const size_t start = at + 6;
    const std::string id = list.body.substr(start, list.body.find('"', start) - start);
    dux::test::HttpReply detail = dux::test::HttpGet(page, "/api/queries/" + id);
    EXPECT_EQ(detail.status, 200) << id;
    shown += detail.body;
  }
  shown += dux::test::HttpGet(page, "/metrics").body;
  EXPECT_NE(shown.find("\"plan\":\"-- distributed"), std::string::npos) << shown;
  EXPECT_EQ(shown.find(kPassword), std::string::npos) << shown;
}

}  // namespace
