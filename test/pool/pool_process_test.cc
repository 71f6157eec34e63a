// `dux pool` with real workers: each backend starts real `dux worker` processes (local
// children, Slurm jobs of a real single-node cluster, a command template that puts them in
// network namespaces), `dux run --pool` runs on them with the local result, idle workers go,
// lost ones are replaced, and nothing is left running when the pool is killed.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "free_port.h"
#include "http_get.h"
#include "network_namespaces.h"
#include "slurm_cluster.h"
#include "subprocess.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dux::test::ChildOptions;
using dux::test::ChildProcess;
using dux::test::ProcessOutcome;
using dux::test::ReadFile;
using dux::test::WriteFile;
using Environment = std::vector<std::pair<std::string, std::string>>;

// Fails before any worker is asked for: the pipeline is checked first.
const char* const kPipeline = "from_query(\"SELECT 1 AS x\")";

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// True while `pid` runs (a zombie does not count).
bool Running(int pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

// One row of `dux pool status`.
struct PoolRow {
  std::string name, job, address, state;
};

class PoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* name :
         {"DUX_TOKEN", "DUX_WORKERS", "DUX_REGISTRY", "DUX_POOL", "DUX_BINARY"}) {
      unsetenv(name);
    }
  }
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-pool-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (pool_) {
      pool_->Signal(SIGTERM);
      pool_->Wait(30s);
    }
    pool_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Starts `dux pool args...` and waits for its address.
  bool StartPool(const std::vector<std::string>& args, const Environment& environment = {}) {
    std::vector<std::string> argv = {DUX_BINARY,  "pool", "--heartbeat-ms", "200",
                                     "--threads", "1",    "--telemetry"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildOptions options;
    options.stderr_file = dir_ / "pool.err";
    options.environment = environment;
    std::string error;
    auto started = dux::test::StartListening(argv, options, 30s, &error);
    if (!started) {
      ADD_FAILURE() << error;
      return false;
    }
    pool_ = std::move(started->process);
    address_ = started->address;
    return true;
  }
  std::string PoolLog() { return ReadFile(dir_ / "pool.err"); }

  ProcessOutcome Dux(const std::vector<std::string>& args, const Environment& environment = {}) {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    dux::test::ProcessOptions options;
    options.environment = environment;
    return dux::test::RunProcess(argv, dir_, options);
  }

  std::vector<PoolRow> Status(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"pool", "status", address_};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessOutcome o = Dux(args);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    std::vector<PoolRow> rows;
    std::istringstream lines(o.out);
    std::string line;
    std::getline(lines, line);  // pool ADDR: backend ...
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      PoolRow row;
      fields >> row.name >> row.job >> row.address >> row.state;
      rows.push_back(row);
    }
    return rows;
  }

  // Waits up to `limit` for `done`.
  template <typename F>
  static bool Within(std::chrono::milliseconds limit, F done) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return done();
  }

  int Count(const std::string& state) {
    auto rows = Status();
    return static_cast<int>(std::count_if(rows.begin(), rows.end(),
                                          [&](const PoolRow& r) { return r.state == state; }));
  }

  // `dux run --pool` on `n` workers of a group-by over 6 files equals the local run, and
  // each of the n workers ran a share.
  void ExpectRunsLikeLocal(int n, const Environment& environment = {},
                           const std::vector<std::string>& extra = {}) {
    fs::path data = dir_ / "data";
    if (!fs::exists(data)) {
      ProcessOutcome made =
          Dux({"generate", "groupby", "--rows", "120000", "--files", "6", "--out", data.string()});
      ASSERT_EQ(made.exit_code, 0) << made.err;
    }
    const std::string pipeline = "from_parquet(\"" + (data / "*.parquet").string() +
                                 "\") |> group_by(id1) |> summarise(n: count(), v: sum(v1)) "
                                 "|> sort_by(id1)";
    std::vector<std::string> args = {
        "run",      "--pool", address_,     "--workers-wanted", std::to_string(n),
        "--format", "csv",    "--telemetry"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(pipeline);
    ProcessOutcome distributed = Dux(args, environment);
    ProcessOutcome local = Dux({"run", "--format", "csv", pipeline});
    ASSERT_EQ(distributed.exit_code, 0) << distributed.err << "\npool: " << PoolLog();
    ASSERT_EQ(local.exit_code, 0) << local.err;
    EXPECT_EQ(distributed.out, local.out);
    EXPECT_GT(std::count(local.out.begin(), local.out.end(), '\n'), 50);
    std::set<std::string> ran_on;
    std::istringstream lines(distributed.err);
    for (std::string line; std::getline(lines, line);) {
      if (!Contains(line, "\"distributed.worker.stop\"")) continue;
      size_t at = line.find("\"address\":\"");
      if (at != std::string::npos)
        ran_on.insert(line.substr(at + 11, line.find('"', at + 11) - at - 11));
    }
    EXPECT_EQ(static_cast<int>(ran_on.size()), n) << distributed.err;
  }

  fs::path dir_;
  std::unique_ptr<ChildProcess> pool_;
  std::string address_;
};

