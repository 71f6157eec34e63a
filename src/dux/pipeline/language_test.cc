#include "dux/pipeline/language.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace dux::pipeline {
namespace {

/// The pipeline of `text`, which must parse.
Pipeline ParseOk(std::string_view text) {
  Result<Script> script = ParseScript(text);
  if (!script.ok()) {
    ADD_FAILURE() << "failed to parse:\n" << text << "\n" << script.status().ToString();
    return Pipeline::FromQuery("<parse failed>");
  }
  return script->pipeline;
}

/// The message of the error `text` must give.
std::string ParseError(std::string_view text) {
  Result<Script> script = ParseScript(text);
  if (script.ok()) {
    ADD_FAILURE() << "parsed, but should not have:\n" << text;
    return "";
  }
  EXPECT_EQ(script.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(script.status().message().find('\n'), std::string::npos) << script.status().message();
  return script.status().message();
}

/// The only verb of `text`, which must parse.
Op OnlyOp(std::string_view text) {
  Pipeline p = ParseOk(text);
  if (p.ops().size() != 1) {
    ADD_FAILURE() << "expected one verb in " << text;
    return Op{UngroupOp{}, {}};
  }
  return p.ops()[0];
}

/// The expression of the only filter in `text`.
std::string FilterSql(std::string_view text) {
  Op op = OnlyOp(text);
  const auto* filter = std::get_if<FilterOp>(&op.body);
  if (filter == nullptr) {
    ADD_FAILURE() << "not a filter: " << text;
    return "";
  }
  return filter->predicate.sql;
}

Location Loc(int line, int column) { return Location{line, column}; }

// ---- sources ----------------------------------------------------------------------------

TEST(LanguageTest, FromParquetWithOptions) {
  EXPECT_EQ(ParseOk(R"(from_parquet("lake/**/*.parquet"))"),
            Pipeline::FromParquet("lake/**/*.parquet"));
  EXPECT_EQ(ParseOk(R"(from_parquet("a/*.parquet", hive_partitioning: true, union_by_name: true))"),
            Pipeline::FromParquet("a/*.parquet", true, true));
  EXPECT_EQ(ParseOk(R"(from_parquet("a", union_by_name: true, hive_partitioning: false))"),
            Pipeline::FromParquet("a", false, true));
  ParquetSource typed{
      "lake/**/*.parquet", true, false, {}, {{"month", "INTEGER"}, {"day", "DATE"}}, {}};
  EXPECT_EQ(ParseOk(R"(from_parquet("lake/**/*.parquet", hive_partitioning: true,
                                    hive_types: [month: "INTEGER", day: "DATE"]))"),
            Pipeline(Source{typed, {}}));
}

TEST(LanguageTest, FromCsvWithEveryOption) {
  CsvSource csv;
  csv.path = "data/x.csv";
  csv.delimiter = ";";
  csv.header = false;
  csv.skip = 2;
  csv.nullstr = "NA";
  csv.types = {{"a", "INTEGER"}, {"b c", "DECIMAL(18,3)"}};
  csv.columns = {"a", "b c", "d"};
  EXPECT_EQ(ParseOk(R"x(from_csv("data/x.csv", delimiter: ";", header: false, skip: 2,
                          nullstr: "NA", types: [a: "INTEGER", "b c": "DECIMAL(18,3)"],
                          columns: [a, "b c", d]))x"),
            Pipeline::FromCsv(csv));
  EXPECT_EQ(ParseOk(R"(from_csv("x.csv"))"), Pipeline::FromCsv("x.csv"));
}

TEST(LanguageTest, FromNdjsonAndFromQuery) {
  EXPECT_EQ(ParseOk(R"(from_ndjson("events.ndjson"))"), Pipeline::FromNdjson("events.ndjson"));
  EXPECT_EQ(ParseOk(R"(from_query("SELECT \"a\", 'b\\c'\n\tFROM t"))"),
            Pipeline::FromQuery("SELECT \"a\", 'b\\c'\n\tFROM t"));
  EXPECT_EQ(ParseOk("from_query(\"SELECT 1\nUNION ALL SELECT 2\")"),
            Pipeline::FromQuery("SELECT 1\nUNION ALL SELECT 2"));
}

TEST(LanguageTest, FromValuesBuildsRowsFromColumns) {
  Pipeline expected = Pipeline::FromValues({"id", "name x", "score"},
                                           {{Value::Int(1), Value::String("a"), Value::Double(1.5)},
                                            {Value::Int(-2), Value::String("it's"), Value::Null()},
                                            {Value::Int(3), Value::Null(), Value::Double(-2e3)}},
                                           {{"id", "BIGINT"}});
  EXPECT_EQ(ParseOk(R"(from_values(id: [1, -2, 3], "name x": ['a', 'it''s', null],
                                   score: [1.5, NULL, -2e3], types: [id: "BIGINT"]))"),
            expected);
}

TEST(LanguageTest, FromValuesLiterals) {
  Pipeline p = ParseOk(
      "from_values(v: [true, FALSE, 9223372036854775807, -9223372036854775808, .5, 1e3, "
      "DATE '2024-01-31', timestamp with time zone '2024-01-01 00:00:00+00', "
      "INTERVAL '1 day', '1.25'::decimal(18, 3), 'x' :: varchar[], 'é'])");
  ASSERT_TRUE(std::holds_alternative<ValuesSource>(p.source().body));
  const auto& values = std::get<ValuesSource>(p.source().body);
  std::vector<Value> expected = {
      Value::Bool(true),
      Value::Bool(false),
      Value::Int(INT64_MAX),
      Value::Int(INT64_MIN),
      Value::Double(0.5),
      Value::Double(1000),
      Value::Typed("DATE", "2024-01-31"),
      Value::Typed("TIMESTAMP WITH TIME ZONE", "2024-01-01 00:00:00+00"),
      Value::Typed("INTERVAL", "1 day"),
      Value::Typed("DECIMAL(18, 3)", "1.25"),
      Value::Typed("VARCHAR[]", "x"),
      Value::String("é"),
  };
  ASSERT_EQ(values.rows.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(values.rows[i].size(), 1u);
    EXPECT_EQ(values.rows[i][0], expected[i])
        << "row " << i << ": " << values.rows[i][0].ToString();
  }
}

