// pg/ against a real PostgreSQL server (test/support/pg_server.h), one server for the whole
// binary: every type read and written back, NULLs and awkward text, create, atomic loads,
// schema mismatches, slices and password redaction.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "dux/exec/duckdb_connection.h"
#include "dux/pg/catalog.h"
#include "dux/pg/connection.h"
#include "dux/pg/slice.h"
#include "dux/pg/table_reader.h"
#include "dux/pg/table_writer.h"
#include "pg_environment.h"

namespace dux::pg {
namespace {

test::PgServer*& server = test::SharedPgServer();
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new test::PgEnvironment);

/// A fresh database per test, a libpq connection to it, and an in-memory DuckDB.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server == nullptr) GTEST_SKIP() << "no PostgreSQL server (see the message above)";
    auto admin = Connection::Open(server->ConnInfo());
    ASSERT_TRUE(admin.ok()) << admin.status().message();
    database_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : database_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASSERT_TRUE(admin->Execute("DROP DATABASE IF EXISTS " + database_).ok());
    ASSERT_TRUE(admin->Execute("CREATE DATABASE " + database_).ok());
    auto pg = Connection::Open(server->ConnInfo(database_));
    ASSERT_TRUE(pg.ok()) << pg.status().message();
    pg_ = std::make_unique<Connection>(std::move(pg).value());
    auto db = exec::Database::Open();
    ASSERT_TRUE(db.ok());
    db_ = std::make_unique<exec::Database>(std::move(db).value());
    auto duck = exec::Connection::Open(*db_);
    ASSERT_TRUE(duck.ok());
    duck_ = std::make_unique<exec::Connection>(std::move(duck).value());
    ASSERT_TRUE(duck_->Execute("SET TimeZone = 'UTC'").ok());
  }

  void Pg(const std::string& sql) {
    auto done = pg_->Execute(sql);
    ASSERT_TRUE(done.ok()) << sql << ": " << done.status().message();
  }

  /// One text value from PostgreSQL ("NULL" for NULL).
  std::string PgValue(const std::string& sql) {
    auto rows = pg_->Query(sql);
    if (!rows.ok()) return "error: " + rows.status().message();
    if (rows->size() != 1) return "rows: " + std::to_string(rows->size());
    return (*rows)[0][0].value_or("NULL");
  }

  /// One text value from DuckDB ("NULL" for NULL).
  std::string DuckValue(const std::string& expr, const std::string& from = "t") {
    auto rows = duck_->QueryText("SELECT CAST(" + expr + " AS VARCHAR) FROM " + from);
    if (!rows.ok()) return "error: " + rows.status().message();
    if (rows->size() != 1) return "rows: " + std::to_string(rows->size());
    return (*rows)[0][0].value_or("NULL");
  }

  /// Reads `table` (with `spec`) into the DuckDB temporary table `into`.
  Result<int64_t> Read(const std::string& table, const ReadSpec& spec = {},
                       const std::string& into = "t") {
    DUX_ASSIGN_OR_RETURN(TableName name, ParseTableName(table));
    DUX_ASSIGN_OR_RETURN(TableDescription description, DescribeTable(*pg_, name));
    DUX_ASSIGN_OR_RETURN(std::string create, CreateTableSql(description, spec, into));
    (void)duck_->Execute("DROP TABLE IF EXISTS temp." + into);
    DUX_RETURN_NOT_OK(duck_->Execute(create).status());
    return ReadInto(*pg_, *duck_, description, spec, into);
  }

  /// Writes DuckDB's `select_sql` into PostgreSQL's `table`.
  Result<int64_t> Write(const std::string& select_sql, const std::string& table, bool create,
                        bool atomic = false) {
    DUX_ASSIGN_OR_RETURN(pipeline::Schema schema, duck_->Describe(select_sql));
    DUX_ASSIGN_OR_RETURN(TableName name, ParseTableName(table));
    return InsertQuery(*duck_, select_sql, schema, *pg_,
                       InsertTarget{name, create, atomic, "pg." + table});
  }

  /// Rows of `a` and `b` (joined on id) whose `column` differs, compared as `how`.
  std::string Differences(const std::string& a, const std::string& b, const std::string& column,
                          const std::string& cast = "") {
    std::string x = "x." + column + cast, y = "y." + column + cast;
    return PgValue("SELECT count(*) FROM " + a + " x FULL JOIN " + b + " y USING (id) WHERE " + x +
                   " IS DISTINCT FROM " + y);
  }

  std::string database_;
  std::unique_ptr<Connection> pg_;
  std::unique_ptr<exec::Database> db_;
  std::unique_ptr<exec::Connection> duck_;
};

