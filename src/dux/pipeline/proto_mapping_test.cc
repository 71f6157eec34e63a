#include "dux/pipeline/proto_mapping.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <variant>
#include <vector>

namespace dux::pipeline {
namespace {

namespace pb = ::dux::v1;

// ToProto -> bytes -> a fresh message -> FromProto, as between a coordinator and a worker.
Pipeline RoundTrip(const Pipeline& pipeline) {
  pb::Pipeline message;
  ToProto(pipeline, &message);
  std::string bytes;
  EXPECT_TRUE(message.SerializeToString(&bytes));
  pb::Pipeline parsed;
  EXPECT_TRUE(parsed.ParseFromString(bytes));
  Result<Pipeline> back = FromProto(parsed);
  EXPECT_TRUE(back.ok()) << back.status().ToString();
  if (!back.ok()) return Pipeline::FromQuery("SELECT 'round trip failed'");
  return std::move(back).value();
}

int ExpectSameLocations(const Pipeline& a, const Pipeline& b, const std::string& where);

// Compares every location of two pipelines, nested ones included; returns how many known
// locations it compared so that a test can check it compared something.
class LocationComparer {
 public:
  explicit LocationComparer(std::string where) : where_(std::move(where)) {}

  void Compare(const Location& a, const Location& b, const std::string& what) {
    EXPECT_EQ(a, b) << where_ << what << ": " << a.line << ":" << a.column << " vs " << b.line
                    << ":" << b.column;
    if (a.known()) ++known_;
  }
  void CompareNamed(const std::vector<NamedExpr>& a, const std::vector<NamedExpr>& b,
                    const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << where_ << what;
    for (size_t i = 0; i < a.size(); ++i) {
      Compare(a[i].expr.loc, b[i].expr.loc, what + "[" + std::to_string(i) + "]");
    }
  }
  void ComparePipelines(const Pipeline& a, const Pipeline& b, const std::string& what) {
    known_ += ExpectSameLocations(a, b, where_ + what);
  }
  void CompareOp(const Op& a, const Op& b, const std::string& what) {
    Compare(a.loc, b.loc, what);
    ASSERT_EQ(a.body.index(), b.body.index()) << where_ << what;
    if (auto* f = std::get_if<FilterOp>(&a.body)) {
      Compare(f->predicate.loc, std::get<FilterOp>(b.body).predicate.loc, what + ".predicate");
    } else if (auto* m = std::get_if<MutateOp>(&a.body)) {
      CompareNamed(m->columns, std::get<MutateOp>(b.body).columns, what + ".columns");
    } else if (auto* s = std::get_if<SummariseOp>(&a.body)) {
      CompareNamed(s->aggregates, std::get<SummariseOp>(b.body).aggregates, what + ".aggs");
    } else if (auto* s = std::get_if<SortByOp>(&a.body)) {
      const auto& other = std::get<SortByOp>(b.body);
      ASSERT_EQ(s->keys.size(), other.keys.size());
      for (size_t i = 0; i < s->keys.size(); ++i) {
        Compare(s->keys[i].expr.loc, other.keys[i].expr.loc, what + ".keys");
      }
    } else if (auto* j = std::get_if<JoinOp>(&a.body)) {
      ComparePipelines(*j->right, *std::get<JoinOp>(b.body).right, what + ".right");
    } else if (auto* j = std::get_if<AsofJoinOp>(&a.body)) {
      ComparePipelines(*j->right, *std::get<AsofJoinOp>(b.body).right, what + ".right");
    } else if (auto* c = std::get_if<ConcatRowsOp>(&a.body)) {
      const auto& other = std::get<ConcatRowsOp>(b.body);
      ASSERT_EQ(c->others.size(), other.others.size());
      for (size_t i = 0; i < c->others.size(); ++i) {
        ComparePipelines(*c->others[i], *other.others[i], what + ".others");
      }
    }
  }
  int known() const { return known_; }