TEST(LanguageTest, FromValuesColumnCalledTypesIsAColumn) {
  EXPECT_EQ(ParseOk("from_values(types: [1, 2], b: ['x', 'y'])"),
            Pipeline::FromValues({"types", "b"}, {{Value::Int(1), Value::String("x")},
                                                  {Value::Int(2), Value::String("y")}}));
  EXPECT_EQ(ParseOk("from_values(a: [])"), Pipeline::FromValues({"a"}, {}));
}

TEST(LanguageTest, FromValuesErrors) {
  EXPECT_EQ(
      ParseError("from_values(a: [1, 2],\n  b: [3])"),
      "from_values: expected 2 values in every column, got 1 in column \"b\" (line 2, col 3)");
  EXPECT_EQ(ParseError("from_values(a: [x + 1])"),
            "from_values: expected a literal, got \"x + 1\" (line 1, col 17)");
  EXPECT_EQ(ParseError("from_values(a: [1, 2 3])"),
            "from_values: expected a literal, got \"2 3\" (line 1, col 20)");
  EXPECT_EQ(ParseError("from_values(a: [9223372036854775808])"),
            "from_values: expected an integer in the int64 range, got \"9223372036854775808\" "
            "(line 1, col 17)");
  EXPECT_EQ(ParseError("from_values(a: [E'x\\n'])"),
            "from_values: expected a literal, got \"E'x\\\\n'\" (line 1, col 17)");
  EXPECT_EQ(ParseError("from_values(a: ['x'::])"),
            "from_values: expected a type name after \"::\", got \"]\" (line 1, col 22)");
  EXPECT_EQ(ParseError("from_values(a: [1], A: [2])"),
            "from_values: duplicate column \"A\" (line 1, col 21)");
  EXPECT_EQ(ParseError("from_values(a: [1], types: [b: \"INT\"])"),
            "from_values: unknown column in types \"b\" (line 1, col 21)");
  EXPECT_EQ(ParseError("from_values(a: 1)"),
            "from_values: expected a list for column \"a\", got \"1\" (line 1, col 16)");
  EXPECT_EQ(ParseError("from_values([1])"),
            "from_values: expected name: [values], got \"[1]\" (line 1, col 13)");
  EXPECT_EQ(ParseError("from_values()"), "from_values: needs at least one column (line 1, col 1)");
  EXPECT_EQ(ParseError("from_values(a: ['x)"),
            "syntax error: unterminated string (line 1, col 17)");
  EXPECT_EQ(ParseError("from_values(a: [1, 2"),
            "syntax error: expected \"]\" after list items of from_values (line 1, col 21)");
}

// ---- verbs ------------------------------------------------------------------------------

TEST(LanguageTest, EveryVerbMatchesTheBuilder) {
  Pipeline expected = Pipeline::FromParquet("t.parquet");
  expected.Filter("amount > 100 and year = 2024")
      .Mutate({{"total", "price * qty"}, {"x y", "1"}})
      .Select({"a", "b c"})
      .Discard({"d"})
      .Rename({{"old", "new"}, {"o2", "new 2"}})
      .DropNil()
      .DropNil({"a"})
      .GroupBy({"region", "year"})
      .Summarise({{"total", "sum(amount)"}, {"n", "count(*)"}})
      .Ungroup()
      .Summarise({{"m", "max(x)"}})
      .SortBy({{Expr{"a", {}}, false, NullOrder::kDefault},
               {Expr{"total", {}}, true, NullOrder::kDefault},
               {Expr{"b + 1", {}}, false, NullOrder::kFirst},
               {Expr{"c", {}}, false, NullOrder::kLast},
               {Expr{"d", {}}, true, NullOrder::kFirst},
               {Expr{"e", {}}, true, NullOrder::kLast}})
      .Head(10)
      .Head(5)
      .Slice(20, 10)
      .Distinct()
      .Distinct({"a", "b"})
      .PivotWider("k", {"v"})
      .PivotWider("k", {"v", "w"})
      .PivotLonger({"a", "b"})
      .PivotLonger({"a", "b", "c"}, "key", "val ue");
  Pipeline parsed = ParseOk(R"(
from_parquet("t.parquet")
|> filter(amount > 100 and year = 2024)
|> mutate(total: price * qty, "x y": 1)
|> select(a, "b c")
|> discard(d)
|> rename(old: new, o2: "new 2")
|> drop_nil()
|> drop_nil(a)
|> group_by(region, year)
|> summarise(total: sum(amount), n: count(*))
|> ungroup()
|> summarize(m: max(x))
|> sort_by(a, desc: total, asc_nulls_first: b + 1, asc_nulls_last: c,
           desc_nulls_first: d, desc_nulls_last: e)
|> head(10)
|> head()
|> slice(20, 10)
|> distinct()
|> distinct(a, b)
|> pivot_wider(names_from: k, values_from: v)
|> pivot_wider(values_from: [v, w], names_from: k)
|> pivot_longer(a, b)
|> pivot_longer([a, b], c, names_to: key, values_to: "val ue")
)");
  EXPECT_EQ(parsed, expected);
  ASSERT_EQ(parsed.ops().size(), expected.ops().size());
  EXPECT_STREQ(parsed.ops()[10].Verb(), "summarise");
}

TEST(LanguageTest, ParenthesesMayBeLeftOutWhenThereAreNoArguments) {
  Pipeline expected = Pipeline::FromNdjson("x");
  expected.Ungroup().Head(5).Distinct().DropNil();
  EXPECT_EQ(ParseOk("from_ndjson(\"x\") |> ungroup |> head |> distinct |> drop_nil"), expected);
}

