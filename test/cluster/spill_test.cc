// Spill instead of failure (docs/reliability.md, "Spill"): real `dux worker` processes held
// to a small --memory-limit run a shuffle join, a broadcast join and a shuffle group-by with
// holistic aggregates over data several times that limit, equal to the local run, and report
// spilled bytes; a worker whose temp directory cannot take the spill fails the query with one
// line naming the worker, its limits and the stage, and leaves no table behind.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
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
using dux::test::Lines;
using dux::test::ReadFile;
using dux::test::StartListening;

// Each worker's limit: DuckDB gets three quarters, the exchange buckets in memory the rest.
const char* const kMemoryLimit = "48MB";

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

/// The largest spill_bytes of the distributed.worker.stop events in `telemetry`.
double LargestSpill(const std::string& telemetry) {
  static const std::regex kSpill("\"spill_bytes\":([0-9.e+]+)");
  double largest = 0;
  for (const auto& line : Lines(telemetry)) {
    std::smatch m;
    if (Contains(line, "\"distributed.worker.stop\"") && std::regex_search(line, m, kSpill)) {
      largest = std::max(largest, std::stod(m[1].str()));
    }
  }
  return largest;
}

class SpillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"DUX_TOKEN", "DUX_WORKERS", "DUX_REGISTRY"}) unsetenv(name);
    std::string tmpl = (fs::temp_directory_path() / "dux-spill-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    workers_.clear();  // killed before their temp directories go
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// Runs `dux args...` to completion (a test failure and SIGKILL past 60 s).
  Outcome Dux(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {DUX_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string name = "command-" + std::to_string(commands_++);
    ChildOptions options;
    options.stdout_file = dir_ / (name + ".out");
    options.stderr_file = dir_ / (name + ".err");
    std::string error;
    auto process = ChildProcess::Start(argv, options, &error);
    Outcome o;
    if (!process) {
      ADD_FAILURE() << "cannot start dux: " << error;
      return o;
    }
    std::optional<int> code = process->Wait(60s);
    if (!code) {
      ADD_FAILURE() << "dux " << args.front() << " still running after 60 s";
      process->Signal(SIGKILL);
      code = process->Wait(10s);
    }
    o.exit_code = code.value_or(-1);
    o.out = ReadFile(options.stdout_file);
    o.err = ReadFile(options.stderr_file);
    return o;
  }

  /// Starts a worker of one thread held to kMemoryLimit, spilling to a directory of its own
  /// (spill-N under the test's), with `more` flags; its address, or "" with a test failure.
  std::string Worker(const std::vector<std::string>& more = {}) {
    fs::path spill = dir_ / ("spill-" + std::to_string(workers_.size()));
    fs::create_directories(spill);
    std::vector<std::string> argv = {DUX_BINARY,   "worker",      "--listen",       "127.0.0.1:0",
                                     "--threads",  "1",           "--memory-limit", kMemoryLimit,
                                     "--temp-dir", spill.string()};
    argv.insert(argv.end(), more.begin(), more.end());
    ChildOptions options;
    options.stderr_file = dir_ / ("worker-" + std::to_string(workers_.size()) + ".err");
    std::string error;
    auto started = StartListening(argv, options, 30s, &error);
    if (!started) {
      ADD_FAILURE() << error;
      return "";
    }
    workers_.push_back(std::move(started->process));
    return started->address;
  }

  /// Two parquet files of `rows` rows each under the test's directory, named SIDE-0 and
  /// SIDE-1, of a key k (even in one file, odd in the other) and a 96-character string
  /// column named `column` (different for each side); row groups of 50,000 rows, so that
  /// a reader needs little memory. Returns their glob.
  std::string Side(const std::string& side, const std::string& column, int rows) {
    for (int file = 0; file < 2; ++file) {
      fs::path path = dir_ / (side + "-" + std::to_string(file) + ".parquet");
      Outcome o =
          Dux({"run", "from_query(\"SELECT (range * 2 + " + std::to_string(file) +
                          ")::BIGINT AS k, md5(range::VARCHAR || '" + side +
                          "') || md5(range::VARCHAR) || md5((range + 1)::VARCHAR) AS " + column +
                          " FROM range(0, " + std::to_string(rows) + ")\") |> to_parquet(\"" +
                          path.string() + "\", row_group_size: 50000)"});
      EXPECT_EQ(o.exit_code, 0) << o.err;
    }
    return (dir_ / (side + "-*.parquet")).string();
  }

  /// Runs `pipeline` locally and on `workers` with `flags` and --telemetry; expects the same
  /// CSV with at least `min_rows` rows, spilled bytes reported, and no table left on the
  /// workers. Returns the distributed run's telemetry.
  std::string ExpectSameAndSpilled(const std::string& pipeline, const std::string& workers,
                                   const std::vector<std::string>& flags, size_t min_rows) {
    Outcome local = Dux({"run", "--format", "csv", pipeline});
    EXPECT_EQ(local.exit_code, 0) << local.err;
    EXPECT_GE(Lines(local.out).size(), min_rows + 1) << local.out;
    std::vector<std::string> run = {"run", "--workers", workers, "--format", "csv", "--telemetry"};
    run.insert(run.end(), flags.begin(), flags.end());
    run.push_back(pipeline);
    Outcome distributed = Dux(run);
    EXPECT_EQ(distributed.exit_code, 0) << distributed.err.substr(
        distributed.err.size() - std::min<size_t>(2000, distributed.err.size()));
    EXPECT_EQ(distributed.out, local.out);
    EXPECT_GT(LargestSpill(distributed.err), 0) << "no worker reported spilled bytes";
    ExpectNoTablesLeft(workers);
    return distributed.err;
  }

  void ExpectNoTablesLeft(const std::string& workers) {
    Outcome listed = Dux({"workers", "--workers", workers});
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_FALSE(Contains(listed.out, "__dux")) << listed.out;
  }

  fs::path dir_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  int commands_ = 0;
};

// 600,000 rows a side of about 110 bytes each: some 65 MB a side, 130 MB in all, against
// workers of 48 MB.
constexpr int kRowsPerFile = 300000;

TEST_F(SpillTest, ShuffleJoinBeyondTheMemoryLimitSpillsAndEqualsTheLocalRun) {
  std::string left = Side("l", "pl", kRowsPerFile), right = Side("r", "pr", kRowsPerFile);
  std::string a = Worker(), b = Worker();
  ASSERT_FALSE(a.empty() || b.empty());
  const std::string pipeline = "from_parquet(\"" + left + "\") |> join(from_parquet(\"" + right +
                               "\"), on: k) |> summarise(n: count(*), l: sum(length(pl)), "
                               "h: sum(hash(pl || pr) % 1000), m: max(pr))";
  std::string telemetry =
      ExpectSameAndSpilled(pipeline, a + "," + b, {"--broadcast-threshold", "0"}, 1);
  // The buckets, large against the workers' memory, were joined one task per bucket.
  EXPECT_TRUE(Contains(telemetry, "\"task\":\"bucket 0 of worker 0\"")) << telemetry;
  EXPECT_TRUE(Contains(telemetry, "\"task\":\"bucket 1 of worker 1\"")) << telemetry;
}

TEST_F(SpillTest, BroadcastBeyondTheMemoryLimitSpillsAndEqualsTheLocalRun) {
  std::string left = Side("l", "pl", kRowsPerFile), right = Side("r", "pr", kRowsPerFile);
  std::string a = Worker(), b = Worker();
  ASSERT_FALSE(a.empty() || b.empty());
  const std::string pipeline = "from_parquet(\"" + left + "\") |> join(from_parquet(\"" + right +
                               "\"), on: k) |> summarise(n: count(*), l: sum(length(pl)), "
                               "h: sum(hash(pl || pr) % 1000), m: max(pr))";
  std::string telemetry = ExpectSameAndSpilled(pipeline, a + "," + b, {}, 1);
  EXPECT_TRUE(Contains(telemetry, "\"distributed.broadcast.stop\"")) << "not broadcast";
}

TEST_F(SpillTest, ShuffleGroupByWithHolisticAggregatesSpillsAndEqualsTheLocalRun) {
  std::string rows = Side("g", "s", kRowsPerFile);
  std::string a = Worker(), b = Worker();
  ASSERT_FALSE(a.empty() || b.empty());
  // median and quantile do not decompose: every row of a group goes to one worker.
  const std::string pipeline = "from_parquet(\"" + rows +
                               "\") |> mutate(g: k % 5000) |> group_by(g) |> summarise(m: "
                               "median(length(s) + k), q: quantile_cont(k, 0.9), l: max(s)) |> "
                               "sort_by(g)";
  ExpectSameAndSpilled(pipeline, a + "," + b, {}, 5000);
}

TEST_F(SpillTest, AFullTempDirectoryFailsOnOneLineNamingTheWorkerTheLimitsAndTheStage) {
  std::string left = Side("l", "pl", kRowsPerFile), right = Side("r", "pr", kRowsPerFile);
  std::string a = Worker({"--max-temp-size", "4MB"}), b = Worker({"--max-temp-size", "4MB"});
  ASSERT_FALSE(a.empty() || b.empty());
  const std::string workers = a + "," + b;
  Outcome o = Dux({"run", "--workers", workers, "--broadcast-threshold", "0",
                   "from_parquet(\"" + left + "\") |> join(from_parquet(\"" + right +
                       "\"), on: k) |> summarise(n: count(*), l: sum(length(pl)), m: max(pr))"});
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_EQ(o.err.rfind("dux: worker 127.0.0.1:", 0), 0u) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  for (const char* part : {"out of memory: the temp directory", "is full (--max-temp-size 3.8 MiB)",
                           "--memory-limit 45.7 MiB", "(stage "}) {
    EXPECT_TRUE(Contains(o.err, part)) << "expected \"" << part << "\" in: " << o.err;
  }
  EXPECT_TRUE(Contains(o.err, "worker " + a + ":") || Contains(o.err, "worker " + b + ":"))
      << o.err;
  ExpectNoTablesLeft(workers);
  // DuckDB's temporary data goes with the tables and queries that held it. What may stay is
  // DuckDB's temp storage file itself, emptied (0 bytes; seen in about one run in seven
  // here), and a worker whose fragment was stopped by the other's failure may still be
  // unwinding it when dux exits: at most 10 s for the bytes to go.
  for (int w = 0; w < 2; ++w) {
    fs::path spill = dir_ / ("spill-" + std::to_string(w));
    auto left_behind = [&] {
      std::string files;
      for (const auto& entry : fs::directory_iterator(spill)) {
        if (entry.is_regular_file() && fs::file_size(entry) == 0) continue;
        files += " " + entry.path().filename().string();
      }
      return files;
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!left_behind().empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(left_behind(), "") << spill << " still holds data after 10 s";
  }
  // The workers are still there to run what fits.
  Outcome small = Dux({"run", "--workers", workers, "--format", "csv",
                       "from_parquet(\"" + left + "\") |> summarise(n: count(*))"});
  EXPECT_EQ(small.exit_code, 0) << small.err;
  EXPECT_EQ(small.out, "n\n600000\n");
}

}  // namespace