// Every supported type, with its edge values, in three rows (the third all NULL).
constexpr const char* kTypesTable = R"(
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE types (
  id integer PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, n numeric(12,2), nu numeric,
  f4 real, f8 double precision, t text, vc varchar(10), ch char(3), b boolean, d date,
  ts timestamp, tstz timestamptz, tm time, tmtz timetz, iv interval, u uuid, j json,
  jb jsonb, bin bytea, ai integer[], tx text[], an numeric(10,2)[], m mood);
INSERT INTO types VALUES
 (1, -32768, -2147483648, -9223372036854775808, -1234567890.12, 3.25, 1.5, 'NaN',
  'héllo "q" \ back', 'ab', 'ab', true, '2024-02-29', '2024-01-02 03:04:05.123456',
  '2024-01-02 03:04:05+02', '23:59:59.999999', '10:00:00+05:30',
  '1 year 2 mons 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"a": [1, 2]}', '{"b": 1, "a": 2}', '\x00ff41', '{1,NULL,-3}',
  '{"a,b","c\"d",NULL,""}', '{1.50,NULL}', 'happy'),
 (2, 32767, 2147483647, 9223372036854775807, 9999999999.99, -12345678.125, '-Infinity',
  '-Infinity', '', '', '', false, '0044-03-15 BC', 'infinity', '-infinity', '00:00:00',
  '00:00:00-08', '-1 days +02:00:00', '00000000-0000-0000-0000-000000000000', 'null', '[]',
  '\x', '{}', '{}', '{}', 'sad'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
)";

TEST_F(PgTest, DescribesAndMapsEveryType) {
  Pg(kTypesTable);
  auto description = DescribeTable(*pg_, TableName{"", "types"});
  ASSERT_TRUE(description.ok()) << description.status().message();
  EXPECT_EQ(description->name, (TableName{"public", "types"}));
  std::string types;
  for (const auto& c : description->columns) {
    types += c.name + ":" + (c.unsupported.empty() ? c.type.DuckDbType() : "?") + " ";
  }
  EXPECT_EQ(types,
            "id:INTEGER i2:SMALLINT i4:INTEGER i8:BIGINT n:DECIMAL(12,2) nu:DOUBLE f4:FLOAT "
            "f8:DOUBLE t:VARCHAR vc:VARCHAR ch:VARCHAR b:BOOLEAN d:DATE ts:TIMESTAMP "
            "tstz:TIMESTAMP WITH TIME ZONE tm:TIME tmtz:TIME WITH TIME ZONE iv:INTERVAL u:UUID "
            "j:JSON jb:JSON bin:BLOB ai:INTEGER[] tx:VARCHAR[] an:DECIMAL(10,2)[] m:VARCHAR ");
}

