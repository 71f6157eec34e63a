// What the planning prefetches ask ahead is what PlanScript then asks: the group estimate's
// sample, run on a prefetch connection while the planning one compiles and splits, is only
// shared when the two statements are the same text (sql::BindCache).
#include "dux/coordinator/planner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dux/coordinator/database_testing.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/pipeline/language.h"
#include "dux/sql/compiler.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {
namespace {

namespace fs = std::filesystem;

// The statements run through it that sample groups (sql::CountGroupsOfFirstRows).
class SampleRecorder : public sql::Binder {
 public:
  explicit SampleRecorder(exec::Connection* c) : c_(c) {}
  Result<pipeline::Schema> Describe(const std::string& select_sql) override {
    return c_->Describe(select_sql);
  }
  Result<sql::TextRows> QueryText(const std::string& sql) override {
    if (sql.find("count(DISTINCT h)") != std::string::npos) samples.push_back(sql);
    return c_->QueryText(sql);
  }
  Result<std::optional<std::string>> CallText(const std::string& function,
                                              const std::string& argument) override {
    return c_->CallText(function, argument);
  }
  std::vector<std::string> samples;

 private:
  exec::Connection* c_;
};

class PlanningPrefetchTest : public DatabaseTest {
 protected:
  void SetUp() override {
    DatabaseTest::SetUp();
    for (int i = 0; i < 2; ++i) {
      const std::string file = (dir_ / ("part-" + std::to_string(i) + ".parquet")).string();
      Sql("COPY (SELECT range % 7 AS k, range AS v FROM range(1000)) TO " + sql::QuoteString(file) +
          " (FORMAT parquet)");
    }
    cluster_.workers.resize(2);  // planning counts the workers; it calls none
  }

  /// The sample statements the prefetches of `verbs` ask, and those PlanScript asks.
  std::pair<std::vector<std::string>, std::vector<std::string>> Samples(const std::string& verbs) {
    auto script = pipeline::ParseScript("from_parquet(\"" + (dir_ / "*.parquet").string() +
                                        "\") |> " + verbs);
    EXPECT_TRUE(script.ok()) << script.status().ToString();
    if (!script.ok()) return {};
    SampleRecorder ahead(con_.get());
    for (const Prefetch& prefetch : PlanningPrefetches(script->pipeline, cluster_)) {
      prefetch(&ahead);
    }
    SampleRecorder planning(con_.get());
    sql::Compiler compiler(&planning);
    auto local = compiler.Compile(script->pipeline);
    EXPECT_TRUE(local.ok()) << local.status().ToString();
    if (!local.ok()) return {};
    auto plan = PlanScript(&planning, *script, *local, cluster_);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return {ahead.samples, planning.samples};
  }

  ClusterOptions cluster_;
};

TEST_F(PlanningPrefetchTest, TheGroupSampleIsAskedAheadAsThePlanningAsksIt) {
  for (const std::string verbs : {"group_by(k) |> summarise(s: sum(v), m: avg(v))",
                                  "filter(v > 10) |> mutate(w: v * 2) |> group_by(k, w) |> "
                                  "summarise(n: count(*))"}) {
    auto [ahead, planning] = Samples(verbs);
    ASSERT_EQ(planning.size(), 1u) << verbs;
    EXPECT_EQ(ahead, planning) << verbs;
  }
}

TEST_F(PlanningPrefetchTest, NothingIsSampledAheadWithoutAGroupedSummary) {
  for (const std::string verbs : {"summarise(s: sum(v))", "filter(v > 10) |> select(k)"}) {
    auto [ahead, planning] = Samples(verbs);
    EXPECT_TRUE(ahead.empty()) << verbs;
    EXPECT_TRUE(planning.empty()) << verbs;
  }
}

}  // namespace
}  // namespace dux::coordinator