TEST(LanguageTest, QuotedNamesUseDoubledQuotes) {
  Op op = OnlyOp(R"(from_query("q") |> select("a""b", "#not a comment", c_1))");
  EXPECT_EQ(std::get<SelectOp>(op.body).columns,
            (std::vector<std::string>{"a\"b", "#not a comment", "c_1"}));
}

TEST(LanguageTest, SortByKeepsWrittenOrder) {
  Op op = OnlyOp("from_query(\"q\") |> sort_by(desc: a, b, asc: c, desc: d::INTEGER)");
  const auto& keys = std::get<SortByOp>(op.body).keys;
  ASSERT_EQ(keys.size(), 4u);
  EXPECT_EQ(keys[0], (SortKey{Expr{"a", {}}, true, NullOrder::kDefault}));
  EXPECT_EQ(keys[1], (SortKey{Expr{"b", {}}, false, NullOrder::kDefault}));
  EXPECT_EQ(keys[2], (SortKey{Expr{"c", {}}, false, NullOrder::kDefault}));
  EXPECT_EQ(keys[3], (SortKey{Expr{"d::INTEGER", {}}, true, NullOrder::kDefault}));
}

TEST(LanguageTest, JoinVariants) {
  Pipeline right = Pipeline::FromParquet("r.parquet");
  right.Filter("x > 1").Select({"id", "x"});
  Pipeline expected = Pipeline::FromParquet("l.parquet");
  expected.Join(right, JoinHow::kInner, {{"id", "id"}})
      .Join(Pipeline::FromCsv("c.csv"), JoinHow::kLeft, {{"a", "a"}, {"b", "b"}}, "_c")
      .Join(Pipeline::FromCsv("c.csv"), JoinHow::kFull, {{"l_id", "r_id"}, {"k", "k"}})
      .Join(Pipeline::FromCsv("c.csv"), JoinHow::kFull)
      .Join(Pipeline::FromCsv("c.csv"), JoinHow::kCross)
      .Join(Pipeline::FromCsv("c.csv"), JoinHow::kSemi, {{"a", "a"}})
      .Join(Pipeline::FromCsv("c.csv"), JoinHow::kAnti, {{"a", "a"}})
      .Join(Pipeline::FromCsv("c.csv"), JoinHow::kRight);
  EXPECT_EQ(ParseOk(R"(
from_parquet("l.parquet")
|> join(from_parquet("r.parquet") |> filter(x > 1) |> select(id, x), on: id)
|> join(from_csv("c.csv"), on: [a, b], how: left, suffix: "_c")
|> join(from_csv("c.csv"), how: "full", on: [l_id: r_id, k])
|> join(from_csv("c.csv"), how: outer)
|> join(from_csv("c.csv"), how: cross)
|> join(from_csv("c.csv"), how: semi, on: a)
|> join(from_csv("c.csv"), how: anti, on: [a])
|> join(
     from_csv("c.csv")   # the right side
     ,
     how: right,
   )
)"),
            expected);
}

TEST(LanguageTest, NestedJoinsInsideJoins) {
  Pipeline inner = Pipeline::FromCsv("c.csv");
  inner.Join(Pipeline::FromNdjson("d.ndjson"), JoinHow::kLeft, {{"k", "k"}}).Head(3);
  Pipeline middle = Pipeline::FromCsv("b.csv");
  middle.Join(inner, JoinHow::kInner, {{"j", "k"}}).Filter("j > 0");
  Pipeline expected = Pipeline::FromCsv("a.csv");
  expected.Join(middle, JoinHow::kInner, {{"id", "id"}}).Select({"id"});
  Pipeline parsed = ParseOk(R"(from_csv("a.csv")
|> join(from_csv("b.csv")
        |> join(from_csv("c.csv") |> join(from_ndjson("d.ndjson"), on: k, how: left) |> head(3),
                on: [j: k])
        |> filter(j > 0),
        on: id)
|> select(id))");
  EXPECT_EQ(parsed, expected);
  const auto& join = std::get<JoinOp>(parsed.ops()[0].body);
  EXPECT_EQ(join.right->source().loc, Loc(2, 9));
  EXPECT_EQ(join.right->ops()[0].loc, Loc(3, 12));
  EXPECT_EQ(join.right->ops()[1].loc, Loc(5, 12));
}

TEST(LanguageTest, AsofJoin) {
  Pipeline expected = Pipeline::FromParquet("trades");
  expected.AsofJoin(Pipeline::FromParquet("quotes"), {"t", "t"}, AsofCompare::kGreaterEqual)
      .AsofJoin(Pipeline::FromParquet("quotes"), {"t", "qt"}, AsofCompare::kLess, {{"sym", "sym"}},
                true, "_q")
      .AsofJoin(Pipeline::FromParquet("quotes"), {"t", "t"}, AsofCompare::kGreater, {}, false)
      .AsofJoin(Pipeline::FromParquet("quotes"), {"t", "t"}, AsofCompare::kLessEqual);
  EXPECT_EQ(ParseOk(R"(from_parquet("trades")
|> asof_join(from_parquet("quotes"), by: t)
|> asof_join(from_parquet("quotes"), by: [t: qt], compare: "<", on: sym, how: left, suffix: "_q")
|> asof_join(from_parquet("quotes"), compare: ">", by: [t], how: inner)
|> asof_join(from_parquet("quotes"), by: t, compare: "<="))"),
            expected);
}

TEST(LanguageTest, ConcatRows) {
  Pipeline b = Pipeline::FromCsv("b.csv");
  b.Mutate({{"src", "'b'"}});
  Pipeline expected = Pipeline::FromCsv("a.csv");
  expected.ConcatRows({b, Pipeline::FromCsv("c.csv")}).ConcatRows({Pipeline::FromCsv("d.csv")});
  EXPECT_EQ(ParseOk(R"(from_csv("a.csv")
|> concat_rows(from_csv("b.csv") |> mutate(src: 'b'), from_csv("c.csv"))
|> concat_rows(from_csv("d.csv")))"),
            expected);
}

// ---- sinks ------------------------------------------------------------------------------

TEST(LanguageTest, Sinks) {
  ToParquetSink parquet{"out/", "zstd", 100000, {"year", "month"}};
  EXPECT_EQ(ParseOk(R"(from_csv("x") |> to_parquet("out/", compression: "zstd",
                       row_group_size: 100000, partition_by: [year, month]))"),
            Pipeline::FromCsv("x").ToParquet(parquet));
  EXPECT_EQ(ParseOk(R"(from_csv("x") |> to_parquet("o.parquet", partition_by: year))"),
            Pipeline::FromCsv("x").ToParquet({"o.parquet", "", std::nullopt, {"year"}}));
  EXPECT_EQ(ParseOk(R"(from_csv("x") |> to_csv("o.csv", delimiter: "\t", header: false))"),
            Pipeline::FromCsv("x").ToCsv({"o.csv", "\t", false}));
  EXPECT_EQ(ParseOk(R"(from_csv("x") |> to_csv("o.csv"))"),
            Pipeline::FromCsv("x").ToCsv({"o.csv", ",", true}));
  EXPECT_EQ(ParseOk(R"(from_csv("x") |> to_ndjson("o.ndjson"))"),
            Pipeline::FromCsv("x").ToNdjson("o.ndjson"));
  EXPECT_EQ(ParseOk(R"(from_csv("x") |> head(1) |> insert_into("db.main.t", create: true))"),
            Pipeline::FromCsv("x").Head(1).InsertInto("db.main.t", true));
  EXPECT_EQ(ParseOk(R"(from_csv("x") |> insert_into("t"))"),
            Pipeline::FromCsv("x").InsertInto("t", false));
}

