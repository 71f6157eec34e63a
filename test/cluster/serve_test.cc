// A real `dux serve` (DUX_BINARY) with real `dux worker` processes on loopback, driven by
// `dux run --server` as a user drives it: every output format equal to a local run's, a file
// changed between two runs, errors, a client killed midway, concurrent clients, tokens and
// SIGTERM (docs/serve.md).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.h"
#include "dux/api/served_query.h"
#include "dux/api/session.h"
#include "dux/pipeline/language.h"
#include "dux/rpc/coordinator_client.h"
#include "subprocess.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dux::test::ChildOptions;
using dux::test::ChildProcess;
using dux::test::Contains;
using dux::test::ProcessOutcome;
using dux::test::ReadFile;
using dux::test::StartListening;
using Clock = std::chrono::steady_clock;

// Runs for minutes on a worker (query sources run whole on the first worker).
const char* const kSlowPipeline =
    "from_query(\"SELECT count(*) AS n FROM range(0, 300000000000) t(i) WHERE i % 7 = 3\")";

/// A `dux worker` or `dux serve` that has printed its address; killed when destroyed.
struct Server {
  std::unique_ptr<ChildProcess> process;
  std::string address;
  fs::path stderr_file;
};

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The children inherit the environment: nothing in it may pick workers, servers or tokens.
    for (const char* name :
         {"DUX_TOKEN", "DUX_WORKERS", "DUX_REGISTRY", "DUX_SERVER", "DUX_POOL"}) {
      unsetenv(name);
    }
  }

  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-serve-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    servers_.clear();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// Starts `dux args...` and waits for its "listening HOST:PORT" line; nullptr, with a test
  /// failure, when none comes.
  Server* Start(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    auto server = std::make_unique<Server>();
    server->stderr_file = dir_ / ("server-" + std::to_string(servers_.size()) + ".err");
    ChildOptions options;
    options.stderr_file = server->stderr_file;
    std::string error;
    auto started = StartListening(argv, options, 60s, &error);
    if (!started) {
      ADD_FAILURE() << error;
      return nullptr;
    }
    server->process = std::move(started->process);
    server->address = started->address;
    servers_.push_back(std::move(server));
    return servers_.back().get();
  }

  Server* Worker() { return Start({"worker", "--listen", "127.0.0.1:0", "--threads", "1"}); }

  /// A `dux serve` on two fresh workers; `workers` receives their addresses.
  Server* ServeOnTwoWorkers(std::string* workers = nullptr) {
    Server* a = Worker();
    Server* b = Worker();
    if (!a || !b) return nullptr;
    std::string both = a->address + "," + b->address;
    if (workers) *workers = both;
    return Start({"serve", "--listen", "127.0.0.1:0", "--workers", both, "--threads", "1"});
  }

  /// Runs `dux args...` to completion, stdout and stderr in files of its own, with
  /// `environment` added to this process's.
  ProcessOutcome Dux(const std::vector<std::string>& args,
                     std::vector<std::pair<std::string, std::string>> environment = {}) {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    fs::path scratch = dir_ / ("command-" + std::to_string(commands_++));
    fs::create_directories(scratch);
    dux::test::ProcessOptions options;
    options.environment = std::move(environment);
    return dux::test::RunProcess(argv, scratch, options);
  }

  /// `dux run args...` here and on `server`: both must give the same output, error and code.
  void ExpectSameAsLocal(const Server& server, const std::vector<std::string>& args) {
    std::vector<std::string> local = {"run"}, served = {"run", "--server", server.address};
    local.insert(local.end(), args.begin(), args.end());
    served.insert(served.end(), args.begin(), args.end());
    ProcessOutcome here = Dux(local), there = Dux(served);
    EXPECT_EQ(there.exit_code, here.exit_code) << there.err;
    EXPECT_EQ(there.out, here.out);
    EXPECT_EQ(there.err, here.err);
  }

  /// A parquet file of one BIGINT column k = from, ..., to - 1, written by a local run.
  std::string KeysFile(const std::string& name, int64_t from, int64_t to) {
    std::string path = (dir_ / name).string();
    ProcessOutcome o =
        Dux({"run", "from_query(\"SELECT range AS k FROM range(" + std::to_string(from) + ", " +
                        std::to_string(to) + ")\") |> to_parquet(\"" + path + "\")"});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return path;
  }

  /// Polls `dux workers --workers address` until its output holds `part` (or 20 s pass).
  bool WaitForWorkers(const std::string& address, const std::string& part) {
    auto deadline = Clock::now() + 20s;
    while (Clock::now() < deadline) {
      if (Contains(Dux({"workers", "--workers", address}).out, part)) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  fs::path dir_;
  std::vector<std::unique_ptr<Server>> servers_;
  int commands_ = 0;
};

TEST_F(ServeTest, EveryFormatGivesTheLocalOutput) {
  ProcessOutcome generated = Dux({"generate", "groupby", "--rows", "100000", "--files", "4",
                                  "--out", (dir_ / "data").string()});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  Server* server = ServeOnTwoWorkers();
  ASSERT_TRUE(server);
  // Exact aggregates only: a float sum's last digits depend on the order partials merge in
  // (docs/architecture.md section 1 allows 1e-9), and byte equality is what is checked here.
  const std::string grouped = "from_parquet(\"" + (dir_ / "data" / "*.parquet").string() +
                              "\")\n|> group_by(id4)\n|> summarise(n: count(), s: sum(v1), "
                              "m: max(v3))\n|> sort_by(id4)";
  for (const char* format : {"table", "csv", "json", "ndjson"}) {
    SCOPED_TRACE(format);
    ExpectSameAsLocal(*server, {"--format", format, grouped});
  }
  // Twice: the second run is answered from the warm session.
  ExpectSameAsLocal(*server, {"--format", "csv", grouped + "\n|> head(7)"});
  ExpectSameAsLocal(*server, {"--format", "csv", grouped + "\n|> head(7)"});

  // --output: the client writes the file; the same bytes as a local run's.
  const std::string local_file = (dir_ / "local.csv").string();
  const std::string served_file = (dir_ / "served.csv").string();
  ASSERT_EQ(Dux({"run", "--format", "csv", "-o", local_file, grouped}).exit_code, 0);
  ProcessOutcome to_file =
      Dux({"run", "--server", server->address, "--format", "csv", "-o", served_file, grouped});
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  EXPECT_EQ(to_file.out, "");
  EXPECT_EQ(ReadFile(served_file), ReadFile(local_file));

  // An Arrow IPC stream, read back here, holds the local rows.
  const std::string arrow_file = (dir_ / "served.arrow").string();
  ProcessOutcome arrow =
      Dux({"run", "--server", server->address, "--format", "arrow", "-o", arrow_file, grouped});
  ASSERT_EQ(arrow.exit_code, 0) << arrow.err;
  ProcessOutcome read_back =
      Dux({"run", "--format", "csv", "from_arrow(\"" + arrow_file + "\") |> sort_by(id4)"});
  ProcessOutcome local_csv = Dux({"run", "--format", "csv", grouped});
  EXPECT_EQ(read_back.out, local_csv.out) << read_back.err;

  // A sink runs on the server's workers, and its summary line comes back. (The sum, an
  // int128, is stored as a double in parquet: read back as an integer.)
  const std::string written = (dir_ / "written").string();
  ProcessOutcome sink = Dux({"run", "--server", server->address,
                             grouped + "\n|> to_parquet(\"" + written + "\", partition_by: id4)"});
  ASSERT_EQ(sink.exit_code, 0) << sink.err;
  EXPECT_TRUE(Contains(sink.out, "to_parquet: wrote 100 rows")) << sink.out;
  ProcessOutcome reread = Dux({"run", "--format", "csv",
                               "from_parquet(\"" + written +
                                   "/**/*.parquet\", "
                                   "hive_partitioning: true) |> mutate(s: CAST(s AS BIGINT)) |> "
                                   "select(id4, n, s, m) |> "
                                   "sort_by(id4)"});
  EXPECT_EQ(reread.out, local_csv.out) << reread.err;
}

TEST_F(ServeTest, FileChangedBetweenRunsGivesTheNewAnswer) {
  Server* server = ServeOnTwoWorkers();
  ASSERT_TRUE(server);
  const std::string path = KeysFile("keys.parquet", 0, 1000);
  const std::string sum = "from_parquet(\"" + path + "\") |> summarise(s: sum(k), n: count())";
  ProcessOutcome first = Dux({"run", "--server", server->address, "--format", "csv", sum});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, "s,n\n499500,1000\n");
  // The same path, the same number of rows and about the same size, other values.
  KeysFile("keys.parquet", 5000, 6000);
  ProcessOutcome second = Dux({"run", "--server", server->address, "--format", "csv", sum});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, "s,n\n5499500,1000\n");
  // A file added to a glob is seen too.
  const std::string glob =
      "from_parquet(\"" + (dir_ / "*.parquet").string() + "\") |> summarise(s: sum(k), n: count())";
  ProcessOutcome one = Dux({"run", "--server", server->address, "--format", "csv", glob});
  EXPECT_EQ(one.out, "s,n\n5499500,1000\n") << one.err;
  KeysFile("more.parquet", 0, 10);
  ProcessOutcome two = Dux({"run", "--server", server->address, "--format", "csv", glob});
  EXPECT_EQ(two.out, "s,n\n5499545,1010\n") << two.err;
}

