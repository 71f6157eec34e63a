#include "dux/exec/duckdb_connection.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "dux/s3_filesystem/local_setting.h"
#include "dux/sql/quote.h"

namespace dux::exec {
namespace {

using pipeline::Value;

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto con = Connection::Open(db_);
    ASSERT_TRUE(con.ok());
    con_ = std::make_unique<Connection>(std::move(con).value());
  }
  Database db_;
  std::unique_ptr<Connection> con_;
};

TEST_F(ConnectionTest, ReadsNativeAndTypedColumns) {
  auto t = con_->Query(
      "SELECT 1::TINYINT AS a, 2.5::DOUBLE AS b, 'x' AS c, NULL::INTEGER AS d, "
      "DATE '2024-01-31' AS e, [1, 2] AS f, 18446744073709551615::UBIGINT AS g");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->NumRows(), 1u);
  const auto& row = t->rows[0];
  EXPECT_EQ(row[0], Value::Int(1));
  EXPECT_EQ(row[1], Value::Double(2.5));
  EXPECT_EQ(row[2], Value::String("x"));
  EXPECT_TRUE(row[3].is_null());
  EXPECT_EQ(row[4], Value::Typed("DATE", "2024-01-31"));
  EXPECT_EQ(row[5], Value::Typed("INTEGER[]", "[1, 2]"));
  EXPECT_EQ(row[6], Value::UInt(UINT64_MAX));
  EXPECT_EQ(t->schema.columns[5].type, "INTEGER[]");
}

TEST_F(ConnectionTest, FormatsWideCharactersByTheirCells) {
  auto t = con_->Query("SELECT '🦆é' AS d");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Format(),
            "┌─────────┐\n"
            "│ d       │\n"
            "│ varchar │\n"
            "├─────────┤\n"
            "│ 🦆é     │\n"
            "└─────────┘\n");
}

TEST_F(ConnectionTest, ReadsManyChunks) {
  auto t = con_->Query("SELECT range AS i FROM range(5000)");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->NumRows(), 5000u);
  EXPECT_EQ(t->rows[4999][0], Value::Int(4999));
}

// QueryEnds holds only what a box shows, and the box is the one of the whole result, for
// results shorter and longer than both ends, across chunk boundaries (2048 rows), with a
// column read through its text (a date).
TEST_F(ConnectionTest, QueryEndsPrintsTheBoxOfTheWholeResult) {
  for (int n : {0, 1, 19, 20, 21, 39, 40, 41, 2047, 2048, 2049, 2068, 2069, 4096, 5000, 6161}) {
    SCOPED_TRACE(n);
    const std::string sql =
        "SELECT range AS i, DATE '2020-01-01' + range::INTEGER AS d FROM range(" +
        std::to_string(n) + ")";
    auto schema = con_->Describe(sql);
    ASSERT_TRUE(schema.ok());
    auto whole = con_->Query(sql, *schema);
    auto ends = con_->QueryEnds(sql, *schema, 20);
    ASSERT_TRUE(whole.ok() && ends.ok());
    EXPECT_EQ(ends->NumRows(), static_cast<size_t>(n));
    EXPECT_EQ(ends->rows.size(), std::min<size_t>(n, 40));
    EXPECT_EQ(ends->Format(), whole->Format());
  }
  auto ends = con_->QueryEnds("SELECT range AS i FROM range(5000)",
                              pipeline::Schema{{{"i", "BIGINT"}}}, 20);
  ASSERT_TRUE(ends.ok());
  EXPECT_EQ(ends->rows[19][0], Value::Int(19));
  EXPECT_EQ(ends->rows[20][0], Value::Int(4980));
  EXPECT_EQ(ends->rows[39][0], Value::Int(4999));
}

TEST_F(ConnectionTest, APreparedTextQuerySeesTheDataAsItIsAtEachRun) {
  ASSERT_TRUE(con_->Execute("CREATE TABLE t AS SELECT 1 AS x").ok());
  const std::string sql = "SELECT CAST(sum(x) AS VARCHAR) FROM t";
  auto first = con_->QueryTextPrepared(sql);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ((*first)[0][0], "1");
  ASSERT_TRUE(con_->Execute("INSERT INTO t VALUES (41)").ok());
  auto second = con_->QueryTextPrepared(sql);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ((*second)[0][0], "42");
  // Errors are QueryText's: a statement that cannot be prepared, or a column not VARCHAR.
  EXPECT_FALSE(con_->QueryTextPrepared("SELECT * FROM missing").ok());
  EXPECT_FALSE(con_->QueryTextPrepared("SELECT 1").ok());
}