TEST_F(PgTest, ReadsEveryType) {
  Pg(kTypesTable);
  auto rows = Read("types");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 3);
  auto row = [&](int id, const std::string& expr) {
    return DuckValue(expr, "t WHERE id = " + std::to_string(id));
  };
  EXPECT_EQ(row(1, "i2"), "-32768");
  EXPECT_EQ(row(1, "i4"), "-2147483648");
  EXPECT_EQ(row(1, "i8"), "-9223372036854775808");
  EXPECT_EQ(row(2, "i8"), "9223372036854775807");
  EXPECT_EQ(row(1, "n"), "-1234567890.12");
  EXPECT_EQ(row(2, "n"), "9999999999.99");
  EXPECT_EQ(row(1, "nu"), "3.25");
  EXPECT_EQ(row(2, "nu"), "-12345678.125");
  EXPECT_EQ(row(1, "f4"), "1.5");
  EXPECT_EQ(row(2, "f4"), "-inf");
  EXPECT_EQ(row(1, "f8"), "nan");
  EXPECT_EQ(row(1, "t"), "héllo \"q\" \\ back");
  EXPECT_EQ(row(2, "t"), "");
  EXPECT_EQ(row(1, "vc"), "ab");
  EXPECT_EQ(row(1, "ch"), "ab ");  // char(n) keeps its padding, as PostgreSQL sends it
  EXPECT_EQ(row(1, "b"), "true");
  EXPECT_EQ(row(2, "b"), "false");
  EXPECT_EQ(row(1, "d"), "2024-02-29");
  EXPECT_EQ(row(2, "d"), "0044-03-15 (BC)");
  EXPECT_EQ(row(1, "ts"), "2024-01-02 03:04:05.123456");
  EXPECT_EQ(row(2, "ts"), "infinity");
  EXPECT_EQ(row(1, "tstz"), "2024-01-02 01:04:05+00");
  EXPECT_EQ(row(2, "tstz"), "-infinity");
  EXPECT_EQ(row(1, "tm"), "23:59:59.999999");
  EXPECT_EQ(row(1, "tmtz"), "10:00:00+05:30");
  EXPECT_EQ(row(2, "tmtz"), "00:00:00-08");
  EXPECT_EQ(row(1, "iv"), "1 year 2 months 3 days 04:05:06.5");
  EXPECT_EQ(row(2, "iv"), "-1 day 02:00:00");
  EXPECT_EQ(row(1, "u"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(row(2, "u"), "00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(row(1, "u < '00000000-0000-0000-0000-000000000001'::UUID"), "false");
  EXPECT_EQ(row(1, "j"), "{\"a\": [1, 2]}");
  EXPECT_EQ(row(1, "jb"), "{\"a\": 2, \"b\": 1}");
  EXPECT_EQ(row(1, "json_extract(j, '$.a[1]')"), "2");
  EXPECT_EQ(row(2, "j"), "null");
  EXPECT_EQ(row(1, "hex(bin)"), "00FF41");
  EXPECT_EQ(row(2, "octet_length(bin)"), "0");
  EXPECT_EQ(row(1, "ai"), "[1, NULL, -3]");
  EXPECT_EQ(row(2, "len(ai)"), "0");
  EXPECT_EQ(row(1, "len(tx)"), "4");
  EXPECT_EQ(row(1, "tx[1] || '|' || tx[2] || '|' || (tx[3] IS NULL) || '|' || tx[4] || '|'"),
            "a,b|c\"d|true||");
  EXPECT_EQ(row(1, "an"), "[1.50, NULL]");
  EXPECT_EQ(row(1, "m"), "happy");
  // The all-NULL row: NULL everywhere, never an empty value.
  EXPECT_EQ(DuckValue("count(*)", "t WHERE id = 3 AND COLUMNS(* EXCLUDE (id)) IS NULL"), "1");
}

TEST_F(PgTest, WritesEveryTypeBackIntoTheSameTypes) {
  Pg(kTypesTable);
  ASSERT_TRUE(Read("types").ok());
  Pg("CREATE TABLE copy (LIKE types)");
  auto written = Write("SELECT * FROM t", "copy", /*create=*/false);
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(*written, 3);
  for (const char* column :
       {"i2", "i4",   "i8", "n",    "nu", "f4", "f8", "t",   "vc", "ch", "b",  "d",
        "ts", "tstz", "tm", "tmtz", "iv", "u",  "jb", "bin", "ai", "tx", "an", "m"}) {
    EXPECT_EQ(Differences("types", "copy", column), "0") << column;
  }
  EXPECT_EQ(Differences("types", "copy", "j", "::text"), "0");  // json has no equality
}

TEST_F(PgTest, CreatesTablesWithMappedTypes) {
  Pg(kTypesTable);
  ASSERT_TRUE(Read("types").ok());
  auto written = Write("SELECT * FROM t", "public.created", /*create=*/true);
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(*written, 3);
  EXPECT_EQ(PgValue("SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' "
                    "ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'created'::regclass "
                    "AND attnum > 0"),
            "id integer, i2 smallint, i4 integer, i8 bigint, n numeric(12,2), nu double "
            "precision, f4 real, f8 double precision, t text, vc text, ch text, b boolean, "
            "d date, ts timestamp without time zone, tstz timestamp with time zone, "
            "tm time without time zone, tmtz time with time zone, iv interval, u uuid, j json, "
            "jb json, bin bytea, ai integer[], tx text[], an numeric(10,2)[], m text");
  for (const char* column :
       {"i2",   "i4", "i8",   "n",  "nu", "f4", "f8", "t",   "vc", "b",  "d",  "ts",
        "tstz", "tm", "tmtz", "iv", "u",  "j",  "jb", "bin", "ai", "tx", "an", "m"}) {
    EXPECT_EQ(Differences("types", "created", column, "::text"), "0") << column;
  }
  // char(3) became text with its padding: the value, not PostgreSQL's char comparison.
  EXPECT_EQ(PgValue("SELECT ch FROM created WHERE id = 1"), "ab ");
}

TEST_F(PgTest, NullsEmptyStringsAndAwkwardTextSurviveBothWays) {
  Pg("CREATE TABLE s (id integer, v text, b bytea, a integer[])");
  Pg(R"(INSERT INTO s VALUES (1, NULL, NULL), (2, '', ''), (3, '\N', '\x5c4e'),
        (4, E'tab\there', E'\\x0a'), (5, E'line\nbreak', NULL), (6, E'cr\rlf\r\n', NULL),
        (7, E'back\\slash\\', NULL), (8, 'quote"s and ''apostrophes''', NULL),
        (9, 'ünïcødé 日本語 🎉 e' || chr(769), NULL), (10, E'\\.', NULL), (11, ',;|', NULL))");
  // And many generated rows: a NULL every third, an empty string every fifth.
  Pg("INSERT INTO s SELECT i, CASE WHEN i % 3 = 0 THEN NULL WHEN i % 5 = 0 THEN '' "
     "ELSE repeat(chr(20000 + i % 500) || E'\\t\"' || i, 1 + i % 4) END, "
     "CASE WHEN i % 7 = 0 THEN NULL ELSE decode(lpad(to_hex(i), 8, '0'), 'hex') END, "
     "CASE WHEN i % 11 = 0 THEN NULL WHEN i % 13 = 0 THEN '{}' "
     "ELSE ARRAY[i, NULL, -i, CASE WHEN i % 2 = 0 THEN NULL ELSE i END] END "
     "FROM generate_series(100, 20099) i");
  ASSERT_TRUE(Read("s").ok());
  EXPECT_EQ(DuckValue("count(*)"), "20011");
  EXPECT_EQ(DuckValue("count(*) FILTER (WHERE v IS NULL)"),
            PgValue("SELECT count(*) FROM s WHERE v IS NULL"));
  EXPECT_EQ(DuckValue("count(*) FILTER (WHERE v = '')"),
            PgValue("SELECT count(*) FROM s WHERE v = ''"));
  EXPECT_EQ(DuckValue("v", "t WHERE id = 3"), "\\N");
  EXPECT_EQ(DuckValue("v", "t WHERE id = 9"), "ünïcødé 日本語 🎉 e\xcc\x81");
  EXPECT_EQ(DuckValue("b IS NULL", "t WHERE id = 1"), "true");
  EXPECT_EQ(DuckValue("octet_length(b)", "t WHERE id = 2"), "0");

  auto written = Write("SELECT * FROM t", "back", /*create=*/true);
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(*written, 20011);
  EXPECT_EQ(Differences("s", "back", "v"), "0");
  EXPECT_EQ(Differences("s", "back", "b"), "0");
  EXPECT_EQ(Differences("s", "back", "a"), "0");
  // NULL elements across many chunks, NULL arrays and empty ones stay apart.
  EXPECT_EQ(DuckValue("sum(len(list_filter(a, x -> x IS NULL)))"),
            PgValue("SELECT sum(cardinality(array_positions(a, NULL))) FROM s"));
  EXPECT_EQ(DuckValue("count(*) FILTER (WHERE a IS NULL)"),
            PgValue("SELECT count(*) FROM s WHERE a IS NULL"));
  EXPECT_EQ(DuckValue("count(*) FILTER (WHERE len(a) = 0)"),
            PgValue("SELECT count(*) FROM s WHERE cardinality(a) = 0"));
  EXPECT_EQ(PgValue("SELECT count(*) FROM back WHERE v = ''"),
            PgValue("SELECT count(*) FROM s WHERE v = ''"));
}

TEST_F(PgTest, ValuesMadeInDuckDbArriveExactly) {
  ASSERT_TRUE(duck_
                  ->Execute("CREATE TABLE d AS SELECT * FROM (VALUES "
                            "(1, 'x'::VARCHAR, [1, NULL]::INTEGER[], ['a\"b', NULL, 'c\\d', '', "
                            "'{}', 'NULL'], 1e300::DOUBLE, '-inf'::DOUBLE, 'nan'::FLOAT, "
                            "170141183460469231731687303715884105727::HUGEINT, 255::UTINYINT, "
                            "'2024-01-01 12:00:00.123456789'::TIMESTAMP_NS, ['2024-01-01'::DATE], "
                            "[' '::BLOB, '\\x00'::BLOB]), "
                            "(2, NULL, [], [], NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
                            ") v(id, s, l, tl, d, di, f, h, u, ns, dl, bl)")
                  .ok());
  auto written = Write("SELECT * FROM d", "fromduck", /*create=*/true);
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(PgValue("SELECT l::text FROM fromduck WHERE id = 1"), "{1,NULL}");
  EXPECT_EQ(PgValue("SELECT tl::text FROM fromduck WHERE id = 1"),
            "{\"a\\\"b\",NULL,\"c\\\\d\",\"\",\"{}\",\"NULL\"}");
  EXPECT_EQ(PgValue("SELECT tl[6] FROM fromduck WHERE id = 1"), "NULL");  // the text, not NULL
  EXPECT_EQ(PgValue("SELECT tl[2] IS NULL FROM fromduck WHERE id = 1"), "t");
  EXPECT_EQ(PgValue("SELECT d::text || ' ' || di::text || ' ' || f::text FROM fromduck "
                    "WHERE id = 1"),
            "1e+300 -Infinity NaN");
  EXPECT_EQ(PgValue("SELECT h::text || ' ' || u::text FROM fromduck WHERE id = 1"),
            "170141183460469231731687303715884105727 255");
  EXPECT_EQ(PgValue("SELECT ns::text FROM fromduck WHERE id = 1"), "2024-01-01 12:00:00.123457");
  EXPECT_EQ(PgValue("SELECT dl::text FROM fromduck WHERE id = 1"), "{2024-01-01}");
  EXPECT_EQ(PgValue("SELECT encode(bl[1], 'hex') || encode(bl[2], 'hex') FROM fromduck "
                    "WHERE id = 1"),
            "2000");
  EXPECT_EQ(PgValue("SELECT l::text || tl::text FROM fromduck WHERE id = 2"), "{}{}");
  EXPECT_EQ(PgValue("SELECT s IS NULL FROM fromduck WHERE id = 2"), "t");
}

TEST_F(PgTest, CreateRefusesAnExistingTable) {
  Pg("CREATE TABLE events (id integer); INSERT INTO events VALUES (1)");
  auto written = Write("SELECT 2 AS id", "events", /*create=*/true);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().message(),
            "pg.events already exists (create: true makes a new table)");
  EXPECT_EQ(PgValue("SELECT string_agg(id::text, ',') FROM events"), "1");
  auto missing = Write("SELECT 2 AS id", "nothere", /*create=*/false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "no table pg.nothere in PostgreSQL (create: true creates it)");
}

TEST_F(PgTest, AppendsByNameWithDefaults) {
  Pg("CREATE TABLE events (id integer, note text DEFAULT 'none', amount numeric(8,2))");
  for (bool atomic : {false, true}) {
    auto written = Write("SELECT 2.5 AS AMOUNT, 7 AS id", "events", false, atomic);
    ASSERT_TRUE(written.ok()) << written.status().message();
  }
  EXPECT_EQ(PgValue("SELECT string_agg(id || ' ' || note || ' ' || amount, ',') FROM events"),
            "7 none 2.50,7 none 2.50");
}

TEST_F(PgTest, AtomicLoadsSwapInAllRowsOrNone) {
  Pg("CREATE TABLE events (id integer NOT NULL, v text)");
  Pg("INSERT INTO events VALUES (0, 'old')");
  auto staging = [&] {
    return PgValue("SELECT count(*) FROM pg_class WHERE relname LIKE '__dux_stage_%'");
  };
  auto good = Write("SELECT i::INTEGER AS id, 'v' || i AS v FROM range(1, 50001) r(i)", "events",
                    false, /*atomic=*/true);
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(*good, 50000);
  EXPECT_EQ(PgValue("SELECT count(*) FROM events"), "50001");
  EXPECT_EQ(staging(), "0");
  // Row 30000 cannot be an integer: nothing arrives, the staging table is gone.
  for (bool atomic : {true, false}) {
    auto bad = Write(
        "SELECT CASE WHEN i = 30000 THEN 'x' ELSE i::VARCHAR END AS id FROM range(1, 40001) r(i)",
        "events", false, atomic);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().message(),
              "cannot insert into pg.events: invalid input syntax for type integer: \"x\" (row "
              "30000, column id: \"x\"); nothing was inserted");
    EXPECT_EQ(PgValue("SELECT count(*) FROM events"), "50001");
    EXPECT_EQ(staging(), "0");
  }
  // A NOT NULL violation found when the staging rows move in: also all or nothing.
  auto null_id = Write(
      "SELECT CASE WHEN i = 5 THEN NULL ELSE i END::INTEGER AS id "
      "FROM range(1, 10) r(i)",
      "events", false, /*atomic=*/true);
  ASSERT_FALSE(null_id.ok());
  EXPECT_NE(null_id.status().message().find("violates not-null constraint"), std::string::npos)
      << null_id.status().message();
  EXPECT_EQ(PgValue("SELECT count(*) FROM events"), "50001");
  EXPECT_EQ(staging(), "0");
}

