// Session's plan cache (docs/serve.md, "Plan cache") on two in-process workers: a repeated
// pipeline runs on its kept plan, and a file rewritten or added, another worker set, a
// source the key cannot identify or a session that keeps no plans plans afresh, with the
// answer a local run gives.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "dux/api/session.h"
#include "dux/coordinator/planner.h"
#include "dux/pipeline/language.h"
#include "dux/worker/in_process_client.h"

namespace dux {
namespace {

namespace fs = std::filesystem;

pipeline::Pipeline Parse(const std::string& text) {
  auto script = pipeline::ParseScript(text);
  EXPECT_TRUE(script.ok()) << script.status().message();
  return script->pipeline;
}

class PlanCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-plan-cache-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    session_ = std::move(Session::Open()).value();
    local_ = std::move(Session::Open()).value();
    session_->telemetry().Subscribe([this](const Event& e) {
      if (e.name == "plan.reused") ++reused_;
    });
    for (int f = 0; f < 2; ++f) Write(fmt::format("src-{}.parquet", f), "range", f * 3000, 3000);
    Distribute(2);
  }
  void TearDown() override {
    session_.reset();
    workers_.clear();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  // `rows` rows of k (from `first`), g = k % 3 and v = `value` into `name`.
  void Write(const std::string& name, const std::string& value, int first, int rows) {
    ASSERT_TRUE(local_->connection()
                    .Execute(fmt::format("COPY (SELECT range AS k, range % 3 AS g, {} AS v FROM "
                                         "range({}, {})) TO '{}/{}'",
                                         value, first, first + rows, dir_.string(), name))
                    .ok());
  }
  void Distribute(int n) {
    coordinator::ClusterOptions options;
    for (int i = 0; i < n; ++i) {
      worker::WorkerOptions worker_options;
      worker_options.threads = 1;
      workers_.push_back(std::move(worker::Worker::Open(worker_options)).value());
      options.workers.push_back(worker::MakeInProcessClient(
          workers_.back().get(), "in-process:" + std::to_string(workers_.size())));
    }
    session_->Distribute(std::move(options));
  }
  // The result of `text` distributed and locally, as text, sorted by the first column.
  std::pair<std::string, std::string> Run(const std::string& text) {
    pipeline::Pipeline p = Parse(text + " |> sort_by(g)");
    auto there = session_->Compute(p);
    auto here = local_->Compute(p);
    EXPECT_TRUE(there.ok()) << there.status().message();
    EXPECT_TRUE(here.ok()) << here.status().message();
    if (!there.ok() || !here.ok()) return {};
    return {there->Format(), here->Format()};
  }
  std::string Grouped(const std::string& source = "src-*.parquet") const {
    return "from_parquet(\"" + dir_.string() + "/" + source +
           "\") |> group_by(g) |> summarise(n: count(*), s: sum(v))";
  }

  fs::path dir_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
  std::unique_ptr<Session> session_, local_;
  int reused_ = 0;
};

TEST_F(PlanCacheTest, ARepeatedPipelineRunsOnItsKeptPlan) {
  auto [first, local] = Run(Grouped());
  EXPECT_EQ(first, local);
  EXPECT_EQ(reused_, 0);
  auto [second, again] = Run(Grouped());
  EXPECT_EQ(second, again);
  EXPECT_EQ(reused_, 1);
  // Another text is another pipeline.
  Run(Grouped() + " |> filter(n > 0)");
  EXPECT_EQ(reused_, 1);
}

// `dux run` runs one pipeline per process: its session keeps no plan, and does not list the
// sources' files for a key.
TEST_F(PlanCacheTest, ASessionThatKeepsNoPlansPlansEveryRun) {
  SessionOptions options;
  options.keep_plans = false;
  session_ = std::move(Session::Open(options)).value();
  session_->telemetry().Subscribe([this](const Event& e) {
    if (e.name == "plan.reused") ++reused_;
  });
  Distribute(2);
  for (int run = 0; run < 2; ++run) {
    auto [there, here] = Run(Grouped());
    EXPECT_EQ(there, here);
  }
  EXPECT_EQ(reused_, 0);
}

TEST_F(PlanCacheTest, ARewrittenFileIsPlannedAfresh) {
  Run(Grouped());
  // BIGINT to DECIMAL: the coordinator's compile casts the partial sums to the local types,
  // so a kept plan would give HUGEINTs.
  for (int f = 0; f < 2; ++f) {
    const std::string name = fmt::format("src-{}.parquet", f);
    Write(name, "range + 0.25", f * 3000, 3000);
    // DuckDB's parquet metadata cache (both sessions have it) tells a file's versions apart
    // by their modification time in whole seconds; the key uses nanoseconds and the size.
    fs::last_write_time(dir_ / name, fs::last_write_time(dir_ / name) + std::chrono::seconds(2));
  }
  auto [there, here] = Run(Grouped());
  EXPECT_NE(here.find("decimal(38,2)"), std::string::npos) << here;
  EXPECT_EQ(there, here);
  EXPECT_EQ(reused_, 0);
}

TEST_F(PlanCacheTest, AFileAddedToTheGlobIsPlannedAfresh) {
  Run(Grouped());
  Write("src-2.parquet", "range", 6000, 30);
  auto [there, here] = Run(Grouped());
  EXPECT_EQ(there, here);
  EXPECT_EQ(reused_, 0);
  // The files of the first run again: its plan is the one for them.
  fs::remove(dir_ / "src-2.parquet");
  auto [fewer, local] = Run(Grouped());
  EXPECT_EQ(fewer, local);
  EXPECT_EQ(reused_, 1);
}

TEST_F(PlanCacheTest, AnotherWorkerSetIsPlannedAfresh) {
  Run(Grouped());
  Distribute(3);
  auto [there, here] = Run(Grouped());
  EXPECT_EQ(there, here);
  EXPECT_EQ(reused_, 0);
}

TEST_F(PlanCacheTest, SourcesWithoutAFileIdentityAreNotKept) {
  // Hive partitioning prunes files by evaluating filters at planning.
  fs::create_directories(dir_ / "hive" / "p=1");
  Write("hive/p=1/a.parquet", "range", 0, 100);
  const std::string hive = "from_parquet(\"" + dir_.string() +
                           "/hive/*/*.parquet\", hive_partitioning: true) |> filter(p = 1) |> "
                           "group_by(g) |> summarise(n: count(*), s: sum(v))";
  // A table of the session's own.
  const std::string query =
      "from_query(\"SELECT range AS g, range AS v FROM range(10)\") |> "
      "group_by(g) |> summarise(n: count(*), s: sum(v))";
  for (const auto& text : {hive, query}) {
    Run(text);
    auto [there, here] = Run(text);
    EXPECT_EQ(there, here);
  }
  EXPECT_EQ(reused_, 0);
}

}  // namespace
}  // namespace dux