 private:
  std::string where_;
  int known_ = 0;
};

int ExpectSameLocations(const Pipeline& a, const Pipeline& b, const std::string& where) {
  LocationComparer comparer(where);
  comparer.Compare(a.source().loc, b.source().loc, ".source");
  EXPECT_EQ(a.ops().size(), b.ops().size()) << where;
  for (size_t i = 0; i < std::min(a.ops().size(), b.ops().size()); ++i) {
    comparer.CompareOp(a.ops()[i], b.ops()[i], ".ops[" + std::to_string(i) + "]");
  }
  EXPECT_EQ(a.sink().has_value(), b.sink().has_value()) << where;
  if (a.sink() && b.sink()) comparer.Compare(a.sink()->loc, b.sink()->loc, ".sink");
  return comparer.known();
}

Expr At(std::string sql, int line, int column) { return Expr{std::move(sql), {line, column}}; }

// The values of one row, one of each kind and the awkward cases of each.
std::vector<Value> EveryValue() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  return {
      Value::Null(),
      Value::Bool(true),
      Value::Bool(false),
      Value::Int(std::numeric_limits<int64_t>::min()),
      Value::Int(std::numeric_limits<int64_t>::max()),
      Value::Int(0),
      Value::Int(-1),
      Value::UInt(std::numeric_limits<uint64_t>::max()),
      Value::UInt(0),
      Value::Double(nan),
      Value::Double(-0.0),
      Value::Double(inf),
      Value::Double(-inf),
      Value::Double(std::numeric_limits<double>::denorm_min()),
      Value::Double(std::numeric_limits<double>::max()),
      Value::Double(0.1),
      Value::String(std::string("a\0b\0", 4)),
      Value::String("h\u00e9llo \u2713 \u65e5\u672c \U0001F986"),
      Value::String(""),
      Value::Blob(std::string("\x00\xff\x80\x7f", 4)),
      Value::Blob(""),
      Value::Typed("DECIMAL(18,3)", "1.250"),
      Value::Typed("INTEGER[]", "[1, 2, NULL]"),
      Value::Typed("", ""),
      Value::Date("2024-01-31"),
      Value::Timestamp("2024-01-31 12:00:00.123456"),
  };
}

std::vector<std::string> ColumnNames(size_t n) {
  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) names.push_back("c" + std::to_string(i));
  return names;
}

CsvSource FullCsv() {
  CsvSource csv;
  csv.path = "data/*.csv";
  csv.delimiter = "|";
  csv.header = false;
  csv.skip = 0;
  csv.nullstr = "";
  csv.types = {{"b", "VARCHAR"}, {"a", "DECIMAL(18,3)"}, {"a", "BIGINT"}};
  csv.columns = {"a", "b", "c"};
  return csv;
}

// A right side three joins deep, with locations all the way down.
Pipeline NestedRight() {
  Pipeline innermost(Source{NdjsonSource{"inner/*.ndjson"}, {20, 3}});
  innermost.Append(Op{FilterOp{At("x IS NOT NULL", 21, 7)}, {21, 3}});
  Pipeline middle(Source{QuerySource{"SELECT 1 AS k, 'x' AS x"}, {18, 5}});
  middle.Append(
      Op{JoinOp{std::make_shared<const Pipeline>(innermost), JoinHow::kAnti, {{"k", "k"}}, ""},
         {19, 5}});
  Pipeline outer = Pipeline::FromParquet("right/**/*.parquet", true, false);
  outer.Append(
      Op{JoinOp{std::make_shared<const Pipeline>(middle), JoinHow::kSemi, {}, "_m"}, {17, 7}});
  outer.Append(Op{MutateOp{{{"y", At("k + 1", 22, 12)}}}, {22, 7}});
  return outer;
}