TEST(LanguageTest, SinkLocation) {
  Pipeline p = ParseOk("from_csv(\"x\")\n  |> to_ndjson(\"y\")  # done\n");
  ASSERT_TRUE(p.sink().has_value());
  EXPECT_EQ(p.sink()->loc, Loc(2, 6));
}

// ---- attach -----------------------------------------------------------------------------

TEST(LanguageTest, AttachStatements) {
  Result<Script> script = ParseScript(R"(# two databases
attach("warehouse", "/data/wh.duckdb")
attach("ref", "ref.duckdb", read_only: true)
from_query("SELECT * FROM ref.main.codes") |> insert_into("warehouse.main.codes"))");
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  EXPECT_EQ(script->attachments,
            (std::vector<Attachment>{{"warehouse", "/data/wh.duckdb", false, {}},
                                     {"ref", "ref.duckdb", true, {}}}));
  EXPECT_EQ(script->attachments[1].loc, (Location{3, 1}));
  EXPECT_EQ(script->pipeline,
            Pipeline::FromQuery("SELECT * FROM ref.main.codes").InsertInto("warehouse.main.codes"));
  EXPECT_TRUE(ParseScript("from_csv(\"x\")")->attachments.empty());
}

TEST(LanguageTest, AttachErrors) {
  EXPECT_EQ(ParseError("attach(\"a\")\nfrom_csv(\"x\")"),
            "attach: needs an alias and a path (line 1, col 1)");
  EXPECT_EQ(ParseError("attach(\"a\", \"b\", read_only: yes)"),
            "attach: expected true or false for read_only, got \"yes\" (line 1, col 29)");
  EXPECT_EQ(ParseError("attach(\"a\", \"b\", mode: \"r\")"),
            "attach: unknown option \"mode\" (line 1, col 18)");
  EXPECT_EQ(ParseError("attach(\"a\", \"b\")\n"),
            "empty pipeline: nothing follows the attach and s3 statements (line 2, col 1)");
  EXPECT_EQ(ParseError("from_csv(\"x\")\n|> attach(\"a\", \"b\")"),
            "unknown verb \"attach\" (line 2, col 4)");
}

TEST(LanguageTest, S3Statement) {
  Result<Script> script = ParseScript(R"(attach("wh", "wh.duckdb")
s3(region: "eu-west-1", endpoint: "http://127.0.0.1:9000", url_style: path, tls: false,
   profile: "lake")
from_parquet("s3://lake/*.parquet"))");
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  EXPECT_EQ(script->attachments.size(), 1u);
  S3Settings expected{"eu-west-1", "http://127.0.0.1:9000", "path", false, "lake", {}};
  EXPECT_EQ(script->s3, expected);
  EXPECT_EQ(script->s3.loc, (Location{2, 1}));
  EXPECT_TRUE(ParseScript("s3(region: \"x\") from_csv(\"x\")")->s3.region == "x");
  EXPECT_TRUE(ParseScript("from_csv(\"x\")")->s3.empty());
}

TEST(LanguageTest, S3StatementErrors) {
  EXPECT_EQ(ParseError("s3(secret_access_key: \"abc\") from_csv(\"x\")"),
            "s3: secret_access_key cannot be given in a pipeline (explain shows it, and it "
            "travels to workers): use the AWS environment (AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY) or a profile (line 1, col 23)");
  EXPECT_EQ(ParseError("s3(url_style: \"odd\") from_csv(\"x\")"),
            "s3: expected one of path, virtual, auto for url_style, got \"odd\" (line 1, col 15)");
  EXPECT_EQ(ParseError("s3() from_csv(\"x\")"), "s3: needs at least one setting (line 1, col 1)");
  EXPECT_EQ(ParseError("s3(region: \"a\")\ns3(region: \"b\") from_csv(\"x\")"),
            "s3: given twice (one s3 statement holds every setting) (line 2, col 1)");
  EXPECT_EQ(ParseError("s3(\"eu-west-1\") from_csv(\"x\")").rfind("s3: ", 0), 0u);
  EXPECT_EQ(ParseError("s3(region: \"a\")"),
            "empty pipeline: nothing follows the attach and s3 statements (line 1, col 16)");
}

