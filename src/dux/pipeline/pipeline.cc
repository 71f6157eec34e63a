#include "dux/pipeline/pipeline.h"

#include <fmt/format.h>

#include "dux/common/ascii.h"
#include "dux/pipeline/schema.h"

namespace dux::pipeline {

namespace {

bool SamePipelines(const std::vector<PipelinePtr>& a, const std::vector<PipelinePtr>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(*a[i] == *b[i])) return false;
  }
  return true;
}

std::vector<NamedExpr> ToNamedExprs(std::vector<std::pair<std::string, std::string>> pairs) {
  std::vector<NamedExpr> out;
  out.reserve(pairs.size());
  for (auto& pair : pairs) {
    out.push_back({std::move(pair.first), Expr{std::move(pair.second), {}}});
  }
  return out;
}

}  // namespace

std::string Location::Suffix() const {
  if (!known()) return "";
  return fmt::format(" (line {}, col {})", line, column);
}

bool SameColumnName(const std::string& a, const std::string& b) {
  return EqualsIgnoringAsciiCase(a, b);
}

std::optional<size_t> Schema::Find(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return i;
  }
  std::optional<size_t> found;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (EqualsIgnoringAsciiCase(columns[i].name, name)) {
      if (found) return std::nullopt;  // ambiguous
      found = i;
    }
  }
  return found;
}

const char* Source::Name() const {
  struct Visitor {
    const char* operator()(const ParquetSource&) const { return "from_parquet"; }
    const char* operator()(const CsvSource&) const { return "from_csv"; }
    const char* operator()(const NdjsonSource&) const { return "from_ndjson"; }
    const char* operator()(const QuerySource&) const { return "from_query"; }
    const char* operator()(const ValuesSource&) const { return "from_values"; }
    const char* operator()(const ArrowSource&) const { return "from_arrow"; }
    const char* operator()(const AttachedSource&) const { return "from_attached"; }
  };
  return std::visit(Visitor{}, body);
}

const char* Op::Verb() const {
  struct Visitor {
    const char* operator()(const FilterOp&) const { return "filter"; }
    const char* operator()(const MutateOp&) const { return "mutate"; }
    const char* operator()(const SelectOp&) const { return "select"; }
    const char* operator()(const DiscardOp&) const { return "discard"; }
    const char* operator()(const RenameOp&) const { return "rename"; }
    const char* operator()(const DropNilOp&) const { return "drop_nil"; }
    const char* operator()(const GroupByOp&) const { return "group_by"; }
    const char* operator()(const UngroupOp&) const { return "ungroup"; }
    const char* operator()(const SummariseOp&) const { return "summarise"; }
    const char* operator()(const SortByOp&) const { return "sort_by"; }
    const char* operator()(const HeadOp&) const { return "head"; }
    const char* operator()(const SliceOp&) const { return "slice"; }
    const char* operator()(const DistinctOp&) const { return "distinct"; }
    const char* operator()(const JoinOp&) const { return "join"; }
    const char* operator()(const AsofJoinOp&) const { return "asof_join"; }
    const char* operator()(const ConcatRowsOp&) const { return "concat_rows"; }
    const char* operator()(const PivotWiderOp&) const { return "pivot_wider"; }
    const char* operator()(const PivotLongerOp&) const { return "pivot_longer"; }
  };
  return std::visit(Visitor{}, body);
}

const char* Sink::Verb() const {
  struct Visitor {
    const char* operator()(const ToParquetSink&) const { return "to_parquet"; }
    const char* operator()(const ToCsvSink&) const { return "to_csv"; }
    const char* operator()(const ToNdjsonSink&) const { return "to_ndjson"; }
    const char* operator()(const InsertIntoSink&) const { return "insert_into"; }
    const char* operator()(const ToArrowSink&) const { return "to_arrow"; }
  };
  return std::visit(Visitor{}, body);
}

