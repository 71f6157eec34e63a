// The pipeline IR read back from its protobuf form (FromProto in proto_mapping.h): every
// required part checked, errors naming what is missing and its field path.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "dux/pipeline/proto_mapping.h"

namespace dux::pipeline {

namespace {

namespace pb = ::dux::v1;

using StringPairs = std::vector<std::pair<std::string, std::string>>;

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

Result<Pipeline> FromProto(const dux::v1::Pipeline& message) { return ReadPipeline(message, ""); }

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
  Script script{std::move(attachments), std::move(pipeline), {}};
  if (message.has_s3()) {
    const pb::S3Settings& m = message.s3();
    S3Settings& settings = script.s3;
    if (m.has_region()) settings.region = m.region();
    if (m.has_endpoint()) settings.endpoint = m.endpoint();
    if (m.has_url_style()) settings.url_style = m.url_style();
    if (m.has_tls()) settings.tls = m.tls();
    if (m.has_profile()) settings.profile = m.profile();
    settings.loc = Location{m.loc().line(), m.loc().column()};
  }
  return script;
}

}  // namespace dux::pipeline