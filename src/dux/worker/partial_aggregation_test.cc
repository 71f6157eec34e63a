// Adaptive partial aggregation on a worker (partial_aggregation.h): the decision from a
// sample, the pipeline of one-row partials, and the choice made over a real parquet file.
#include "dux/worker/partial_aggregation.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "dux/engine/database.h"
#include "dux/pipeline/language.h"
#include "dux/sql/quote.h"

namespace dux::worker {
namespace {

namespace fs = std::filesystem;

TEST(DecidePartialAggregation, SkipsWhenEverySampledRowIsANewGroup) {
  // H2O q10 on one worker: 5 million rows, every key distinct.
  auto d = DecidePartialAggregation(
      {kPartialAggregationSampleRows, kPartialAggregationSampleRows, 5'000'000});
  EXPECT_TRUE(d.skip);
  EXPECT_DOUBLE_EQ(d.rows_per_group, 1);
}

TEST(DecidePartialAggregation, KeepsWhenTheSampleRepeatsOnlyAcrossTheWholePartition) {
  // H2O q3 on one worker: 100,000 groups over 5 million rows. The sample of 100,000 rows
  // holds about 63,200 of them (1.6 rows a group), the partition 50 rows a group.
  auto d = DecidePartialAggregation({kPartialAggregationSampleRows, 63'212, 5'000'000});
  EXPECT_FALSE(d.skip);
  EXPECT_NEAR(d.rows_per_group, 50, 1);
}

TEST(DecidePartialAggregation, APartitionSmallerThanTheSampleIsMeasuredExactly) {
  EXPECT_TRUE(DecidePartialAggregation({1000, 1000, 0}).skip);
  EXPECT_TRUE(DecidePartialAggregation({1000, 501, 0}).skip);
  auto at_threshold = DecidePartialAggregation({1000, 500, 0});
  EXPECT_FALSE(at_threshold.skip);  // 2 rows a group: kept
  EXPECT_DOUBLE_EQ(at_threshold.rows_per_group, 2);
  EXPECT_FALSE(DecidePartialAggregation({1000, 10, 0}).skip);
}

TEST(DecidePartialAggregation, AnEmptySampleKeepsThePartialAggregate) {
  EXPECT_FALSE(DecidePartialAggregation({0, 0, 0}).skip);
  EXPECT_FALSE(DecidePartialAggregation({0, 0, 1'000'000}).skip);
}

TEST(DecidePartialAggregation, InputRowsBelowTheSampleCountAsTheSample) {
  auto d =
      DecidePartialAggregation({kPartialAggregationSampleRows, kPartialAggregationSampleRows, 5});
  EXPECT_TRUE(d.skip);
  EXPECT_DOUBLE_EQ(d.rows_per_group, 1);
}

pipeline::Pipeline Parse(const std::string& text) {
  auto script = pipeline::ParseScript(text);
  EXPECT_TRUE(script.ok()) << script.status().ToString();
  return script.ok() ? script->pipeline : pipeline::Pipeline::FromQuery("SELECT 1");
}

TEST(RowPartialsPipeline, ReplacesTheGroupByAndSummariseWithCastRowsKeysFirst) {
  pipeline::Pipeline partial = Parse(
      "from_parquet(\"t.parquet\") |> filter(x > 0) |> group_by(g, h) |> "
      "summarise(__dux_p0: sum(x), __dux_p1: count(x))");
  pipeline::Schema schema{
      {{"g", "VARCHAR"}, {"h", "INTEGER"}, {"__dux_p0", "HUGEINT"}, {"__dux_p1", "BIGINT"}}};
  auto rows =
      RowPartialsPipeline(partial, schema, {"x", "CASE WHEN x IS NOT NULL THEN 1 ELSE 0 END"});
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->ops().size(), 3u);
  EXPECT_TRUE(std::holds_alternative<pipeline::FilterOp>(rows->ops()[0].body));
  const auto& mutate = std::get<pipeline::MutateOp>(rows->ops()[1].body);
  ASSERT_EQ(mutate.columns.size(), 2u);
  EXPECT_EQ(mutate.columns[0].name, "__dux_p0");
  EXPECT_EQ(mutate.columns[0].expr.sql, "CAST((x) AS HUGEINT)");
  EXPECT_EQ(mutate.columns[1].expr.sql,
            "CAST((CASE WHEN x IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT)");
  const auto& select = std::get<pipeline::SelectOp>(rows->ops()[2].body);
  EXPECT_EQ(select.columns, (std::vector<std::string>{"g", "h", "__dux_p0", "__dux_p1"}));
}

TEST(RowPartialsPipeline, RefusesAPipelineThatDoesNotEndInAGroupedSummarise) {
  pipeline::Schema schema{{{"__dux_p0", "HUGEINT"}}};
  auto ungrouped = RowPartialsPipeline(
      Parse("from_parquet(\"t.parquet\") |> summarise(__dux_p0: sum(x))"), schema, {"x"});
  EXPECT_EQ(ungrouped.status().code(), StatusCode::kInvalidArgument);
  auto miscounted = RowPartialsPipeline(
      Parse("from_parquet(\"t.parquet\") |> group_by(g) |> summarise(__dux_p0: sum(x))"), schema,
      {"x", "x"});
  EXPECT_EQ(miscounted.status().code(), StatusCode::kInvalidArgument);
}

class ChoosePartialAggregationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = engine::OpenDatabase({});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::make_shared<exec::Database>(std::move(db).value());
    auto engine = engine::LocalEngine::Open(db_);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
    std::string tmpl = (fs::temp_directory_path() / "dux-partial-aggregation-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    engine_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// Writes `rows` rows of (g BIGINT: `key`, x INTEGER with NULLs) to t.parquet and chooses
  /// for sum(x), count(x) and count(*) by g.
  PartialAggregationChoice Choose(int rows, const std::string& key) {
    std::string file = (dir_ / "t.parquet").string();
    auto written =
        engine_->connection().Execute("COPY (SELECT " + key +
                                      " AS g, CASE WHEN range % 7 = 0 THEN NULL ELSE CAST(range AS "
                                      "INTEGER) END AS x FROM range(" +
                                      std::to_string(rows) + ")) TO " + sql::QuoteString(file));
    EXPECT_TRUE(written.ok()) << written.status().ToString();
    pipeline::Pipeline partial = Parse("from_parquet(\"" + file +
                                       "\") |> group_by(g) |> summarise(__dux_p0: sum(x), "
                                       "__dux_p1: count(x), __dux_p2: count(*))");
    auto compiled = engine_->Compile(partial);
    EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
    v1::AdaptivePartialAggregate adaptive;
    for (const char* row :
         {"CASE WHEN true THEN x END", "CASE WHEN true AND x IS NOT NULL THEN 1 ELSE 0 END",
          "CASE WHEN true THEN 1 ELSE 0 END"}) {
      adaptive.add_row_partials(row);
    }
    auto choice = ChoosePartialAggregation(engine_.get(), partial, *compiled, adaptive);
    EXPECT_TRUE(choice.ok()) << choice.status().ToString();
    // Whatever it chose, its rows have the partials' columns and types.
    if (choice.ok()) {
      EXPECT_EQ(choice->query.schema, compiled->schema);
    }
    return choice.ok() ? std::move(choice).value() : PartialAggregationChoice{};
  }

  std::shared_ptr<exec::Database> db_;
  std::unique_ptr<engine::LocalEngine> engine_;
  fs::path dir_;
};

TEST_F(ChoosePartialAggregationTest, SkipsForAKeyPerRowAndSendsRowPartials) {
  PartialAggregationChoice choice = Choose(3000, "range");
  EXPECT_TRUE(choice.decision.skip);
  EXPECT_EQ(choice.sample.rows, 3000);
  EXPECT_EQ(choice.sample.groups, 3000);
  // One row per input row; the NULL x counts 0 and sums to NULL.
  auto rows = engine_->connection().QueryText(
      "SELECT CAST(count(*) AS VARCHAR), CAST(sum(__dux_p1) AS VARCHAR), "
      "CAST(sum(__dux_p2) AS VARCHAR), CAST(count(__dux_p0) AS VARCHAR) FROM (" +
      choice.query.Sql() + "\n)");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ((*rows)[0][0], "3000");
  EXPECT_EQ((*rows)[0][1], "2571");  // 3000 less the 429 multiples of 7
  EXPECT_EQ((*rows)[0][2], "3000");
  EXPECT_EQ((*rows)[0][3], "2571");
}

TEST_F(ChoosePartialAggregationTest, KeepsForFewGroups) {
  PartialAggregationChoice choice = Choose(3000, "range % 10");
  EXPECT_FALSE(choice.decision.skip);
  EXPECT_DOUBLE_EQ(choice.decision.rows_per_group, 300);
  auto rows = engine_->connection().QueryText("SELECT CAST(count(*) AS VARCHAR) FROM (" +
                                              choice.query.Sql() + "\n)");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ((*rows)[0][0], "10");
}

TEST_F(ChoosePartialAggregationTest, EstimatesAFullSampleAgainstThePartitionsRows) {
  // 200,000 rows, 1,000 groups: kept. Then a key per row: skipped, counted from the footer.
  EXPECT_FALSE(Choose(200'000, "range % 1000").decision.skip);
  PartialAggregationChoice unique = Choose(200'000, "range");
  EXPECT_TRUE(unique.decision.skip);
  EXPECT_EQ(unique.sample.rows, kPartialAggregationSampleRows);
  EXPECT_EQ(unique.sample.input_rows, 200'000);
}

}  // namespace
}  // namespace dux::worker
