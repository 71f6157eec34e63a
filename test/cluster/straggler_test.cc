// Speculative execution against a real straggler (docs/cluster.md, "Stragglers"): three
// `dux worker` processes, one of them kept to 1.5% of a CPU by SIGSTOP/SIGCONT cycles. The
// same query runs with --speculation off, then on; on must speculate the straggler's
// partition and give the rows of a local run, for a gather, a hash exchange and a
// distributed write, and finish in well under half the time off took where the straggler
// has nothing else to do (the gather and the write).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "subprocess.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dux::test::ChildOptions;
using dux::test::ChildProcess;
using dux::test::Contains;
using dux::test::CpuSeconds;
using dux::test::Lines;
using dux::test::ReadFile;
using dux::test::StartListening;
using Clock = std::chrono::steady_clock;

int CountLines(const std::string& text, const std::vector<std::string>& parts) {
  int n = 0;
  for (const auto& line : Lines(text)) {
    n += std::all_of(parts.begin(), parts.end(), [&](const auto& p) { return Contains(line, p); });
  }
  return n;
}

struct Outcome {
  int exit_code = -1;
  std::string out, err;
  double seconds = 0;
};

// Keeps a process to `share` of one CPU for its first `window` of wall time, with SIGSTOP
// and SIGCONT: a worker that is alive but slow. It is let run in short spells and stopped
// until the CPU time it has used since the start is back under `share` of the time passed,
// so that a loaded machine, which stretches the spells, does not give it more; an idle
// worker (waiting for a call) uses almost no CPU, so it is stopped only briefly and answers
// soon. After `window` it runs freely: work done in such spells costs this host's virtual
// CPUs 4 to 10 times the CPU time it costs unthrottled (cold caches after every stop; one
// partition measured 0.3 s free, over 3 s throttled), so a throttle without an end makes a
// run's time a measure of the host, not of the straggler. The window bounds it.
class Throttle {
 public:
  Throttle(pid_t pid, double share, std::chrono::seconds window)
      : thread_([this, pid, share, window] {
          const auto start = Clock::now();
          const double cpu_at_start = CpuSeconds(pid);
          auto over = [&] {
            double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            return CpuSeconds(pid) - cpu_at_start > share * elapsed;
          };
          auto throttling = [&] { return !stop_.load() && Clock::now() - start < window; };
          while (throttling()) {
            ::kill(pid, SIGSTOP);
            do {
              std::this_thread::sleep_for(5ms);
            } while (throttling() && over());
            ::kill(pid, SIGCONT);
            std::this_thread::sleep_for(5ms);
          }
          ::kill(pid, SIGCONT);
        }) {}
  ~Throttle() {
    stop_ = true;
    thread_.join();
  }
  Throttle(const Throttle&) = delete;
  Throttle& operator=(const Throttle&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: started once stop_ exists
};

class StragglerTest : public ::testing::Test {
 protected:
  // How long the straggler stays slow: long beside a speculating run (a few seconds), short
  // enough for three tests of two throttled runs each.
  static constexpr std::chrono::seconds kSlowFor{40};

  void SetUp() override {
    for (const char* name : {"DUX_TOKEN", "DUX_WORKERS", "DUX_REGISTRY"}) unsetenv(name);
    std::string tmpl = (fs::temp_directory_path() / "dux-straggler-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(StartWorker()) << "worker " << i;
    }
    for (const auto& w : workers_) addresses_ += (addresses_.empty() ? "" : ",") + w.address;
  }