TEST(LanguageTest, PostgresAttachmentsAndTables) {
  Result<Script> script = ParseScript(R"(
attach("pg", "host=db dbname=shop password='x y'", type: postgres, read_only: true)
attach("wh", "wh.duckdb", type: "duckdb")
from_attached("pg", "public.orders", partition_by: id, columns: [id, "Amount"])
|> join(from_attached("wh", "customers"), on: id)
|> insert_into("pg.public.events", create: true, atomic: true))");
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  Attachment pg{"pg", "host=db dbname=shop password='x y'", true, {}, AttachmentType::kPostgres};
  Attachment wh{"wh", "wh.duckdb", false, {}, AttachmentType::kDuckDb};
  EXPECT_EQ(script->attachments, (std::vector<Attachment>{pg, wh}));
  Pipeline expected = Pipeline::FromAttached("pg", "public.orders", "id", {"id", "Amount"});
  expected.Join(Pipeline::FromAttached("wh", "customers"), JoinHow::kInner, {{"id", "id"}});
  expected.InsertInto("pg.public.events", /*create=*/true, /*atomic=*/true);
  EXPECT_EQ(script->pipeline, expected);
  EXPECT_EQ(script->pipeline.source().loc, (Location{4, 1}));
  EXPECT_EQ(std::string(script->pipeline.source().Name()), "from_attached");
  // partition_by may also be a string.
  EXPECT_EQ(ParseOk(R"(from_attached("pg", "t", partition_by: "my key"))"),
            Pipeline::FromAttached("pg", "t", "my key"));
  EXPECT_EQ(ParseOk(R"(from_csv("x") |> insert_into("t", atomic: false))"),
            Pipeline::FromCsv("x").InsertInto("t"));
}

TEST(LanguageTest, PostgresErrors) {
  EXPECT_EQ(ParseError("attach(\"a\", \"b\", type: mysql)"),
            "attach: expected one of duckdb, postgres for type, got \"mysql\" (line 1, col 24)");
  EXPECT_EQ(ParseError("from_attached(\"pg\")"),
            "from_attached: needs an alias and a table name (line 1, col 1)");
  EXPECT_EQ(ParseError("from_attached(\"pg\", \"\")"),
            "from_attached: needs a non-empty alias and table name (line 1, col 1)");
  EXPECT_EQ(ParseError("from_attached(\"pg\", \"t\", \"u\")"),
            "from_attached: unexpected argument \"u\" (line 1, col 26)");
  EXPECT_EQ(ParseError("from_attached(\"pg\", \"t\", slices: 3)"),
            "from_attached: unknown option \"slices\" (line 1, col 26)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> insert_into(\"t\", atomic: 1)"),
            "insert_into: expected true or false for atomic, got \"1\" (line 1, col 43)");
}

// ---- expressions ------------------------------------------------------------------------

TEST(LanguageTest, ExpressionsArePassedThroughAsWritten) {
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(  f(a, (b + c)) > 1  )"), "f(a, (b + c)) > 1");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(s = 'a, b) # c' or s = 'it''s')"),
            "s = 'a, b) # c' or s = 'it''s'");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(x::INTEGER > 1)"), "x::INTEGER > 1");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(x :: INTEGER > 1)"), "x :: INTEGER > 1");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(s = {'a': 1, 'b': [1, 2]})"),
            "s = {'a': 1, 'b': [1, 2]}");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(x[1:2] = [1, 2])"), "x[1:2] = [1, 2]");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(\"weird, col)\" > 0)"), "\"weird, col)\" > 0");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(\"a\"\"b\" > 0)"), "\"a\"\"b\" > 0");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(s = E'a\\', b)')"), "s = E'a\\', b)'");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(s = $$a, b)$$ or t = $tag$x)$ $tag$)"),
            "s = $$a, b)$$ or t = $tag$x)$ $tag$");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(x = $1)"), "x = $1");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(DATE'2024-01-01' < d)"), "DATE'2024-01-01' < d");
  EXPECT_EQ(FilterSql("from_csv(\"x\") |> filter(list_filter(l, x -> x > 1) = [])"),
            "list_filter(l, x -> x > 1) = []");
}

TEST(LanguageTest, MultiLineExpressionsDropComments) {
  Pipeline p = ParseOk(
      "from_csv(\"x\")\n"
      "|> filter(\n"
      "     a > 1   # first\n"
      "     and b < 2  # second, with ) and ,\n"
      "   )\n");
  const auto& filter = std::get<FilterOp>(p.ops()[0].body);
  EXPECT_EQ(filter.predicate.sql, "a > 1   \n     and b < 2");
  EXPECT_EQ(filter.predicate.loc, Loc(3, 6));
}

TEST(LanguageTest, KeywordIsANameFollowedByOneColon) {
  Op op = OnlyOp("from_csv(\"x\") |> mutate(a: x::INT, \"b c\" : 'k': 1, d:{'k': 1})");
  const auto& columns = std::get<MutateOp>(op.body).columns;
  ASSERT_EQ(columns.size(), 3u);
  EXPECT_EQ(columns[0], (NamedExpr{"a", Expr{"x::INT", {}}}));
  EXPECT_EQ(columns[1], (NamedExpr{"b c", Expr{"'k': 1", {}}}));
  EXPECT_EQ(columns[2], (NamedExpr{"d", Expr{"{'k': 1}", {}}}));
  EXPECT_EQ(ParseError("from_csv(\"x\") |> mutate(x::INT)"),
            "mutate: expected name: expr, got \"x::INT\" (line 1, col 25)");
}

TEST(LanguageTest, ExpressionLocations) {
  Pipeline p = ParseOk(
      "from_csv(\"é\")\n"
      "|> mutate(\"ä\": 1,\n"
      "          b:   x + 2)\n"
      "|> sort_by(desc: b)");
  const auto& mutate = std::get<MutateOp>(p.ops()[0].body);
  EXPECT_EQ(mutate.columns[0].expr.loc, Loc(2, 16));
  EXPECT_EQ(mutate.columns[1].expr.loc, Loc(3, 16));
  EXPECT_EQ(std::get<SortByOp>(p.ops()[1].body).keys[0].expr.loc, Loc(4, 18));
}