TEST_F(PoolTest, LocalGrowsOnDemandAndItsIdleWorkersExit) {
  ASSERT_TRUE(StartPool({"--max", "4", "--idle-shutdown", "3"}));
  EXPECT_TRUE(Status().empty());
  ExpectRunsLikeLocal(3);
  std::vector<PoolRow> rows = Status();
  ASSERT_EQ(rows.size(), 3u);
  // A pool is a registry too.
  ProcessOutcome listed = Dux({"workers", "--registry", address_});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  for (const auto& r : rows) EXPECT_TRUE(Contains(listed.out, r.address)) << listed.out;
  std::vector<int> pids;
  for (const auto& r : rows) {
    EXPECT_TRUE(r.state == "idle" || r.state == "busy") << r.state;
    pids.push_back(std::stoi(r.job));
    EXPECT_TRUE(Running(pids.back()));
  }
  // Idle past --idle-shutdown: every worker is stopped, and its process is gone.
  EXPECT_TRUE(Within(15s, [&] { return Status().empty(); })) << PoolLog();
  for (int pid : pids) EXPECT_TRUE(Within(5s, [&] { return !Running(pid); })) << pid;
  std::string log = PoolLog();
  EXPECT_TRUE(Contains(log, "\"pool.grow.start\",\"measurements\":{\"n\":3.0}")) << log;
  size_t boots = 0, idle = 0;
  for (size_t at = 0; (at = log.find("\"pool.worker.boot\"", at)) != std::string::npos; ++at)
    ++boots;
  for (size_t at = 0; (at = log.find("\"reason\":\"idle\"", at)) != std::string::npos; ++at) ++idle;
  EXPECT_EQ(boots, 3u);
  EXPECT_EQ(idle, 3u);
}

TEST_F(PoolTest, ItsRunsAreReportedOnItsStatusPage) {
  ASSERT_TRUE(StartPool({"--max", "2", "--http", "0"}));
  auto line = pool_->ReadLine(10s);
  ASSERT_TRUE(line && line->rfind("http ", 0) == 0) << line.value_or("") << PoolLog();
  const std::string http = line->substr(5);
  ExpectRunsLikeLocal(2);
  dux::test::HttpReply workers = dux::test::HttpGet(http, "/api/workers");
  EXPECT_EQ(workers.status, 200);
  for (const auto& r : Status()) EXPECT_TRUE(Contains(workers.body, r.address)) << workers.body;
  dux::test::HttpReply queries = dux::test::HttpGet(http, "/api/queries");
  EXPECT_EQ(queries.status, 200);
  EXPECT_TRUE(Contains(queries.body, "group_by(id1)")) << queries.body;
  EXPECT_TRUE(Contains(dux::test::HttpGet(http, "/metrics").body, "dux_queries_total"));
}