TEST_F(ServeTest, MistakesGiveTheLocalErrorAndExitCode) {
  Server* server = ServeOnTwoWorkers();
  ASSERT_TRUE(server);
  const std::string path = KeysFile("keys.parquet", 0, 100);
  const std::string source = "from_parquet(\"" + path + "\")";
  ExpectSameAsLocal(*server, {source + "\n|> filter(nope > 1)"});     // unknown column
  ExpectSameAsLocal(*server, {source + "\n|> frobnicate(k)"});        // unknown verb
  ExpectSameAsLocal(*server, {source + "\n|> summarise(s: sum(k)"});  // parse error
  ExpectSameAsLocal(*server, {"from_parquet(\"" + (dir_ / "none.parquet").string() + "\")"});
  ProcessOutcome error =
      Dux({"run", "--server", server->address, source + "\n|> filter(nope > 1)"});
  EXPECT_EQ(error.exit_code, 1);
  EXPECT_TRUE(Contains(error.err, "line 2")) << error.err;
  // A server that is not there is named, in one line.
  ProcessOutcome gone = Dux({"run", "--server", "127.0.0.1:1", source});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_EQ(gone.err.rfind("dux: dux server 127.0.0.1:1 ", 0), 0u) << gone.err;
  EXPECT_EQ(std::count(gone.err.begin(), gone.err.end(), '\n'), 1) << gone.err;
  // Where a pipeline runs is the server's to say.
  ProcessOutcome both =
      Dux({"run", "--server", server->address, "--workers", "127.0.0.1:1", source});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_TRUE(Contains(both.err, "give --workers")) << both.err;
}