// ---- layout -----------------------------------------------------------------------------

TEST(LanguageTest, SourceAndVerbLocations) {
  Pipeline p = ParseOk(
      "\n"
      "  from_parquet(\"x\") |>\n"
      "    filter(a)\n"
      "# a comment line\n"
      "|> head(3) |> select(a)");
  EXPECT_EQ(p.source().loc, Loc(2, 3));
  ASSERT_EQ(p.ops().size(), 3u);
  EXPECT_EQ(p.ops()[0].loc, Loc(3, 5));
  EXPECT_EQ(p.ops()[1].loc, Loc(5, 4));
  EXPECT_EQ(p.ops()[2].loc, Loc(5, 15));
}

TEST(LanguageTest, CommentsAndWhitespaceAnywhere) {
  Pipeline expected = Pipeline::FromCsv("a#b.csv");
  expected.Select({"a", "b"}).Head(2);
  EXPECT_EQ(ParseOk("# header\nfrom_csv( # path next\n \"a#b.csv\" # the path\n) # end\n"
                    "|> # select next\n select(a, # first\n b) |> head( 2 )  # tail\n# last"),
            expected);
  EXPECT_EQ(ParseOk("from_csv(\"a#b.csv\")|>select(a,b)|>head(2)"), expected);
}

TEST(LanguageTest, TrailingCommas) {
  Pipeline expected = Pipeline::FromCsv("x");
  expected.Select({"a", "b"}).PivotWider("k", {"v", "w"});
  EXPECT_EQ(ParseOk("from_csv(\"x\",) |> select(a, b,) |> pivot_wider(names_from: k, "
                    "values_from: [v, w,],)"),
            expected);
}

// ---- errors -----------------------------------------------------------------------------

TEST(LanguageTest, UnknownVerbSuggestsTheNearestOne) {
  EXPECT_EQ(ParseError("from_csv(\"x\")\n|> fliter(a > 1)"),
            "unknown verb \"fliter\"; did you mean \"filter\"? (line 2, col 4)");
  EXPECT_EQ(ParseError("from_csv(\"x\")\n|> to_parket(\"y\")"),
            "unknown verb \"to_parket\"; did you mean \"to_parquet\"? (line 2, col 4)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> frobnicate()"),
            "unknown verb \"frobnicate\" (line 1, col 18)");
  EXPECT_EQ(ParseError("from_parqet(\"x\")"),
            "unknown source \"from_parqet\"; did you mean \"from_parquet\"? (line 1, col 1)");
  EXPECT_EQ(ParseError("filter(a > 1)"),
            "a pipeline must start with a source, got \"filter\" (line 1, col 1)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> from_csv(\"y\")"),
            "a source can only start a pipeline (combine pipelines with join or concat_rows): "
            "\"from_csv\" (line 1, col 18)");
}

TEST(LanguageTest, WrongArgumentKinds) {
  EXPECT_EQ(ParseError("from_csv(\"x\")\n|> filter(a)\n|> head(ten)"),
            "head: expected an integer, got \"ten\" (line 3, col 9)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> head(\"ten\")"),
            "head: expected an integer, got \"ten\" (line 1, col 23)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> head(1.5)"),
            "head: expected an integer, got \"1.5\" (line 1, col 23)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> head(-1)"),
            "head: expected a non-negative integer, got \"-1\" (line 1, col 23)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> head(99999999999999999999)"),
            "head: expected an integer in the int64 range, got \"99999999999999999999\" "
            "(line 1, col 23)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> slice(-1, 2)"),
            "slice: expected a non-negative integer, got \"-1\" (line 1, col 24)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> slice(1)"),
            "slice: needs an offset and a length (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> slice(1, 2, 3)"),
            "slice: unexpected argument \"3\" (line 1, col 30)");
  EXPECT_EQ(ParseError("from_csv(\"x\", header: 1)"),
            "from_csv: expected true or false for header, got \"1\" (line 1, col 23)");
  EXPECT_EQ(ParseError("from_csv(\"x\", skip: \"2\")"),
            "from_csv: expected an integer for skip, got \"2\" (line 1, col 21)");
  EXPECT_EQ(ParseError("from_csv(x.csv)"),
            "from_csv: expected a string, got \"x.csv\" (line 1, col 10)");
  EXPECT_EQ(ParseError("from_csv(\"x\", types: [a: INTEGER])"),
            "from_csv: expected a string for types, got \"INTEGER\" (line 1, col 26)");
  EXPECT_EQ(ParseError("from_csv(\"x\", types: [a])"),
            "from_csv: expected a name: \"TYPE\" pair for types, got \"a\" (line 1, col 23)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> select(a + 1)"),
            "select: expected a column name, got \"a + 1\" (line 1, col 25)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> rename(a: 'b')"),
            "rename: expected a column name for a, got \"'b'\" (line 1, col 28)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> rename(a)"),
            "rename: expected old: new, got \"a\" (line 1, col 25)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> to_parquet(\"y\", row_group_size: 0)"),
            "to_parquet: expected a positive integer for row_group_size, got \"0\" "
            "(line 1, col 50)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> join(\"y.csv\")"),
            "join: expected a pipeline, got \"y.csv\" (line 1, col 23)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> join(from_csv(\"y\"), how: sideways)"),
            "join: expected one of inner, left, right, full, outer, cross, semi, anti for how, "
            "got \"sideways\" (line 1, col 43)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> join(from_csv(\"y\"), on: [a: 'b'])"),
            "join: expected a column name for on, got \"'b'\" (line 1, col 46)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> asof_join(from_csv(\"y\"), by: t, compare: \"==\")"),
            "asof_join: expected one of \">=\", \">\", \"<=\", \"<\" for compare, got \"==\" "
            "(line 1, col 59)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> asof_join(from_csv(\"y\"), by: t, compare: >=)"),
            "asof_join: expected a string for compare, got \">=\" (line 1, col 59)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> asof_join(from_csv(\"y\"), by: t, how: right)"),
            "asof_join: expected one of inner, left for how, got \"right\" (line 1, col 55)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> asof_join(from_csv(\"y\"), by: t: t2)"),
            "asof_join: expected a column name or a [left: right] list for by, got \"t: t2\" "
            "(line 1, col 47)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> asof_join(from_csv(\"y\"), by: [a: b, c])"),
            "asof_join: expected exactly one key for by, got 2 (line 1, col 47)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> pivot_longer(a, names_to: 1)"),
            "pivot_longer: expected a name for names_to, got \"1\" (line 1, col 44)");
}

