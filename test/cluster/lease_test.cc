// Leases for coordinator death (docs/cluster.md, "Leases"), on real `dux worker` processes
// (DUX_BINARY) with a lease of 1 s: a coordinator killed (kill -9) while its workers hold
// exchange buckets, one frozen (SIGSTOP: alive, connections open, silent) in the middle of a
// distributed write, and a healthy query that outlives many leases.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
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
using Clock = std::chrono::steady_clock;

// The workers' lease in these tests: 1 s (times the slowdown, so that renewals keep up under
// the sanitizers), so that a test waits little.
double LeaseSeconds() { return TestSlowdown(); }

// `seconds` (times the slowdown) as a wait limit.
std::chrono::milliseconds Scaled(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * TestSlowdown() * 1000));
}

// A source that runs for minutes on one worker (query sources are read by one worker), in
// small chunks so that a cancellation stops it at once; every test that uses it ends it.
const char* const kEndless =
    "from_query(\"SELECT i AS k FROM range(0, 300000000000) t(i) WHERE i % 1000003 = 0\")";

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Outcome {
  int exit_code = -1;  ///< minus the signal when a signal ended it
  std::string out, err;
};

class LeaseTest : public ::testing::Test {
 protected:
  struct Worker {
    std::unique_ptr<ChildProcess> process;
    std::string address;
    fs::path stderr_file;
  };
  struct Command {
    std::unique_ptr<ChildProcess> process;
    fs::path out, err;
  };