  void TearDown() override {
    workers_.clear();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  struct Worker {
    std::unique_ptr<ChildProcess> process;
    std::string address;
  };

  bool StartWorker() {
    ChildOptions options;
    options.stderr_file = dir_ / ("worker-" + std::to_string(workers_.size()) + ".err");
    std::string error;
    // A lease far longer than the throttle: a worker stopped for most of kSlowFor can miss
    // every renewal of its coordinator (each has a deadline it passes while stopped), and its
    // lease of 30 s would then expire and cancel the very fragment these tests wait for. Leases
    // are lease_test.cc's.
    auto started = StartListening({DUX_BINARY, "worker", "--listen", "127.0.0.1:0", "--threads",
                                   "1", "--lease-timeout", "600"},
                                  options, 30s, &error);
    if (!started) {
      ADD_FAILURE() << error;
      return false;
    }
    workers_.push_back({std::move(started->process), started->address});
    return true;
  }

  // `limit` guards against a hang only: a throttled run takes about kSlowFor, and the
  // assertions compare runs, not clocks.
  Outcome Dux(const std::vector<std::string>& args, std::chrono::milliseconds limit = 120s) {
    const std::string name = "command-" + std::to_string(commands_++);
    ChildOptions options;
    options.stdout_file = dir_ / (name + ".out");
    options.stderr_file = dir_ / (name + ".err");
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string error;
    auto start = Clock::now();
    auto process = ChildProcess::Start(argv, options, &error);
    Outcome o;
    if (!process) {
      ADD_FAILURE() << "cannot start dux: " << error;
      return o;
    }
    std::optional<int> code = process->Wait(limit);
    if (!code) {
      ADD_FAILURE() << "dux still running after " << limit.count() << " ms";
      process->Signal(SIGKILL);
      code = process->Wait(10s);
    }
    o.exit_code = code.value_or(-1);
    o.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    o.out = ReadFile(options.stdout_file);
    o.err = ReadFile(options.stderr_file);
    return o;
  }

  // Three parquet files of `keys_per_file` keys; one partition per worker (the partitioner
  // bin-packs files), each spending a few hundred milliseconds of CPU on its keys (a list of
  // about `list_length` numbers summed per key). DuckDB notices a cancellation only between
  // task slices of 50 chunks (PARTIAL_CHUNK_COUNT), so a test that waits for a cancelled
  // attempt to stop wants many cheap keys: the slice, not the partition, is then what the
  // throttled worker must finish.
  std::string Keys(int keys_per_file = 50000, int list_length = 800) {
    for (int f = 0; f < 3; ++f) {
      std::string path = (dir_ / ("keys" + std::to_string(f) + ".parquet")).string();
      Outcome o = Dux({"run", "from_query(\"SELECT range AS k FROM range(" +
                                  std::to_string(f * keys_per_file) + ", " +
                                  std::to_string((f + 1) * keys_per_file) +
                                  ")\") |> to_parquet(\"" + path + "\")"});
      EXPECT_EQ(o.exit_code, 0) << o.err;
    }
    return "from_parquet(\"" + (dir_ / "keys*.parquet").string() +
           "\") |> mutate(s: (list_sum(range(0, k % 7 + " + std::to_string(list_length) +
           ")) + k)::BIGINT)";
  }

  // Runs `args` on the three workers with the first one throttled to `share` of a CPU, and
  // --speculation `speculation`: its partition takes many times longer than the others (up
  // to about kSlowFor, when nothing takes its work over).
  Outcome RunThrottled(std::vector<std::string> args, const std::string& speculation,
                       double share = 0.015) {
    std::vector<std::string> all = {"run",           "--workers", addresses_,
                                    "--speculation", speculation, "--telemetry"};
    all.insert(all.end(), args.begin(), args.end());
    Throttle throttle(workers_[0].process->pid(), share, kSlowFor);
    return Dux(all);
  }

  // Runs `args` on the three workers, none throttled, with speculation off: the healthy time
  // the test prints beside the others.
  Outcome RunHealthy(std::vector<std::string> args) {
    std::vector<std::string> all = {"run", "--workers", addresses_, "--speculation", "off"};
    all.insert(all.end(), args.begin(), args.end());
    Outcome o = Dux(all);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return o;
  }

  // Expects `on` (speculation on) to have speculated the first worker's partition in `stage`
  // on another worker, which won, and `off` to have speculated nothing.
  void ExpectSpeculated(const Outcome& off, const Outcome& on, const std::string& stage) {
    ASSERT_EQ(off.exit_code, 0) << off.err;
    ASSERT_EQ(on.exit_code, 0) << on.err;
    EXPECT_EQ(CountLines(off.err, {"\"event\":\"partition.speculate\""}), 0) << off.err;
    EXPECT_GE(
        CountLines(on.err, {"\"event\":\"partition.speculate\"", "\"stage\":\"" + stage + "\"",
                            "\"straggler\":\"" + workers_[0].address + "\""}),
        1)
        << on.err;
    EXPECT_GE(CountLines(on.err,
                         {"\"event\":\"partition.speculate.stop\"", "\"winner\":\"speculative\""}),
              1)
        << on.err;
    // DUX_TEST_VERBOSE=1: the speculating run's events, to see where its time went.
    if (std::getenv("DUX_TEST_VERBOSE")) std::cerr << on.err;
  }

  // ExpectSpeculated, and `on` finished in less than half the time of `off` (speculation
  // off, the straggler waited for).
  void ExpectSpeculationHelped(const Outcome& healthy, const Outcome& off, const Outcome& on,
                               const std::string& stage) {
    ExpectSpeculated(off, on, stage);
    EXPECT_LT(on.seconds, 0.5 * off.seconds)
        << "speculation on: " << on.seconds << " s; off: " << off.seconds << " s\n"
        << on.err;
    std::cerr << "healthy: " << healthy.seconds << " s; throttled, speculation off: " << off.seconds
              << " s, on: " << on.seconds << " s\n";
  }

  static std::vector<std::string> SortedRows(const std::string& csv) {
    std::vector<std::string> rows = Lines(csv);
    if (!rows.empty()) std::sort(rows.begin() + 1, rows.end());
    return rows;
  }

  fs::path dir_;
  std::vector<Worker> workers_;
  std::string addresses_;
  int commands_ = 0;
};

TEST_F(StragglerTest, GatherFinishesNearTheHealthyTimeWithTheLocalRows) {
  const std::string pipeline = Keys() + " |> filter(k % 3 != 1)";
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  ASSERT_EQ(Lines(local.out).size(), 100001u);
  Outcome healthy = RunHealthy({"--format", "csv", pipeline});
  Outcome off = RunThrottled({"--format", "csv", pipeline}, "off");
  Outcome on = RunThrottled({"--format", "csv", pipeline}, "on");
  ExpectSpeculationHelped(healthy, off, on, "scan");
  EXPECT_TRUE(SortedRows(off.out) == SortedRows(local.out)) << "rows differ (speculation off)";
  EXPECT_TRUE(SortedRows(on.out) == SortedRows(local.out))
      << "rows lost or counted twice by the speculative attempt";
}

TEST_F(StragglerTest, HashExchangeSpeculatesTheSlowProducerWithTheLocalRows) {
  // median does not decompose: the partitions are the exchange's producers, speculated. The
  // filter keeps 1% of their rows, so that the bucket owners have little to receive and to do.
  // No time is compared: the straggler owns buckets too, an owner is never speculated
  // (docs/cluster.md, "Stragglers"), and the producers' pushes to it, and its final stage,
  // go at its throttled pace, whatever speculation does. At 5% of a CPU its partition is
  // still many times the healthy ones' (at 1.5% even the healthy producers wait on their
  // pushes to it, and none finishes first).
  constexpr double kShare = 0.05;
  const std::string pipeline = Keys() +
                               " |> filter(s % 100 == 7) |> mutate(g: k % 10) |> group_by(g) "
                               "|> summarise(m: median(s), n: count(), t: sum(s))";
  Outcome local = Dux({"run", "--format", "csv", pipeline});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  ASSERT_EQ(Lines(local.out).size(), 6u);  // the five groups the filter leaves
  Outcome off = RunThrottled({"--format", "csv", pipeline}, "off", kShare);
  Outcome on = RunThrottled({"--format", "csv", pipeline}, "on", kShare);
  ExpectSpeculated(off, on, "scan");
  EXPECT_TRUE(SortedRows(off.out) == SortedRows(local.out)) << "rows differ (speculation off)";
  EXPECT_TRUE(SortedRows(on.out) == SortedRows(local.out))
      << "a producer's rows lost or pushed twice by the speculative attempt";
}

TEST_F(StragglerTest, DistributedWriteKeepsOneCopyOfEachPartition) {
  // The write waits for the cancelled attempt to stop (no copy may appear after it returns),
  // which takes the straggler to the end of its current task slice: many cheap keys make a
  // slice a tenth of its partition, and 3% of a CPU makes it at most about ten seconds where
  // this host's throttled CPU is slowest (Throttle), while the partition still takes many
  // times the healthy ones' where it is fastest.
  constexpr int kKeysPerFile = 1000000;
  constexpr double kShare = 0.03;
  const std::string rows = Keys(kKeysPerFile, 0);
  Outcome local = Dux({"run", "--format", "csv", rows + " |> sort_by(k)"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const fs::path off_dir = dir_ / "off", on_dir = dir_ / "on";
  Outcome healthy = RunHealthy({rows + " |> to_parquet(\"" + (dir_ / "healthy").string() + "\")"});
  Outcome off =
      RunThrottled({rows + " |> to_parquet(\"" + off_dir.string() + "\")"}, "off", kShare);
  Outcome on = RunThrottled({rows + " |> to_parquet(\"" + on_dir.string() + "\")"}, "on", kShare);
  ExpectSpeculationHelped(healthy, off, on, "write");
  EXPECT_TRUE(Contains(
      on.out, "to_parquet: wrote " + std::to_string(3 * kKeysPerFile) + " rows to 3 files"))
      << on.out;
  // Three part files, no temporary left, and the rows read back once each.
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(on_dir)) {
    files.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(files.size(), 3u) << ::testing::PrintToString(files);
  for (const auto& name : files) EXPECT_FALSE(Contains(name, "dux-tmp")) << name;
  Outcome back =
      Dux({"run", "--format", "csv", "from_parquet(\"" + on_dir.string() + "\") |> sort_by(k)"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_TRUE(back.out == local.out) << "rows lost or written twice by the speculative attempt";
}

TEST_F(StragglerTest, SpeculationFlagIsOnOrOff) {
  Outcome o =
      Dux({"run", "--workers", addresses_, "--speculation", "maybe", "from_query(\"SELECT 1\")"});
  EXPECT_NE(o.exit_code, 0);
  EXPECT_TRUE(Contains(o.err, "--speculation")) << o.err;
}

}  // namespace