// Every source kind, verb and join / compare / null order, with nesting and locations.
Pipeline Everything() {
  const std::vector<Value> values = EveryValue();
  std::vector<std::vector<Value>> rows = {values, std::vector<Value>(values.size()), {}};
  Pipeline p(Source{ValuesSource{ColumnNames(values.size()), rows, {{"c1", "BOOLEAN"}}}, {1, 1}});
  p.Append(Op{FilterOp{At("c3 > 100 AND c16 <> 'x'", 2, 11)}, {2, 4}});
  p.Append(Op{MutateOp{{{"d", At("c3 * 2", 3, 15)}, {"e", Expr{"d + 1", {}}}}}, {3, 4}});
  p.Append(Op{SelectOp{{"c0", "c3", "d", "e"}}, {0, 7}});  // a column without a line
  p.Append(Op{DiscardOp{{"e"}}, {}});
  p.Append(Op{RenameOp{{{"c0", "zero"}, {"c3", "three"}}}, {5, 4}});
  p.Append(Op{DropNilOp{}, {6, 4}});
  p.Append(Op{DropNilOp{{"zero", "three"}}, {7, 4}});
  p.Append(Op{GroupByOp{{"zero"}}, {8, 4}});
  p.Append(
      Op{SummariseOp{{{"total", At("sum(three)", 9, 22)}, {"n", At("count(*)", 9, 40)}}}, {9, 4}});
  p.Append(Op{UngroupOp{}, {10, 4}});
  p.Append(Op{SortByOp{{{At("total", 11, 12), true, NullOrder::kFirst},
                        {At("n", 11, 20), false, NullOrder::kLast},
                        {Expr{"zero", {}}, false, NullOrder::kDefault}}},
              {11, 4}});
  p.Append(Op{HeadOp{0}, {12, 4}});
  p.Append(Op{HeadOp{std::numeric_limits<int64_t>::max()}, {}});
  p.Append(Op{SliceOp{-3, 10}, {13, 4}});
  p.Append(Op{DistinctOp{}, {14, 4}});
  p.Append(Op{DistinctOp{{"zero", "total"}}, {15, 4}});
  p.Append(Op{JoinOp{std::make_shared<const Pipeline>(NestedRight()),
                     JoinHow::kLeft,
                     {{"zero", "k"}, {"total", "y"}},
                     "_r"},
              {16, 4}});
  int line = 30;
  for (JoinHow how : {JoinHow::kInner, JoinHow::kRight, JoinHow::kFull, JoinHow::kCross}) {
    p.Append(Op{
        JoinOp{
            std::make_shared<const Pipeline>(Pipeline::FromQuery("SELECT 1")), how, {}, "_right"},
        {line++, 4}});
  }
  for (AsofCompare compare : {AsofCompare::kGreaterEqual, AsofCompare::kGreater,
                              AsofCompare::kLessEqual, AsofCompare::kLess}) {
    Pipeline right = Pipeline::FromCsv(FullCsv()).Filter("a > 0");
    p.Append(Op{AsofJoinOp{std::make_shared<const Pipeline>(right),
                           {"ts", "at"},
                           compare,
                           {{"zero", "a"}},
                           compare == AsofCompare::kLess,
                           "_asof"},
                {line++, 4}});
  }
  Source csv_source = Pipeline::FromCsv("only_path.csv").source();
  csv_source.loc = {40, 2};
  Pipeline frame1(csv_source);
  frame1.Append(Op{SelectOp{{"zero"}}, {41, 2}});
  Pipeline frame2 = Pipeline::FromNdjson("f2.ndjson").Mutate({{"zero", "1"}}).Head(5);
  // A worker's parquet source: its files, pinned hive key types and row ranges.
  Pipeline frame3(
      Source{ParquetSource{"f/**/*.parquet",
                           true,
                           false,
                           {"/f/k=1/a.parquet", "/f/k=2/b.parquet"},
                           {{"k", "BIGINT"}, {"m", "VARCHAR"}},
                           {{"/f/k=2/b.parquet", 0, 2048}, {"/f/k=2/b.parquet", 4096, 6144}}},
             {46, 1}});
  frame3.Join(NestedRight());
  p.Append(Op{ConcatRowsOp{{std::make_shared<const Pipeline>(frame1),
                            std::make_shared<const Pipeline>(frame2),
                            std::make_shared<const Pipeline>(frame3)}},
              {39, 4}});
  p.Append(Op{ConcatRowsOp{}, {}});
  p.Append(Op{PivotWiderOp{"zero", {"total", "n"}}, {42, 4}});
  p.Append(Op{PivotLongerOp{{"a", "b"}, "key", "val"}, {43, 4}});
  p.Append(Op{PivotLongerOp{{"a"}}, {44, 4}});
  p.SetSink(Sink{ToParquetSink{"out/", "zstd", 122880, {"zero", "n"}}, {45, 4}});
  return p;
}

