// The pipeline IR written as its protobuf form (ToProto in proto_mapping.h): sources, verbs,
// sinks, values and enums, nested pipelines and every location.
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "dux/pipeline/proto_mapping.h"

namespace dux::pipeline {

namespace {

namespace pb = ::dux::v1;

using StringPairs = std::vector<std::pair<std::string, std::string>>;

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

}  // namespace

void ToProto(const Pipeline& pipeline, dux::v1::Pipeline* out) {
  out->Clear();
  WritePipeline(pipeline, out);
}

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
  if (!script.s3.empty()) {
    const S3Settings& settings = script.s3;
    pb::S3Settings* m = out->mutable_s3();
    if (settings.region) m->set_region(*settings.region);
    if (settings.endpoint) m->set_endpoint(*settings.endpoint);
    if (settings.url_style) m->set_url_style(*settings.url_style);
    if (settings.tls) m->set_tls(*settings.tls);
    if (settings.profile) m->set_profile(*settings.profile);
    WriteLocation(settings.loc, m);
  }
}

}  // namespace dux::pipeline
