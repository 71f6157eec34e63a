// Real `dux worker` and `dux registry` processes (DUX_BINARY) on loopback, and as root in
// network namespaces, driven by `dux run` and `dux workers` as a user drives them: results
// against local execution, a worker killed midway, --timeout, tokens, TLS, --allow-dir,
// registry membership and clean shutdown.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.h"
#include "network_namespaces.h"
#include "s3_server.h"
#include "slowdown.h"
#include "subprocess.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dux::test::ChildOptions;
using dux::test::ChildProcess;
using dux::test::Contains;
using dux::test::Lines;
using dux::test::ReadFile;
using dux::test::StartListening;
using dux::test::TestSlowdown;
using dux::test::WriteFile;
using Clock = std::chrono::steady_clock;
using Environment = std::vector<std::pair<std::string, std::string>>;

// Runs for minutes on a worker; every test that uses it ends it (kill, timeout, teardown).
// Query sources run whole on the first worker.
const char* const kSlowPipeline =
    "from_query(\"SELECT count(*) AS n FROM range(0, 300000000000) t(i) WHERE i % 7 = 3\")";

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A finished command.
struct Outcome {
  int exit_code = -1;  ///< minus the signal when a signal ended it
  std::string out;
  std::string err;
  double seconds = 0;
};

/// A `dux worker` or `dux registry` that has printed its address; killed when destroyed.
struct Server {
  std::unique_ptr<ChildProcess> process;
  std::string address;
  fs::path stderr_file;
};

/// Expects `o` to be a failure: exit 1, one "dux: ..." line on stderr holding every `part`.
void ExpectOneLineError(const Outcome& o, const std::vector<std::string>& parts) {
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_EQ(o.err.rfind("dux: ", 0), 0u) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  for (const auto& part : parts) {
    EXPECT_TRUE(Contains(o.err, part)) << "expected \"" << part << "\" in: " << o.err;
  }
}

/// Expects two successful CSV results to hold the same header and the same rows in any
/// order, and at least `min_rows` of them (so that two empty results do not pass).
void ExpectSameRows(const Outcome& distributed, const Outcome& local, size_t min_rows) {
  ASSERT_EQ(distributed.exit_code, 0) << distributed.err;
  ASSERT_EQ(local.exit_code, 0) << local.err;
  std::vector<std::string> a = Lines(distributed.out), b = Lines(local.out);
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(a.front(), b.front()) << "headers differ";
  EXPECT_GE(b.size(), min_rows + 1);
  std::sort(a.begin() + 1, a.end());
  std::sort(b.begin() + 1, b.end());
  EXPECT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b) << "the distributed rows differ from the local ones";
}

/// Expects `--telemetry` output in which each of `addresses` ran a share and finished it.
void ExpectRanOn(const std::string& telemetry, const std::vector<std::string>& addresses) {
  for (const auto& address : addresses) {
    bool found = false;
    for (const auto& line : Lines(telemetry)) {
      found = found || (Contains(line, "\"distributed.worker.stop\"") &&
                        Contains(line, "\"address\":\"" + address + "\"") &&
                        Contains(line, "\"status\":\"ok\""));
    }
    EXPECT_TRUE(found) << "no share ran on " << address << ":\n" << telemetry;
  }
}