TEST(ProtoMappingTest, RoundTripsEverySourceVerbAndValue) {
  const Pipeline original = Everything();
  const Pipeline back = RoundTrip(original);
  EXPECT_EQ(back, original);
  EXPECT_GE(ExpectSameLocations(original, back, "everything"), 40);
  ASSERT_EQ(back.ops().size(), original.ops().size());
  ASSERT_TRUE(back.sink().has_value());
}

TEST(ProtoMappingTest, KeepsLocationsOfSourceOpsSinkAndExpressions) {
  const Pipeline back = RoundTrip(Everything());
  EXPECT_EQ(back.source().loc, (Location{1, 1}));
  EXPECT_EQ(back.ops()[0].loc, (Location{2, 4}));
  EXPECT_EQ(std::get<FilterOp>(back.ops()[0].body).predicate.loc, (Location{2, 11}));
  EXPECT_EQ(back.ops()[2].loc, (Location{0, 7}));
  EXPECT_EQ(back.ops()[3].loc, Location{});
  EXPECT_EQ(back.sink()->loc, (Location{45, 4}));
  // Down three joins: ops[16] -> right.ops[0] -> right.ops[0] -> right.ops[0].
  const auto& join = std::get<JoinOp>(back.ops()[16].body);
  const auto& middle_join = std::get<JoinOp>(join.right->ops()[0].body);
  EXPECT_EQ(join.right->ops()[0].loc, (Location{17, 7}));
  EXPECT_EQ(middle_join.right->source().loc, (Location{18, 5}));
  const auto& inner_join = std::get<JoinOp>(middle_join.right->ops()[0].body);
  EXPECT_EQ(inner_join.right->source().loc, (Location{20, 3}));
  EXPECT_EQ(std::get<FilterOp>(inner_join.right->ops()[0].body).predicate.loc, (Location{21, 7}));
}

