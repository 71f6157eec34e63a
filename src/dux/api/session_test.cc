#include "dux/api/session.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace dux {
namespace {

using pipeline::SortKey;
using pipeline::Value;

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Session::Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    session_ = std::move(s).value();
  }
  Frame Sales() {
    return session_->FromValues({"region", "amount"}, {{Value::String("EU"), Value::Int(10)},
                                                       {Value::String("EU"), Value::Int(30)},
                                                       {Value::String("US"), Value::Int(5)},
                                                       {Value::Null(), Value::Int(1)}});
  }
  std::unique_ptr<Session> session_;
};

TEST_F(SessionTest, MutateReplacesInPlaceAndAppends) {
  auto t = Sales().Mutate({{"amount", "amount * 2"}, {"big", "amount > 20"}}).Compute();
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->schema.columns.size(), 3u);
  EXPECT_EQ(t->schema.columns[1].name, "amount");
  EXPECT_EQ(t->schema.columns[2].name, "big");
  EXPECT_EQ(t->rows[1][1], Value::Int(60));
  EXPECT_EQ(t->rows[1][2], Value::Bool(true));  // sees the replaced amount
}

TEST_F(SessionTest, GroupedMutateAndFilterRunPerGroup) {
  auto t = Sales()
               .GroupBy({"region"})
               .Mutate({{"share", "amount / sum(amount)"}})
               .Filter("amount = max(amount)")
               .SortBy({SortKey{{"region", {}}, false, pipeline::NullOrder::kLast}})
               .Compute();
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->NumRows(), 3u);
  EXPECT_EQ(t->rows[0][1], Value::Int(30));
  EXPECT_EQ(t->rows[0][2], Value::Double(0.75));
  EXPECT_TRUE(t->rows[2][0].is_null());
}

TEST_F(SessionTest, SummariseGroupsAndUngroups) {
  auto t = Sales()
               .GroupBy({"region"})
               .Summarise({{"total", "sum(amount)"}, {"n", "count(*)"}})
               .Filter("total > 4")
               .SortBy({SortKey{{"total", {}}, true, {}}})
               .Compute();
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->NumRows(), 2u);
  EXPECT_EQ(t->rows[0][0], Value::String("EU"));
  EXPECT_EQ(t->rows[0][1], Value::Typed("HUGEINT", "40"));
}

TEST_F(SessionTest, ErrorsNameTheVerb) {
  auto bad_column = Sales().Filter("amont > 1").Compute();
  ASSERT_FALSE(bad_column.ok());
  EXPECT_EQ(bad_column.status().message(),
            "filter: unknown column \"amont\"; did you mean \"amount\"?");
  auto aggregate = Sales().Filter("sum(amount) > 1").Compute();
  ASSERT_FALSE(aggregate.ok());
  EXPECT_EQ(aggregate.status().message().rfind("filter: aggregate sum() is not allowed", 0), 0u)
      << aggregate.status().message();
  auto not_aggregate = Sales().Summarise({{"x", "amount + 1"}}).Compute();
  ASSERT_FALSE(not_aggregate.ok());
  EXPECT_EQ(not_aggregate.status().message(),
            "summarise: \"x\" is not an aggregate: \"amount + 1\"");
  auto injected = Sales().Filter("true) UNION ALL (SELECT 1, 2").Compute();
  ASSERT_FALSE(injected.ok());
  auto missing = session_->FromParquet("/nonexistent/*.parquet").Compute();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message().rfind("from_parquet: ", 0), 0u);
}

TEST_F(SessionTest, JoinKeepsRightSideVerbs) {
  auto dims = session_
                  ->FromValues({"region", "name"}, {{Value::String("EU"), Value::String("Europe")},
                                                    {Value::String("US"), Value::String("States")}})
                  .Filter("region = 'EU'");
  auto t = Sales().Join(dims, pipeline::JoinHow::kInner).Compute();
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->NumRows(), 2u);
  ASSERT_EQ(t->schema.columns.size(), 3u);
  EXPECT_EQ(t->schema.columns[2].name, "name");
}

TEST_F(SessionTest, NumRowsAndPeek) {
  EXPECT_EQ(*Sales().NumRows(), 4);
  EXPECT_EQ(Sales().Peek(2)->NumRows(), 2u);
}

// ---- What closing a session still has to do on files --------------------------------------

// Whether DuckDB itself lists files that closing tidies: the oracle HoldsFilesToClose follows.
bool DuckDbListsFilesToClose(Session& session) {
  auto held = session.connection().QueryText(
      "SELECT CAST((SELECT count(*) FROM duckdb_temporary_files()) + (SELECT count(*) FROM "
      "duckdb_databases() WHERE NOT internal AND path IS NOT NULL) AS VARCHAR)");
  EXPECT_TRUE(held.ok()) << held.status().message();
  return held.ok() && (*held)[0][0] != "0";
}

class HoldsFilesToCloseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dux-holds-files-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(HoldsFilesToCloseTest, AnInMemorySessionHoldsNone) {
  auto session = std::move(Session::Open()).value();
  ASSERT_TRUE(session->connection().Execute("CREATE TEMP TABLE t AS SELECT 1 AS a").ok());
  EXPECT_FALSE(session->HoldsFilesToClose());
  EXPECT_FALSE(DuckDbListsFilesToClose(*session));
}

TEST_F(HoldsFilesToCloseTest, ADatabaseFileMainOrAttachedIsHeld) {
  SessionOptions on_file;
  on_file.database_path = dir_ + "/main.duckdb";
  auto main = std::move(Session::Open(on_file)).value();
  EXPECT_TRUE(main->HoldsFilesToClose());
  EXPECT_TRUE(DuckDbListsFilesToClose(*main));

  auto session = std::move(Session::Open()).value();
  pipeline::Attachment attachment;
  attachment.alias = "side";
  attachment.path = dir_ + "/side.duckdb";
  ASSERT_TRUE(session->Attach(attachment, false).ok());
  EXPECT_TRUE(session->HoldsFilesToClose());
  EXPECT_TRUE(DuckDbListsFilesToClose(*session));
  ASSERT_TRUE(session->connection().Execute("DETACH side").ok());
  EXPECT_FALSE(session->HoldsFilesToClose());
}

TEST_F(HoldsFilesToCloseTest, SpilledTemporaryFilesAreHeld) {
  SessionOptions small;
  small.memory_limit = "64MB";
  small.threads = 1;
  small.temp_directory = dir_ + "/spill";
  auto session = std::move(Session::Open(small)).value();
  EXPECT_FALSE(session->HoldsFilesToClose());
  // About 400 MB of a temporary table in a 64 MB database: evicted to temporary files.
  ASSERT_TRUE(session->connection()
                  .Execute("CREATE TEMP TABLE big AS SELECT range AS i, repeat('x', 120) || "
                           "range::VARCHAR AS s FROM range(3000000)")
                  .ok());
  EXPECT_TRUE(DuckDbListsFilesToClose(*session));
  EXPECT_TRUE(session->HoldsFilesToClose());
}

}  // namespace
}  // namespace dux