const char* JoinHowName(JoinHow how) {
  switch (how) {
    case JoinHow::kInner:
      return "inner";
    case JoinHow::kLeft:
      return "left";
    case JoinHow::kRight:
      return "right";
    case JoinHow::kFull:
      return "full";
    case JoinHow::kCross:
      return "cross";
    case JoinHow::kSemi:
      return "semi";
    case JoinHow::kAnti:
      return "anti";
  }
  return "inner";
}

const char* AsofCompareSql(AsofCompare c) {
  switch (c) {
    case AsofCompare::kGreaterEqual:
      return ">=";
    case AsofCompare::kGreater:
      return ">";
    case AsofCompare::kLessEqual:
      return "<=";
    case AsofCompare::kLess:
      return "<";
  }
  return ">=";
}

bool JoinOp::operator==(const JoinOp& o) const {
  return *right == *o.right && how == o.how && on == o.on && suffix == o.suffix;
}

bool AsofJoinOp::operator==(const AsofJoinOp& o) const {
  return *right == *o.right && by == o.by && compare == o.compare && on == o.on && left == o.left &&
         suffix == o.suffix;
}

bool ConcatRowsOp::operator==(const ConcatRowsOp& o) const {
  return SamePipelines(others, o.others);
}

Pipeline Pipeline::FromParquet(std::string path, bool hive_partitioning, bool union_by_name) {
  return Pipeline(
      Source{ParquetSource{std::move(path), hive_partitioning, union_by_name, {}, {}, {}}, {}});
}

Pipeline Pipeline::FromCsv(CsvSource csv) { return Pipeline(Source{std::move(csv), {}}); }

Pipeline Pipeline::FromCsv(std::string path) {
  CsvSource csv;
  csv.path = std::move(path);
  return FromCsv(std::move(csv));
}

Pipeline Pipeline::FromNdjson(std::string path) {
  return Pipeline(Source{NdjsonSource{std::move(path)}, {}});
}

Pipeline Pipeline::FromQuery(std::string sql) {
  return Pipeline(Source{QuerySource{std::move(sql)}, {}});
}

Pipeline Pipeline::FromArrow(std::string path) {
  return Pipeline(Source{ArrowSource{std::move(path)}, {}});
}

Pipeline Pipeline::FromAttached(std::string alias, std::string table, std::string partition_by,
                                std::vector<std::string> columns) {
  return Pipeline(Source{AttachedSource{std::move(alias), std::move(table), std::move(partition_by),
                                        std::move(columns), std::nullopt},
                         {}});
}

Pipeline Pipeline::FromValues(std::vector<std::string> columns,
                              std::vector<std::vector<Value>> rows,
                              std::vector<std::pair<std::string, std::string>> types) {
  return Pipeline(Source{ValuesSource{std::move(columns), std::move(rows), std::move(types)}, {}});
}

Pipeline& Pipeline::Append(Op op) {
  ops_.push_back(std::move(op));
  return *this;
}