TEST_F(ServeTest, KilledClientCancelsItsQueryAndTheServerGoesOn) {
  Server* w = Worker();
  ASSERT_TRUE(w);
  Server* server = Start({"serve", "--listen", "127.0.0.1:0", "--workers", w->address});
  ASSERT_TRUE(server);
  ChildOptions options;
  options.stdout_file = dir_ / "slow.out";
  options.stderr_file = dir_ / "slow.err";
  std::string error;
  auto client = ChildProcess::Start({DUX_BINARY, "run", "--server", server->address, kSlowPipeline},
                                    options, &error);
  ASSERT_TRUE(client) << error;
  ASSERT_TRUE(WaitForWorkers(w->address, "running [q")) << "the query never reached the worker";
  client->Signal(SIGKILL);
  client->Wait(10s);
  EXPECT_TRUE(WaitForWorkers(w->address, "running []")) << "the worker still runs the query";
  // Runs are serialised: the next one runs only once the killed one has ended.
  ProcessOutcome next = Dux(
      {"run", "--server", server->address, "--format", "csv", "from_query(\"SELECT 42 AS x\")"});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(next.out, "x\n42\n");
}

TEST_F(ServeTest, ConcurrentClientsAllGetTheirAnswers) {
  Server* server = ServeOnTwoWorkers();
  ASSERT_TRUE(server);
  std::vector<std::future<ProcessOutcome>> runs;
  runs.reserve(4);
  for (int i = 0; i < 4; ++i) {
    runs.push_back(std::async(std::launch::async, [this, server, i] {
      return dux::test::RunProcess({DUX_BINARY, "run", "--server", server->address, "--format",
                                    "csv", "from_query(\"SELECT " + std::to_string(i) + " AS x\")"},
                                   [&] {
                                     fs::path scratch = dir_ / ("concurrent-" + std::to_string(i));
                                     fs::create_directories(scratch);
                                     return scratch;
                                   }());
    }));
  }
  for (int i = 0; i < 4; ++i) {
    ProcessOutcome o = runs[i].get();
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.out, "x\n" + std::to_string(i) + "\n");
  }
}