TEST(LanguageTest, MissingArguments) {
  EXPECT_EQ(ParseError("from_csv(\"x\")\n|> mutate()"),
            "mutate: needs at least one name: expr argument (line 2, col 4)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> summarise()"),
            "summarise: needs at least one name: expr argument (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> summarize"),
            "summarize: needs at least one name: expr argument (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter()"),
            "filter: needs one expression (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter(a, b)"),
            "filter: unexpected argument \"b\" (line 1, col 28)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> select()"),
            "select: needs at least one column (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> group_by()"),
            "group_by: needs at least one column (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> discard"),
            "discard: needs at least one column (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> rename()"),
            "rename: needs at least one old: new argument (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> sort_by()"),
            "sort_by: needs at least one key (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> ungroup(a)"),
            "ungroup: unexpected argument \"a\" (line 1, col 26)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> join(on: a)"),
            "join: needs a pipeline to join (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> asof_join(from_csv(\"y\"))"),
            "asof_join: needs a by key (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> concat_rows()"),
            "concat_rows: needs at least one pipeline (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> pivot_wider(values_from: v)"),
            "pivot_wider: needs names_from (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> pivot_wider(names_from: k)"),
            "pivot_wider: needs values_from (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> pivot_longer(names_to: k)"),
            "pivot_longer: needs at least one column (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv()"), "from_csv: needs a path (line 1, col 1)");
  EXPECT_EQ(ParseError("from_query"), "from_query: needs a SQL query (line 1, col 1)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> insert_into(create: true)"),
            "insert_into: needs a table name (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> to_csv()"), "to_csv: needs a path (line 1, col 18)");
}

TEST(LanguageTest, UnknownAndDuplicateOptions) {
  EXPECT_EQ(ParseError("from_csv(\"x\")\n|> filter(a)\n|> head(1)\n"
                       "|> join(from_csv(\"y\"), hw: left)"),
            "join: unknown option \"hw\" (line 4, col 24)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> join(from_csv(\"y\"), how: left, how: right)"),
            "join: duplicate option \"how\" (line 1, col 49)");
  EXPECT_EQ(ParseError("from_csv(\"x\", header: true, header: false)"),
            "from_csv: duplicate option \"header\" (line 1, col 29)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> sort_by(dsc: a)"),
            "sort_by: unknown option \"dsc\" (line 1, col 26)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter(a: 1)"),
            "filter: unknown option \"a\" (line 1, col 25)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> select(\"a b\": c)"),
            "select: unknown option \"a b\" (line 1, col 25)");
  EXPECT_EQ(ParseError("from_values(a: [1], types: [a: \"INT\"], types: [a: \"INT\"])"),
            "from_values: duplicate option \"types\" (line 1, col 40)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> summarise(n: count(*), N: sum(x))"),
            "summarise: duplicate name \"N\" (line 1, col 41)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> rename(a: b, a: c)"),
            "rename: duplicate column \"a\" (line 1, col 31)");
  EXPECT_EQ(OnlyOp("from_csv(\"x\") |> mutate(a: 1, a: a + 1)"),
            Pipeline::FromCsv("x").Mutate({{"a", "1"}, {"a", "a + 1"}}).ops()[0]);
}

TEST(LanguageTest, SyntaxErrors) {
  EXPECT_EQ(ParseError(""), "empty pipeline");
  EXPECT_EQ(ParseError("  # only a comment\n\n"), "empty pipeline");
  EXPECT_EQ(ParseError("from_csv(\"x\")\n|> filter(a > 1]"),
            "syntax error: expected \")\" after arguments of filter (line 2, col 16)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter(a > 1"),
            "syntax error: expected \")\" after arguments of filter (line 1, col 30)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> head(1 2)"),
            "head: expected an integer, got \"1 2\" (line 1, col 23)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> head(1\n"),
            "syntax error: expected \")\" after arguments of head (line 2, col 1)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter((a > 1)"),
            "syntax error: expected \")\" after arguments of filter (line 1, col 32)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter((a > f(1)"),
            "syntax error: unclosed \"(\" in expression (line 1, col 25)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter(f(a]) > 1)"),
            "syntax error: mismatched \"]\" in expression (line 1, col 28)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter()\n"),
            "filter: needs one expression (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter(  # nothing\n , )"),
            "syntax error: empty expression in filter (line 2, col 2)");
  EXPECT_EQ(ParseError("from_csv(\"x)"), "syntax error: unterminated string (line 1, col 10)");
  EXPECT_EQ(ParseError("from_csv(\"x\")\n|> filter(s = 'abc)"),
            "syntax error: unterminated string (line 2, col 15)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter(\"abc > 1)"),
            "syntax error: unterminated quoted identifier (line 1, col 25)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> filter(s = $q$abc)"),
            "syntax error: unterminated dollar-quoted string (line 1, col 29)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> select(\"abc)"),
            "syntax error: unterminated quoted name (line 1, col 25)");
  EXPECT_EQ(ParseError("from_csv(\"a\\qb\")"),
            "syntax error: unknown escape in string \"\\q\" (line 1, col 12)");
  EXPECT_EQ(ParseError("from_csv(\"x\") filter(a)"),
            "syntax error: expected \"|>\" or end of input, got \"filter(a)\" (line 1, col 15)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |>"),
            "syntax error: expected a verb after \"|>\", got end of input (line 1, col 17)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> |> head()"),
            "syntax error: expected a verb after \"|>\", got \"|> head()\" (line 1, col 18)");
  EXPECT_EQ(ParseError("|> head()"),
            "syntax error: expected a source, got \"|> head()\" "
            "(line 1, col 1)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> select(a b)"),
            "select: expected a column name, got \"a b\" (line 1, col 25)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> pivot_longer([a, b c])"),
            "pivot_longer: expected a column name, got \"b c\" (line 1, col 35)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> join(from_csv(\"y\") filter(a), on: a)"),
            "syntax error: expected \")\" after arguments of join (line 1, col 37)");
}