TEST_F(PoolTest, MinIsKeptThoughIdleAndAKilledWorkerIsReplaced) {
  // The workers' own idle exit is short too: a worker within --min is retained by the pool
  // (its heartbeats say so) and stays.
  ASSERT_TRUE(
      StartPool({"--min", "2", "--max", "3", "--idle-shutdown", "1", "--worker-idle-exit", "1"}));
  ASSERT_TRUE(Within(20s, [&] { return Count("idle") == 2; })) << PoolLog();
  std::vector<PoolRow> before = Status();
  std::this_thread::sleep_for(3s);
  std::vector<PoolRow> after = Status();
  ASSERT_EQ(after.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(after[i].job, before[i].job);

  kill(std::stoi(after[0].job), SIGKILL);
  ASSERT_TRUE(Within(20s, [&] {
    auto rows = Status();
    return rows.size() == 2 &&
           std::none_of(rows.begin(), rows.end(),
                        [&](const PoolRow& r) { return r.job == after[0].job; }) &&
           Count("idle") == 2;
  })) << PoolLog();
  EXPECT_TRUE(Contains(PoolLog(), "\"reason\":\"lost\""));
  ExpectRunsLikeLocal(2);
}

TEST_F(PoolTest, FewerWorkersThanWantedRunAndSaySo) {
  ASSERT_TRUE(StartPool({"--max", "2"}));
  ProcessOutcome o = Dux({"run", "--pool", address_, "--workers-wanted", "3", "--format", "csv",
                          "from_query(\"SELECT 42 AS x\")"});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "x\n42\n");
  EXPECT_EQ(o.err, "dux: pool " + address_ +
                       ": the pool has 2 of the 3 workers wanted (its --max is 2); running on 2\n");
}

TEST_F(PoolTest, AKilledPoolLeavesNoWorkerRunning) {
  ASSERT_TRUE(StartPool({"--min", "2", "--worker-registry-timeout", "2"}));
  ASSERT_TRUE(Within(20s, [&] { return Count("idle") == 2; })) << PoolLog();
  std::vector<int> pids;
  for (const auto& r : Status()) pids.push_back(std::stoi(r.job));
  pool_->Signal(SIGKILL);
  pool_->Wait(10s);
  pool_.reset();
  // Each worker notices within its --registry-timeout (2 s) and exits.
  for (int pid : pids) EXPECT_TRUE(Within(10s, [&] { return !Running(pid); })) << pid;
}

TEST_F(PoolTest, ABootThatFailsGivesTheBackendsErrorWithinTheBootTimeout) {
  ASSERT_TRUE(StartPool({"--backend", "command", "--boot-timeout", "10", "--start-command",
                         "echo cannot reach host-7 >&2; exit 1", "--stop-command", "true"}));
  auto start = std::chrono::steady_clock::now();
  ProcessOutcome o = Dux({"run", "--pool", address_, "--workers-wanted", "2", kPipeline});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.err, "dux: pool " + address_ +
                       ": the pool has 0 of the 2 workers wanted; last boot error: command "
                       "backend: start command exited 1: cannot reach host-7\n");
}

TEST_F(PoolTest, BadOptionsAreRefusedBeforeAnythingStarts) {
  ProcessOutcome o = Dux({"pool", "--backend", "command"});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.err, "dux: --backend command needs --start-command and --stop-command\n");
  o = Dux({"pool", "--backend", "command", "--start-command", "ssh {host} {worker}",
           "--stop-command", "true"});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_TRUE(Contains(o.err, "unknown placeholder {host}")) << o.err;
  o = Dux({"pool", "--min", "5", "--max", "2"});
  EXPECT_EQ(o.err, "dux: --min 5 is above --max 2\n");
  o = Dux({"pool", "--listen", "0.0.0.0:0"});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_TRUE(Contains(o.err, "token")) << o.err;
  o = Dux({"run", "--pool", "127.0.0.1:1", "--workers", "127.0.0.1:2", kPipeline});
  EXPECT_TRUE(Contains(o.err, "give only one of")) << o.err;
}