TEST_F(ConnectionTest, RefusesASecondStatement) {
  ASSERT_TRUE(con_->Execute("CREATE TABLE t AS SELECT 1 AS x").ok());
  auto r = con_->Execute("SELECT 1; DROP TABLE t");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(con_->Query("SELECT * FROM t").ok());
}

TEST_F(ConnectionTest, ErrorsAreOneLine) {
  auto r = con_->Query("SELECT nope FROM range(3)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  EXPECT_NE(r.status().message().find("nope"), std::string::npos);
}

TEST_F(ConnectionTest, FormatsLikeDuckDbBoxes) {
  auto t = con_->Query("SELECT 'EU' AS region, 100 AS total");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Format(),
            "┌─────────┬───────┐\n"
            "│ region  │ total │\n"
            "│ varchar │ int32 │\n"
            "├─────────┼───────┤\n"
            "│ EU      │   100 │\n"
            "└─────────┴───────┘\n");
}

}  // namespace
}  // namespace dux::exec

namespace dux::exec {
namespace {

// Every value rendered by sql::RenderLiteral reads back from DuckDB as itself, with the
// type the rendering promises; hostile strings stay strings.
TEST_F(ConnectionTest, RenderedLiteralsRoundTrip) {
  std::vector<std::pair<Value, std::string>> cases = {
      {Value::Bool(true), "BOOLEAN"},
      {Value::Int(INT64_MIN), "BIGINT"},
      {Value::Int(INT64_MAX), "BIGINT"},
      {Value::UInt(UINT64_MAX), "UBIGINT"},
      {Value::Double(0.1), "DOUBLE"},
      {Value::Double(-0.0), "DOUBLE"},
      {Value::Double(1e308), "DOUBLE"},
      {Value::Double(std::numeric_limits<double>::infinity()), "DOUBLE"},
      {Value::String("it's \"quoted\"; DROP TABLE t; --\n\\n ünïcødé 🦆"), "VARCHAR"},
      {Value::String(""), "VARCHAR"},
      {Value::String(std::string("nul\0byte", 8)), "VARCHAR"},
      {Value::Blob(std::string("\x00\xff'\\", 4)), "BLOB"},
      {Value::Typed("DATE", "2024-02-29"), "DATE"},
      {Value::Typed("TIMESTAMP", "2024-02-29 12:34:56.789"), "TIMESTAMP"},
      {Value::Typed("INTERVAL", "1 day 02:03:04"), "INTERVAL"},
      {Value::Typed("DECIMAL(18,3)", "-12.500"), "DECIMAL(18,3)"},
      {Value::Typed("HUGEINT", "-170141183460469231731687303715884105728"), "HUGEINT"},
      {Value::Typed("UUID", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "UUID"},
      {Value::Typed("INTEGER[]", "[1, NULL, 3]"), "INTEGER[]"},
      {Value::Typed("STRUCT(\"a b\" VARCHAR, c INTEGER)", "{'a b': xy, 'c': 2}"),
       "STRUCT(\"a b\" VARCHAR, c INTEGER)"},
      {Value::Null(), "\"NULL\""},
  };
  for (const auto& [value, type] : cases) {
    auto literal = sql::RenderLiteral(value);
    ASSERT_TRUE(literal.ok()) << literal.status().ToString();
    auto t = con_->Query("SELECT " + *literal + " AS v");
    ASSERT_TRUE(t.ok()) << *literal << ": " << t.status().ToString();
    ASSERT_EQ(t->NumRows(), 1u);
    if (!value.is_null()) {
      EXPECT_EQ(t->schema.columns[0].type, type) << *literal;
    }
    if (value.kind() == pipeline::ValueKind::kTyped) {
      EXPECT_EQ(t->rows[0][0].text(), value.text()) << *literal;
    } else if (value.kind() == pipeline::ValueKind::kDouble) {
      EXPECT_EQ(t->rows[0][0].double_value(), value.double_value()) << *literal;
      EXPECT_EQ(std::signbit(t->rows[0][0].double_value()), std::signbit(value.double_value()));
    } else {
      EXPECT_EQ(t->rows[0][0], value) << *literal;
    }
  }
}

// CallText runs the function in process, without a statement: its answers and errors must be
// those of the statement `SELECT function('argument')`, in or out of a transaction.
TEST_F(ConnectionTest, CallTextAnswersAsTheStatementWould) {
  const std::vector<std::pair<std::string, std::string>> calls = {
      {"json_serialize_sql", "SELECT sum(\"v 1\") FILTER (WHERE x > 'a''b') + 1\n"},
      {"json_serialize_sql", "SELECT FROM WHERE"},  // DuckDB answers a parse error as JSON
      {"json_deserialize_sql",
       "{\"error\":false,\"statements\":[{\"node\":{\"type\":\"SELECT_NODE\",\"modifiers\":[],"
       "\"cte_map\":{\"map\":[]},\"select_list\":[{\"class\":\"COLUMN_REF\",\"type\":"
       "\"COLUMN_REF\",\"alias\":\"\",\"query_location\":7,\"column_names\":[\"a b\"]}],"
       "\"from_table\":{\"type\":\"EMPTY\",\"alias\":\"\",\"sample\":null,\"query_location\":"
       "18446744073709551615},\"where_clause\":null,\"group_expressions\":[],\"group_sets\":[],"
       "\"aggregate_handling\":\"STANDARD_HANDLING\",\"having\":null,\"sample\":null,"
       "\"qualify\":null}}]}"},
      {"json_deserialize_sql", "{not json"},
      {"error", "boom"},
      {"lower", "ÄB c"},
  };
  // Each side on its own: in a transaction, an error aborts it, as a statement's does.
  auto in = [&](bool transaction, const std::function<void()>& run) {
    if (transaction) {
      ASSERT_TRUE(con_->Execute("BEGIN").ok());
    }
    run();
    if (transaction) {
      ASSERT_TRUE(con_->Execute("ROLLBACK").ok());
    }
  };
  for (bool transaction : {false, true}) {
    for (const auto& call : calls) {
      const std::string& function = call.first;  // named: a lambda cannot capture a binding
      const std::string& argument = call.second;
      SCOPED_TRACE(function + "(" + argument + ")" + (transaction ? " in a transaction" : ""));
      Result<std::optional<std::string>> called = Status::Internal("not run");
      Result<sql::TextRows> queried = Status::Internal("not run");
      Result<sql::TextRows> after_called = Status::Internal("not run");
      Result<sql::TextRows> after_queried = Status::Internal("not run");
      in(transaction, [&] {
        called = con_->CallText(function, argument);
        after_called = con_->QueryText("SELECT 'next'");
      });
      in(transaction, [&] {
        queried = con_->QueryText("SELECT " + function + "(" + sql::QuoteString(argument) + ")");
        after_queried = con_->QueryText("SELECT 'next'");
      });
      EXPECT_EQ(after_called.ok(), after_queried.ok())
          << after_called.status().ToString() << " / " << after_queried.status().ToString();
      ASSERT_EQ(called.ok(), queried.ok())
          << called.status().ToString() << " / " << queried.status().ToString();
      if (!called.ok()) {
        EXPECT_EQ(called.status().ToString(), queried.status().ToString());
        continue;
      }
      ASSERT_EQ(queried->size(), 1u);
      EXPECT_EQ(*called, (*queried)[0][0]);
    }
  }
  // No such function, and none of that name taking one VARCHAR: named in the error.
  for (const std::string function : {"no_such_function", "concat_ws"}) {
    auto missing = con_->CallText(function, "x");
    ASSERT_FALSE(missing.ok()) << function;
    EXPECT_NE(missing.status().message().find(function), std::string::npos)
        << missing.status().ToString();
  }
}

// Describe reads a prepared statement's columns instead of running DESCRIBE: the names, type
// texts and errors must be DESCRIBE's, for every kind of type the compiler meets.
TEST_F(ConnectionTest, DescribeListsTheColumnsAsDescribeDoes) {
  ASSERT_TRUE(con_->Execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')").ok());
  // Each query's parts joined explicitly: one query per kind of type.
  const std::string numbers =
      std::string("SELECT true AS b, 1::TINYINT AS i8, 1::SMALLINT, ") +
      "1::INTEGER AS \"a \"\"q\"\" b\", 1::BIGINT, 1::HUGEINT, 1::UTINYINT, 1::USMALLINT, " +
      "1::UINTEGER, 1::UBIGINT, 1::UHUGEINT, 1.5::FLOAT, 1.5::DOUBLE, 1.5::DECIMAL(4,1), " +
      "1.5::DECIMAL(18,3), 1.5::DECIMAL(38,10), 'x' AS s, 'x'::BLOB, '\\xAA'::BLOB, " +
      "'101'::BIT, 1::VARINT";
  const std::string times =
      std::string("SELECT DATE '2024-01-02', TIME '01:02:03', ") +
      "TIMESTAMP '2024-01-02 03:04:05', TIMESTAMPTZ '2024-01-02 03:04:05+00', " +
      "'2024-01-02'::TIMESTAMP_S, '2024-01-02'::TIMESTAMP_MS, '2024-01-02'::TIMESTAMP_NS, " +
      "'01:02:03+01'::TIMETZ, INTERVAL 3 DAY, uuid() AS u, NULL AS n";
  const std::string nested =
      std::string("SELECT [1, 2] AS l, [[1.5]] AS ll, [1, 2]::INTEGER[2] AS a, ") +
      "{'x': 1, 'y z': ['q']} AS st, MAP {'k': 1} AS m, " +
      "union_value(num := 2)::UNION(num INTEGER, str VARCHAR) AS un, 'ok'::mood AS e, " +
      "'{\"a\": 1}'::JSON AS j";
  const std::vector<std::string> queries = {
      numbers, times, nested, "SELECT 1 AS a, 2 AS a, 3 AS \"A\"",
      "WITH t AS (SELECT * FROM range(3) r(i)) SELECT i, i * 2.5 AS d, count(*) OVER () FROM t"};
  for (const auto& q : queries) {
    auto described = con_->Describe(q);
    ASSERT_TRUE(described.ok()) << q << ": " << described.status().ToString();
    auto rows = con_->QueryText("SELECT column_name, column_type FROM (DESCRIBE " + q + "\n)");
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    ASSERT_EQ(described->columns.size(), rows->size()) << q;
    for (size_t c = 0; c < rows->size(); ++c) {
      EXPECT_EQ(described->columns[c].name, (*rows)[c][0].value_or("")) << q;
      EXPECT_EQ(described->columns[c].type, (*rows)[c][1].value_or("")) << q;
    }
  }
  for (const std::string bad :
       {"SELECT nonexistent FROM range(3)", "SELECT * FROM read_parquet('/nonexistent/x.parquet')",
        "SELECT FROM WHERE", "SELECT 1; SELECT 2"}) {
    auto described = con_->Describe(bad);
    auto statement =
        con_->QueryText("SELECT column_name, column_type FROM (DESCRIBE " + bad + "\n)");
    ASSERT_FALSE(described.ok()) << bad;
    ASSERT_FALSE(statement.ok()) << bad;
    EXPECT_EQ(described.status().code(), StatusCode::kInvalidArgument) << bad;
    if (bad.find(';') == std::string::npos) {
      EXPECT_EQ(described.status().message(), statement.status().message()) << bad;
    }
  }
}

// TrackProgress sets the two settings in process, as the SET statements did.
TEST_F(ConnectionTest, TrackProgressSetsTheProgressBarOnAndItsPrintingOff) {
  auto settings = [&] {
    return con_->QueryText(
        "SELECT CAST(current_setting('enable_progress_bar') AS VARCHAR), "
        "CAST(current_setting('enable_progress_bar_print') AS VARCHAR)");
  };
  ASSERT_EQ((*settings())[0][0].value_or(""), "false");
  ASSERT_TRUE(con_->TrackProgress().ok());
  EXPECT_EQ((*settings())[0][0].value_or(""), "true");
  EXPECT_EQ((*settings())[0][1].value_or(""), "false");
  // Only this connection's.
  auto other = Connection::Open(db_);
  ASSERT_TRUE(other.ok());
  auto others = other->QueryText("SELECT CAST(current_setting('enable_progress_bar') AS VARCHAR)");
  EXPECT_EQ((*others)[0][0].value_or(""), "false");
  // A name that is not a connection's boolean setting is refused.
  for (const char* name : {"no_such_setting", "threads", "memory_limit"}) {
    auto refused = s3_filesystem::SetLocalBoolean(con_->get(), name, true);
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << name;
  }
}

}  // namespace
}  // namespace dux::exec