TEST_F(PgTest, CreateAtomicLeavesNoTableOnFailure) {
  auto bad = Write(
      "SELECT CASE WHEN i = 3 THEN 'nope' ELSE i::VARCHAR END::INTEGER AS id "
      "FROM range(1, 10) r(i)",
      "made", /*create=*/true, /*atomic=*/true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(PgValue("SELECT to_regclass('made') IS NULL"), "t");
  EXPECT_EQ(PgValue("SELECT count(*) FROM pg_class WHERE relname LIKE '__dux_stage_%'"), "0");
  auto good = Write("SELECT i AS id FROM range(1, 10) r(i)", "made", true, true);
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(PgValue("SELECT count(*) || ' ' || relpersistence::text FROM made, pg_class "
                    "WHERE relname = 'made' GROUP BY relpersistence"),
            "9 p");  // a permanent (logged) table
}

TEST_F(PgTest, SchemaMismatchIsOneLineAndChangesNothing) {
  Pg("CREATE TABLE events (id integer, day date); INSERT INTO events VALUES (1, '2024-01-01')");
  for (bool atomic : {false, true}) {
    auto unknown = Write("SELECT 1 AS id, 2 AS extra", "events", false, atomic);
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.status().message(),
              "column \"extra\" is not in pg.events (its columns: id, day)");
    auto wrong = Write("SELECT 1 AS id, 20240101 AS day", "events", false, atomic);
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.status().message(),
              "column \"day\" is INTEGER in the pipeline but date in pg.events");
  }
  EXPECT_EQ(PgValue("SELECT count(*) FROM events"), "1");
  EXPECT_EQ(PgValue("SELECT count(*) FROM pg_class WHERE relname LIKE '__dux_stage_%'"), "0");
}