TEST(ProtoMappingTest, KeepsEveryValueExactly) {
  const Pipeline back = RoundTrip(Everything());
  const auto& values = std::get<ValuesSource>(back.source().body);
  const std::vector<Value> expected = EveryValue();
  ASSERT_EQ(values.rows.size(), 3u);
  ASSERT_EQ(values.rows[0].size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(values.rows[0][i].kind(), expected[i].kind()) << i;
    EXPECT_EQ(values.rows[0][i], expected[i]) << i << ": " << expected[i].ToString();
  }
  EXPECT_EQ(values.rows[1], std::vector<Value>(expected.size()));
  EXPECT_TRUE(values.rows[2].empty());
  // Value::operator== treats 0.0 == -0.0 and all NaNs as equal; check the bits.
  EXPECT_TRUE(std::isnan(values.rows[0][9].double_value()));
  EXPECT_EQ(std::bit_cast<uint64_t>(values.rows[0][9].double_value()),
            std::bit_cast<uint64_t>(expected[9].double_value()));
  EXPECT_TRUE(std::signbit(values.rows[0][10].double_value()));
  EXPECT_EQ(values.rows[0][7].uint_value(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(values.rows[0][16].text().size(), 4u);
  EXPECT_EQ(values.rows[0][19].text(), std::string("\x00\xff\x80\x7f", 4));
  EXPECT_EQ(values.rows[0][23].kind(), ValueKind::kTyped);
}

TEST(ProtoMappingTest, KeepsNanPayloadBits) {
  const double payload_nan = std::bit_cast<double>(uint64_t{0x7ff4000000000123});
  const double negative_nan = std::bit_cast<double>(uint64_t{0xfff8000000000000});
  const Pipeline back = RoundTrip(Pipeline::FromValues(
      {"a", "b"}, {{Value::Double(payload_nan), Value::Double(negative_nan)}}));
  const auto& row = std::get<ValuesSource>(back.source().body).rows.at(0);
  EXPECT_EQ(std::bit_cast<uint64_t>(row.at(0).double_value()), uint64_t{0x7ff4000000000123});
  EXPECT_EQ(std::bit_cast<uint64_t>(row.at(1).double_value()), uint64_t{0xfff8000000000000});
}

TEST(ProtoMappingTest, DistinguishesUnsetCsvOptionsFromZeroValues) {
  const Pipeline full = Pipeline::FromCsv(FullCsv());
  const Pipeline bare = Pipeline::FromCsv("plain.csv");
  const Pipeline full_back = RoundTrip(full);
  const Pipeline bare_back = RoundTrip(bare);
  EXPECT_EQ(full_back, full);
  EXPECT_EQ(bare_back, bare);
  const auto& csv = std::get<CsvSource>(full_back.source().body);
  EXPECT_EQ(csv.delimiter, std::optional<std::string>("|"));
  EXPECT_EQ(csv.header, std::optional<bool>(false));
  EXPECT_EQ(csv.skip, std::optional<int64_t>(0));
  EXPECT_EQ(csv.nullstr, std::optional<std::string>(""));
  const auto& plain = std::get<CsvSource>(bare_back.source().body);
  EXPECT_FALSE(plain.delimiter.has_value());
  EXPECT_FALSE(plain.header.has_value());
  EXPECT_FALSE(plain.skip.has_value());
  EXPECT_FALSE(plain.nullstr.has_value());
}

TEST(ProtoMappingTest, RoundTripsEverySink) {
  std::vector<Sink> sinks = {
      Sink{ToParquetSink{"out.parquet", "", std::nullopt, {}}, {}},
      Sink{ToParquetSink{"out/", "gzip", 0, {"a"}}, {3, 9}},
      Sink{ToCsvSink{"out.csv", ";", false}, {4, 1}},
      Sink{ToCsvSink{"out.csv"}, {}},
      Sink{ToNdjsonSink{"out.ndjson"}, {5, 2}},
      Sink{InsertIntoSink{"db.main.t", true}, {6, 3}},
      Sink{InsertIntoSink{"t", false}, {}},
      Sink{InsertIntoSink{"pg.public.events", true, true}, {7, 4}},
      Sink{InsertIntoSink{"pg.events", false, true}, {}},
  };
  for (const Sink& sink : sinks) {
    Pipeline original = Pipeline::FromQuery("SELECT 1 AS a");
    original.SetSink(sink);
    const Pipeline back = RoundTrip(original);
    EXPECT_EQ(back, original) << sink.Verb();
    ASSERT_TRUE(back.sink().has_value());
    EXPECT_EQ(back.sink()->loc, sink.loc) << sink.Verb();
  }
  const Pipeline no_sink = RoundTrip(Pipeline::FromQuery("SELECT 1"));
  EXPECT_FALSE(no_sink.sink().has_value());
}

TEST(ProtoMappingTest, ConcatKeepsEveryFrameWithItsOps) {
  const Pipeline original = Everything();
  const Pipeline back = RoundTrip(original);
  const auto* concat = std::get_if<ConcatRowsOp>(&back.ops()[25].body);
  ASSERT_NE(concat, nullptr) << back.ops()[25].Verb();
  ASSERT_EQ(concat->others.size(), 3u);
  EXPECT_EQ(concat->others[0]->ops().size(), 1u);
  EXPECT_EQ(concat->others[1]->ops().size(), 2u);
  EXPECT_EQ(concat->others[2]->ops().size(), 1u);
  EXPECT_EQ(*concat->others[2], *std::get<ConcatRowsOp>(original.ops()[25].body).others[2]);
}

TEST(ProtoMappingTest, ToProtoReplacesTheMessage) {
  pb::Pipeline message;
  ToProto(Everything(), &message);
  ToProto(Pipeline::FromQuery("SELECT 2"), &message);
  EXPECT_EQ(message.ops_size(), 0);
  EXPECT_FALSE(message.has_sink());
  EXPECT_EQ(message.source().query().sql(), "SELECT 2");
}

TEST(ProtoMappingTest, AbsentOptionalFieldsTakeTheBuilderDefaults) {
  pb::Pipeline message;
  message.mutable_source()->mutable_query()->set_sql("SELECT 1");
  pb::JoinOp* join = message.add_ops()->mutable_join();
  join->mutable_right()->mutable_source()->mutable_query()->set_sql("SELECT 2");
  join->set_how(pb::JOIN_HOW_INNER);
  pb::AsofJoinOp* asof = message.add_ops()->mutable_asof_join();
  asof->mutable_right()->mutable_source()->mutable_ndjson()->set_path("r.ndjson");
  asof->mutable_by()->set_left("t");
  asof->mutable_by()->set_right("t");
  asof->set_compare(pb::ASOF_COMPARE_GREATER_EQUAL);
  message.add_ops()->mutable_pivot_longer()->add_columns("a");
  message.mutable_sink()->mutable_to_csv()->set_path("o.csv");

  Result<Pipeline> read = FromProto(message);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  Pipeline expected =
      Pipeline::FromQuery("SELECT 1")
          .Join(Pipeline::FromQuery("SELECT 2"))
          .AsofJoin(Pipeline::FromNdjson("r.ndjson"), {"t", "t"}, AsofCompare::kGreaterEqual)
          .PivotLonger({"a"});
  expected.ToCsv(ToCsvSink{"o.csv"});
  EXPECT_EQ(*read, expected);
}

TEST(ProtoMappingTest, RoundTripsScripts) {
  Script script{{{"lake", "lake.duckdb", true, {2, 1}}, {"out", "/tmp/out db.duckdb", false, {}}},
                Pipeline::FromQuery("SELECT * FROM lake.t"),
                {}};
  script.pipeline.InsertInto("out.main.t", true);
  pb::Script message;
  ToProto(script, &message);
  std::string bytes;
  ASSERT_TRUE(message.SerializeToString(&bytes));
  pb::Script parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  Result<Script> back = FromProto(parsed);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->attachments, script.attachments);
  EXPECT_EQ(back->attachments[0].loc, (Location{2, 1}));
  EXPECT_EQ(back->pipeline, script.pipeline);

  Script empty{{}, Everything(), {}};
  ToProto(empty, &message);
  EXPECT_EQ(message.attachments_size(), 0);
  back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->attachments.empty());
  EXPECT_EQ(back->pipeline, empty.pipeline);
  EXPECT_GE(ExpectSameLocations(empty.pipeline, back->pipeline, "script"), 40);
}

