// sql::ReferencedTables against DuckDB's real parser: every place a statement can name a table.
#include "dux/sql/table_references.h"

#include <gtest/gtest.h>

#include "dux/exec/duckdb_connection.h"

namespace dux::exec {
namespace {

class TableReferencesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open();
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    auto con = Connection::Open(db_);
    ASSERT_TRUE(con.ok());
    con_ = std::make_unique<Connection>(std::move(con).value());
  }
  sql::TableReferences Refs(const std::string& sql) {
    auto refs = sql::ReferencedTables(con_.get(), sql);
    EXPECT_TRUE(refs.ok()) << refs.status().ToString();
    return refs.ok() ? *refs : sql::TableReferences{};
  }
  Database db_;
  std::unique_ptr<Connection> con_;
};

using Names = std::set<std::string>;

TEST_F(TableReferencesTest, FindsTablesWhereverTheStatementNamesThem) {
  EXPECT_EQ(Refs("SELECT * FROM a").tables, Names({"a"}));
  EXPECT_EQ(Refs("SELECT * FROM memory.main.\"Odd name\"").tables, Names({"Odd name"}));
  EXPECT_EQ(Refs("SELECT * FROM a JOIN b USING (k) WHERE x IN (SELECT x FROM c)").tables,
            Names({"a", "b", "c"}));
  EXPECT_EQ(Refs("WITH w AS (SELECT * FROM d) SELECT (SELECT max(y) FROM e), * FROM w").tables,
            Names({"d", "e", "w"}));
  EXPECT_EQ(Refs("SELECT * FROM f UNION ALL SELECT * FROM g").tables, Names({"f", "g"}));
  EXPECT_EQ(Refs("SELECT list_transform([1], x -> (SELECT count(*) FROM h))").tables, Names({"h"}));
  EXPECT_TRUE(Refs("SELECT 1").tables.empty());
}

TEST_F(TableReferencesTest, ListsTableFunctions) {
  auto refs = Refs("SELECT * FROM read_parquet('x.parquet') JOIN query_table('t') USING (k)");
  EXPECT_EQ(refs.functions, Names({"query_table", "read_parquet"}));
  EXPECT_TRUE(refs.tables.empty());
}

TEST_F(TableReferencesTest, ASyntaxErrorIsInvalidArgument) {
  auto refs = sql::ReferencedTables(con_.get(), "SELECT * FROM");
  ASSERT_FALSE(refs.ok());
  EXPECT_EQ(refs.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dux::exec