TEST(LanguageTest, SinkMustBeLast) {
  EXPECT_EQ(ParseError("from_csv(\"x\")\n|> to_parquet(\"y\")\n|> head(1)"),
            "to_parquet must be the last verb (line 2, col 4)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> to_csv(\"y\") |> to_csv(\"z\")"),
            "to_csv must be the last verb (line 1, col 18)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> join(from_csv(\"y\") |> to_csv(\"z\"))"),
            "a nested pipeline cannot end with a sink: to_csv (line 1, col 40)");
}

TEST(LanguageTest, ErrorsAreOneLineWithLimitedQuotes) {
  const std::string message = ParseError(
      "from_csv(\"x\") |> head(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
      "  + b)");
  EXPECT_EQ(
      message,
      "head: expected an integer, got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" "
      "(line 1, col 23)");
  EXPECT_EQ(ParseError("from_csv(\"x\") |> fil\ter(a)"), "unknown verb \"fil\" (line 1, col 18)")
      << "tab ends the identifier";
}

TEST(LanguageTest, ColumnsCountCodePoints) {
  EXPECT_EQ(ParseError("from_csv(\"日本語\") |> fliter(a)"),
            "unknown verb \"fliter\"; did you mean \"filter\"? (line 1, col 20)");
  EXPECT_EQ(ParseError("from_values(\"é\": [1], \"ü\": [1, 2])"),
            "from_values: expected 1 values in every column, got 2 in column \"ü\" "
            "(line 1, col 23)");
}

TEST(LanguageTest, DeepNestingIsAnErrorNotACrash) {
  std::string text = "from_csv(\"x\")";
  for (int i = 0; i < 200; ++i) text = "from_csv(\"x\") |> join(" + text + ")";
  const std::string message = ParseError(text);
  EXPECT_EQ(message.rfind("syntax error: pipelines nested deeper than 64", 0), 0u) << message;

  std::string shallow = "from_csv(\"x\")";
  for (int i = 0; i < 30; ++i) shallow = "from_csv(\"x\") |> join(" + shallow + ")";
  ParseOk(shallow);
}

// ---- robustness -------------------------------------------------------------------------

const char* const kValidScripts[] = {
    R"(attach("db", "x.duckdb", read_only: true)
from_parquet("lake/events/**/*.parquet", hive_partitioning: true)
|> filter(amount > 100 and year = 2024)  # big ones
|> group_by(region)
|> summarise(total: sum(amount), n: count(*))
|> sort_by(desc: total)
|> head(10)
|> to_parquet("out", compression: "zstd", partition_by: [region]))",
    R"(from_values(a: [1, 2.5, NULL, 'x''y', DATE '2024-01-01', '1'::INT], "b c": [true, false, -1, 1e3, 'E', 'x'],
            types: [a: "VARCHAR"])
|> mutate(s: {'k': [1, 2][1:2]}, t: $$a)b$$, u: E'\'', v: "q""r" || 'x')
|> join(from_csv("y", types: [a: "INT"], columns: [a, b]) |> rename(a: "b c"), on: [a: b, c], how: left)
|> asof_join(from_ndjson("z"), by: [t: t2], compare: "<", on: k)
|> concat_rows(from_query("SELECT 1 AS \"a\""), from_csv("w"))
|> pivot_longer([a, b], names_to: "n", values_to: v)
|> slice(1, 2) |> insert_into("t", create: true))",
};

TEST(LanguageTest, EveryPrefixOfValidScriptsParsesOrFailsCleanly) {
  for (const char* script : kValidScripts) {
    const std::string text = script;
    for (size_t n = 0; n <= text.size(); ++n) {
      Result<Script> result = ParseScript(std::string_view(text).substr(0, n));
      if (!result.ok()) {
        EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
        EXPECT_EQ(result.status().message().find('\n'), std::string::npos);
      }
    }
  }
}

TEST(LanguageTest, ValidScriptsParse) {
  for (const char* script : kValidScripts) {
    Result<Script> result = ParseScript(script);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
  }
}

TEST(LanguageTest, RandomMutationsNeverCrash) {
  std::mt19937 rng(20240131);
  const std::string alphabet = "()[]{},:|>\"'$#\\-.0123456789abcdeEx_ \n\t\x01\xc3\xa9\xff";
  int parsed = 0;
  for (const char* script : kValidScripts) {
    const std::string base = script;
    for (int round = 0; round < 3000; ++round) {
      std::string text = base;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        const size_t at = rng() % text.size();
        switch (rng() % 3) {
          case 0:
            text.erase(at, 1 + rng() % 3);
            break;
          case 1:
            text.insert(at, 1, alphabet[rng() % alphabet.size()]);
            break;
          default:
            text[at] = alphabet[rng() % alphabet.size()];
            break;
        }
      }
      Result<Script> result = ParseScript(text);
      if (result.ok()) {
        ++parsed;
      } else {
        EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
        EXPECT_EQ(result.status().message().find('\n'), std::string::npos);
      }
    }
  }
  EXPECT_GT(parsed, 0);  // some edits (inside expressions or strings) still parse
}

TEST(LanguageTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string text(rng() % 64, '\0');
    for (char& c : text) c = static_cast<char>(rng() % 256);
    Result<Script> result = ParseScript(text);
    EXPECT_FALSE(result.ok());
  }
}

}  // namespace
}  // namespace dux::pipeline