TEST_F(PgTest, ProjectsFiltersAndReportsUnsupportedColumns) {
  Pg("CREATE TABLE geo (id integer, p point, name text)");
  Pg("INSERT INTO geo VALUES (1, '(1,2)', 'a'), (2, '(3,4)', 'b'), (3, NULL, 'c')");
  auto all = Read("geo");
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().message(),
            "column \"p\" has type point, which dux cannot read (cast it in a view, e.g. to "
            "text)");
  auto description = DescribeTable(*pg_, TableName{"", "geo"});
  ASSERT_TRUE(description.ok());
  ReadSpec spec;
  spec.columns = {2, 0};
  spec.predicates = {"\"id\" >= 2"};
  EXPECT_EQ(SelectSql(*description, spec),
            "SELECT \"name\", \"id\" FROM \"public\".\"geo\" WHERE (\"id\" >= 2)");
  auto rows = Read("geo", spec);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, 2);
  EXPECT_EQ(DuckValue("string_agg(name || id, ',' ORDER BY id)"), "b2,c3");
  auto missing = Read("public.nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "no table \"public.nope\" in PostgreSQL");
}

TEST_F(PgTest, DecimalColumnsRefuseNaN) {
  Pg("CREATE TABLE nums (id integer, n numeric(10,2)); INSERT INTO nums VALUES (1, 'NaN')");
  auto rows = Read("nums");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().message(),
            "column \"n\" (numeric(10,2)) holds NaN, which DECIMAL(10,2) cannot hold");
  Pg("CREATE TABLE big (id integer, n numeric(40,0), m numeric(38,5))");
  Pg("INSERT INTO big VALUES (1, 1e39, 123456789012345678901234567890123.45678)");
  ASSERT_TRUE(Read("big").ok());
  EXPECT_EQ(DuckValue("n"), "1e+39");
  EXPECT_EQ(DuckValue("m"), "123456789012345678901234567890123.45678");
  Pg("CREATE TABLE multi (id integer, a integer[]); INSERT INTO multi VALUES (1, '{{1,2},{3,4}}')");
  auto multi = Read("multi");
  ASSERT_FALSE(multi.ok());
  EXPECT_EQ(multi.status().message(),
            "column \"a\" (integer[]) holds a 2-dimensional array; dux reads one-dimensional "
            "arrays only");
}