TEST(ProtoMappingTest, RoundTripsPostgresAttachmentsAndAttachedSources) {
  Script script{{{"pg", "host=db password=secret", true, {1, 1}, AttachmentType::kPostgres},
                 {"wh", "wh.duckdb", false, {}, AttachmentType::kDuckDb}},
                Pipeline::FromAttached("pg", "public.orders", "id", {"id", "amount"}),
                {}};
  script.pipeline.Join(Pipeline::FromAttached("wh", "t"));
  script.pipeline.InsertInto("pg.public.events", true, true);
  pb::Script message;
  ToProto(script, &message);
  EXPECT_EQ(message.attachments(0).type(), pb::ATTACHMENT_TYPE_POSTGRES);
  EXPECT_EQ(message.attachments(1).type(), pb::ATTACHMENT_TYPE_DUCKDB);
  EXPECT_EQ(message.pipeline().source().attached().partition_by(), "id");
  Result<Script> back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->attachments, script.attachments);
  EXPECT_EQ(back->pipeline, script.pipeline);

  // Scripts from before attachment types: absent means a DuckDB file.
  message.mutable_attachments(0)->clear_type();
  back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->attachments[0].type, AttachmentType::kDuckDb);
  message.mutable_attachments(1)->set_type(pb::ATTACHMENT_TYPE_UNSPECIFIED);
  back = FromProto(message);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().message(), "attachment has unspecified type at attachments[1]");
  message.mutable_attachments(1)->set_type(static_cast<pb::AttachmentType>(9));
  back = FromProto(message);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().message(), "attachment has unknown type 9 at attachments[1]");
}

TEST(ProtoMappingTest, RoundTripsS3Settings) {
  Script script{{}, Pipeline::FromParquet("s3://lake/*.parquet"), {}};
  pb::Script message;
  ToProto(script, &message);
  EXPECT_FALSE(message.has_s3());
  script.s3 = S3Settings{"eu-west-1", std::nullopt, "path", false, std::nullopt, {2, 1}};
  ToProto(script, &message);
  EXPECT_FALSE(message.s3().has_endpoint());
  Result<Script> back = FromProto(message);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->s3, script.s3);
  EXPECT_EQ(back->s3.loc, (Location{2, 1}));
}

