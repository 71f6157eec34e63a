#include "dux/pipeline/proto_mapping.h"

#include <fmt/format.h>

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace dux::pipeline {

namespace {

namespace pb = ::dux::v1;

using StringPairs = std::vector<std::pair<std::string, std::string>>;

// ---- writing ---------------------------------------------------------------------------

void WritePipeline(const Pipeline& pipeline, pb::Pipeline* out);

// Unknown locations are left out, which reads back as line 0, column 0.
template <typename Message>
void WriteLocation(const Location& loc, Message* out) {
  if (loc.line == 0 && loc.column == 0) return;
  out->mutable_loc()->set_line(loc.line);
  out->mutable_loc()->set_column(loc.column);
}

void WriteStrings(const std::vector<std::string>& strings,
                  google::protobuf::RepeatedPtrField<std::string>* out) {
  for (const std::string& s : strings) out->Add()->assign(s);
}

void WriteColumnTypes(const StringPairs& types,
                      google::protobuf::RepeatedPtrField<pb::ColumnType>* out) {
  for (const auto& [column, type] : types) {
    pb::ColumnType* entry = out->Add();
    entry->set_column(column);
    entry->set_type(type);
  }
}

void WriteExpr(const Expr& expr, pb::Expr* out) {
  out->set_sql(expr.sql);
  WriteLocation(expr.loc, out);
}

void WriteNamedExprs(const std::vector<NamedExpr>& exprs,
                     google::protobuf::RepeatedPtrField<pb::NamedExpr>* out) {
  for (const NamedExpr& named : exprs) {
    pb::NamedExpr* entry = out->Add();
    entry->set_name(named.name);
    WriteExpr(named.expr, entry->mutable_expr());
  }
}

void WriteJoinKey(const JoinKey& key, pb::JoinKey* out) {
  out->set_left(key.left);
  out->set_right(key.right);
}

void WriteJoinKeys(const std::vector<JoinKey>& keys,
                   google::protobuf::RepeatedPtrField<pb::JoinKey>* out) {
  for (const JoinKey& key : keys) WriteJoinKey(key, out->Add());
}

void WriteValue(const Value& value, pb::Value* out) {
  switch (value.kind()) {
    case ValueKind::kNull:
      out->mutable_null_value();
      return;
    case ValueKind::kBool:
      out->set_bool_value(value.bool_value());
      return;
    case ValueKind::kInt:
      out->set_int_value(value.int_value());
      return;
    case ValueKind::kUInt:
      out->set_uint_value(value.uint_value());
      return;
    case ValueKind::kDouble:
      out->set_double_value(value.double_value());
      return;
    case ValueKind::kString:
      out->set_string_value(value.text());
      return;
    case ValueKind::kBlob:
      out->set_blob_value(value.text());
      return;
    case ValueKind::kTyped:
      out->mutable_typed()->set_type_name(value.type_name());
      out->mutable_typed()->set_text(value.text());
      return;
  }
}

pb::NullOrder ToProtoNullOrder(NullOrder nulls) {
  switch (nulls) {
    case NullOrder::kDefault:
      return pb::NULL_ORDER_DEFAULT;
    case NullOrder::kFirst:
      return pb::NULL_ORDER_FIRST;
    case NullOrder::kLast:
      return pb::NULL_ORDER_LAST;
  }
  return pb::NULL_ORDER_UNSPECIFIED;
}

pb::JoinHow ToProtoJoinHow(JoinHow how) {
  switch (how) {
    case JoinHow::kInner:
      return pb::JOIN_HOW_INNER;
    case JoinHow::kLeft:
      return pb::JOIN_HOW_LEFT;
    case JoinHow::kRight:
      return pb::JOIN_HOW_RIGHT;
    case JoinHow::kFull:
      return pb::JOIN_HOW_FULL;
    case JoinHow::kCross:
      return pb::JOIN_HOW_CROSS;
    case JoinHow::kSemi:
      return pb::JOIN_HOW_SEMI;
    case JoinHow::kAnti:
      return pb::JOIN_HOW_ANTI;
  }
  return pb::JOIN_HOW_UNSPECIFIED;
}

pb::AsofCompare ToProtoAsofCompare(AsofCompare compare) {
  switch (compare) {
    case AsofCompare::kGreaterEqual:
      return pb::ASOF_COMPARE_GREATER_EQUAL;
    case AsofCompare::kGreater:
      return pb::ASOF_COMPARE_GREATER;
    case AsofCompare::kLessEqual:
      return pb::ASOF_COMPARE_LESS_EQUAL;
    case AsofCompare::kLess:
      return pb::ASOF_COMPARE_LESS;
  }
  return pb::ASOF_COMPARE_UNSPECIFIED;
}

struct SourceWriter {
  pb::Source* out;

  void operator()(const ParquetSource& s) const {
    pb::ParquetSource* m = out->mutable_parquet();
    m->set_path(s.path);
    m->set_hive_partitioning(s.hive_partitioning);
    m->set_union_by_name(s.union_by_name);
    for (const auto& f : s.files) m->add_files(f);
    WriteColumnTypes(s.hive_types, m->mutable_hive_types());
    for (const auto& r : s.row_ranges) {
      pb::RowRange* range = m->add_row_ranges();
      range->set_file(r.file);
      range->set_begin(r.begin);
      range->set_end(r.end);
    }
  }
  void operator()(const CsvSource& s) const {
    pb::CsvSource* m = out->mutable_csv();
    m->set_path(s.path);
    if (s.delimiter) m->set_delimiter(*s.delimiter);
    if (s.header) m->set_header(*s.header);
    if (s.skip) m->set_skip(*s.skip);
    if (s.nullstr) m->set_nullstr(*s.nullstr);
    WriteColumnTypes(s.types, m->mutable_types());
    WriteStrings(s.columns, m->mutable_columns());
  }
  void operator()(const NdjsonSource& s) const { out->mutable_ndjson()->set_path(s.path); }
  void operator()(const QuerySource& s) const { out->mutable_query()->set_sql(s.sql); }
  void operator()(const ArrowSource& s) const { out->mutable_arrow()->set_path(s.path); }
  void operator()(const AttachedSource& s) const {
    pb::AttachedSource* m = out->mutable_attached();
    m->set_alias(s.alias);
    m->set_table(s.table);
    m->set_partition_by(s.partition_by);
    WriteStrings(s.columns, m->mutable_columns());
    if (s.slice) {
      pb::AttachedSlice* slice = m->mutable_slice();
      switch (s.slice->method) {
        case AttachedSlice::Method::kModulus:
          slice->set_method(pb::AttachedSlice::METHOD_MODULUS);
          break;
        case AttachedSlice::Method::kHash:
          slice->set_method(pb::AttachedSlice::METHOD_HASH);
          break;
        case AttachedSlice::Method::kRange:
          slice->set_method(pb::AttachedSlice::METHOD_RANGE);
          break;
      }
      slice->set_index(s.slice->index);
      slice->set_count(s.slice->count);
      if (s.slice->range) {
        slice->set_range_min(s.slice->range->first);
        slice->set_range_max(s.slice->range->second);
      }
    }
  }
  void operator()(const ValuesSource& s) const {
    pb::ValuesSource* m = out->mutable_values();
    WriteStrings(s.columns, m->mutable_columns());
    for (const std::vector<Value>& row : s.rows) {
      pb::ValuesSource::Row* r = m->add_rows();
      for (const Value& value : row) WriteValue(value, r->add_values());
    }
    WriteColumnTypes(s.types, m->mutable_types());
  }
};

struct OpWriter {
  pb::Op* out;

  void operator()(const FilterOp& op) const {
    WriteExpr(op.predicate, out->mutable_filter()->mutable_predicate());
  }
  void operator()(const MutateOp& op) const {
    WriteNamedExprs(op.columns, out->mutable_mutate()->mutable_columns());
  }
  void operator()(const SelectOp& op) const {
    WriteStrings(op.columns, out->mutable_select()->mutable_columns());
  }
  void operator()(const DiscardOp& op) const {
    WriteStrings(op.columns, out->mutable_discard()->mutable_columns());
  }
  void operator()(const RenameOp& op) const {
    pb::RenameOp* m = out->mutable_rename();
    for (const auto& [old_name, new_name] : op.renames) {
      pb::RenameOp::Rename* r = m->add_renames();
      r->set_old_name(old_name);
      r->set_new_name(new_name);
    }
  }
  void operator()(const DropNilOp& op) const {
    WriteStrings(op.columns, out->mutable_drop_nil()->mutable_columns());
  }
  void operator()(const GroupByOp& op) const {
    WriteStrings(op.columns, out->mutable_group_by()->mutable_columns());
  }
  void operator()(const UngroupOp&) const { out->mutable_ungroup(); }
  void operator()(const SummariseOp& op) const {
    WriteNamedExprs(op.aggregates, out->mutable_summarise()->mutable_aggregates());
  }
  void operator()(const SortByOp& op) const {
    pb::SortByOp* m = out->mutable_sort_by();
    for (const SortKey& key : op.keys) {
      pb::SortKey* k = m->add_keys();
      WriteExpr(key.expr, k->mutable_expr());
      k->set_descending(key.descending);
      k->set_nulls(ToProtoNullOrder(key.nulls));
    }
  }
  void operator()(const HeadOp& op) const { out->mutable_head()->set_n(op.n); }
  void operator()(const SliceOp& op) const {
    out->mutable_slice()->set_offset(op.offset);
    out->mutable_slice()->set_length(op.length);
  }
  void operator()(const DistinctOp& op) const {
    WriteStrings(op.columns, out->mutable_distinct()->mutable_columns());
  }
  void operator()(const JoinOp& op) const {
    pb::JoinOp* m = out->mutable_join();
    // A null right side cannot come from the builder; leaving it out makes FromProto
    // report it instead of crashing here.
    if (op.right) WritePipeline(*op.right, m->mutable_right());
    m->set_how(ToProtoJoinHow(op.how));
    WriteJoinKeys(op.on, m->mutable_on());
    m->set_suffix(op.suffix);
  }
  void operator()(const AsofJoinOp& op) const {
    pb::AsofJoinOp* m = out->mutable_asof_join();
    if (op.right) WritePipeline(*op.right, m->mutable_right());
    WriteJoinKey(op.by, m->mutable_by());
    m->set_compare(ToProtoAsofCompare(op.compare));
    WriteJoinKeys(op.on, m->mutable_on());
    m->set_left(op.left);
    m->set_suffix(op.suffix);
  }
  void operator()(const ConcatRowsOp& op) const {
    pb::ConcatRowsOp* m = out->mutable_concat_rows();
    for (const PipelinePtr& other : op.others) {
      pb::Pipeline* p = m->add_others();
      if (other) WritePipeline(*other, p);
    }
  }
  void operator()(const PivotWiderOp& op) const {
    pb::PivotWiderOp* m = out->mutable_pivot_wider();
    m->set_names_from(op.names_from);
    WriteStrings(op.values_from, m->mutable_values_from());
  }
  void operator()(const PivotLongerOp& op) const {
    pb::PivotLongerOp* m = out->mutable_pivot_longer();
    WriteStrings(op.columns, m->mutable_columns());
    m->set_names_to(op.names_to);
    m->set_values_to(op.values_to);
  }
};

struct SinkWriter {
  pb::Sink* out;

  void operator()(const ToParquetSink& s) const {
    pb::ToParquetSink* m = out->mutable_to_parquet();
    m->set_path(s.path);
    m->set_compression(s.compression);
    if (s.row_group_size) m->set_row_group_size(*s.row_group_size);
    WriteStrings(s.partition_by, m->mutable_partition_by());
  }
  void operator()(const ToCsvSink& s) const {
    pb::ToCsvSink* m = out->mutable_to_csv();
    m->set_path(s.path);
    m->set_delimiter(s.delimiter);
    m->set_header(s.header);
  }
  void operator()(const ToNdjsonSink& s) const { out->mutable_to_ndjson()->set_path(s.path); }
  void operator()(const InsertIntoSink& s) const {
    pb::InsertIntoSink* m = out->mutable_insert_into();
    m->set_table(s.table);
    m->set_create(s.create);
    m->set_atomic(s.atomic);
  }
  void operator()(const ToArrowSink& s) const {
    pb::ToArrowSink* m = out->mutable_to_arrow();
    m->set_path(s.path);
    m->set_stream_format(s.stream_format);
    m->set_compression(s.compression);
    m->set_lossless(s.lossless);
  }
};

void WritePipeline(const Pipeline& pipeline, pb::Pipeline* out) {
  pb::Source* source = out->mutable_source();
  WriteLocation(pipeline.source().loc, source);
  std::visit(SourceWriter{source}, pipeline.source().body);
  for (const Op& op : pipeline.ops()) {
    pb::Op* m = out->add_ops();
    WriteLocation(op.loc, m);
    std::visit(OpWriter{m}, op.body);
  }
  if (pipeline.sink()) {
    pb::Sink* sink = out->mutable_sink();
    WriteLocation(pipeline.sink()->loc, sink);
    std::visit(SinkWriter{sink}, pipeline.sink()->body);
  }
}

// ---- reading ---------------------------------------------------------------------------
// `path` is the field path from the message given to FromProto ("ops[1].join.right"), used
// only in error messages; `loc` is the location of the enclosing source, op or sink.

Result<Pipeline> ReadPipeline(const pb::Pipeline& message, const std::string& path);

std::string Field(const std::string& path, const std::string& field) {
  return path.empty() ? field : path + "." + field;
}

std::string Index(const std::string& path, int i) { return fmt::format("{}[{}]", path, i); }

Status Invalid(const std::string& what, const std::string& path, const Location& loc) {
  std::string message = what;
  if (!path.empty()) message += " at " + path;
  return Status::InvalidArgument(message + loc.Suffix());
}

template <typename Message>
Location ReadLocation(const Message& message) {
  if (!message.has_loc()) return {};
  return Location{message.loc().line(), message.loc().column()};
}

std::vector<std::string> ReadStrings(const google::protobuf::RepeatedPtrField<std::string>& in) {
  return std::vector<std::string>(in.begin(), in.end());
}

StringPairs ReadColumnTypes(const google::protobuf::RepeatedPtrField<pb::ColumnType>& in) {
  StringPairs out;
  out.reserve(in.size());
  for (const pb::ColumnType& entry : in) out.emplace_back(entry.column(), entry.type());
  return out;
}

Expr ReadExpr(const pb::Expr& message) { return Expr{message.sql(), ReadLocation(message)}; }

// `what` names the list for errors, e.g. "mutate column".
Result<std::vector<NamedExpr>> ReadNamedExprs(
    const google::protobuf::RepeatedPtrField<pb::NamedExpr>& in, const std::string& what,
    const std::string& path, const Location& loc) {
  std::vector<NamedExpr> out;
  out.reserve(in.size());
  for (int i = 0; i < in.size(); ++i) {
    const pb::NamedExpr& entry = in.Get(i);
    if (!entry.has_expr()) return Invalid(what + " has no expr", Index(path, i), loc);
    out.push_back(NamedExpr{entry.name(), ReadExpr(entry.expr())});
  }
  return out;
}

JoinKey ReadJoinKey(const pb::JoinKey& message) { return JoinKey{message.left(), message.right()}; }

std::vector<JoinKey> ReadJoinKeys(const google::protobuf::RepeatedPtrField<pb::JoinKey>& in) {
  std::vector<JoinKey> out;
  out.reserve(in.size());
  for (const pb::JoinKey& key : in) out.push_back(ReadJoinKey(key));
  return out;
}

Result<Value> ReadValue(const pb::Value& message, const std::string& path, const Location& loc) {
  switch (message.kind_case()) {
    case pb::Value::kNullValue:
      return Value::Null();
    case pb::Value::kBoolValue:
      return Value::Bool(message.bool_value());
    case pb::Value::kIntValue:
      return Value::Int(message.int_value());
    case pb::Value::kUintValue:
      return Value::UInt(message.uint_value());
    case pb::Value::kDoubleValue:
      return Value::Double(message.double_value());
    case pb::Value::kStringValue:
      return Value::String(message.string_value());
    case pb::Value::kBlobValue:
      return Value::Blob(message.blob_value());
    case pb::Value::kTyped:
      return Value::Typed(message.typed().type_name(), message.typed().text());
    case pb::Value::KIND_NOT_SET:
      break;
  }
  return Invalid("value has no kind", path, loc);
}

Result<NullOrder> ReadNullOrder(int nulls, const std::string& path, const Location& loc) {
  switch (nulls) {
    case pb::NULL_ORDER_DEFAULT:
      return NullOrder::kDefault;
    case pb::NULL_ORDER_FIRST:
      return NullOrder::kFirst;
    case pb::NULL_ORDER_LAST:
      return NullOrder::kLast;
    case pb::NULL_ORDER_UNSPECIFIED:
      return Invalid("sort_by key has unspecified nulls", path, loc);
  }
  return Invalid(fmt::format("sort_by key has unknown nulls {}", nulls), path, loc);
}

Result<JoinHow> ReadJoinHow(int how, const std::string& path, const Location& loc) {
  switch (how) {
    case pb::JOIN_HOW_INNER:
      return JoinHow::kInner;
    case pb::JOIN_HOW_LEFT:
      return JoinHow::kLeft;
    case pb::JOIN_HOW_RIGHT:
      return JoinHow::kRight;
    case pb::JOIN_HOW_FULL:
      return JoinHow::kFull;
    case pb::JOIN_HOW_CROSS:
      return JoinHow::kCross;
    case pb::JOIN_HOW_SEMI:
      return JoinHow::kSemi;
    case pb::JOIN_HOW_ANTI:
      return JoinHow::kAnti;
    case pb::JOIN_HOW_UNSPECIFIED:
      return Invalid("join has unspecified how", path, loc);
  }
  return Invalid(fmt::format("join has unknown how {}", how), path, loc);
}

Result<AsofCompare> ReadAsofCompare(int compare, const std::string& path, const Location& loc) {
  switch (compare) {
    case pb::ASOF_COMPARE_GREATER_EQUAL:
      return AsofCompare::kGreaterEqual;
    case pb::ASOF_COMPARE_GREATER:
      return AsofCompare::kGreater;
    case pb::ASOF_COMPARE_LESS_EQUAL:
      return AsofCompare::kLessEqual;
    case pb::ASOF_COMPARE_LESS:
      return AsofCompare::kLess;
    case pb::ASOF_COMPARE_UNSPECIFIED:
      return Invalid("asof_join has unspecified compare", path, loc);
  }
  return Invalid(fmt::format("asof_join has unknown compare {}", compare), path, loc);
}

// A nested pipeline that must be present (join and asof_join right sides).
Result<PipelinePtr> ReadRequiredPipeline(bool present, const pb::Pipeline& message,
                                         const std::string& what, const std::string& path,
                                         const Location& loc) {
  if (!present) return Invalid(what, path, loc);
  DUX_ASSIGN_OR_RETURN(Pipeline pipeline, ReadPipeline(message, path));
  return std::make_shared<const Pipeline>(std::move(pipeline));
}

Result<SourceBody> ReadSourceBody(const pb::Source& message, const std::string& path,
                                  const Location& loc) {
  switch (message.kind_case()) {
    case pb::Source::kParquet: {
      const pb::ParquetSource& m = message.parquet();
      ParquetSource parquet{m.path(),
                            m.hive_partitioning(),
                            m.union_by_name(),
                            {m.files().begin(), m.files().end()},
                            ReadColumnTypes(m.hive_types()),
                            {}};
      for (const auto& r : m.row_ranges()) {
        parquet.row_ranges.push_back(RowRange{r.file(), r.begin(), r.end()});
      }
      return SourceBody(std::move(parquet));
    }
    case pb::Source::kCsv: {
      const pb::CsvSource& m = message.csv();
      CsvSource csv;
      csv.path = m.path();
      if (m.has_delimiter()) csv.delimiter = m.delimiter();
      if (m.has_header()) csv.header = m.header();
      if (m.has_skip()) csv.skip = m.skip();
      if (m.has_nullstr()) csv.nullstr = m.nullstr();
      csv.types = ReadColumnTypes(m.types());
      csv.columns = ReadStrings(m.columns());
      return SourceBody(std::move(csv));
    }
    case pb::Source::kNdjson:
      return SourceBody(NdjsonSource{message.ndjson().path()});
    case pb::Source::kQuery:
      return SourceBody(QuerySource{message.query().sql()});
    case pb::Source::kArrow:
      return SourceBody(ArrowSource{message.arrow().path()});
    case pb::Source::kAttached: {
      const pb::AttachedSource& m = message.attached();
      AttachedSource attached{m.alias(), m.table(), m.partition_by(), ReadStrings(m.columns()), {}};
      if (m.has_slice()) {
        const pb::AttachedSlice& s = m.slice();
        const std::string slice_path = Field(Field(path, "attached"), "slice");
        AttachedSlice slice;
        switch (s.method()) {
          case pb::AttachedSlice::METHOD_MODULUS:
            slice.method = AttachedSlice::Method::kModulus;
            break;
          case pb::AttachedSlice::METHOD_HASH:
            slice.method = AttachedSlice::Method::kHash;
            break;
          case pb::AttachedSlice::METHOD_RANGE:
            slice.method = AttachedSlice::Method::kRange;
            break;
          default:
            return Invalid(fmt::format("from_attached slice has unknown method {}",
                                       static_cast<int>(s.method())),
                           slice_path, loc);
        }
        if (s.count() < 1 || s.index() < 0 || s.index() >= s.count()) {
          return Invalid(fmt::format("from_attached has no slice {} of {}", s.index(), s.count()),
                         slice_path, loc);
        }
        if (m.partition_by().empty()) {
          return Invalid("from_attached slice without partition_by", slice_path, loc);
        }
        if (s.has_range_min() != s.has_range_max()) {
          return Invalid("from_attached slice has half a range", slice_path, loc);
        }
        slice.index = s.index();
        slice.count = s.count();
        if (s.has_range_min()) slice.range = std::make_pair(s.range_min(), s.range_max());
        attached.slice = slice;
      }
      return SourceBody(std::move(attached));
    }
    case pb::Source::kValues: {
      const pb::ValuesSource& m = message.values();
      ValuesSource values;
      values.columns = ReadStrings(m.columns());
      values.rows.reserve(m.rows_size());
      const std::string rows_path = Field(Field(path, "values"), "rows");
      for (int i = 0; i < m.rows_size(); ++i) {
        const pb::ValuesSource::Row& row = m.rows(i);
        const std::string values_path = Field(Index(rows_path, i), "values");
        std::vector<Value> out;
        out.reserve(row.values_size());
        for (int j = 0; j < row.values_size(); ++j) {
          DUX_ASSIGN_OR_RETURN(Value value, ReadValue(row.values(j), Index(values_path, j), loc));
          out.push_back(std::move(value));
        }
        values.rows.push_back(std::move(out));
      }
      values.types = ReadColumnTypes(m.types());
      return SourceBody(std::move(values));
    }
    case pb::Source::KIND_NOT_SET:
      break;
  }
  return Invalid("source has no kind", path, loc);
}

Result<OpBody> ReadOpBody(const pb::Op& message, const std::string& path, const Location& loc) {
  switch (message.verb_case()) {
    case pb::Op::kFilter: {
      if (!message.filter().has_predicate()) {
        return Invalid("filter has no predicate", Field(path, "filter"), loc);
      }
      return OpBody(FilterOp{ReadExpr(message.filter().predicate())});
    }
    case pb::Op::kMutate: {
      DUX_ASSIGN_OR_RETURN(auto columns, ReadNamedExprs(message.mutate().columns(), "mutate column",
                                                        Field(path, "mutate.columns"), loc));
      return OpBody(MutateOp{std::move(columns)});
    }
    case pb::Op::kSelect:
      return OpBody(SelectOp{ReadStrings(message.select().columns())});
    case pb::Op::kDiscard:
      return OpBody(DiscardOp{ReadStrings(message.discard().columns())});
    case pb::Op::kRename: {
      RenameOp op;
      for (const pb::RenameOp::Rename& r : message.rename().renames()) {
        op.renames.emplace_back(r.old_name(), r.new_name());
      }
      return OpBody(std::move(op));
    }
    case pb::Op::kDropNil:
      return OpBody(DropNilOp{ReadStrings(message.drop_nil().columns())});
    case pb::Op::kGroupBy:
      return OpBody(GroupByOp{ReadStrings(message.group_by().columns())});
    case pb::Op::kUngroup:
      return OpBody(UngroupOp{});
    case pb::Op::kSummarise: {
      DUX_ASSIGN_OR_RETURN(auto aggregates,
                           ReadNamedExprs(message.summarise().aggregates(), "summarise aggregate",
                                          Field(path, "summarise.aggregates"), loc));
      return OpBody(SummariseOp{std::move(aggregates)});
    }
    case pb::Op::kSortBy: {
      SortByOp op;
      const std::string keys_path = Field(path, "sort_by.keys");
      for (int i = 0; i < message.sort_by().keys_size(); ++i) {
        const pb::SortKey& k = message.sort_by().keys(i);
        if (!k.has_expr()) return Invalid("sort_by key has no expr", Index(keys_path, i), loc);
        DUX_ASSIGN_OR_RETURN(NullOrder nulls, ReadNullOrder(k.nulls(), Index(keys_path, i), loc));
        op.keys.push_back(SortKey{ReadExpr(k.expr()), k.descending(), nulls});
      }
      return OpBody(std::move(op));
    }
    case pb::Op::kHead:
      return OpBody(HeadOp{message.head().n()});
    case pb::Op::kSlice:
      return OpBody(SliceOp{message.slice().offset(), message.slice().length()});
    case pb::Op::kDistinct:
      return OpBody(DistinctOp{ReadStrings(message.distinct().columns())});
    case pb::Op::kJoin: {
      const pb::JoinOp& m = message.join();
      const std::string join_path = Field(path, "join");
      JoinOp op;
      DUX_ASSIGN_OR_RETURN(
          op.right, ReadRequiredPipeline(m.has_right(), m.right(), "join has no right pipeline",
                                         Field(join_path, "right"), loc));
      DUX_ASSIGN_OR_RETURN(op.how, ReadJoinHow(m.how(), join_path, loc));
      op.on = ReadJoinKeys(m.on());
      if (m.has_suffix()) op.suffix = m.suffix();
      return OpBody(std::move(op));
    }
    case pb::Op::kAsofJoin: {
      const pb::AsofJoinOp& m = message.asof_join();
      const std::string asof_path = Field(path, "asof_join");
      AsofJoinOp op;
      DUX_ASSIGN_OR_RETURN(op.right, ReadRequiredPipeline(m.has_right(), m.right(),
                                                          "asof_join has no right pipeline",
                                                          Field(asof_path, "right"), loc));
      if (!m.has_by()) return Invalid("asof_join has no by key", asof_path, loc);
      op.by = ReadJoinKey(m.by());
      DUX_ASSIGN_OR_RETURN(op.compare, ReadAsofCompare(m.compare(), asof_path, loc));
      op.on = ReadJoinKeys(m.on());
      op.left = m.left();
      if (m.has_suffix()) op.suffix = m.suffix();
      return OpBody(std::move(op));
    }
    case pb::Op::kConcatRows: {
      ConcatRowsOp op;
      const std::string others_path = Field(path, "concat_rows.others");
      for (int i = 0; i < message.concat_rows().others_size(); ++i) {
        DUX_ASSIGN_OR_RETURN(Pipeline other,
                             ReadPipeline(message.concat_rows().others(i), Index(others_path, i)));
        op.others.push_back(std::make_shared<const Pipeline>(std::move(other)));
      }
      return OpBody(std::move(op));
    }
    case pb::Op::kPivotWider: {
      const pb::PivotWiderOp& m = message.pivot_wider();
      return OpBody(PivotWiderOp{m.names_from(), ReadStrings(m.values_from())});
    }
    case pb::Op::kPivotLonger: {
      const pb::PivotLongerOp& m = message.pivot_longer();
      PivotLongerOp op;
      op.columns = ReadStrings(m.columns());
      if (m.has_names_to()) op.names_to = m.names_to();
      if (m.has_values_to()) op.values_to = m.values_to();
      return OpBody(std::move(op));
    }
    case pb::Op::VERB_NOT_SET:
      break;
  }
  return Invalid("op has no verb", path, loc);
}

Result<SinkBody> ReadSinkBody(const pb::Sink& message, const std::string& path,
                              const Location& loc) {
  switch (message.kind_case()) {
    case pb::Sink::kToParquet: {
      const pb::ToParquetSink& m = message.to_parquet();
      ToParquetSink sink;
      sink.path = m.path();
      sink.compression = m.compression();
      if (m.has_row_group_size()) sink.row_group_size = m.row_group_size();
      sink.partition_by = ReadStrings(m.partition_by());
      return SinkBody(std::move(sink));
    }
    case pb::Sink::kToCsv: {
      const pb::ToCsvSink& m = message.to_csv();
      ToCsvSink sink;
      sink.path = m.path();
      if (m.has_delimiter()) sink.delimiter = m.delimiter();
      if (m.has_header()) sink.header = m.header();
      return SinkBody(std::move(sink));
    }
    case pb::Sink::kToNdjson:
      return SinkBody(ToNdjsonSink{message.to_ndjson().path()});
    case pb::Sink::kInsertInto:
      return SinkBody(InsertIntoSink{message.insert_into().table(), message.insert_into().create(),
                                     message.insert_into().atomic()});
    case pb::Sink::kToArrow: {
      const pb::ToArrowSink& m = message.to_arrow();
      return SinkBody(ToArrowSink{m.path(), m.stream_format(), m.compression(), m.lossless()});
    }
    case pb::Sink::KIND_NOT_SET:
      break;
  }
  return Invalid("sink has no kind", path, loc);
}

Result<Pipeline> ReadPipeline(const pb::Pipeline& message, const std::string& path) {
  if (!message.has_source()) return Invalid("pipeline has no source", path, Location{});
  const std::string source_path = Field(path, "source");
  const Location source_loc = ReadLocation(message.source());
  DUX_ASSIGN_OR_RETURN(SourceBody source,
                       ReadSourceBody(message.source(), source_path, source_loc));
  Pipeline pipeline(Source{std::move(source), source_loc});

  const std::string ops_path = Field(path, "ops");
  for (int i = 0; i < message.ops_size(); ++i) {
    const pb::Op& op = message.ops(i);
    const Location loc = ReadLocation(op);
    DUX_ASSIGN_OR_RETURN(OpBody body, ReadOpBody(op, Index(ops_path, i), loc));
    pipeline.Append(Op{std::move(body), loc});
  }

  if (message.has_sink()) {
    const Location loc = ReadLocation(message.sink());
    DUX_ASSIGN_OR_RETURN(SinkBody body, ReadSinkBody(message.sink(), Field(path, "sink"), loc));
    pipeline.SetSink(Sink{std::move(body), loc});
  }
  return pipeline;
}

}  // namespace

void ToProto(const Pipeline& pipeline, dux::v1::Pipeline* out) {
  out->Clear();
  WritePipeline(pipeline, out);
}

Result<Pipeline> FromProto(const dux::v1::Pipeline& message) { return ReadPipeline(message, ""); }

void ToProto(const Script& script, dux::v1::Script* out) {
  out->Clear();
  for (const Attachment& attachment : script.attachments) {
    pb::Attachment* m = out->add_attachments();
    m->set_alias(attachment.alias);
    m->set_path(attachment.path);
    m->set_read_only(attachment.read_only);
    WriteLocation(attachment.loc, m);
    m->set_type(attachment.type == AttachmentType::kPostgres ? pb::ATTACHMENT_TYPE_POSTGRES
                                                             : pb::ATTACHMENT_TYPE_DUCKDB);
  }
  WritePipeline(script.pipeline, out->mutable_pipeline());
}

Result<Script> FromProto(const dux::v1::Script& message) {
  if (!message.has_pipeline()) return Status::InvalidArgument("script has no pipeline");
  DUX_ASSIGN_OR_RETURN(Pipeline pipeline, ReadPipeline(message.pipeline(), "pipeline"));
  std::vector<Attachment> attachments;
  attachments.reserve(message.attachments_size());
  for (int i = 0; i < message.attachments_size(); ++i) {
    const pb::Attachment& m = message.attachments(i);
    Attachment attachment{m.alias(), m.path(), m.read_only(),
                          Location{m.loc().line(), m.loc().column()}};
    // Absent means DuckDB (scripts written before PostgreSQL attachments); UNSPECIFIED or an
    // unknown value is an error, as for every enum.
    if (m.has_type() && m.type() == pb::ATTACHMENT_TYPE_POSTGRES) {
      attachment.type = AttachmentType::kPostgres;
    } else if (m.has_type() && m.type() != pb::ATTACHMENT_TYPE_DUCKDB) {
      std::string what =
          m.type() == pb::ATTACHMENT_TYPE_UNSPECIFIED
              ? std::string("attachment has unspecified type")
              : fmt::format("attachment has unknown type {}", static_cast<int>(m.type()));
      return Invalid(what, fmt::format("attachments[{}]", i), attachment.loc);
    }
    attachments.push_back(std::move(attachment));
  }
  return Script{std::move(attachments), std::move(pipeline)};
}

}  // namespace dux::pipeline