TEST_F(PgTest, SlicesAreDisjointAndCoverEveryRow) {
  Pg("CREATE TABLE keys (id bigint, k text)");
  Pg("INSERT INTO keys SELECT i, 'key' || i FROM generate_series(-500, 1500) i");
  Pg("INSERT INTO keys VALUES (NULL, NULL), (NULL, 'x'), (-9223372036854775808, 'min')");
  const std::string total = PgValue("SELECT count(*) FROM keys");
  auto description = DescribeTable(*pg_, TableName{"", "keys"});
  ASSERT_TRUE(description.ok());
  struct Case {
    std::string column;
    SliceMethod method;
    std::optional<KeyRange> range;
  };
  for (const Case& c : {Case{"id", SliceMethod::kModulus, std::nullopt},
                        Case{"k", SliceMethod::kHash, std::nullopt},
                        Case{"id", SliceMethod::kRange, KeyRange{-500, 1500}}}) {
    const int n = 3;
    ASSERT_TRUE(duck_
                    ->Execute("CREATE OR REPLACE TEMPORARY TABLE all_slices "
                              "(slice INTEGER, id BIGINT, k VARCHAR)")
                    .ok());
    for (int i = 0; i < n; ++i) {
      auto predicate = SlicePredicate(c.column, c.method, i, n, c.range);
      ASSERT_TRUE(predicate.ok());
      ReadSpec spec;
      spec.predicates = {*predicate};
      auto rows = Read("keys", spec, "slice");
      ASSERT_TRUE(rows.ok()) << rows.status().message();
      EXPECT_GT(*rows, 300) << *predicate;  // roughly balanced
      ASSERT_TRUE(
          duck_
              ->Execute("INSERT INTO all_slices SELECT " + std::to_string(i) + ", id, k FROM slice")
              .ok());
    }
    EXPECT_EQ(DuckValue("count(*)", "all_slices"), total) << c.column;
    EXPECT_EQ(DuckValue("count(DISTINCT (id, k))", "all_slices"), total) << c.column;
    EXPECT_EQ(DuckValue("string_agg(DISTINCT slice::VARCHAR, ',')",
                        "all_slices WHERE " + c.column + " IS NULL"),
              "0");
  }
}