TEST(ProtoMappingTest, RoundTripsAttachedSlices) {
  for (auto method : {AttachedSlice::Method::kModulus, AttachedSlice::Method::kHash,
                      AttachedSlice::Method::kRange}) {
    AttachedSource source{"pg", "orders", "id", {}, AttachedSlice{method, 1, 3, std::nullopt}};
    if (method == AttachedSlice::Method::kRange) source.slice->range = std::make_pair(-5, 90);
    Pipeline p(Source{source, {2, 1}});
    pb::Pipeline message;
    ToProto(p, &message);
    EXPECT_EQ(message.source().attached().slice().count(), 3);
    Result<Pipeline> back = FromProto(message);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, p);
  }
  // A slice is absent unless set, and then must be one of its count, with a key.
  pb::Pipeline message;
  ToProto(Pipeline::FromAttached("pg", "orders", "id"), &message);
  EXPECT_FALSE(message.source().attached().has_slice());
  message.mutable_source()->mutable_attached()->mutable_slice()->set_index(2);
  message.mutable_source()->mutable_attached()->mutable_slice()->set_count(2);
  Result<Pipeline> back = FromProto(message);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().message(), "from_attached has no slice 2 of 2 at source.attached.slice");
  message.mutable_source()->mutable_attached()->mutable_slice()->set_index(1);
  message.mutable_source()->mutable_attached()->clear_partition_by();
  back = FromProto(message);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().message(),
            "from_attached slice without partition_by at source.attached.slice");
}

// ---- invalid messages --------------------------------------------------------------------

// A valid message to break: ops[0] a join (whose right side has a filter), ops[1] an asof
// join, ops[2] a sort, ops[3] a concat of two frames, a values source and a sink.
pb::Pipeline ValidMessage() {
  Pipeline p(Source{ValuesSource{{"a", "b"}, {{Value::Int(1), Value::String("x")}}, {}}, {1, 2}});
  p.Append(Op{
      JoinOp{std::make_shared<const Pipeline>(Pipeline::FromQuery("SELECT 1 AS a").Filter("a > 0")),
             JoinHow::kInner,
             {},
             "_right"},
      {2, 4}});
  p.AsofJoin(Pipeline::FromQuery("SELECT 1 AS a"), {"a", "a"}, AsofCompare::kLess);
  p.SortBy({{Expr{"a", {}}, true, NullOrder::kFirst}});
  p.ConcatRows({Pipeline::FromQuery("SELECT 2 AS a"), Pipeline::FromNdjson("x.ndjson")});
  p.Filter("a > 1").Mutate({{"c", "a + 1"}}).Summarise({{"n", "count(*)"}});
  p.ToNdjson("out.ndjson");
  pb::Pipeline message;
  ToProto(p, &message);
  return message;
}

struct BrokenCase {
  std::string name;
  std::function<void(pb::Pipeline*)> breaker;
  std::string message;
};

TEST(ProtoMappingTest, ValidMessageForTheErrorCasesIsValid) {
  Result<Pipeline> read = FromProto(ValidMessage());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->ops().size(), 7u);
}