/// A fresh directory per test, and every process a test starts killed at its end.
class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The children inherit the environment: nothing in it may pick workers or tokens.
    for (const char* name : {"DUX_TOKEN", "DUX_WORKERS", "DUX_REGISTRY", "DUX_BINARY"}) {
      unsetenv(name);
    }
  }

  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-cluster-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    servers_.clear();
    s3_server_.reset();
    for (const char* name :
         {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
          "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}) {
      unsetenv(name);
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// Starts `dux args...` (behind `prefix`, e.g. "ip netns exec NS") and waits for its
  /// "listening HOST:PORT" line. nullptr, with a test failure, when it prints none in time.
  Server* Serve(const std::vector<std::string>& args, const Environment& environment = {},
                const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> argv = prefix;
    argv.push_back(DUX_BINARY);
    argv.insert(argv.end(), args.begin(), args.end());
    auto server = std::make_unique<Server>();
    server->stderr_file = dir_ / ("server-" + std::to_string(servers_.size()) + ".err");
    ChildOptions options;
    options.stderr_file = server->stderr_file;
    options.environment = environment;
    std::string error;
    auto started = StartListening(argv, options, 30s, &error);
    if (!started) {
      ADD_FAILURE() << error;
      return nullptr;
    }
    server->process = std::move(started->process);
    server->address = started->address;
    servers_.push_back(std::move(server));
    return servers_.back().get();
  }

  /// Starts a loopback worker with `args` after --listen.
  Server* Worker(const std::vector<std::string>& args = {}) {
    std::vector<std::string> all = {"worker", "--listen", "127.0.0.1:0", "--threads", "1"};
    all.insert(all.end(), args.begin(), args.end());
    return Serve(all);
  }

  /// A command started in the background, with stdout and stderr going to files.
  struct Command {
    std::unique_ptr<ChildProcess> process;  ///< null when it could not start
    fs::path out, err;
    Clock::time_point start;
  };

  /// Starts `argv` in the background (a test failure when it cannot start).
  Command Spawn(const std::vector<std::string>& argv, const Environment& environment = {}) {
    Command c;
    const std::string name = "command-" + std::to_string(commands_++);
    c.out = dir_ / (name + ".out");
    c.err = dir_ / (name + ".err");
    c.start = Clock::now();
    ChildOptions options;
    options.stdout_file = c.out;
    options.stderr_file = c.err;
    options.environment = environment;
    std::string error;
    c.process = ChildProcess::Start(argv, options, &error);
    if (!c.process) ADD_FAILURE() << "cannot start " << argv.front() << ": " << error;
    return c;
  }

  /// Waits up to `limit` for a command to end; past it, a test failure and SIGKILL.
  static Outcome Finish(Command c, std::chrono::milliseconds limit) {
    Outcome o;
    if (!c.process) return o;
    std::optional<int> code = c.process->Wait(limit);
    if (!code) {
      ADD_FAILURE() << "still running after " << limit.count() << " ms";
      c.process->Signal(SIGKILL);
      code = c.process->Wait(10s);
    }
    o.exit_code = code.value_or(-1);
    o.seconds = SecondsSince(c.start);
    o.out = ReadFile(c.out);
    o.err = ReadFile(c.err);
    return o;
  }

  /// Runs `dux args...` to completion, failing the test when it takes more than `limit`.
  Outcome Dux(const std::vector<std::string>& args, const Environment& environment = {},
              std::chrono::milliseconds limit = 60s) {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return Finish(Spawn(argv, environment), limit);
  }

  /// Runs any program to completion (openssl, ip).
  Outcome Program(const std::vector<std::string>& argv) { return Finish(Spawn(argv), 60s); }

  /// `dux generate groupby` into a new directory under the test's; returns it.
  fs::path Generate(const std::string& name, int rows, int files) {
    fs::path out = dir_ / name;
    Outcome o = Dux({"generate", "groupby", "--rows", std::to_string(rows), "--files",
                     std::to_string(files), "--out", out.string()});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return out;
  }

  /// `name` in the test's directory: a parquet file of one BIGINT column k = from, ..., to - 1.
  std::string KeysFile(const std::string& name, int64_t from, int64_t to) {
    std::string path = (dir_ / name).string();
    Outcome o =
        Dux({"run", "from_query(\"SELECT range AS k FROM range(" + std::to_string(from) + ", " +
                        std::to_string(to) + ")\") |> to_parquet(\"" + path + "\")"});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return path;
  }

  /// Two parquet files of 10,000 keys in the test's directory, and a pipeline over them whose
  /// two partitions (one per file) each take about a second on a worker of one thread.
  std::string SecondLongPartitions() {
    KeysFile("a.parquet", 0, 10000);
    KeysFile("b.parquet", 10000, 20000);
    return "from_parquet(\"" + (dir_ / "*.parquet").string() +
           "\") |> mutate(s: list_sum(range(0, k % 7 + 12000))::BIGINT)";
  }

  /// A pipeline of row-wise verbs over the parquet files in `data`; keeps 3 rows in 5.
  static std::string RowWise(const fs::path& data) {
    return "from_parquet(\"" + (data / "*.parquet").string() +
           "\")\n"
           "|> filter(v1 > 2)\n"
           "|> mutate(w: v3 * 2, k: id4 + id5)\n"
           "|> rename(id1: first)\n"
           "|> select(first, id3, k, v1, w)";
  }

  /// Polls `dux workers args...` until `done(outcome)` holds; the last outcome, and a test
  /// failure when `limit` passes first.
  template <typename Done>
  Outcome PollWorkers(const std::vector<std::string>& args, Done done,
                      std::chrono::milliseconds limit) {
    std::vector<std::string> all = {"workers"};
    all.insert(all.end(), args.begin(), args.end());
    auto deadline = Clock::now() + limit;
    for (;;) {
      Outcome o = Dux(all, {}, 30s);
      if (done(o)) return o;
      if (Clock::now() > deadline) {
        ADD_FAILURE() << "dux workers never showed what was expected; last:\n" << o.out << o.err;
        return o;
      }
      std::this_thread::sleep_for(50ms);
    }
  }

  /// Two workers run a median by group (it does not decompose: rows go to their group's bucket
  /// owner; the partitions take about a second each), and `signal` hits worker b while the
  /// exchange is under way. A bucket owner's buckets are nowhere else: the query fails within
  /// `within` seconds, naming b on one line, and the survivor keeps nothing of it.
  void ExpectLostBucketOwnerNamed(Server* a, Server* b, int signal, double within) {
    const std::string pipeline =
        SecondLongPartitions() + " |> mutate(g: k % 10) |> group_by(g) |> summarise(m: median(s))";
    Command run = Spawn({DUX_BINARY, "run", "--workers", a->address + "," + b->address, "--format",
                         "csv", pipeline});
    ASSERT_TRUE(WaitBusy(b->address));
    b->process->Signal(signal);
    Outcome o = Finish(std::move(run), 90s);
    if (signal == SIGSTOP) b->process->Signal(SIGCONT);
    ExpectOneLineError(o, {"worker " + b->address});
    EXPECT_LT(o.seconds, within);
    PollWorkers(
        {"--workers", a->address},
        [](const Outcome& r) {
          return r.exit_code == 0 && !Contains(r.out, "__dux_") && Contains(r.out, "running []");
        },
        20s);
  }

  /// Waits until the worker at `address` reports a running query (or the limit passes).
  bool WaitBusy(const std::string& address) {
    Outcome o = PollWorkers(
        {"--workers", address}, [](const Outcome& r) { return Contains(r.out, "running [q"); },
        20s);
    return Contains(o.out, "running [q");
  }

  /// An S3 server (bucket "lake") for this test, with the AWS variables pointing at it, which
  /// the workers and commands it starts inherit; null, with a test failure, when it cannot
  /// start. Stopped and the variables removed at the end of the test.
  dux::test::S3Server* StartS3Server() {
    std::string why;
    s3_server_ = dux::test::S3Server::Start({"lake"}, &why);
    if (!s3_server_) {
      ADD_FAILURE() << why;
      return nullptr;
    }
    s3_server_->ExportAwsEnvironment();
    return s3_server_.get();
  }

  /// Runs `pipeline` (a group a row of 6,000 keys, over files `rewrite` writes) twice on two
  /// standing workers with `rewrite("range * 2")`, where each worker skips its partial
  /// aggregate and sends each row's partials cast to the types compiled (sum of BIGINT:
  /// HUGEINT), then once more after `rewrite("range + 0.5")`: each run gives the local
  /// answer, so the workers kept no compile of the BIGINT files for the DOUBLE ones.
  void ExpectStandingWorkersFollowARewrite(const std::string& pipeline,
                                           const std::function<void(const std::string&)>& rewrite);

  fs::path dir_;
  std::unique_ptr<dux::test::S3Server> s3_server_;
  std::vector<std::unique_ptr<Server>> servers_;
  int commands_ = 0;
};

// ---- results ------------------------------------------------------------------------------

TEST_F(ClusterTest, TwoWorkersGiveTheLocalResult) {
  fs::path data = Generate("data", 200000, 6);
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  const std::string pipeline = RowWise(data);
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  Outcome distributed = Dux({"run", "--workers", a->address + "," + b->address, "--format", "csv",
                             "--telemetry", pipeline});
  ExpectSameRows(distributed, local, 50000);
  ExpectRanOn(distributed.err, {a->address, b->address});
}

TEST_F(ClusterTest, LocalWorkersGiveTheLocalResult) {
  fs::path data = Generate("data", 200000, 6);
  const std::string pipeline = RowWise(data);
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  Outcome distributed =
      Dux({"run", "--local-workers", "3", "--format", "csv", "--telemetry", pipeline});
  ExpectSameRows(distributed, local, 50000);
  int shares = 0;
  for (const auto& line : Lines(distributed.err)) {
    shares += Contains(line, "\"distributed.worker.stop\"") && Contains(line, "\"status\":\"ok\"");
  }
  EXPECT_EQ(shares, 3) << distributed.err;
}

TEST_F(ClusterTest, OrderedPipelineGivesTheLocalOrder) {
  // The workers keep their top 5; the coordinator sorts what they send and keeps 5 again.
  fs::path data = Generate("data", 20000, 4);
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  const std::string pipeline = "from_parquet(\"" + (data / "*.parquet").string() +
                               "\") |> filter(v1 > 2) |> sort_by(desc: v3, id3) |> head(5)";
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  Outcome distributed =
      Dux({"run", "--workers", a->address + "," + b->address, "--format", "csv", pipeline});
  EXPECT_EQ(distributed.exit_code, 0) << distributed.err;
  EXPECT_EQ(distributed.out, local.out);
  EXPECT_EQ(Lines(local.out).size(), 6u) << local.out;
}

TEST_F(ClusterTest, ExplainShowsPartitionsRulesAndBothSides) {
  fs::path data = Generate("data", 4000, 3);
  Outcome o = Dux({"explain", "--local-workers", "2",
                   "from_parquet(\"" + (data / "*.parquet").string() +
                       "\") |> filter(v1 > 2) |> group_by(id1) |> summarise(n: count(*)) "
                       "|> sort_by(desc: n)"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_TRUE(Contains(o.out, "-- distributed: 2 partitions on 2 workers")) << o.out;
  EXPECT_TRUE(Contains(o.out, "part-0000.parquet")) << o.out;
  EXPECT_TRUE(Contains(o.out, "-- splitter rules applied: scan_stage, partial_aggregate")) << o.out;
  EXPECT_TRUE(Contains(o.out, "\"__dux_p0\"")) << o.out;  // the workers' partial count
  EXPECT_TRUE(Contains(o.out, "-- the coordinator finishes with:")) << o.out;
  EXPECT_TRUE(Contains(o.out, "ORDER BY")) << o.out;

  Outcome csv =
      Dux({"explain", "--local-workers", "2", "from_csv(\"" + (dir_ / "x.csv").string() + "\")"});
  // A missing file is the local compile's error, reported once.
  ExpectOneLineError(csv, {"from_csv"});
}

TEST_F(ClusterTest, ExplainShowsTheExchangeTheEstimateAndTheFold) {
  fs::path data = Generate("data", 4000, 3);
  const std::string glob = "from_parquet(\"" + (data / "*.parquet").string() + "\")";
  Outcome shuffled = Dux(
      {"explain", "--local-workers", "2", glob + " |> group_by(id1) |> summarise(m: median(v1))"});
  ASSERT_EQ(shuffled.exit_code, 0) << shuffled.err;
  EXPECT_TRUE(Contains(shuffled.out, "-- splitter rules applied: shuffle_aggregate, projection"))
      << shuffled.out;
  EXPECT_TRUE(Contains(shuffled.out,
                       "-- hash exchange (shuffle_aggregate) on (id1) into 2 buckets, worker to "
                       "worker"))
      << shuffled.out;
  EXPECT_TRUE(Contains(shuffled.out, "SELECT \"id1\", \"v1\" FROM")) << shuffled.out;
  EXPECT_TRUE(Contains(shuffled.out, "(median(v1)")) << shuffled.out;
  Outcome folded = Dux(
      {"explain", "--local-workers", "2", glob + " |> group_by(id1) |> summarise(n: count(*))"});
  ASSERT_EQ(folded.exit_code, 0) << folded.err;
  EXPECT_TRUE(Contains(folded.out, "-- estimated groups: ")) << folded.out;
  EXPECT_TRUE(Contains(folded.out, "<= 1000000: the coordinator finalises the groups"))
      << folded.out;
  EXPECT_TRUE(Contains(folded.out,
                       "-- folding the partial aggregates of all workers as they "
                       "arrive:\nSELECT \"id1\", sum(\"__dux_p0\")"))
      << folded.out;
  // The folded table holds a row per group: the finish reads it without aggregating again.
  const std::string finish = folded.out.substr(folded.out.find("-- the coordinator finishes"));
  EXPECT_TRUE(Contains(finish, "CAST((__dux_p0")) << finish;
  EXPECT_FALSE(Contains(finish, "GROUP BY")) << finish;
}

/// The `distributed.worker.stop` lines of `--telemetry` output whose worker reported
/// `partial_aggregation` as `choice` (kept or skipped).
int PartialAggregations(const std::string& telemetry, const std::string& choice) {
  int n = 0;
  for (const auto& line : Lines(telemetry)) {
    n += Contains(line, "\"distributed.worker.stop\"") &&
         Contains(line, "\"partial_aggregation\":\"" + choice + "\"");
  }
  return n;
}

void ClusterTest::ExpectStandingWorkersFollowARewrite(
    const std::string& pipeline, const std::function<void(const std::string&)>& rewrite) {
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  const std::vector<std::string> distributed = {
      "run",         "--workers", a->address + "," + b->address, "--format", "csv",
      "--telemetry", pipeline};
  rewrite("range * 2");
  Outcome integers = Dux({"run", "--format", "csv", pipeline});
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(run);
    Outcome o = Dux(distributed);
    ExpectSameRows(o, integers, 6000);
    EXPECT_EQ(PartialAggregations(o.err, "skipped"), 2) << o.err;
  }
  rewrite("range + 0.5");
  Outcome halves = Dux({"run", "--format", "csv", pipeline});
  ASSERT_TRUE(Contains(halves.out, ".5")) << halves.out.substr(0, 200);
  ExpectSameRows(Dux(distributed), halves, 6000);
}

TEST_F(ClusterTest, AdaptivePartialAggregationSkipsForAGroupPerRowAndKeepsForFewGroups) {
  fs::path data = Generate("data", 40000, 4);
  const std::string from = "from_parquet(\"" + (data / "*.parquet").string() + "\") |> ";
  // H2O q10's keys: a group per row, so that every worker sends its rows as partials.
  const std::string many = from +
                           "group_by(id1, id2, id3, id4, id5, id6) |> summarise(n: count(*), "
                           "s: sum(v1), a: avg(v2), m: max(v3))";
  Outcome local = Dux({"run", "--format", "csv", many});
  // Fewer groups than final_on_workers needs: the rows are folded on the coordinator, as
  // partials (the e2e file adaptive_partial_aggregate.test runs the exchange too).
  Outcome skipped = Dux({"run", "--local-workers", "2", "--format", "csv", "--telemetry", many});
  ExpectSameRows(skipped, local, 30000);
  EXPECT_EQ(PartialAggregations(skipped.err, "skipped"), 2) << skipped.err;
  EXPECT_EQ(PartialAggregations(skipped.err, "kept"), 0) << skipped.err;
  Outcome analyzed = Dux({"explain", "--analyze", "--local-workers", "2", many});
  ASSERT_EQ(analyzed.exit_code, 0) << analyzed.err;
  EXPECT_TRUE(Contains(analyzed.out, "partial aggregation: skipped by 2, kept by 0 (partition "))
      << analyzed.out;
  EXPECT_TRUE(Contains(analyzed.out, " skipped at 1.00 rows per group")) << analyzed.out;
  // Few groups: every worker keeps its partial aggregate.
  const std::string few = from + "group_by(id1) |> summarise(n: count(*), s: sum(v1), a: avg(v2))";
  Outcome kept = Dux({"run", "--local-workers", "2", "--format", "csv", "--telemetry", few});
  ExpectSameRows(kept, Dux({"run", "--format", "csv", few}), 50);
  EXPECT_EQ(PartialAggregations(kept.err, "kept"), 2) << kept.err;
  EXPECT_EQ(PartialAggregations(kept.err, "skipped"), 0) << kept.err;
  Outcome explained = Dux({"explain", "--local-workers", "2", few});
  ASSERT_EQ(explained.exit_code, 0) << explained.err;
  EXPECT_TRUE(Contains(explained.out, "partial_aggregate, adaptive_partial_aggregate"))
      << explained.out;
  EXPECT_TRUE(Contains(explained.out, "-- adaptive partial aggregation: ")) << explained.out;
}

TEST_F(ClusterTest, StandingWorkersCompileARewrittenFileAfresh) {
  // The workers keep each compile for the repeated query (worker/fragment_cache.h): once the
  // files hold DOUBLEs, one kept from the BIGINT files would cast their halves away.
  fs::path data = dir_ / "rewritten";
  fs::create_directories(data);
  auto write = [&](const std::string& v) {
    for (int f = 0; f < 2; ++f) {
      Outcome o =
          Dux({"run", "from_query(\"SELECT range AS k, " + v + " AS v FROM range(" +
                          std::to_string(f * 3000) + ", " + std::to_string((f + 1) * 3000) +
                          ")\") |> to_parquet(\"" +
                          (data / ("part-" + std::to_string(f) + ".parquet")).string() + "\")"});
      ASSERT_EQ(o.exit_code, 0) << o.err;
    }
  };
  ExpectStandingWorkersFollowARewrite("from_parquet(\"" + (data / "*.parquet").string() +
                                          "\") |> group_by(k) |> summarise(s: sum(v))",
                                      write);
}

TEST_F(ClusterTest, StandingWorkersCompileARewrittenJoinSideAfresh) {
  // As above, through a join's side that every worker reads from its file: the side's file
  // is part of the kept compile's key, so once it holds DOUBLEs the workers compile again.
  fs::path data = dir_ / "rewritten_side";
  fs::create_directories(data);
  for (int f = 0; f < 2; ++f) {
    Outcome o =
        Dux({"run", "from_query(\"SELECT range AS k FROM range(" + std::to_string(f * 3000) + ", " +
                        std::to_string((f + 1) * 3000) + ")\") |> to_parquet(\"" +
                        (data / ("part-" + std::to_string(f) + ".parquet")).string() + "\")"});
    ASSERT_EQ(o.exit_code, 0) << o.err;
  }
  fs::create_directories(data / "side");
  const std::string side = (data / "side" / "side.parquet").string();
  auto write_side = [&](const std::string& w) {
    Outcome o = Dux({"run", "from_query(\"SELECT range AS k, " + w +
                                " AS w FROM range(6000)\") |> to_parquet(\"" + side + "\")"});
    ASSERT_EQ(o.exit_code, 0) << o.err;
  };
  ExpectStandingWorkersFollowARewrite("from_parquet(\"" + (data / "*.parquet").string() +
                                          "\") |> join(from_parquet(\"" + side +
                                          "\"), on: k) |> group_by(k) |> summarise(s: sum(w))",
                                      write_side);
}

TEST_F(ClusterTest, ExchangeBeyondAWorkersBucketBudgetMovesToTablesAndStaysExact) {
  // Workers of 96 MB keep 24 MB of buckets in memory (a quarter of the limit); each side
  // here brings each of them about 14 MB, so buckets move to DuckDB tables mid-exchange.
  fs::path data = dir_ / "budget";
  fs::create_directories(data);
  for (const char* side : {"l", "r"}) {
    Outcome written = Dux(
        {"run",
         "from_query(\"SELECT i AS k, repeat('x', 40) || i AS s FROM range(0, 400000) "
         "t(i)\") |> to_parquet(\"" +
             (data / (std::string(side) + ".parquet")).string() + "\", row_group_size: 50000)"});
    ASSERT_EQ(written.exit_code, 0) << written.err;
  }
  Server* a = Worker({"--memory-limit", "96MB", "--temp-dir", (dir_ / "spill-a").string()});
  Server* b = Worker({"--memory-limit", "96MB", "--temp-dir", (dir_ / "spill-b").string()});
  ASSERT_TRUE(a && b);
  const std::string pipeline =
      "from_parquet(\"" + (data / "l.parquet").string() + "\") |> join(from_parquet(\"" +
      (data / "r.parquet").string() +
      "\"), on: k) |> summarise(n: count(*), m: max(s), l: sum(length(s_right)))";
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_TRUE(Contains(local.out, "400000,")) << local.out;
  Outcome shuffled = Dux({"run", "--workers", a->address + "," + b->address,
                          "--broadcast-threshold", "0", "--format", "csv", pipeline});
  EXPECT_EQ(shuffled.exit_code, 0) << shuffled.err;
  EXPECT_EQ(shuffled.out, local.out);
  Outcome listed = Dux({"workers", "--workers", a->address + "," + b->address});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_FALSE(Contains(listed.out, "__dux_exchange")) << listed.out;
}

TEST_F(ClusterTest, JoinsBroadcastOrExchangeAndLeaveNoTablesBehind) {
  fs::path data = dir_ / "join";
  Outcome generated =
      Dux({"generate", "join", "--rows", "30000", "--files", "3", "--out", data.string()});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  auto frame = [&](const char* table) {
    return "from_parquet(\"" + (data / table / "*.parquet").string() + "\")";
  };
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  const std::string workers = a->address + "," + b->address;
  const std::string pipeline = frame("x") + " |> join(" + frame("medium") +
                               ", on: id2) |> group_by(id4) |> summarise(n: count(*), m: "
                               "max(v1 + v2)) |> sort_by(id4)";
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  // `p` explained and run on the workers (CSV, with telemetry), `flags` given to both.
  struct OnWorkers {
    Outcome explained, run;
  };
  auto on_workers = [&](const std::string& p, const std::vector<std::string>& flags = {}) {
    std::vector<std::string> explain = {"explain", "--workers", workers};
    std::vector<std::string> run = {"run", "--workers", workers};
    explain.insert(explain.end(), flags.begin(), flags.end());
    run.insert(run.end(), flags.begin(), flags.end());
    explain.push_back(p);
    run.insert(run.end(), {"--format", "csv", "--telemetry", p});
    return OnWorkers{Dux(explain), Dux(run)};
  };

  // The medium table is small and a bare parquet source: every worker reads it itself, so
  // nothing is broadcast and no table is registered.
  OnWorkers read = on_workers(pipeline);
  ASSERT_EQ(read.explained.exit_code, 0) << read.explained.err;
  EXPECT_TRUE(Contains(read.explained.out,
                       "-- join: join (verb 1): broadcast_join (right side "
                       "estimated at "))
      << read.explained.out;
  EXPECT_TRUE(Contains(read.explained.out,
                       "broadcast threshold 268435456 bytes), read by every worker from its 1 "
                       "file(s)"))
      << read.explained.out;
  EXPECT_TRUE(Contains(read.explained.out, "-- splitter rules applied: scan_stage, broadcast_join"))
      << read.explained.out;
  EXPECT_EQ(read.run.exit_code, 0) << read.run.err;
  EXPECT_EQ(read.run.out, local.out);
  EXPECT_FALSE(Contains(read.run.err, "\"distributed.broadcast.stop\"")) << read.run.err;

  // A side that evaluates an expression is computed once, by the coordinator, and registered
  // on every worker, with the estimate that decided it.
  const std::string filtered = frame("x") + " |> join(" + frame("medium") +
                               " |> filter(v2 > 10), on: id2) |> group_by(id4) |> "
                               "summarise(n: count(*), m: max(v1 + v2)) |> sort_by(id4)";
  Outcome filtered_local = Dux({"run", "--format", "csv", filtered});
  ASSERT_EQ(filtered_local.exit_code, 0) << filtered_local.err;
  OnWorkers broadcast = on_workers(filtered);
  ASSERT_EQ(broadcast.explained.exit_code, 0) << broadcast.explained.err;
  EXPECT_TRUE(Contains(broadcast.explained.out,
                       "broadcast threshold 268435456 bytes), registered as "
                       "__dux_broadcast_"))
      << broadcast.explained.out;
  EXPECT_EQ(broadcast.run.exit_code, 0) << broadcast.run.err;
  EXPECT_EQ(broadcast.run.out, filtered_local.out);
  EXPECT_TRUE(Contains(broadcast.run.err, "\"distributed.broadcast.stop\"")) << broadcast.run.err;

  // Threshold 0: both sides exchanged on the key.
  OnWorkers shuffled = on_workers(pipeline, {"--broadcast-threshold", "0"});
  ASSERT_EQ(shuffled.explained.exit_code, 0) << shuffled.explained.err;
  EXPECT_TRUE(Contains(shuffled.explained.out, "shuffle_join (right side estimated at "))
      << shuffled.explained.out;
  EXPECT_TRUE(Contains(shuffled.explained.out,
                       "-- hash exchange (shuffle_join) on (id2 = id2) into 8 buckets"))
      << shuffled.explained.out;
  EXPECT_TRUE(Contains(shuffled.explained.out,
                       "-- (the join bucket by bucket, its rows put "
                       "together: concat_rows)"))
      << shuffled.explained.out;
  EXPECT_EQ(shuffled.run.exit_code, 0) << shuffled.run.err;
  EXPECT_EQ(shuffled.run.out, local.out);
  EXPECT_TRUE(Contains(shuffled.run.err, "\"rule\":\"shuffle_join\"")) << shuffled.run.err;

  // A query that fails on the workers after the broadcast, or after the exchange.
  const std::string failing = frame("x") + " |> join(" + frame("medium") +
                              " |> filter(v2 > 10), on: id2) |> filter(CAST(id5 AS INTEGER) > 0)";
  for (const char* threshold : {"268435456", "0"}) {
    Outcome failed =
        Dux({"run", "--workers", workers, "--broadcast-threshold", threshold, failing});
    EXPECT_NE(failed.exit_code, 0) << failed.out;
    EXPECT_TRUE(Contains(failed.err, "Conversion Error")) << failed.err;
  }
  // Every broadcast and bucket table is gone from both workers.
  Outcome listed = Dux({"workers", "--workers", workers});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 2) << listed.out;
  EXPECT_FALSE(Contains(listed.out, "__dux_")) << listed.out;
  EXPECT_TRUE(Contains(listed.out, "tables []")) << listed.out;
}

TEST_F(ClusterTest, ExplainShowsPrunedFilesAndRowGroups) {
  // Written by dux itself: a hive tree year=2023|2024 / month=01|02, and one file of many
  // row groups.
  const std::string cal = (dir_ / "cal").string();
  Outcome written =
      Dux({"run",
           "from_query(\"SELECT y AS year, lpad(m::VARCHAR, 2, chr(48)) AS month, i FROM "
           "range(2023, 2025) a(y), range(1, 3) b(m), range(10) c(i)\") |> to_parquet(\"" +
               cal + "\", partition_by: [year, month])"});
  ASSERT_EQ(written.exit_code, 0) << written.err;
  Outcome pruned = Dux({"explain", "--local-workers", "2",
                        "from_parquet(\"" + cal +
                            "/**/*.parquet\", hive_partitioning: true) |> filter(month == 1)"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_TRUE(Contains(pruned.out, "\"month\" VARCHAR, \"year\" BIGINT")) << pruned.out;
  EXPECT_TRUE(Contains(pruned.out, "-- hive pruning: 2 of 4 files pruned by")) << pruned.out;
  EXPECT_TRUE(Contains(pruned.out, "--   pruned " + cal + "/year=2023/month=02/")) << pruned.out;
  EXPECT_TRUE(Contains(pruned.out, "--   pruned " + cal + "/year=2024/month=02/")) << pruned.out;
  EXPECT_TRUE(Contains(pruned.out, "hive_types = {'month': 'VARCHAR', 'year': 'BIGINT'}"))
      << pruned.out;
  Outcome none = Dux({"explain", "--local-workers", "2",
                      "from_parquet(\"" + cal +
                          "/**/*.parquet\", hive_partitioning: true) |> filter(year > 2030)"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_TRUE(Contains(none.out, "-- hive pruning: 4 of 4 files pruned")) << none.out;
  EXPECT_TRUE(Contains(none.out, "-- every file was pruned: " + cal + "/year=2023/month=01/"))
      << none.out;

  const std::string big = (dir_ / "big.parquet").string();
  written = Dux({"run", "from_query(\"SELECT i FROM range(0, 40000) t(i)\") |> to_parquet(\"" +
                            big + "\", row_group_size: 2048)"});
  ASSERT_EQ(written.exit_code, 0) << written.err;
  Outcome split =
      Dux({"explain", "--local-workers", "3", "from_parquet(\"" + big + "\") |> filter(i > 5)"});
  ASSERT_EQ(split.exit_code, 0) << split.err;
  EXPECT_TRUE(Contains(split.out, "-- distributed: 3 partitions on 3 workers")) << split.out;
  int with_groups = 0;
  for (const auto& line : Lines(split.out)) {
    with_groups += Contains(line, "--   " + big + ": row groups ");
  }
  EXPECT_EQ(with_groups, 3) << split.out;
  EXPECT_TRUE(Contains(split.out, "file_row_number >= ")) << split.out;
  // And the run gives the local result.
  Outcome local = Dux({"run", "--format", "csv",
                       "from_parquet(\"" + big + "\") |> summarise(n: count(*), s: sum(i))"});
  Outcome distributed = Dux({"run", "--local-workers", "3", "--format", "csv",
                             "from_parquet(\"" + big + "\") |> summarise(n: count(*), s: sum(i))"});
  EXPECT_EQ(distributed.exit_code, 0) << distributed.err;
  EXPECT_EQ(distributed.out, local.out);
  EXPECT_TRUE(Contains(local.out, "40000,799980000")) << local.out;
}

// ---- command-line mistakes ----------------------------------------------------------------

TEST_F(ClusterTest, BadServerOptionsAreOneLineErrors) {
  ExpectOneLineError(Dux({"worker", "--listen", "nonsense"}), {"\"nonsense\" is not HOST:PORT"});
  ExpectOneLineError(Dux({"worker", "--tls-cert", (dir_ / "c.pem").string()}),
                     {"TLS needs both --tls-cert and --tls-key"});
  ExpectOneLineError(Dux({"registry", "--tls-cert", (dir_ / "missing.pem").string(), "--tls-key",
                          (dir_ / "missing.key").string()}),
                     {"cannot read the TLS certificate", "missing.pem"});
  ExpectOneLineError(Dux({"registry", "--heartbeat-ms", "5"}),
                     {"--heartbeat-ms must be at least 10"});
  // A port already taken.
  Server* w = Worker();
  ASSERT_TRUE(w);
  ExpectOneLineError(Dux({"worker", "--listen", w->address}), {"cannot listen on " + w->address});
}

TEST_F(ClusterTest, BadWorkerListsAreOneLineErrors) {
  const std::string query = "from_query(\"SELECT 1 AS x\")";
  ExpectOneLineError(Dux({"run", "--workers", "127.0.0.1:1", "--local-workers", "2", query}),
                     {"give only one of --local-workers, --workers"});
  ExpectOneLineError(Dux({"run", "--workers", ",", query}), {"no worker address given"});
  ExpectOneLineError(Dux({"run", "--workers", "no-port", query}), {"\"no-port\" is not HOST:PORT"});
  ExpectOneLineError(Dux({"run", "--local-workers", "1", query},
                         {{"DUX_BINARY", (dir_ / "no-such-dux").string()}}),
                     {"local worker 0", "did not start"});
}

// ---- failures -----------------------------------------------------------------------------

TEST_F(ClusterTest, KilledWorkerFailsTheRunNamingIt) {
  Server* w = Worker();
  ASSERT_TRUE(w);
  Command run = Spawn({DUX_BINARY, "run", "--workers", w->address, kSlowPipeline});
  ASSERT_TRUE(run.process);
  ASSERT_TRUE(WaitBusy(w->address));
  EXPECT_FALSE(run.process->Wait(0ms)) << "the run ended before the worker was killed";
  w->process->Signal(SIGKILL);
  ASSERT_EQ(w->process->Wait(5s), -SIGKILL);
  auto killed = Clock::now();
  Outcome o = Finish(std::move(run), 20s);
  double after_kill = SecondsSince(killed);
  ExpectOneLineError(o, {"worker " + w->address + " is unreachable or went away"});
  EXPECT_EQ(o.out, "");
  EXPECT_LT(after_kill, 5.0) << "the run noticed the dead worker too late";
}

TEST_F(ClusterTest, PartitionOfAKilledWorkerIsRetriedOnAnother) {
  // Two files; each worker spends about a second on its file and streams rows meanwhile.
  // (That rows delivered before a failure are discarded is tested in coordinator/gather_test.cc.)
  KeysFile("a.parquet", 0, 10000);
  KeysFile("b.parquet", 10000, 20000);
  const std::string pipeline = "from_parquet(\"" + (dir_ / "*.parquet").string() +
                               "\") |> mutate(s: list_sum(range(0, k % 7 + 12000))) |> sort_by(k)";
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  Command run = Spawn({DUX_BINARY, "run", "--workers", a->address + "," + b->address, "--format",
                       "csv", "--telemetry", pipeline});
  ASSERT_TRUE(WaitBusy(b->address));
  std::this_thread::sleep_for(300ms);
  b->process->Signal(SIGKILL);
  Outcome o = Finish(std::move(run), 60s);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, local.out) << "rows lost or duplicated by the retry";
  EXPECT_TRUE(Contains(o.err, "\"event\":\"partition.retry\"")) << o.err;
  EXPECT_TRUE(Contains(o.err, "\"failed_worker\":\"" + b->address + "\"")) << o.err;
  int done_on_a = 0;  // its own partition and the retried one
  for (const auto& line : Lines(o.err)) {
    done_on_a += Contains(line, "\"distributed.worker.stop\"") &&
                 Contains(line, "\"address\":\"" + a->address + "\"") &&
                 Contains(line, "\"status\":\"ok\"");
  }
  EXPECT_EQ(done_on_a, 2) << o.err;
}

TEST_F(ClusterTest, PartitionFailingTwiceFailsTheRunNamingIt) {
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  std::string file = KeysFile("a.parquet", 0, 10);
  Command run =
      Spawn({DUX_BINARY, "run", "--workers", a->address + "," + b->address,
             "from_parquet(\"" + file + "\") |> mutate(s: list_sum(range(0, k + 300000000)))"});
  ASSERT_TRUE(WaitBusy(a->address));
  a->process->Signal(SIGKILL);
  ASSERT_TRUE(WaitBusy(b->address));
  b->process->Signal(SIGKILL);
  Outcome o = Finish(std::move(run), 20s);
  ExpectOneLineError(o, {"partition 0 failed twice: worker " + a->address,
                         "then worker " + b->address + " is unreachable or went away"});
}

// The files under `dir` whose names hold `part`, hidden ones included.
std::vector<std::string> FilesNamed(const fs::path& dir, const std::string& part) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (Contains(name, part)) found.push_back(it->path().string());
  }
  return found;
}

TEST_F(ClusterTest, WorkerKilledMidWriteIsRetriedWithoutLossOrDuplicates) {
  // Two files; each worker spends about a second writing its partition's part file.
  const std::string rows = SecondLongPartitions();
  const fs::path out = dir_ / "out";
  Outcome local = Dux({"run", "--format", "csv", rows + " |> sort_by(k)"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  Command run = Spawn({DUX_BINARY, "run", "--workers", a->address + "," + b->address, "--telemetry",
                       rows + " |> to_parquet(\"" + out.string() + "\")"});
  // Killed once its partition (1) is being written under its temporary name.
  auto deadline = Clock::now() + 20s;
  while (FilesNamed(out, ".part-00001-").empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_FALSE(FilesNamed(out, ".part-00001-").empty()) << "partition 1 was never being written";
  b->process->Signal(SIGKILL);
  Outcome o = Finish(std::move(run), 60s);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_TRUE(Contains(o.out, "to_parquet: wrote 20000 rows to 2 files")) << o.out;
  EXPECT_TRUE(Contains(o.err, "\"event\":\"partition.retry\"")) << o.err;
  EXPECT_TRUE(Contains(o.err, "\"failed_worker\":\"" + b->address + "\"")) << o.err;
  EXPECT_TRUE(Contains(o.err, "\"event\":\"distributed.write.stop\"")) << o.err;
  // One file per partition, the killed attempt's temporary gone, and the rows read back.
  EXPECT_EQ(FilesNamed(out, "part-00000-").size(), 1u);
  EXPECT_EQ(FilesNamed(out, "part-00001-").size(), 1u);
  EXPECT_EQ(FilesNamed(out, "dux-tmp"), std::vector<std::string>{});
  Outcome back =
      Dux({"run", "--format", "csv", "from_parquet(\"" + out.string() + "\") |> sort_by(k)"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(Lines(back.out).size(), 20001u);
  EXPECT_TRUE(back.out == local.out) << "rows lost or duplicated by the retry";
}

TEST_F(ClusterTest, WriteFailingOnEveryWorkerLeavesNothing) {
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  std::string file = KeysFile("a.parquet", 0, 10);
  const fs::path out = dir_ / "out";
  Command run = Spawn({DUX_BINARY, "run", "--workers", a->address + "," + b->address,
                       "from_parquet(\"" + file +
                           "\") |> mutate(s: list_sum(range(0, k + 300000000))) |> to_csv(\"" +
                           out.string() + "/\")"});
  // Each worker is killed once its attempt's temporary file exists (the retry removes the
  // first attempt's before writing its own).
  std::vector<std::string> seen;
  for (Server* w : {a, b}) {
    auto deadline = Clock::now() + 20s;
    std::vector<std::string> now;
    do {
      std::this_thread::sleep_for(10ms);
      now = FilesNamed(out, "dux-tmp");
      std::erase_if(now, [&](const std::string& f) {
        return std::find(seen.begin(), seen.end(), f) != seen.end();
      });
    } while (now.empty() && Clock::now() < deadline);
    ASSERT_EQ(now.size(), 1u) << "no attempt was writing";
    seen.push_back(now[0]);
    w->process->Signal(SIGKILL);
  }
  EXPECT_NE(seen[0], seen[1]);
  Outcome o = Finish(std::move(run), 20s);
  ExpectOneLineError(o, {"partition 0 failed twice: worker " + a->address,
                         "then worker " + b->address + " is unreachable or went away"});
  EXPECT_FALSE(fs::exists(out)) << "the failed write left its directory";
}

// ---- directory writes to S3 ----------------------------------------------------------------

// The objects s3rver holds whose keys hold `part` (it keeps each as KEY._S3rver_object).
std::vector<std::string> ObjectsNamed(const dux::test::S3Server& server, const std::string& part) {
  std::vector<std::string> found;
  for (const std::string& file : FilesNamed(server.data_directory(), part)) {
    if (file.ends_with("._S3rver_object")) found.push_back(file);
  }
  return found;
}

TEST_F(ClusterTest, WorkerKilledMidS3WriteIsRetriedWithoutLossOrDuplicates) {
  dux::test::S3Server* server = StartS3Server();
  ASSERT_TRUE(server);
  const std::string rows = SecondLongPartitions();
  Outcome local = Dux({"run", "--format", "csv", rows + " |> sort_by(k)"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  Command run = Spawn({DUX_BINARY, "run", "--workers", a->address + "," + b->address, "--telemetry",
                       rows + " |> to_parquet(\"s3://lake/out\")"});
  // Killed while it writes its partition (an upload in progress is invisible in S3).
  ASSERT_TRUE(WaitBusy(b->address));
  std::this_thread::sleep_for(300ms);
  b->process->Signal(SIGKILL);
  Outcome o = Finish(std::move(run), 60s);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_TRUE(Contains(o.out, "to_parquet: wrote 20000 rows to 2 files")) << o.out;
  EXPECT_TRUE(Contains(o.err, "\"failed_worker\":\"" + b->address + "\"")) << o.err;
  EXPECT_EQ(ObjectsNamed(*server, "part-00000-").size(), 1u);
  EXPECT_EQ(ObjectsNamed(*server, "part-00001-").size(), 1u);
  EXPECT_EQ(ObjectsNamed(*server, "").size(), 2u) << "objects beside the two parts";
  Outcome back =
      Dux({"run", "--format", "csv", "from_parquet(\"s3://lake/out/*.parquet\") |> sort_by(k)"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(Lines(back.out).size(), 20001u);
  EXPECT_TRUE(back.out == local.out) << "rows lost or duplicated by the retry";
}

TEST_F(ClusterTest, S3WriteFailingAfterAPartCompletedLeavesNoObject) {
  dux::test::S3Server* server = StartS3Server();
  ASSERT_TRUE(server);
  // Partition 0 (a.parquet) is written at once; partition 1 (b.parquet) takes minutes.
  KeysFile("a.parquet", 0, 10);
  KeysFile("b.parquet", 100, 110);
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  Command run =
      Spawn({DUX_BINARY, "run", "--workers", a->address + "," + b->address,
             "from_parquet(\"" + (dir_ / "*.parquet").string() +
                 "\") |> mutate(s: list_sum(range(0, CASE WHEN k >= 100 THEN k + 300000000 ELSE 1 "
                 "END))) |> to_csv(\"s3://lake/out/\")"});
  auto deadline = Clock::now() + 20s;
  while (ObjectsNamed(*server, "part-").empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(ObjectsNamed(*server, "part-").size(), 1u) << "the fast partition was never written";
  // The slow partition's worker is killed, then the one its retry went to.
  auto busy = [&](Server* w) {
    return Contains(Dux({"workers", "--workers", w->address}).out, "running [q");
  };
  Server* first = busy(a) ? a : b;
  Server* second = first == a ? b : a;
  first->process->Signal(SIGKILL);
  ASSERT_TRUE(WaitBusy(second->address));
  second->process->Signal(SIGKILL);
  Outcome o = Finish(std::move(run), 30s);
  ExpectOneLineError(o, {"partition 1 failed twice: worker " + first->address,
                         "then worker " + second->address + " is unreachable or went away"});
  EXPECT_EQ(ObjectsNamed(*server, ""), std::vector<std::string>{})
      << "the failed write left objects";
}

TEST_F(ClusterTest, S3SettingsOfARunReachItsWorkers) {
  dux::test::S3Server* server = StartS3Server();
  ASSERT_TRUE(server);
  ASSERT_EQ(Dux({"run",
                 "from_query(\"SELECT range AS k FROM range(1000)\") |> "
                 "to_parquet(\"s3://lake/in/a.parquet\")"})
                .exit_code,
            0);
  ASSERT_EQ(Dux({"run",
                 "from_query(\"SELECT range AS k FROM range(1000, 3000)\") |> "
                 "to_parquet(\"s3://lake/in/b.parquet\")"})
                .exit_code,
            0);
  // Every process's own environment now points nowhere: only the run's settings reach S3.
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  const std::string workers = a->address + "," + b->address;
  const std::string count =
      "from_parquet(\"s3://lake/in/*.parquet\") |> summarise(n: count(), s: sum(k))";
  Outcome statement = Dux({"run", "--workers", workers, "--format", "csv", "--telemetry",
                           "s3(endpoint: \"" + server->endpoint() + "\")\n" + count});
  ASSERT_EQ(statement.exit_code, 0) << statement.err;
  EXPECT_EQ(statement.out, "n,s\n3000,4498500\n");
  ExpectRanOn(statement.err, {a->address, b->address});
  Outcome flag = Dux(
      {"run", "--workers", workers, "--format", "csv", "--s3-endpoint", server->endpoint(), count});
  ASSERT_EQ(flag.exit_code, 0) << flag.err;
  EXPECT_EQ(flag.out, "n,s\n3000,4498500\n");
  // Without them, the environment's endpoint is tried (and named).
  Outcome none = Dux({"run", "--workers", workers, count});
  ExpectOneLineError(none, {"s3:", "127.0.0.1 port 1"});
}

TEST_F(ClusterTest, S3SecretsNeverReachExplainTelemetryErrorsOrLogs) {
  dux::test::S3Server* server = StartS3Server();
  ASSERT_TRUE(server);
  // s3rver checks the key id, not the signature: any secret works, and shows if it leaks.
  const std::string secret = "sEcReT-9f3c1b7e-never-printed";
  const std::string token = "ToKeN-5d2a8c4f-never-printed";
  setenv("AWS_SECRET_ACCESS_KEY", secret.c_str(), 1);
  setenv("AWS_SESSION_TOKEN", token.c_str(), 1);
  Server* w = Worker();
  ASSERT_TRUE(w);
  std::vector<Outcome> outcomes;
  const std::string write =
      "from_query(\"SELECT range AS k FROM range(100)\") |> to_parquet(\"s3://lake/t/\")";
  const std::string read = "from_parquet(\"s3://lake/t/*.parquet\") |> summarise(n: count())";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"run", "--telemetry", write},
           {"run", "--workers", w->address, "--telemetry", read},
           {"explain", "--workers", w->address, read},
           {"explain", write},
           {"run", "--workers", w->address, "from_parquet(\"s3://lake/missing.parquet\")"},
           {"run", "--workers", w->address, "from_parquet(\"s3://nobucket/x.parquet\")"},
       }) {
    outcomes.push_back(Dux(args));
  }
  EXPECT_EQ(outcomes[0].exit_code, 0) << outcomes[0].err;
  EXPECT_EQ(outcomes[1].exit_code, 0) << outcomes[1].err;
  EXPECT_TRUE(Contains(outcomes[2].out, "credentials: environment")) << outcomes[2].out;
  // A refused key (403) names where the credentials came from.
  Outcome refused = Dux({"run", read}, {{"AWS_ACCESS_KEY_ID", "WRONGKEY"}});
  ExpectOneLineError(refused, {"403", "credentials: environment"});
  outcomes.push_back(refused);
  EXPECT_NE(outcomes[4].exit_code, 0);
  EXPECT_NE(outcomes[5].exit_code, 0);
  std::string everything = ReadFile(w->stderr_file);
  for (const Outcome& o : outcomes) everything += o.out + o.err;
  EXPECT_FALSE(Contains(everything, secret)) << everything;
  EXPECT_FALSE(Contains(everything, token)) << everything;
}

TEST_F(ClusterTest, AllowDirConfinesWhatAWorkerWrites) {
  fs::path data = Generate("data", 20000, 3);
  Server* w = Worker({"--allow-dir", data.string()});
  ASSERT_TRUE(w);
  const std::string rows = RowWise(data);
  Outcome inside = Dux({"run", "--workers", w->address,
                        rows + " |> to_parquet(\"" + (data / "out").string() + "\")"});
  ASSERT_EQ(inside.exit_code, 0) << inside.err;
  ExpectSameRows(
      Dux({"run", "--format", "csv", "from_parquet(\"" + (data / "out").string() + "\")"}),
      Dux({"run", "--format", "csv", rows}), 5000);

  const fs::path outside = dir_ / "outside";
  for (const fs::path& path : {outside, data / ".." / "outside"}) {
    SCOPED_TRACE(path);
    Outcome o = Dux({"run", "--workers", w->address,
                     rows + " |> to_parquet(\"" + path.string() + "\", partition_by: v1)"});
    ExpectOneLineError(o, {"worker " + w->address + ": to_parquet: \"" + path.string() +
                           "\" is outside the directories this worker may access"});
    EXPECT_FALSE(fs::exists(outside));
  }
}

TEST_F(ClusterTest, CtrlCStopsTheRunAndTheWorkersQuery) {
  Server* w = Worker();
  ASSERT_TRUE(w);
  Command run = Spawn({DUX_BINARY, "run", "--workers", w->address, kSlowPipeline});
  ASSERT_TRUE(run.process);
  ASSERT_TRUE(WaitBusy(w->address));
  run.process->Signal(SIGINT);
  auto interrupted = Clock::now();
  Outcome o = Finish(std::move(run), 20s);
  ExpectOneLineError(o, {"interrupted"});
  EXPECT_LT(SecondsSince(interrupted), 3.0) << "Ctrl-C took effect too late";
  Outcome idle = PollWorkers(
      {"--workers", w->address}, [](const Outcome& r) { return Contains(r.out, "running []"); },
      5s);
  EXPECT_TRUE(Contains(idle.out, "running []")) << idle.out;
}

TEST_F(ClusterTest, StreamedResultEndsWhenItsReaderStopsAndTheWorkerStopsToo) {
  // The worker's rows reach `head` as they come: the source never ends by itself, so the run
  // can only finish when the gather streams and the closed pipe ends it, quietly (exit 0,
  // nothing on stderr) and with the worker's fragment cancelled.
  Server* w = Worker();
  ASSERT_TRUE(w);
  const std::string endless = "from_query(\"SELECT range AS i FROM range(0, 300000000000)\")";
  Command run = Spawn({"/bin/bash", "-c",
                       "set -o pipefail; \"$DUX\" run --workers " + w->address + " --format csv '" +
                           endless + "' | head -2"},
                      {{"DUX", DUX_BINARY}});
  Outcome o = Finish(std::move(run), 60s);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "i\n0\n");
  EXPECT_EQ(o.err, "");
  Outcome idle = PollWorkers(
      {"--workers", w->address}, [](const Outcome& r) { return Contains(r.out, "running []"); },
      5s);
  EXPECT_TRUE(Contains(idle.out, "running []")) << idle.out;
}

TEST_F(ClusterTest, StreamedOutputToADeviceOrFifoGivesTheLocalRows) {
  fs::path data = Generate("data", 50000, 3);
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  const std::string pipeline = RowWise(data);
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  const fs::path fifo = dir_ / "rows.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  auto reader = std::async(std::launch::async, [&] { return ReadFile(fifo); });
  Outcome to_fifo = Dux({"run", "--workers", a->address + "," + b->address, "--format", "csv",
                         "--output", fifo.string(), pipeline});
  EXPECT_EQ(to_fifo.exit_code, 0) << to_fifo.err;
  Outcome streamed = to_fifo;
  streamed.out = reader.get();
  ExpectSameRows(streamed, local, 10000);
  Outcome to_null = Dux({"run", "--workers", a->address + "," + b->address, "--format", "csv",
                         "--output", "/dev/null", pipeline});
  EXPECT_EQ(to_null.exit_code, 0) << to_null.err;
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "dux replaced /dev/null";
}

TEST_F(ClusterTest, TimeoutNamesTheWorkerAndStopsItsQuery) {
  Server* w = Worker();
  ASSERT_TRUE(w);
  Outcome o = Dux({"run", "--workers", w->address, "--timeout", "1", kSlowPipeline}, {}, 20s);
  ExpectOneLineError(o, {"worker " + w->address + " did not answer within 1 s"});
  EXPECT_GE(o.seconds, 1.0) << "failed before the timeout";
  EXPECT_LT(o.seconds, 5.0) << "failed long after the timeout";
  // The coordinator cancels the call, and the worker stops the query.
  Outcome idle = PollWorkers(
      {"--workers", w->address}, [](const Outcome& r) { return Contains(r.out, "running []"); },
      5s);
  EXPECT_TRUE(Contains(idle.out, "running []")) << idle.out;
}

TEST_F(ClusterTest, UnreachableWorkerIsNamed) {
  Server* w = Worker();
  ASSERT_TRUE(w);
  // A port nothing listens on: the worker's own, once it has gone.
  Server* gone = Worker();
  ASSERT_TRUE(gone);
  gone->process->Signal(SIGKILL);
  ASSERT_EQ(gone->process->Wait(5s), -SIGKILL);

  Outcome o = Dux({"run", "--workers", gone->address, "from_query(\"SELECT 1 AS x\")"}, {}, 30s);
  ExpectOneLineError(o, {"worker " + gone->address + " is unreachable or went away"});

  Outcome listed = Dux({"workers", "--workers", w->address + "," + gone->address});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  std::vector<std::string> lines = Lines(listed.out);
  ASSERT_EQ(lines.size(), 2u) << listed.out;
  EXPECT_EQ(lines[0].rfind(w->address + "  duckdb v", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind(gone->address + "  unreachable: ", 0), 0u) << lines[1];

  Outcome none = Dux({"workers", "--workers", gone->address});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_TRUE(Contains(none.err, "no worker could be reached")) << none.err;
}

// ---- security -----------------------------------------------------------------------------

TEST_F(ClusterTest, TokenIsRequiredAndChecked) {
  Server* w = Worker({"--token", "s3cret"});
  ASSERT_TRUE(w);
  const std::string query = "from_query(\"SELECT 42 AS answer\")";
  ExpectOneLineError(Dux({"run", "--workers", w->address, query}),
                     {"worker " + w->address + ": a bearer token is required"});
  ExpectOneLineError(Dux({"run", "--workers", w->address, "--token", "wrong", query}),
                     {"worker " + w->address + ": wrong bearer token"});
  ExpectOneLineError(Dux({"run", "--workers", w->address, query}, {{"DUX_TOKEN", "s3cre"}}),
                     {"worker " + w->address + ": wrong bearer token"});
  for (const auto& [args, environment] :
       std::vector<std::pair<std::vector<std::string>, Environment>>{
           {{"--token", "s3cret"}, {}}, {{}, {{"DUX_TOKEN", "s3cret"}}}}) {
    std::vector<std::string> all = {"run", "--workers", w->address, "--format", "csv"};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back(query);
    Outcome o = Dux(all, environment);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.out, "answer\n42\n");
  }
}

TEST_F(ClusterTest, ATokenFileWinsOverTheEnvironmentsToken) {
  // A pool starts its workers with --token-file, and they inherit its environment: a
  // $DUX_TOKEN there must not stop them ("give --token or --token-file, not both").
  const fs::path file = dir_ / "token";
  std::ofstream(file) << "f1le\n";
  Server* w =
      Serve({"worker", "--listen", "127.0.0.1:0", "--threads", "1", "--token-file", file.string()},
            {{"DUX_TOKEN", "env"}});
  ASSERT_TRUE(w);
  Outcome ok = Dux({"workers", "--workers", w->address, "--token", "f1le"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  ExpectOneLineError(
      Dux({"run", "--workers", w->address, "--token", "env", "from_query(\"SELECT 1 AS x\")"}),
      {"worker " + w->address + ": wrong bearer token"});
  ExpectOneLineError(
      Dux({"worker", "--listen", "127.0.0.1:0", "--token", "x", "--token-file", file.string()}),
      {"give --token or --token-file, not both"});
}

TEST_F(ClusterTest, WorkerOnAllInterfacesNeedsAToken) {
  Outcome refused = Dux({"worker", "--listen", "0.0.0.0:0"}, {}, 20s);
  ExpectOneLineError(refused, {"refusing to listen on 0.0.0.0:0 without a token"});
  EXPECT_EQ(refused.out, "");

  // A token from the flag or from $DUX_TOKEN: it starts, and callers must present it.
  for (const auto& [args, environment] :
       std::vector<std::pair<std::vector<std::string>, Environment>>{
           {{"--token", "t0ken"}, {}}, {{}, {{"DUX_TOKEN", "t0ken"}}}}) {
    std::vector<std::string> all = {"worker", "--listen", "0.0.0.0:0", "--threads", "1"};
    all.insert(all.end(), args.begin(), args.end());
    Server* w = Serve(all, environment);
    ASSERT_TRUE(w);
    ASSERT_EQ(w->address.rfind("0.0.0.0:", 0), 0u) << w->address;
    const std::string loopback = "127.0.0.1:" + w->address.substr(w->address.find(':') + 1);
    Outcome ok = Dux({"workers", "--workers", loopback, "--token", "t0ken"});
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_EQ(ok.out.rfind(loopback + "  duckdb v", 0), 0u) << ok.out;
    Outcome denied = Dux({"workers", "--workers", loopback});
    EXPECT_EQ(denied.exit_code, 1);
    EXPECT_TRUE(Contains(denied.out, "a bearer token is required")) << denied.out;
  }
}

TEST_F(ClusterTest, TlsWorkerTrustedThroughTheCa) {
  const std::string ca_key = (dir_ / "ca.key").string(), ca = (dir_ / "ca.pem").string();
  const std::string key = (dir_ / "server.key").string(), csr = (dir_ / "server.csr").string();
  const std::string cert = (dir_ / "server.pem").string(), ext = (dir_ / "server.ext").string();
  const std::string other_key = (dir_ / "other.key").string();
  const std::string other_ca = (dir_ / "other.pem").string();
  WriteFile(ext,
            "subjectAltName = IP:127.0.0.1\n"
            "basicConstraints = CA:FALSE\n"
            "keyUsage = digitalSignature, keyEncipherment\n"
            "extendedKeyUsage = serverAuth\n");
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                       "-nodes"};
  auto req = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"openssl", "req"};
    argv.insert(argv.end(), ec.begin(), ec.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  for (const auto& argv : std::vector<std::vector<std::string>>{
           req({"-x509", "-days", "1", "-subj", "/CN=dux test CA", "-keyout", ca_key, "-out", ca}),
           req({"-x509", "-days", "1", "-subj", "/CN=dux other CA", "-keyout", other_key, "-out",
                other_ca}),
           req({"-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr}),
           {"openssl", "x509", "-req", "-days", "1", "-in", csr, "-CA", ca, "-CAkey", ca_key,
            "-CAcreateserial", "-extfile", ext, "-out", cert}}) {
    Outcome o = Program(argv);
    ASSERT_EQ(o.exit_code, 0) << argv[1] << ": " << o.err;
  }

  Server* w = Worker({"--tls-cert", cert, "--tls-key", key});
  ASSERT_TRUE(w);
  const std::string query = "from_query(\"SELECT 'over tls' AS how\")";
  Outcome o = Dux({"run", "--workers", w->address, "--tls-ca", ca, "--format", "csv", query});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "how\nover tls\n");

  // In plain text, or trusting a CA that did not sign the worker's certificate: refused.
  ExpectOneLineError(Dux({"run", "--workers", w->address, query}, {}, 30s),
                     {"worker " + w->address + " is unreachable or went away"});
  ExpectOneLineError(Dux({"run", "--workers", w->address, "--tls-ca", other_ca, query}, {}, 30s),
                     {"worker " + w->address + " is unreachable or went away"});
}

TEST_F(ClusterTest, AllowDirConfinesWhatAWorkerReads) {
  fs::path data = Generate("data", 20000, 3);
  fs::path outside = Generate("outside", 100, 1);
  Server* w = Worker({"--allow-dir", data.string()});
  ASSERT_TRUE(w);

  const std::string inside = RowWise(data);
  ExpectSameRows(Dux({"run", "--workers", w->address, "--format", "csv", inside}),
                 Dux({"run", "--format", "csv", inside}), 5000);

  const fs::path outside_file = fs::directory_iterator(outside)->path();
  for (const fs::path& path : {outside_file, data / ".." / "outside" / outside_file.filename()}) {
    SCOPED_TRACE(path);
    Outcome o = Dux({"run", "--workers", w->address, "from_parquet(\"" + path.string() + "\")"});
    ExpectOneLineError(o, {"worker " + w->address + ": from_parquet: Cannot access file \"" +
                           path.string() + "\""});
    EXPECT_EQ(o.out, "");
  }
  Outcome passwd = Dux({"run", "--workers", w->address, "from_csv(\"/etc/passwd\")"});
  ExpectOneLineError(passwd,
                     {"worker " + w->address + ": from_csv: Cannot access file \"/etc/passwd\""});
  EXPECT_EQ(passwd.out, "");
}

// ---- membership and shutdown --------------------------------------------------------------

TEST_F(ClusterTest, RegistryTracksWorkersThatJoinAndLeave) {
  fs::path data = Generate("data", 50000, 4);
  Server* registry = Serve({"registry", "--listen", "127.0.0.1:0", "--heartbeat-ms", "200"});
  ASSERT_TRUE(registry);
  Server* a = Worker({"--join", registry->address});
  Server* b = Worker({"--join", registry->address});
  ASSERT_TRUE(a && b);
  const std::vector<std::string> list = {"--registry", registry->address};

  Outcome both = PollWorkers(
      list, [](const Outcome& r) { return r.exit_code == 0 && Lines(r.out).size() == 2; }, 10s);
  std::vector<std::string> lines = Lines(both.out);
  ASSERT_EQ(lines.size(), 2u) << both.out << both.err;
  std::sort(lines.begin(), lines.end());
  std::vector<std::string> expected = {a->address, b->address};
  std::sort(expected.begin(), expected.end());
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(lines[i].rfind(expected[i] + "  duckdb v", 0), 0u) << lines[i];
  }

  const std::string pipeline = RowWise(data);
  Outcome distributed =
      Dux({"run", "--registry", registry->address, "--format", "csv", "--telemetry", pipeline});
  ExpectSameRows(distributed, Dux({"run", "--format", "csv", pipeline}), 10000);
  ExpectRanOn(distributed.err, {a->address, b->address});

  // Killed: dropped after three missed heartbeats (600 ms here).
  a->process->Signal(SIGKILL);
  ASSERT_EQ(a->process->Wait(5s), -SIGKILL);
  auto killed = Clock::now();
  Outcome one = PollWorkers(
      list, [](const Outcome& r) { return r.exit_code == 0 && Lines(r.out).size() == 1; }, 10s);
  // Each poll starts a `dux` process: a sanitizer build starts several times slower.
  EXPECT_LT(SecondsSince(killed), 2.5 * TestSlowdown())
      << "the registry kept a dead worker too long";
  ASSERT_EQ(Lines(one.out).size(), 1u) << one.out;
  EXPECT_EQ(one.out.rfind(b->address + "  duckdb v", 0), 0u) << one.out;

  // Stopped cleanly: gone from the registry by the time the process has exited.
  b->process->Signal(SIGTERM);
  EXPECT_EQ(b->process->Wait(5s), 0) << ReadFile(b->stderr_file);
  Outcome none = Dux({"workers", "--registry", registry->address});
  ExpectOneLineError(none, {"registry " + registry->address + " knows no live worker"});

  registry->process->Signal(SIGTERM);
  EXPECT_EQ(registry->process->Wait(5s), 0) << ReadFile(registry->stderr_file);
}

TEST_F(ClusterTest, SigtermStopsAnIdleWorkerAtOnce) {
  Server* w = Worker();
  ASSERT_TRUE(w);
  // Idle after having served: the coordinator's connection has come and gone.
  Outcome o =
      Dux({"run", "--workers", w->address, "--format", "csv", "from_query(\"SELECT 1 AS x\")"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "x\n1\n");
  auto start = Clock::now();
  w->process->Signal(SIGTERM);
  EXPECT_EQ(w->process->Wait(5s), 0) << ReadFile(w->stderr_file);
  EXPECT_LT(SecondsSince(start), 2.0);
  EXPECT_EQ(ReadFile(w->stderr_file), "");
}

// ---- several hosts ------------------------------------------------------------------------

TEST_F(ClusterTest, WorkersInTwoNetworkNamespaces) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root (euid " << geteuid() << ")";
  dux::test::Namespaces namespaces(dir_);
  std::string why;
  if (!namespaces.Create(2, &why)) GTEST_SKIP() << "cannot create network namespaces: " << why;

  fs::path data = Generate("data", 200000, 6);
  const Environment token = {{"DUX_TOKEN", "n3tns"}};
  std::vector<std::string> addresses;
  for (int i = 0; i < 2; ++i) {
    Server* w = Serve({"worker", "--listen", namespaces.address(i) + ":0", "--threads", "1"}, token,
                      {"ip", "netns", "exec", namespaces.name(i)});
    ASSERT_TRUE(w);
    ASSERT_EQ(w->address.rfind(namespaces.address(i) + ":", 0), 0u) << w->address;
    addresses.push_back(w->address);
  }
  const std::string pipeline = RowWise(data);
  Outcome distributed = Dux({"run", "--workers", addresses[0] + "," + addresses[1], "--token",
                             "n3tns", "--format", "csv", "--telemetry", pipeline});
  ExpectSameRows(distributed, Dux({"run", "--format", "csv", pipeline}), 50000);
  ExpectRanOn(distributed.err, addresses);
}

// Fault kinds of the chaos campaign (docs/reliability.md), one deterministic case each.

TEST_F(ClusterTest, BucketOwnerKilledMidExchangeIsNamedAndTheSurvivorKeepsNothing) {
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  ExpectLostBucketOwnerNamed(a, b, SIGKILL, 60);
}

TEST_F(ClusterTest, StoppedBucketOwnerIsNamedWithoutATimeout) {
  Server* a = Worker();
  Server* b = Worker();
  ASSERT_TRUE(a && b);
  // Stopped, not killed: its kernel keeps the connections open and nobody closes them.
  // Without --timeout only the keepalive pings (unanswered) can tell; they fail the calls
  // within about 15 s.
  ExpectLostBucketOwnerNamed(a, b, SIGSTOP, 50);
}

TEST_F(ClusterTest, WorkerStoppedWhileItsResultIsAwaitedIsNamedWithoutATimeout) {
  // The coordinator waits on the worker's result channel (a TCP connection beside the gRPC
  // call), whose keepalive a stopped process's kernel still answers: gRPC's keepalive on the
  // call beside it must fail the read, within about 15 s, as over gRPC alone.
  Server* w = Worker();
  ASSERT_TRUE(w);
  Command run = Spawn({DUX_BINARY, "run", "--workers", w->address, kSlowPipeline});
  ASSERT_TRUE(WaitBusy(w->address));
  w->process->Signal(SIGSTOP);
  Outcome o = Finish(std::move(run), 60s);
  w->process->Signal(SIGCONT);
  ExpectOneLineError(o, {"worker " + w->address + " is unreachable or went away"});
  EXPECT_LT(o.seconds, 40.0);
}

TEST_F(ClusterTest, WorkerStoppedBeforeItsFirstQueryIsNamedSoonAfterTheTimeout) {
  Server* w = Worker();
  ASSERT_TRUE(w);
  // Stopped before the coordinator connects: its kernel accepts the TCP connection, nobody
  // answers the HTTP/2 handshake. gRPC alone would wait for its connect timeout (20 s) before
  // the query could even start; the connection must be ready within --timeout.
  w->process->Signal(SIGSTOP);
  Outcome o = Dux({"run", "--workers", w->address, "--timeout", "2", kSlowPipeline}, {}, 60s);
  w->process->Signal(SIGCONT);
  ExpectOneLineError(o, {"worker " + w->address + " is unreachable: not connected within 2 s"});
  EXPECT_LT(o.seconds, 15.0) << "named long after --timeout";
}

TEST_F(ClusterTest, RegistryRestartedMidQueryChangesNothing) {
  Server* registry = Serve({"registry", "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(registry);
  const std::string address = registry->address;
  Server* a = Worker({"--join", address});
  Server* b = Worker({"--join", address});
  ASSERT_TRUE(a && b);
  PollWorkers(
      {"--registry", address},
      [&](const Outcome& r) { return Contains(r.out, a->address) && Contains(r.out, b->address); },
      20s);
  const std::string pipeline = SecondLongPartitions();
  Command run = Spawn({DUX_BINARY, "run", "--registry", address, "--format", "csv",
                       pipeline + " |> "
                                  "summarise(n: count(), t: sum(s))"});
  ASSERT_TRUE(WaitBusy(a->address) || WaitBusy(b->address));
  registry->process->Signal(SIGKILL);
  ASSERT_TRUE(registry->process->Wait(10s));
  Server* again = Serve({"registry", "--listen", address});
  ASSERT_TRUE(again);
  Outcome o = Finish(std::move(run), 60s);
  Outcome local =
      Dux({"run", "--format", "csv", pipeline + " |> summarise(n: count(), t: sum(s))"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, local.out);
  // The workers join the new registry by themselves.
  PollWorkers(
      {"--registry", address},
      [&](const Outcome& r) { return Contains(r.out, a->address) && Contains(r.out, b->address); },
      30s);
}

TEST_F(ClusterTest, NetworkPartitionedWorkerIsRetriedAroundOrNamedAndTheHealedLinkServesAgain) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root (euid " << geteuid() << ")";
  dux::test::Namespaces namespaces(dir_);
  std::string why;
  if (!namespaces.Create(2, &why)) GTEST_SKIP() << "cannot create network namespaces: " << why;
  fs::path data = Generate("data", 100000, 4);
  const Environment token = {{"DUX_TOKEN", "p4rt"}};
  std::vector<std::string> addresses;
  for (int i = 0; i < 2; ++i) {
    Server* w = Serve({"worker", "--listen", namespaces.address(i) + ":0", "--threads", "1"}, token,
                      {"ip", "netns", "exec", namespaces.name(i)});
    ASSERT_TRUE(w);
    addresses.push_back(w->address);
  }
  const std::string workers = addresses[0] + "," + addresses[1];
  const std::string pipeline = RowWise(data);
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  ASSERT_EQ(Program({"ip", "link", "set", namespaces.host_link(1), "down"}).exit_code, 0);
  // With a second worker, the cut worker's share is retried there: the local rows.
  Outcome around = Dux({"run", "--workers", workers, "--token", "p4rt", "--timeout", "3",
                        "--format", "csv", pipeline});
  ExpectSameRows(around, local, 30000);
  EXPECT_LT(around.seconds, 25.0);
  // On the cut worker alone: one line naming it, soon after --timeout.
  Outcome cut = Dux({"run", "--workers", addresses[1], "--token", "p4rt", "--timeout", "3",
                     "--format", "csv", pipeline});
  ExpectOneLineError(cut, {"worker " + addresses[1]});
  EXPECT_LT(cut.seconds, 25.0) << "the cut worker was named long after --timeout";
  ASSERT_EQ(Program({"ip", "link", "set", namespaces.host_link(1), "up"}).exit_code, 0);
  Outcome healed = {};
  for (int attempt = 0; attempt < 20; ++attempt) {  // the link and its route come back
    healed = Dux({"run", "--workers", workers, "--token", "p4rt", "--format", "csv", pipeline});
    if (healed.exit_code == 0) break;
    std::this_thread::sleep_for(250ms);
  }
  ExpectSameRows(healed, local, 30000);
}

TEST_F(ClusterTest, BandwidthCappedWorkerGivesTheLocalRows) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root (euid " << geteuid() << ")";
  dux::test::Namespaces namespaces(dir_);
  std::string why;
  if (!namespaces.Create(1, &why)) GTEST_SKIP() << "cannot create network namespaces: " << why;
  fs::path data = Generate("data", 100000, 4);
  const Environment token = {{"DUX_TOKEN", "tbf"}};
  Server* w = Serve({"worker", "--listen", namespaces.address(0) + ":0", "--threads", "1"}, token,
                    {"ip", "netns", "exec", namespaces.name(0)});
  ASSERT_TRUE(w);
  // 8 Mbit/s from the worker (the kernel here has tbf, no netem): the result's few MB take
  // seconds instead of milliseconds.
  Outcome capped = Program({"ip", "netns", "exec", namespaces.name(0), "tc", "qdisc", "add", "dev",
                            namespaces.inner_link(0), "root", "tbf", "rate", "8mbit", "burst",
                            "32kbit", "latency", "400ms"});
  if (capped.exit_code != 0) GTEST_SKIP() << "tc tbf is not available: " << capped.err;
  const std::string pipeline = RowWise(data);
  Outcome o = Dux({"run", "--workers", w->address, "--token", "tbf", "--format", "csv",
                   "--telemetry", pipeline},
                  {}, 120s);
  ExpectSameRows(o, Dux({"run", "--format", "csv", pipeline}), 30000);
  double bytes = 0;
  for (const auto& line : Lines(o.err)) {
    size_t at = line.find("\"ipc_bytes\":");
    if (Contains(line, "\"distributed.worker.stop\"") && at != std::string::npos) {
      bytes += std::stod(line.substr(at + std::string("\"ipc_bytes\":").size()));
    }
  }
  EXPECT_GT(bytes, 1e6);
  EXPECT_GT(o.seconds, bytes * 8 / 8e6 * 0.8) << "the cap did not hold: " << bytes << " bytes";
}

}  // namespace