TEST_F(PgTest, ReadsKeyRanges) {
  Pg("CREATE TABLE keys (id integer, k text)");
  auto none = ReadKeyRange(*pg_, TableName{"", "keys"}, "id");
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_FALSE(none->has_value());
  Pg("INSERT INTO keys VALUES (NULL, 'a'), (-7, 'b'), (42, 'c')");
  auto range = ReadKeyRange(*pg_, TableName{"public", "keys"}, "id");
  ASSERT_TRUE(range.ok()) << range.status().message();
  ASSERT_TRUE(range->has_value());
  EXPECT_EQ((*range)->min, -7);
  EXPECT_EQ((*range)->max, 42);
}

TEST_F(PgTest, AFailingPipelineInsertsNothing) {
  Pg("CREATE TABLE events (id bigint)");
  for (bool atomic : {false, true}) {
    auto failed = Write(
        "SELECT CASE WHEN i = 5000 THEN error('boom at 5000') ELSE i END AS id "
        "FROM range(10000) r(i)",
        "events", false, atomic);
    ASSERT_FALSE(failed.ok());
    EXPECT_NE(failed.status().message().find("boom at 5000"), std::string::npos)
        << failed.status().message();
    EXPECT_NE(failed.status().message().find("; nothing was inserted"), std::string::npos);
    EXPECT_EQ(PgValue("SELECT count(*) FROM events"), "0");
  }
  // The connection is still usable.
  ASSERT_TRUE(Write("SELECT 1 AS id", "events", false).ok());
  EXPECT_EQ(PgValue("SELECT count(*) FROM events"), "1");
}