  void SetUp() override {
    for (const char* name : {"DUX_TOKEN", "DUX_WORKERS", "DUX_REGISTRY", "DUX_POOL"}) {
      unsetenv(name);
    }
    std::string tmpl = (fs::temp_directory_path() / "dux-lease-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    commands_.clear();
    workers_.clear();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// A loopback worker of one thread with the tests' lease; null (a test failure) when it
  /// prints no address in time.
  Worker* StartWorker(const std::string& lease = std::to_string(LeaseSeconds())) {
    auto w = std::make_unique<Worker>();
    w->stderr_file = dir_ / ("worker-" + std::to_string(workers_.size()) + ".err");
    ChildOptions options;
    options.stderr_file = w->stderr_file;
    std::string error;
    auto started = StartListening({DUX_BINARY, "worker", "--listen", "127.0.0.1:0", "--threads",
                                   "1", "--lease-timeout", lease},
                                  options, 30s, &error);
    if (!started) {
      ADD_FAILURE() << error;
      return nullptr;
    }
    w->process = std::move(started->process);
    w->address = started->address;
    workers_.push_back(std::move(w));
    return workers_.back().get();
  }

  /// `dux args...` in the background, its output in files.
  Command* Spawn(const std::vector<std::string>& args) {
    auto c = std::make_unique<Command>();
    std::string name = "command-" + std::to_string(commands_.size());
    c->out = dir_ / (name + ".out");
    c->err = dir_ / (name + ".err");
    ChildOptions options;
    options.stdout_file = c->out;
    options.stderr_file = c->err;
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string error;
    c->process = ChildProcess::Start(argv, options, &error);
    if (!c->process) ADD_FAILURE() << "cannot start dux: " << error;
    commands_.push_back(std::move(c));
    return commands_.back().get();
  }

  /// Waits up to `limit` for a command to end (a test failure and SIGKILL past it).
  static Outcome Finish(Command* c, std::chrono::milliseconds limit) {
    Outcome o;
    if (!c->process) return o;
    std::optional<int> code = c->process->Wait(limit);
    if (!code) {
      ADD_FAILURE() << "still running after " << limit.count() << " ms";
      c->process->Signal(SIGKILL);
      code = c->process->Wait(10s);
    }
    o.exit_code = code.value_or(-1);
    o.out = ReadFile(c->out);
    o.err = ReadFile(c->err);
    return o;
  }

  Outcome Dux(const std::vector<std::string>& args, std::chrono::milliseconds limit = 60s) {
    return Finish(Spawn(args), limit);
  }

  /// `dux workers` over `workers` until `done(output)` holds or `limit` passes; the last output.
  template <typename Done>
  std::string PollWorkers(const std::string& workers, Done done, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    for (;;) {
      Outcome o = Dux({"workers", "--workers", workers}, 30s);
      if (o.exit_code == 0 && done(o.out)) return o.out;
      if (Clock::now() > deadline) return o.out + o.err;
      std::this_thread::sleep_for(50ms);
    }
  }

  /// A parquet file `name` of keys k = 0 .. rows - 1 in the test's directory.
  std::string KeysFile(const std::string& name, int rows) {
    std::string path = (dir_ / name).string();
    Outcome o = Dux({"run", "from_query(\"SELECT range AS k FROM range(0, " + std::to_string(rows) +
                                ")\") |> to_parquet(\"" + path + "\")"});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return path;
  }

  /// The lines of a worker's stderr that report an expired lease.
  static std::vector<std::string> LeaseEvents(const Worker& w) {
    std::vector<std::string> events;
    for (const auto& line : Lines(ReadFile(w.stderr_file))) {
      if (Contains(line, "\"event\":\"query.lease_expired\"")) events.push_back(line);
    }
    return events;
  }

  fs::path dir_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Command>> commands_;
};

TEST_F(LeaseTest, CoordinatorKilledMidExchangeLeavesNoBucketsOnceTheLeaseExpires) {
  // A shuffle join: the left side's buckets are on both workers while the endless right
  // side is being produced.
  std::string left = KeysFile("left.parquet", 20000);
  Worker* a = StartWorker();
  Worker* b = StartWorker();
  ASSERT_TRUE(a && b);
  const std::string workers = a->address + "," + b->address;
  Command* run = Spawn({"run", "--workers", workers, "--broadcast-threshold", "0",
                        "from_parquet(\"" + left + "\") |> join(" + kEndless +
                            ", on: k) |> summarise(n: count(*))"});
  auto holding = [](const std::string& out) {
    auto lines = Lines(out);
    return lines.size() == 2 && Contains(out, "running [q") &&
           std::all_of(lines.begin(), lines.end(),
                       [](const auto& l) { return Contains(l, "__dux_exchange_"); });
  };
  std::string held = PollWorkers(workers, holding, 30s);
  ASSERT_TRUE(holding(held)) << held;
  run->process->Signal(SIGKILL);
  auto killed = Clock::now();
  ASSERT_EQ(run->process->Wait(10s), -SIGKILL);
  // Within the lease and its checks: no table and no fragment of the query on either worker.
  std::string after = PollWorkers(
      workers,
      [](const std::string& out) {
        return !Contains(out, "__dux_") && Contains(out, "running []") &&
               !Contains(out, "running [q");
      },
      Scaled(15));
  EXPECT_FALSE(Contains(after, "__dux_")) << after;
  EXPECT_FALSE(Contains(after, "running [q")) << after;
  EXPECT_LT(SecondsSince(killed), 10.0 * TestSlowdown());
  // The lease runs from its last renewal, which comes every third of a lease: it ends at
  // least two thirds of a lease after the coordinator fell silent.
  EXPECT_GT(SecondsSince(killed), 0.6 * LeaseSeconds()) << "dropped before the lease expired";
  // Each worker says what it dropped, and why.
  for (const Worker* w : {a, b}) {
    std::vector<std::string> events = LeaseEvents(*w);
    ASSERT_EQ(events.size(), 1u) << ReadFile(w->stderr_file);
    EXPECT_TRUE(Contains(events[0], "\"tables\":\"__dux_exchange_")) << events[0];
    EXPECT_TRUE(Contains(events[0], "\"lease\":\"l")) << events[0];
    EXPECT_TRUE(Contains(events[0], "\"address\":\"" + w->address + "\"")) << events[0];
  }
  // The workers serve the next query as usual.
  Outcome next = Dux({"run", "--workers", workers, "--format", "csv",
                      "from_parquet(\"" + left + "\") |> summarise(n: count(*))"});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(next.out, "n\n20000\n");
}

TEST_F(LeaseTest, CoordinatorFrozenMidWriteLeavesNoTemporaryFileOnceTheLeaseExpires) {
  // SIGSTOP: the coordinator neither renews nor closes its connections (a network partition
  // looks the same to a worker), so only the lease can end the worker's write.
  const fs::path out = dir_ / "out";
  Worker* a = StartWorker();
  Worker* b = StartWorker();
  ASSERT_TRUE(a && b);
  const std::string workers = a->address + "," + b->address;
  Command* run = Spawn({"run", "--workers", workers,
                        std::string(kEndless) + " |> to_parquet(\"" + out.string() + "\")"});
  auto temporaries = [&] {
    std::vector<std::string> found;
    std::error_code ec;
    if (!fs::exists(out, ec)) return found;
    for (const auto& e : fs::recursive_directory_iterator(out, ec)) {
      std::string name = e.path().filename().string();
      if (Contains(name, "dux-tmp")) found.push_back(name);
    }
    return found;
  };
  auto deadline = Clock::now() + 30s;
  while (temporaries().empty() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(temporaries().size(), 1u) << "the part was never being written";
  run->process->Signal(SIGSTOP);
  auto frozen = Clock::now();
  std::string after = PollWorkers(
      workers, [](const std::string& o) { return !Contains(o, "running [q"); }, Scaled(15));
  EXPECT_FALSE(Contains(after, "running [q")) << after;
  // The lease runs from its last renewal, which comes every third of a lease: it ends at
  // least two thirds of a lease after the coordinator fell silent.
  EXPECT_GT(SecondsSince(frozen), 0.6 * LeaseSeconds()) << "stopped before the lease expired";
  deadline = Clock::now() + 5s;
  while (!temporaries().empty() && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(temporaries(), std::vector<std::string>{});
  // The writing worker cancelled its write; the other one had nothing of the query.
  std::vector<std::string> events = LeaseEvents(*a);
  std::vector<std::string> others = LeaseEvents(*b);
  if (events.empty()) events.swap(others);
  ASSERT_EQ(events.size(), 1u) << ReadFile(a->stderr_file) << ReadFile(b->stderr_file);
  EXPECT_EQ(others, std::vector<std::string>{});
  EXPECT_TRUE(Contains(events[0], "\"queries\":\"q")) << events[0];
  EXPECT_TRUE(Contains(events[0], "\"queries_cancelled\":1")) << events[0];
  run->process->Signal(SIGKILL);
  EXPECT_EQ(run->process->Wait(10s), -SIGKILL);
  EXPECT_EQ(temporaries(), std::vector<std::string>{});
}

TEST_F(LeaseTest, LiveCoordinatorKeepsALongQueryThroughManyLeases) {
  // A lease of 0.5 s: the left side's buckets wait on both workers while one worker reads
  // the right side for a few seconds (600 million rows): only the renewals keep them. The right
  // side holds each key of the left side once, so the result is known: 20,000 rows, keys summing to
  // 19,999 * 20,000 / 2.
  std::string left = KeysFile("left.parquet", 20000);
  const std::string right =
      "from_query(\"SELECT i // 30000 AS k FROM range(0, 600000000) t(i) WHERE i % 30000 = 0\")";
  const std::string pipeline = "from_parquet(\"" + left + "\") |> join(" + right +
                               ", on: k) |> summarise(n: count(*), s: sum(k), m: max(k))";
  const double lease = 0.5 * LeaseSeconds();
  Worker* a = StartWorker(std::to_string(lease));
  Worker* b = StartWorker(std::to_string(lease));
  ASSERT_TRUE(a && b);
  const std::string workers = a->address + "," + b->address;
  auto start = Clock::now();
  Outcome distributed = Dux({"run", "--workers", workers, "--broadcast-threshold", "0",
                             "--telemetry", "--format", "csv", pipeline});
  ASSERT_EQ(distributed.exit_code, 0) << distributed.err;
  EXPECT_GT(SecondsSince(start), 3 * lease) << "the query did not outlive several leases";
  EXPECT_TRUE(Contains(distributed.err, "\"rule\":\"shuffle_join\"")) << distributed.err;
  EXPECT_EQ(distributed.out, "n,s,m\n20000,199990000,19999\n");
  for (const Worker* w : {a, b}) {
    EXPECT_EQ(LeaseEvents(*w), std::vector<std::string>{}) << ReadFile(w->stderr_file);
  }
  // Its tables dropped at its end, nothing expires later either.
  std::this_thread::sleep_for(Scaled(1.5));
  for (const Worker* w : {a, b}) EXPECT_EQ(LeaseEvents(*w), std::vector<std::string>{});
  Outcome listed = Dux({"workers", "--workers", workers});
  EXPECT_FALSE(Contains(listed.out, "__dux_")) << listed.out;
}

TEST_F(LeaseTest, BadLeaseTimeoutIsAOneLineError) {
  Outcome o = Dux({"worker", "--lease-timeout", "0"});
  EXPECT_NE(o.exit_code, 0);
  EXPECT_TRUE(Contains(o.err, "--lease-timeout")) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

}  // namespace