TEST(ProtoMappingTest, RejectsMessagesMissingRequiredParts) {
  const std::vector<BrokenCase> cases = {
      {"empty pipeline", [](pb::Pipeline* m) { m->Clear(); }, "pipeline has no source"},
      {"source without kind", [](pb::Pipeline* m) { m->mutable_source()->clear_values(); },
       "source has no kind at source (line 1, col 2)"},
      {"value without kind",
       [](pb::Pipeline* m) {
         m->mutable_source()->mutable_values()->mutable_rows(0)->mutable_values(1)->Clear();
       },
       "value has no kind at source.values.rows[0].values[1] (line 1, col 2)"},
      {"op without verb", [](pb::Pipeline* m) { m->mutable_ops(2)->clear_verb(); },
       "op has no verb at ops[2]"},
      {"op without verb keeps its location",
       [](pb::Pipeline* m) { m->mutable_ops(0)->clear_verb(); },
       "op has no verb at ops[0] (line 2, col 4)"},
      {"join without right",
       [](pb::Pipeline* m) { m->mutable_ops(0)->mutable_join()->clear_right(); },
       "join has no right pipeline at ops[0].join.right (line 2, col 4)"},
      {"join how unspecified",
       [](pb::Pipeline* m) {
         m->mutable_ops(0)->mutable_join()->set_how(pb::JOIN_HOW_UNSPECIFIED);
       },
       "join has unspecified how at ops[0].join (line 2, col 4)"},
      {"join how unknown",
       [](pb::Pipeline* m) {
         m->mutable_ops(0)->mutable_join()->set_how(static_cast<pb::JoinHow>(42));
       },
       "join has unknown how 42 at ops[0].join (line 2, col 4)"},
      {"nested op without verb",
       [](pb::Pipeline* m) {
         m->mutable_ops(0)->mutable_join()->mutable_right()->mutable_ops(0)->clear_verb();
       },
       "op has no verb at ops[0].join.right.ops[0]"},
      {"nested source without kind",
       [](pb::Pipeline* m) {
         m->mutable_ops(0)->mutable_join()->mutable_right()->mutable_source()->Clear();
       },
       "source has no kind at ops[0].join.right.source"},
      {"asof join without right",
       [](pb::Pipeline* m) { m->mutable_ops(1)->mutable_asof_join()->clear_right(); },
       "asof_join has no right pipeline at ops[1].asof_join.right"},
      {"asof join without by",
       [](pb::Pipeline* m) { m->mutable_ops(1)->mutable_asof_join()->clear_by(); },
       "asof_join has no by key at ops[1].asof_join"},
      {"asof compare unspecified",
       [](pb::Pipeline* m) { m->mutable_ops(1)->mutable_asof_join()->clear_compare(); },
       "asof_join has unspecified compare at ops[1].asof_join"},
      {"asof compare unknown",
       [](pb::Pipeline* m) {
         m->mutable_ops(1)->mutable_asof_join()->set_compare(static_cast<pb::AsofCompare>(-1));
       },
       "asof_join has unknown compare -1 at ops[1].asof_join"},
      {"sort key without expr",
       [](pb::Pipeline* m) { m->mutable_ops(2)->mutable_sort_by()->mutable_keys(0)->clear_expr(); },
       "sort_by key has no expr at ops[2].sort_by.keys[0]"},
      {"sort nulls unspecified",
       [](pb::Pipeline* m) {
         m->mutable_ops(2)->mutable_sort_by()->mutable_keys(0)->clear_nulls();
       },
       "sort_by key has unspecified nulls at ops[2].sort_by.keys[0]"},
      {"concat frame without source",
       [](pb::Pipeline* m) {
         m->mutable_ops(3)->mutable_concat_rows()->mutable_others(1)->clear_source();
       },
       "pipeline has no source at ops[3].concat_rows.others[1]"},
      {"filter without predicate",
       [](pb::Pipeline* m) { m->mutable_ops(4)->mutable_filter()->clear_predicate(); },
       "filter has no predicate at ops[4].filter"},
      {"mutate column without expr",
       [](pb::Pipeline* m) {
         m->mutable_ops(5)->mutable_mutate()->mutable_columns(0)->clear_expr();
       },
       "mutate column has no expr at ops[5].mutate.columns[0]"},
      {"summarise aggregate without expr",
       [](pb::Pipeline* m) {
         m->mutable_ops(6)->mutable_summarise()->mutable_aggregates(0)->clear_expr();
       },
       "summarise aggregate has no expr at ops[6].summarise.aggregates[0]"},
      {"sink without kind", [](pb::Pipeline* m) { m->mutable_sink()->Clear(); },
       "sink has no kind at sink"},
  };
  for (const BrokenCase& c : cases) {
    pb::Pipeline message = ValidMessage();
    c.breaker(&message);
    // Through bytes too: what is missing must stay missing on the wire.
    std::string bytes;
    ASSERT_TRUE(message.SerializeToString(&bytes)) << c.name;
    pb::Pipeline parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes)) << c.name;
    Result<Pipeline> read = FromProto(parsed);
    ASSERT_FALSE(read.ok()) << c.name;
    EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(read.status().message(), c.message) << c.name;
  }
}

TEST(ProtoMappingTest, RejectsScriptsWithoutOrWithBrokenPipeline) {
  pb::Script message;
  message.add_attachments()->set_alias("db");
  Result<Script> read = FromProto(message);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(read.status().message(), "script has no pipeline");

  *message.mutable_pipeline() = ValidMessage();
  message.mutable_pipeline()->mutable_ops(0)->mutable_join()->mutable_right()->clear_source();
  read = FromProto(message);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(read.status().message(), "pipeline has no source at pipeline.ops[0].join.right");
}

}  // namespace
}  // namespace dux::pipeline
