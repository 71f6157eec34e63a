// The real dux binary against a real PostgreSQL server (test/support/pg_server.h), one server
// for the whole binary: reads, writes, explain, telemetry and errors, and never a password
// on stdout or stderr.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

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

  // Distributed, the pipeline runs on the coordinator; its events name the redacted source.
  Outcome run = Dux({"run", "--local-workers", "1", "--telemetry", "--format", "csv", pipeline});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "id,customer,amount\n2,bob,99.99\n3,ann,\n");
  EXPECT_NE(run.err.find("\"postgres.read.stop\""), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("password=***"), std::string::npos) << run.err;
  ExpectNoPassword(run);
  Outcome explain_distributed = Dux({"explain", "--local-workers", "1", pipeline});
  EXPECT_EQ(explain_distributed.exit_code, 0) << explain_distributed.err;
  EXPECT_EQ(explain_distributed.out.rfind("-- runs on the coordinator: from_attached", 0), 0u)
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

}  // namespace