TEST_F(PoolTest, CommandTemplateStartsWorkersInNetworkNamespaces) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  dux::test::Namespaces namespaces(dir_);
  std::string why;
  if (!namespaces.Create(2, &why)) GTEST_SKIP() << "cannot create network namespaces: " << why;
  // The start command takes the next namespace, runs the worker there on that host's
  // address (its --listen after {worker} wins) and prints the worker's pid as the job id.
  fs::path start = dir_ / "start.sh";
  WriteFile(
      start,
      "#!/bin/sh\nset -e\ncd " + dir_.string() +
          "\nexec 9>lock\nflock 9  # the pool boots workers concurrently\n"
          "n=$(cat next 2>/dev/null || echo 0)\necho $((n + 1)) > next\n"
          "case $n in 0) ns=" +
          namespaces.name(0) + " ip=" + namespaces.address(0) + ";; 1) ns=" + namespaces.name(1) +
          " ip=" + namespaces.address(1) +
          ";; *) echo no host left >&2; exit 1;; esac\n"
          "ip netns exec $ns \"$@\" --listen $ip:0 9>&- >/dev/null 2>>workers.err &\necho $!\n");
  fs::permissions(start, fs::perms::owner_all);
  int port = dux::test::FreePort();
  const std::string token = "p00l-t0ken";
  ASSERT_TRUE(
      StartPool({"--backend", "command", "--listen", "0.0.0.0:" + std::to_string(port),
                 "--registry-address", namespaces.host_address(0) + ":" + std::to_string(port),
                 "--token", token, "--start-command", start.string() + " {worker}",
                 "--stop-command", "kill {job_id}", "--max", "2", "--idle-shutdown", "60"}));
  address_ = "127.0.0.1:" + std::to_string(port);
  ExpectRunsLikeLocal(2, {}, {"--token", token});
  std::vector<PoolRow> rows = Status({"--token", token});
  ASSERT_EQ(rows.size(), 2u);
  std::set<std::string> hosts;
  for (const auto& r : rows) hosts.insert(r.address.substr(0, r.address.find(':')));
  EXPECT_EQ(hosts, (std::set<std::string>{namespaces.address(0), namespaces.address(1)}));
  // The token reached the workers through a file, never their command line.
  for (const auto& r : rows) {
    std::string cmdline = ReadFile("/proc/" + r.job + "/cmdline");
    EXPECT_FALSE(Contains(cmdline, token)) << cmdline;
    EXPECT_TRUE(Contains(cmdline, "--token-file")) << cmdline;
  }
  // Without the token the pool answers nothing.
  ProcessOutcome denied = Dux({"pool", "status", address_});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_TRUE(Contains(denied.err, "UNAUTHENTICATED") || Contains(denied.err, "token"))
      << denied.err;
  // Stopping the pool runs the stop command for each worker (before the namespaces go).
  pool_->Signal(SIGTERM);
  EXPECT_EQ(pool_->Wait(30s), 0) << PoolLog();
  for (const auto& r : rows) {
    EXPECT_TRUE(Within(10s, [&] { return !Running(std::stoi(r.job)); })) << r.job << PoolLog();
  }
}

TEST_F(PoolTest, SlurmJobsAreTheWorkersAndLeaveTheQueueWhenIdle) {
  std::string why;
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  auto slurm = dux::test::SlurmCluster::Start(dir_ / "cluster", &why);
  if (!slurm) GTEST_SKIP() << "no Slurm cluster: " << why;
  ASSERT_TRUE(StartPool({"--backend", "slurm", "--max", "2", "--idle-shutdown", "3",
                         "--boot-timeout", "60", "--slurm-cpus-per-task", "1", "--slurm-time",
                         "10:00", "--state-dir", (dir_ / "state").string()},
                        slurm->environment()));
  ExpectRunsLikeLocal(2);
  std::vector<PoolRow> rows = Status();
  ASSERT_EQ(rows.size(), 2u);
  std::string queue = slurm->Run({"squeue", "--noheader", "--format=%i %T"});
  for (const auto& r : rows) EXPECT_TRUE(Contains(queue, r.job + " RUNNING")) << queue;
  EXPECT_TRUE(Within(30s,
                     [&] {
                       return Status().empty() && slurm->Run({"squeue", "--noheader"}).empty();
                     }))
      << slurm->Run({"squeue"}) << PoolLog();
}

}  // namespace