TEST_F(ServeTest, OffLoopbackNeedsATokenAndChecksIt) {
  ProcessOutcome refused = Dux({"serve", "--listen", "0.0.0.0:0"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err,
            "dux: refusing to listen on 0.0.0.0:0 without a token: give --token or "
            "DUX_TOKEN (or listen on 127.0.0.1)\n");
  EXPECT_EQ(refused.out, "");
  Server* server = Start({"serve", "--listen", "0.0.0.0:0", "--token", "t0ken"});
  ASSERT_TRUE(server);
  const std::string loopback =
      "127.0.0.1:" + server->address.substr(server->address.rfind(':') + 1);
  const std::string pipeline = "from_query(\"SELECT 1 AS x\")";
  ProcessOutcome denied = Dux({"run", "--server", loopback, "--format", "csv", pipeline});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_TRUE(Contains(denied.err, "a bearer token is required")) << denied.err;
  ProcessOutcome wrong =
      Dux({"run", "--server", loopback, "--token", "other", "--format", "csv", pipeline});
  EXPECT_TRUE(Contains(wrong.err, "wrong bearer token")) << wrong.err;
  ProcessOutcome ok =
      Dux({"run", "--server", loopback, "--token", "t0ken", "--format", "csv", pipeline});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "x\n1\n");
}

TEST_F(ServeTest, TheCppClientGetsTheLocalTable) {
  Server* server = ServeOnTwoWorkers();
  ASSERT_TRUE(server);
  const std::string keys = KeysFile("keys.parquet", 0, 20000);
  // Types a standard Arrow reader would change (HUGEINT, UUID, ENUM-like text, DECIMAL), a
  // NULL, an exchange (median) and an order.
  const std::string text =
      "from_parquet(\"" + keys +
      "\") |> mutate(g: k % 7, h: (k * 100000000000000000000)::HUGEINT, "
      "d: (k / 100)::DECIMAL(18, 2), u: ('00000000-0000-0000-0000-' || lpad(k::VARCHAR, 12, "
      "'0'))::UUID) |> group_by(g) |> summarise(n: count(), m: median(k), h: max(h), d: sum(d), "
      "u: min(u), z: max(CASE WHEN g > 9 THEN 1 END)) |> sort_by(g)";
  auto client = dux::rpc::ConnectQueryServer(server->address, {});
  auto served = dux::ComputeOnServer(*client, text);
  ASSERT_TRUE(served.ok()) << served.status().message();
  auto session = dux::Session::Open();
  ASSERT_TRUE(session.ok()) << session.status().message();
  auto script = dux::pipeline::ParseScript(text);
  ASSERT_TRUE(script.ok()) << script.status().message();
  auto local = (*session)->Compute(script->pipeline);
  ASSERT_TRUE(local.ok()) << local.status().message();
  ASSERT_EQ(local->NumRows(), 7u);
  EXPECT_TRUE(served->schema == local->schema) << served->Format() << local->Format();
  EXPECT_TRUE(served->rows == local->rows) << served->Format() << local->Format();
  // A mistake gives the local error; a sink is refused before anything runs.
  const std::string mistake = "from_parquet(\"" + keys + "\") |> filter(nope > 1)";
  auto refused = dux::ComputeOnServer(*client, mistake);
  auto local_error = (*session)->Compute(dux::pipeline::ParseScript(mistake)->pipeline);
  ASSERT_FALSE(refused.ok());
  ASSERT_FALSE(local_error.ok());
  EXPECT_EQ(refused.status().message(), local_error.status().message());
  auto sink = dux::ComputeOnServer(
      *client, "from_parquet(\"" + keys + "\") |> to_csv(\"" + (dir_ / "x.csv").string() + "\")");
  ASSERT_FALSE(sink.ok());
  EXPECT_TRUE(Contains(sink.status().message(), "to_csv: ComputeOnServer returns rows"))
      << sink.status().message();
  EXPECT_FALSE(fs::exists(dir_ / "x.csv"));
  // An unreachable server is named.
  auto gone = dux::rpc::ConnectQueryServer("127.0.0.1:1", {});
  auto unreachable = dux::ComputeOnServer(*gone, "from_query(\"SELECT 1 AS a\")");
  ASSERT_FALSE(unreachable.ok());
  EXPECT_TRUE(Contains(unreachable.status().message(), "dux server 127.0.0.1:1"))
      << unreachable.status().message();
}

