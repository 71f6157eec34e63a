#include "dux/pg/pushdown.h"

#include <gtest/gtest.h>

#include "dux/exec/duckdb_connection.h"

namespace dux::pg {
namespace {

class PushdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = exec::Database::Open();
    ASSERT_TRUE(db.ok());
    db_ = std::make_unique<exec::Database>(std::move(db).value());
    auto con = exec::Connection::Open(*db_);
    ASSERT_TRUE(con.ok());
    con_ = std::make_unique<exec::Connection>(std::move(con).value());
    auto add = [&](const std::string& name, ColumnType type, char typtype = 'b') {
      PgColumn c;
      c.name = name;
      c.type = type;
      c.catalog.typtype = typtype;
      table_.columns.push_back(c);
    };
    add("id", {Kind::kInt8});
    add("price", {Kind::kNumeric, false, 12, 2});
    add("loose", {Kind::kNumeric});  // unconstrained: read as DOUBLE
    add("ratio", {Kind::kFloat4});
    add("name", {Kind::kText});
    add("mood", {Kind::kText}, 'e');
    add("day", {Kind::kDate});
    add("seen", {Kind::kTimestamp});
    add("atz", {Kind::kTimestampTz});
    add("ok", {Kind::kBool});
    add("Mixed Case", {Kind::kInt4});
  }

  std::string Push(const std::string& filter) {
    std::string out;
    for (const auto& p : PushableConjuncts(con_.get(), filter, table_)) {
      out += (out.empty() ? "" : " AND ") + p;
    }
    return out;
  }

  std::unique_ptr<exec::Database> db_;
  std::unique_ptr<exec::Connection> con_;
  TableDescription table_;
};

TEST_F(PushdownTest, PushesSimpleComparisons) {
  EXPECT_EQ(Push("id > 5"), "\"id\" > 5");
  EXPECT_EQ(Push("5 >= id"), "\"id\" <= 5");
  EXPECT_EQ(Push("id <> -3 AND price < 2.5"), "\"id\" <> -3 AND \"price\" < 2.5");
  EXPECT_EQ(Push("price >= -0.05"), "\"price\" >= -0.05");
  EXPECT_EQ(Push("id = 1e3"), "\"id\" = 1000::float8");
  EXPECT_EQ(Push("name = 'it''s'"), "\"name\" = 'it''s'");
  EXPECT_EQ(Push("day >= DATE '2024-01-31' AND day < '2024-03-01'"),
            "\"day\" >= '2024-01-31' AND \"day\" < '2024-03-01'");
  EXPECT_EQ(Push("seen < TIMESTAMP '2024-01-01 10:00:00.5'"), "\"seen\" < '2024-01-01 10:00:00.5'");
  EXPECT_EQ(Push("ok = true AND name IS NOT NULL AND atz IS NULL"),
            "\"ok\" = true AND \"name\" IS NOT NULL AND \"atz\" IS NULL");
  EXPECT_EQ(Push("\"mixed case\" = 1"), "\"Mixed Case\" = 1");
}

TEST_F(PushdownTest, KeepsOnlyConjunctsWithTheSameMeaning) {
  EXPECT_EQ(Push("id > 5 OR id < 0"), "");
  EXPECT_EQ(Push("id + 1 > 5 AND id > 1"), "\"id\" > 1");
  EXPECT_EQ(Push("name > 'b'"), "");          // collations order text differently
  EXPECT_EQ(Push("mood = 'happy'"), "");      // an unknown label would be an error
  EXPECT_EQ(Push("loose = 0.1"), "");         // DuckDB compares the DOUBLE it read
  EXPECT_EQ(Push("ratio > 0.1"), "");         // float4 against a decimal constant
  EXPECT_EQ(Push("atz > '2024-01-01'"), "");  // depends on time zones
  EXPECT_EQ(Push("day > '01/02/2024'"), "");  // only ISO dates
  EXPECT_EQ(Push("lower(name) = 'a'"), "");
  EXPECT_EQ(Push("nothere = 1"), "");
  EXPECT_EQ(Push("id = NULL"), "");
  EXPECT_EQ(Push("this is not sql ("), "");
}

}  // namespace
}  // namespace dux::pg