TEST_F(PgTest, PasswordsNeverAppearInErrors) {
  Pg("CREATE ROLE secret_user LOGIN PASSWORD 'right-horse-battery'");
  Pg("GRANT ALL ON DATABASE " + database_ + " TO secret_user");
  const std::string wrong = "wrong-staple-9876";
  auto bad = Connection::Open(server->ConnInfo(database_, "secret_user") + " password=" + wrong);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find(wrong), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("password=***"), std::string::npos);
  EXPECT_NE(bad.status().message().find("password authentication failed"), std::string::npos);

  const std::string uri = "postgresql://secret_user:" + wrong +
                          "@127.0.0.1:" + std::to_string(server->port()) + "/" + database_;
  auto bad_uri = Connection::Open(uri);
  ASSERT_FALSE(bad_uri.ok());
  EXPECT_EQ(bad_uri.status().message().find(wrong), std::string::npos);
  EXPECT_NE(bad_uri.status().message().find("postgresql://secret_user:***@127.0.0.1"),
            std::string::npos)
      << bad_uri.status().message();

  auto good = Connection::Open(server->ConnInfo(database_, "secret_user") +
                               " password='right-horse-battery'");
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(good->redacted(), server->ConnInfo(database_, "secret_user") + " password=***");

  // The password may come from libpq's environment instead (how workers get theirs).
  setenv("PGPASSWORD", "right-horse-battery", 1);
  auto from_env = Connection::Open(server->ConnInfo(database_, "secret_user"));
  unsetenv("PGPASSWORD");
  EXPECT_TRUE(from_env.ok()) << from_env.status().message();
}

}  // namespace
}  // namespace dux::pg
