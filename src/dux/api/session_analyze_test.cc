// Session::ExplainAnalyze through the C++ API: locally (DuckDB's profile), and on two
// in-process workers (the stages, their workers' rows, a distributed write's stage).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

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

class AnalyzeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dux-analyze-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    session_ = std::move(Session::Open()).value();
    // Two files of 3000 rows: a partition each.
    for (int f = 0; f < 2; ++f) {
      ASSERT_TRUE(session_->connection()
                      .Execute(fmt::format("COPY (SELECT range AS k, range % 3 AS g FROM "
                                           "range({}, {})) TO '{}/src-{}.parquet'",
                                           f * 3000, f * 3000 + 3000, dir_.string(), f))
                      .ok());
    }
  }
  void TearDown() override {
    session_.reset();
    workers_.clear();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  void Distribute() {
    coordinator::ClusterOptions options;
    for (int i = 0; i < 2; ++i) {
      worker::WorkerOptions worker_options;
      worker_options.threads = 1;
      workers_.push_back(std::move(worker::Worker::Open(worker_options)).value());
      options.workers.push_back(
          worker::MakeInProcessClient(workers_.back().get(), "in-process:" + std::to_string(i)));
    }
    session_->Distribute(std::move(options));
  }
  std::string Source() const { return "from_parquet(\"" + dir_.string() + "/src-*.parquet\")"; }

  fs::path dir_;
  std::vector<std::unique_ptr<worker::Worker>> workers_;
  std::unique_ptr<Session> session_;
};

TEST_F(AnalyzeTest, ALocalRunHasDuckDbsProfileAndNoStages) {
  auto run = session_->ExplainAnalyze(Parse(Source() + " |> filter(g = 1)"));
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->rows, 2000);
  EXPECT_FALSE(run->distributed);
  EXPECT_TRUE(run->profile.stages.empty());
  ASSERT_TRUE(run->duckdb_profile.has_value());
  EXPECT_EQ(run->duckdb_profile->metrics.at("ROWS_RETURNED"), "2000");
  EXPECT_FALSE(run->duckdb_profile->children.empty());
  std::string text = FormatAnalyzedRun(*run);
  EXPECT_EQ(text.rfind("explain --analyze: 2000 rows in ", 0), 0u) << text;
  EXPECT_NE(text.find("DuckDB's profile of the query:\nquery  latency "), std::string::npos)
      << text;
}

TEST_F(AnalyzeTest, ADistributedRunHasItsStagesAndWorkers) {
  Distribute();
  auto run = session_->ExplainAnalyze(
      Parse(Source() + " |> filter(g < 2) |> group_by(g) |> summarise(n: count()) |> sort_by(g)"));
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->rows, 2);
  EXPECT_TRUE(run->distributed);
  ASSERT_EQ(run->profile.stages.size(), 2u);
  const StageProfile& scan = run->profile.stages[0];
  EXPECT_EQ(scan.name, "scan");
  EXPECT_EQ(scan.kind, "scan");
  EXPECT_EQ(scan.partitions, 2);
  EXPECT_EQ(scan.status, "ok");
  int64_t partials = 0;
  for (const auto& w : scan.workers) partials += w.rows_out.value_or(-100);
  EXPECT_EQ(partials, 4);  // each partition's two groups, folded on the coordinator
  const StageProfile& final_stage = run->profile.stages[1];
  EXPECT_EQ(final_stage.kind, "final");
  EXPECT_EQ(final_stage.rows_out, 2);
  // The JSON holds the same figures.
  auto json = nlohmann::json::parse(AnalyzedRunJson(*run));
  EXPECT_EQ(json["rows"], 2);
  EXPECT_EQ(json["stages"][0]["rows_out"], scan.rows_out.value_or(-1));
  EXPECT_EQ(json["stages"][1]["kind"], "final");

  // A distributed write: its last stage writes, and reports the rows written.
  auto written =
      session_->ExplainAnalyze(Parse(Source() + " |> to_parquet(\"" + dir_.string() + "/out\")"));
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(written->rows, 6000);
  ASSERT_EQ(written->profile.stages.size(), 1u);
  EXPECT_EQ(written->profile.stages[0].kind, "write");
  EXPECT_EQ(written->profile.stages[0].rows_out, 6000);
  EXPECT_FALSE(written->duckdb_profile.has_value());
}

TEST_F(AnalyzeTest, AFailedRunIsAnError) {
  auto run = session_->ExplainAnalyze(Parse(Source() + " |> mutate(x: ('x' || k)::INTEGER)"));
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.status().message().find("Could not convert"), std::string::npos)
      << run.status().message();
}

}  // namespace
}  // namespace dux