TEST_F(ServeTest, SigtermStopsTheServerCleanly) {
  Server* server = ServeOnTwoWorkers();
  ASSERT_TRUE(server);
  ProcessOutcome ok =
      Dux({"run", "--server", server->address, "--format", "csv", "from_query(\"SELECT 1 AS x\")"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  server->process->Signal(SIGTERM);
  EXPECT_EQ(server->process->Wait(20s), std::optional<int>(0)) << ReadFile(server->stderr_file);
}

// `dux` hands a served run to dux-client, which does not load DuckDB (docs/serve.md, "The
// client"). The dynamic loader's own report (LD_DEBUG=libs) is what is checked: a local run
// through the same `dux` shows libduckdb.so loading, so the check can fail.
TEST_F(ServeTest, AServedRunLoadsNoDuckDb) {
  Server* server = ServeOnTwoWorkers();
  ASSERT_TRUE(server);
  const std::string pipeline = "from_query(\"SELECT 6 * 7 AS answer\")";
  ProcessOutcome local = Dux({"run", pipeline}, {{"LD_DEBUG", "libs"}});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_TRUE(Contains(local.err, "libduckdb.so")) << local.err;
  for (const auto& [args, environment] : std::vector<
           std::pair<std::vector<std::string>, std::vector<std::pair<std::string, std::string>>>>{
           {{"run", "--server", server->address, pipeline}, {{"LD_DEBUG", "libs"}}},
           {{"run", pipeline}, {{"LD_DEBUG", "libs"}, {"DUX_SERVER", server->address}}}}) {
    ProcessOutcome served = Dux(args, environment);
    ASSERT_EQ(served.exit_code, 0) << served.err;
    EXPECT_EQ(served.out, local.out);
    EXPECT_TRUE(Contains(served.err, "libstdc++")) << "no loader report: " << served.err;
    EXPECT_FALSE(Contains(served.err, "libduckdb")) << served.err;
  }
}

// dux-client parses `run` as dux-engine does: help, and a mistake in the options, read the
// same; a line that names no server after all runs here.
TEST_F(ServeTest, TheClientReadsACommandLineAsALocalRun) {
  Server* server = ServeOnTwoWorkers();
  ASSERT_TRUE(server);
  ProcessOutcome help = Dux({"run", "--help"});
  ASSERT_EQ(help.exit_code, 0) << help.err;
  EXPECT_TRUE(Contains(help.out, "--server")) << help.out;
  EXPECT_EQ(Dux({"run", "--server", server->address, "--help"}).out, help.out);
  EXPECT_EQ(Dux({"run", "--help"}, {{"DUX_SERVER", server->address}}).out, help.out);
  EXPECT_EQ(Dux({"run", "--server", server->address, "--help-all"}).out,
            Dux({"run", "--help-all"}).out);

  ProcessOutcome bogus = Dux({"run", "--bogus", "from_query(\"SELECT 1\")"});
  ProcessOutcome served_bogus =
      Dux({"run", "--server", server->address, "--bogus", "from_query(\"SELECT 1\")"});
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_EQ(served_bogus.exit_code, 2);
  EXPECT_EQ(served_bogus.err, bogus.err);
  EXPECT_TRUE(Contains(served_bogus.err, "--bogus")) << served_bogus.err;

  // `--server ""` is no server: the run is a local one, and loads DuckDB to do it.
  const std::string pipeline = "from_query(\"SELECT 6 * 7 AS answer\")";
  ProcessOutcome here = Dux({"run", pipeline});
  ProcessOutcome empty = Dux({"run", "--server", "", pipeline}, {{"LD_DEBUG", "libs"}});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(empty.out, here.out);
  EXPECT_TRUE(Contains(empty.err, "libduckdb.so")) << empty.err;
}

}  // namespace