Pipeline& Pipeline::Filter(std::string predicate) {
  return Append({FilterOp{Expr{std::move(predicate), {}}}, {}});
}
Pipeline& Pipeline::Mutate(std::vector<std::pair<std::string, std::string>> columns) {
  return Append({MutateOp{ToNamedExprs(std::move(columns))}, {}});
}
Pipeline& Pipeline::Select(std::vector<std::string> columns) {
  return Append({SelectOp{std::move(columns)}, {}});
}
Pipeline& Pipeline::Discard(std::vector<std::string> columns) {
  return Append({DiscardOp{std::move(columns)}, {}});
}
Pipeline& Pipeline::Rename(std::vector<std::pair<std::string, std::string>> renames) {
  return Append({RenameOp{std::move(renames)}, {}});
}
Pipeline& Pipeline::DropNil(std::vector<std::string> columns) {
  return Append({DropNilOp{std::move(columns)}, {}});
}
Pipeline& Pipeline::GroupBy(std::vector<std::string> columns) {
  return Append({GroupByOp{std::move(columns)}, {}});
}
Pipeline& Pipeline::Ungroup() { return Append({UngroupOp{}, {}}); }
Pipeline& Pipeline::Summarise(std::vector<std::pair<std::string, std::string>> aggregates) {
  return Append({SummariseOp{ToNamedExprs(std::move(aggregates))}, {}});
}
Pipeline& Pipeline::SortBy(std::vector<SortKey> keys) {
  return Append({SortByOp{std::move(keys)}, {}});
}
Pipeline& Pipeline::Head(int64_t n) { return Append({HeadOp{n}, {}}); }
Pipeline& Pipeline::Slice(int64_t offset, int64_t length) {
  return Append({SliceOp{offset, length}, {}});
}
Pipeline& Pipeline::Distinct(std::vector<std::string> columns) {
  return Append({DistinctOp{std::move(columns)}, {}});
}
Pipeline& Pipeline::Join(Pipeline right, JoinHow how, std::vector<JoinKey> on, std::string suffix) {
  return Append({JoinOp{std::make_shared<const Pipeline>(std::move(right)), how, std::move(on),
                        std::move(suffix)},
                 {}});
}
Pipeline& Pipeline::AsofJoin(Pipeline right, JoinKey by, AsofCompare compare,
                             std::vector<JoinKey> on, bool left, std::string suffix) {
  return Append({AsofJoinOp{std::make_shared<const Pipeline>(std::move(right)), std::move(by),
                            compare, std::move(on), left, std::move(suffix)},
                 {}});
}
Pipeline& Pipeline::ConcatRows(std::vector<Pipeline> others) {
  ConcatRowsOp op;
  for (auto& p : others) op.others.push_back(std::make_shared<const Pipeline>(std::move(p)));
  return Append({std::move(op), {}});
}
Pipeline& Pipeline::PivotWider(std::string names_from, std::vector<std::string> values_from) {
  return Append({PivotWiderOp{std::move(names_from), std::move(values_from)}, {}});
}
Pipeline& Pipeline::PivotLonger(std::vector<std::string> columns, std::string names_to,
                                std::string values_to) {
  return Append({PivotLongerOp{std::move(columns), std::move(names_to), std::move(values_to)}, {}});
}

Pipeline& Pipeline::ToParquet(ToParquetSink sink) {
  sink_ = Sink{std::move(sink), {}};
  return *this;
}
Pipeline& Pipeline::ToCsv(ToCsvSink sink) {
  sink_ = Sink{std::move(sink), {}};
  return *this;
}
Pipeline& Pipeline::ToNdjson(std::string path) {
  sink_ = Sink{ToNdjsonSink{std::move(path)}, {}};
  return *this;
}
Pipeline& Pipeline::ToArrow(ToArrowSink sink) {
  sink_ = Sink{std::move(sink), {}};
  return *this;
}
Pipeline& Pipeline::InsertInto(std::string table, bool create, bool atomic) {
  sink_ = Sink{InsertIntoSink{std::move(table), create, atomic}, {}};
  return *this;
}

const char* AttachmentTypeName(AttachmentType type) {
  return type == AttachmentType::kPostgres ? "postgres" : "duckdb";
}

void ForEachPipeline(const Pipeline& p, const std::function<void(const Pipeline&)>& visit) {
  visit(p);
  for (const auto& op : p.ops()) {
    if (auto* j = std::get_if<JoinOp>(&op.body)) ForEachPipeline(*j->right, visit);
    if (auto* j = std::get_if<AsofJoinOp>(&op.body)) ForEachPipeline(*j->right, visit);
    if (auto* c = std::get_if<ConcatRowsOp>(&op.body)) {
      for (const auto& other : c->others) ForEachPipeline(*other, visit);
    }
  }
}

std::map<std::string, Location> ArrowSourcePaths(const Pipeline& pipeline) {
  std::map<std::string, Location> paths;
  ForEachPipeline(pipeline, [&](const Pipeline& p) {
    if (auto* a = std::get_if<ArrowSource>(&p.source().body)) {
      paths.emplace(a->path, p.source().loc);
    }
  });
  return paths;
}

}  // namespace dux::pipeline
