// Streaming results need duckdb_pending_prepared_streaming, which DuckDB 1.4's C API lists
// as deprecated yet offers no replacement for; it is used here and nowhere else.
#undef DUCKDB_API_NO_DEPRECATED
#include "dux/exec/arrow_bridge.h"

#include <duckdb.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "dux/exec/arrow_stream.h"
#include "dux/sql/quote.h"

namespace dux::exec {

namespace {

// Frees a duckdb_error_data and turns it into a Status.
Status TakeError(duckdb_error_data error, const char* what) {
  Status status;
  if (error && duckdb_error_data_has_error(error)) {
    status = Status::InvalidArgument(std::string(what) + ": " +
                                     CleanDuckDbError(duckdb_error_data_message(error)));
  }
  if (error) duckdb_destroy_error_data(&error);
  return status;
}

std::string TakeString(char* s) {
  std::string out = s ? s : "";
  duckdb_free(s);
  return out;
}

using PendingHandle = Handle<duckdb_pending_result, duckdb_destroy_pending>;

constexpr const char* kEnumMetadataKey = "dux.enum_columns";

// The C Data Interface's metadata encoding: int32 count, then length-prefixed keys/values.
std::string EncodeMetadata(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  auto put_int = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put_int(static_cast<int32_t>(pairs.size()));
  for (const auto& [k, v] : pairs) {
    put_int(static_cast<int32_t>(k.size()));
    out += k;
    put_int(static_cast<int32_t>(v.size()));
    out += v;
  }
  return out;
}

// The value of `key` in C Data metadata, if present. The metadata comes from our reader,
// which validated its encoding.
std::optional<std::string> FindMetadata(const char* metadata, const std::string& key) {
  if (!metadata) return std::nullopt;
  auto get_int = [&] {
    int32_t v;
    std::memcpy(&v, metadata, sizeof v);
    metadata += sizeof v;
    return v;
  };
  int32_t n = get_int();
  for (int32_t i = 0; i < n; ++i) {
    int32_t kl = get_int();
    std::string k(metadata, kl);
    metadata += kl;
    int32_t vl = get_int();
    std::string v(metadata, vl);
    metadata += vl;
    if (k == key) return v;
  }
  return std::nullopt;
}
using ArrowOptionsHandle = Handle<duckdb_arrow_options, duckdb_destroy_arrow_options>;

}  // namespace

Result<std::string> LogicalTypeSql(duckdb_logical_type type) {
  switch (duckdb_get_type_id(type)) {
    case DUCKDB_TYPE_BOOLEAN:
      return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT:
      return "TINYINT";
    case DUCKDB_TYPE_SMALLINT:
      return "SMALLINT";
    case DUCKDB_TYPE_INTEGER:
      return "INTEGER";
    case DUCKDB_TYPE_BIGINT:
      return "BIGINT";
    case DUCKDB_TYPE_UTINYINT:
      return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT:
      return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER:
      return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT:
      return "UBIGINT";
    case DUCKDB_TYPE_HUGEINT:
      return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT:
      return "UHUGEINT";
    case DUCKDB_TYPE_FLOAT:
      return "FLOAT";
    case DUCKDB_TYPE_DOUBLE:
      return "DOUBLE";
    case DUCKDB_TYPE_VARCHAR:
      return "VARCHAR";
    case DUCKDB_TYPE_BLOB:
      return "BLOB";
    case DUCKDB_TYPE_DATE:
      return "DATE";
    case DUCKDB_TYPE_TIME:
      return "TIME";
    case DUCKDB_TYPE_TIME_TZ:
      return "TIME WITH TIME ZONE";
    case DUCKDB_TYPE_TIME_NS:
      return "TIME_NS";
    case DUCKDB_TYPE_TIMESTAMP:
      return "TIMESTAMP";
    case DUCKDB_TYPE_TIMESTAMP_S:
      return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS:
      return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS:
      return "TIMESTAMP_NS";
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_INTERVAL:
      return "INTERVAL";
    case DUCKDB_TYPE_UUID:
      return "UUID";
    case DUCKDB_TYPE_BIT:
      return "BIT";
    case DUCKDB_TYPE_BIGNUM:
      return "BIGNUM";
    case DUCKDB_TYPE_SQLNULL:
      return "\"NULL\"";
    case DUCKDB_TYPE_DECIMAL:
      return fmt::format("DECIMAL({},{})", duckdb_decimal_width(type), duckdb_decimal_scale(type));
    case DUCKDB_TYPE_ENUM: {
      std::string out = "ENUM(";
      for (uint32_t i = 0; i < duckdb_enum_dictionary_size(type); ++i) {
        out +=
            (i ? ", " : "") + sql::QuoteString(TakeString(duckdb_enum_dictionary_value(type, i)));
      }
      return out + ")";
    }
    case DUCKDB_TYPE_LIST: {
      LogicalTypeHandle child(duckdb_list_type_child_type(type));
      DUX_ASSIGN_OR_RETURN(std::string c, LogicalTypeSql(child.get()));
      return c + "[]";
    }
    case DUCKDB_TYPE_ARRAY: {
      LogicalTypeHandle child(duckdb_array_type_child_type(type));
      DUX_ASSIGN_OR_RETURN(std::string c, LogicalTypeSql(child.get()));
      return fmt::format("{}[{}]", c, duckdb_array_type_array_size(type));
    }
    case DUCKDB_TYPE_MAP: {
      LogicalTypeHandle key(duckdb_map_type_key_type(type));
      LogicalTypeHandle value(duckdb_map_type_value_type(type));
      DUX_ASSIGN_OR_RETURN(std::string k, LogicalTypeSql(key.get()));
      DUX_ASSIGN_OR_RETURN(std::string v, LogicalTypeSql(value.get()));
      return "MAP(" + k + ", " + v + ")";
    }
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_UNION: {
      bool is_union = duckdb_get_type_id(type) == DUCKDB_TYPE_UNION;
      idx_t n =
          is_union ? duckdb_union_type_member_count(type) : duckdb_struct_type_child_count(type);
      std::string out = is_union ? "UNION(" : "STRUCT(";
      for (idx_t i = 0; i < n; ++i) {
        std::string name = TakeString(is_union ? duckdb_union_type_member_name(type, i)
                                               : duckdb_struct_type_child_name(type, i));
        LogicalTypeHandle child(is_union ? duckdb_union_type_member_type(type, i)
                                         : duckdb_struct_type_child_type(type, i));
        DUX_ASSIGN_OR_RETURN(std::string c, LogicalTypeSql(child.get()));
        out += (i ? ", " : "") + sql::QuoteIdentifier(name) + " " + c;
      }
      return out + ")";
    }
    default:
      return Status::Unimplemented(fmt::format("no SQL spelling for DuckDB type id {}",
                                               static_cast<int>(duckdb_get_type_id(type))));
  }
}

namespace {

// A streaming result of `select_sql`, failures reported as for Connection's statements.
Result<ResultHandle> RunStreaming(Connection& connection, const std::string& select_sql) {
  PreparedHandle prepared;
  if (duckdb_prepare(connection.get(), select_sql.c_str(), prepared.out()) == DuckDBError) {
    return Status::InvalidArgument(CleanDuckDbError(duckdb_prepare_error(prepared.get())));
  }
  PendingHandle pending;
  if (duckdb_pending_prepared_streaming(prepared.get(), pending.out()) == DuckDBError) {
    return Status::InvalidArgument(CleanDuckDbError(duckdb_pending_error(pending.get())));
  }
  ResultHandle result;
  if (duckdb_execute_pending(pending.get(), result.out()) == DuckDBError) {
    return Status::InvalidArgument(CleanDuckDbError(duckdb_result_error(result.get())));
  }
  return result;
}

}  // namespace

namespace {

// Passes every chunk of a streaming result to `each`, which may move it out; returns the rows.
Result<int64_t> FetchChunks(ResultHandle& result,
                            const std::function<Status(DataChunkHandle& chunk)>& each) {
  int64_t rows = 0;
  for (;;) {
    DataChunkHandle chunk(duckdb_fetch_chunk(*result.get()));
    if (!chunk) {
      // A streaming result reports a failure that happens mid-way here.
      const char* error = duckdb_result_error(result.get());
      if (error) return Status::InvalidArgument(CleanDuckDbError(error));
      break;
    }
    idx_t size = duckdb_data_chunk_get_size(chunk.get());
    if (size == 0) break;
    DUX_RETURN_NOT_OK(each(chunk));
    rows += static_cast<int64_t>(size);
  }
  return rows;
}

}  // namespace

Result<int64_t> ForEachChunk(Connection& connection, const std::string& select_sql,
                             const std::function<Status(duckdb_data_chunk chunk)>& each) {
  DUX_ASSIGN_OR_RETURN(ResultHandle result, RunStreaming(connection, select_sql));
  return FetchChunks(result, [&](DataChunkHandle& chunk) { return each(chunk.get()); });
}

namespace {

// A streaming result's first `n` columns described as Arrow, as ExportArrow sends them.
struct ArrowDescription {
  ArrowOptionsHandle options;
  std::vector<LogicalTypeHandle> type_owners;
  std::vector<duckdb_logical_type> types;
  std::vector<std::string> names;
  arrow_ipc::SchemaOwner schema;
  std::string metadata;
  ArrowSchema described{};  ///< `schema` with the metadata; shares its children
};

Result<std::unique_ptr<ArrowDescription>> DescribeArrow(ResultHandle& result, idx_t n) {
  auto d = std::make_unique<ArrowDescription>();
  d->options = ArrowOptionsHandle(duckdb_result_get_arrow_options(result.get()));
  std::vector<const char*> names;
  for (idx_t c = 0; c < n; ++c) {
    d->type_owners.emplace_back(duckdb_column_logical_type(result.get(), c));
    d->types.push_back(d->type_owners.back().get());
    d->names.emplace_back(duckdb_column_name(result.get(), c));
  }
  for (const auto& name : d->names) names.push_back(name.c_str());
  DUX_RETURN_NOT_OK(TakeError(
      duckdb_to_arrow_schema(d->options.get(), d->types.data(), names.data(), n, d->schema.out()),
      "cannot describe the result as Arrow"));
  // DuckDB reads a dictionary back as VARCHAR; the ENUM columns' values ride along in the
  // schema's metadata so that dux can restore the ENUM type (see ImportIpc).
  nlohmann::json enums = nlohmann::json::object();
  for (idx_t c = 0; c < n; ++c) {
    if (duckdb_get_type_id(d->types[c]) != DUCKDB_TYPE_ENUM) continue;
    nlohmann::json values = nlohmann::json::array();
    for (uint32_t i = 0; i < duckdb_enum_dictionary_size(d->types[c]); ++i) {
      values.push_back(TakeString(duckdb_enum_dictionary_value(d->types[c], i)));
    }
    enums[d->names[c]] = std::move(values);
  }
  d->described = *d->schema.get();  // shares DuckDB's children, which stay owned there
  if (!enums.empty()) {
    d->metadata = EncodeMetadata({{kEnumMetadataKey, enums.dump()}});
    d->described.metadata = d->metadata.data();
  }
  d->described.release = [](ArrowSchema* s) { s->release = nullptr; };
  return d;
}

Status ChunkToArrow(duckdb_arrow_options options, duckdb_data_chunk chunk, ArrowArray* out) {
  return TakeError(duckdb_data_chunk_to_arrow(options, chunk, out),
                   "cannot convert a result chunk to Arrow");
}

}  // namespace

Result<int64_t> ExportArrow(Connection& connection, const std::string& select_sql,
                            ArrowBatchSink* sink) {
  DUX_ASSIGN_OR_RETURN(ResultHandle result, RunStreaming(connection, select_sql));
  DUX_ASSIGN_OR_RETURN(auto description, DescribeArrow(result, duckdb_column_count(result.get())));
  DUX_RETURN_NOT_OK(sink->Schema(description->described));
  return FetchChunks(result, [&](DataChunkHandle& chunk) {
    arrow_ipc::ArrayOwner array;
    DUX_RETURN_NOT_OK(ChunkToArrow(description->options.get(), chunk.get(), array.out()));
    return sink->Batch(*array.get());
  });
}

namespace {

Status AppenderError(duckdb_appender appender, const std::string& table) {
  duckdb_error_data error = duckdb_appender_error_data(appender);
  Status status = TakeError(error, ("cannot append to " + table).c_str());
  return status.ok() ? Status::IOError("cannot append to " + table) : status;
}

class TableSink : public RowSink {
 public:
  TableSink(AppenderHandle appender, std::string table)
      : appender_(std::move(appender)), table_(std::move(table)) {}
  Status Append(duckdb_data_chunk chunk) override {
    if (duckdb_append_data_chunk(appender_.get(), chunk) == DuckDBError) {
      return AppenderError(appender_.get(), table_);
    }
    return Status::OK();
  }
  Status Finish() override {
    if (duckdb_appender_close(appender_.get()) == DuckDBError) {
      return AppenderError(appender_.get(), table_);
    }
    return Status::OK();
  }

 private:
  AppenderHandle appender_;
  std::string table_;
};

class IpcSink : public RowSink {
 public:
  IpcSink(std::unique_ptr<arrow_ipc::Writer> writer, duckdb_arrow_options options)
      : writer_(std::move(writer)), options_(options) {}
  Status Append(duckdb_data_chunk chunk) override {
    arrow_ipc::ArrayOwner array;
    DUX_RETURN_NOT_OK(ChunkToArrow(options_, chunk, array.out()));
    return writer_->WriteBatch(*array.get());
  }
  Status Finish() override { return writer_->Close(); }

 private:
  std::unique_ptr<arrow_ipc::Writer> writer_;
  duckdb_arrow_options options_;
};

}  // namespace

Result<std::unique_ptr<RowSink>> OpenIpcRowSink(const RoutedColumns& columns,
                                                arrow_ipc::OutputStream* out,
                                                const arrow_ipc::WriteOptions& options) {
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<arrow_ipc::Writer> writer,
                       arrow_ipc::Writer::Open(out, *columns.arrow, options));
  return std::unique_ptr<RowSink>(new IpcSink(std::move(writer), columns.arrow_options));
}

Result<std::unique_ptr<RowSink>> OpenTableRowSink(Connection& connection,
                                                  const std::string& table) {
  AppenderHandle appender;
  if (duckdb_appender_create(connection.get(), nullptr, table.c_str(), appender.out()) ==
      DuckDBError) {
    if (!appender) return Status::IOError("cannot append to " + table);
    return AppenderError(appender.get(), table);
  }
  return std::unique_ptr<RowSink>(new TableSink(std::move(appender), table));
}

Result<std::vector<int64_t>> RouteRows(Connection& connection, const std::string& select_sql,
                                       int n_buckets, const RowSinkFactory& open) {
  if (n_buckets < 1) return Status::InvalidArgument("routing needs a bucket at least");
  DUX_ASSIGN_OR_RETURN(ResultHandle result, RunStreaming(connection, select_sql));
  idx_t n = duckdb_column_count(result.get());
  LogicalTypeHandle last(n > 0 ? duckdb_column_logical_type(result.get(), n - 1) : nullptr);
  if (!last || duckdb_get_type_id(last.get()) != DUCKDB_TYPE_UBIGINT) {
    return Status::InvalidArgument("a routed query ends in a UBIGINT hash column");
  }
  idx_t width = n - 1;
  DUX_ASSIGN_OR_RETURN(auto description, DescribeArrow(result, width));
  RoutedColumns columns{description->names, description->types, &description->described,
                        description->options.get()};
  const idx_t capacity = duckdb_vector_size();
  struct Bucket {
    std::unique_ptr<RowSink> sink;
    DataChunkHandle pending;
    idx_t size = 0;
    SelectionHandle selection;
    idx_t selected = 0;
    int64_t rows = 0;
  };
  std::vector<Bucket> buckets(static_cast<size_t>(n_buckets));
  for (int b = 0; b < n_buckets; ++b) {
    Bucket& bucket = buckets[static_cast<size_t>(b)];
    DUX_ASSIGN_OR_RETURN(bucket.sink, open(b, columns));
    bucket.pending = DataChunkHandle(duckdb_create_data_chunk(description->types.data(), width));
    bucket.selection = SelectionHandle(duckdb_create_selection_vector(capacity));
  }
  auto flush = [&](Bucket& bucket) -> Status {
    if (bucket.size == 0) return Status::OK();
    duckdb_data_chunk_set_size(bucket.pending.get(), bucket.size);
    DUX_RETURN_NOT_OK(bucket.sink->Take(&bucket.pending));
    if (bucket.pending) {
      duckdb_data_chunk_reset(bucket.pending.get());
    } else {  // kept by the sink
      bucket.pending = DataChunkHandle(duckdb_create_data_chunk(description->types.data(), width));
    }
    bucket.size = 0;
    return Status::OK();
  };
  std::vector<sel_t*> rows_of(buckets.size());
  // Copies the selected rows [from, to) of `chunk` to the end of the bucket's pending chunk.
  auto copy = [&](Bucket& bucket, duckdb_data_chunk chunk, idx_t from, idx_t to) {
    for (idx_t c = 0; c < width; ++c) {
      duckdb_vector_copy_sel(duckdb_data_chunk_get_vector(chunk, c),
                             duckdb_data_chunk_get_vector(bucket.pending.get(), c),
                             bucket.selection.get(), to, from, bucket.size);
    }
    bucket.size += to - from;
  };
  // Selects each bucket's rows of the chunk, then appends them to its pending chunk, which
  // goes to the sink whenever it is full.
  auto route = [&](duckdb_data_chunk chunk) -> Status {
    idx_t size = duckdb_data_chunk_get_size(chunk);
    const auto* hashes = static_cast<const uint64_t*>(
        duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, width)));
    for (size_t b = 0; b < buckets.size(); ++b) {
      buckets[b].selected = 0;
      rows_of[b] = duckdb_selection_vector_get_data_ptr(buckets[b].selection.get());
    }
    for (idx_t row = 0; row < size; ++row) {
      size_t b = hashes[row] % buckets.size();  // hash() is never NULL
      rows_of[b][buckets[b].selected++] = static_cast<sel_t>(row);
    }
    for (auto& bucket : buckets) {
      for (idx_t done = 0; done < bucket.selected;) {
        idx_t take = std::min(bucket.selected - done, capacity - bucket.size);
        copy(bucket, chunk, done, done + take);
        done += take;
        if (bucket.size == capacity) DUX_RETURN_NOT_OK(flush(bucket));
      }
      bucket.rows += static_cast<int64_t>(bucket.selected);
    }
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(
      FetchChunks(result, [&](DataChunkHandle& chunk) { return route(chunk.get()); }).status());
  std::vector<int64_t> rows;
  for (auto& bucket : buckets) {
    DUX_RETURN_NOT_OK(flush(bucket));
    DUX_RETURN_NOT_OK(bucket.sink->Finish());
    rows.push_back(bucket.rows);
  }
  return rows;
}

Result<int64_t> ScanArrowStream(Connection& connection, ArrowArrayStream* stream,
                                const std::map<std::string, std::string>& casts,
                                const std::function<Result<int64_t>(const std::string&)>& use) {
  // duckdb_arrow_scan registers a view over the stream, dropped on every path. (The
  // function is deprecated in 1.4 but is the C API's only way to scan a stream without
  // knowing the types up front.)
  struct StreamOwner {
    ArrowArrayStream* s;
    ~StreamOwner() {
      if (s->release) s->release(s);
    }
  } owner{stream};
  std::string view = "__dux_arrow_scan_" + std::to_string(reinterpret_cast<uintptr_t>(stream));
  if (duckdb_arrow_scan(connection.get(), view.c_str(),
                        reinterpret_cast<duckdb_arrow_stream>(stream)) == DuckDBError) {
    return Status::InvalidArgument("cannot scan the Arrow stream");
  }
  std::string replace;
  for (const auto& [column, type] : casts) {
    replace += (replace.empty() ? "" : ", ") + std::string("CAST(") + sql::QuoteIdentifier(column) +
               " AS " + type + ") AS " + sql::QuoteIdentifier(column);
  }
  auto rows = use("SELECT *" + (replace.empty() ? "" : " REPLACE (" + replace + ")") + " FROM " +
                  sql::QuoteIdentifier(view));
  (void)connection.Execute("DROP VIEW IF EXISTS " + sql::QuoteIdentifier(view));
  if (!rows.ok()) {
    // DuckDB wraps the stream's own error; the stream's words are the useful part.
    const std::string& m = rows.status().message();
    const std::string marker = "get_next failed(): ";
    size_t at = m.find(marker);
    if (at != std::string::npos) return Status(rows.status().code(), m.substr(at + marker.size()));
  }
  return rows;
}

Result<int64_t> ImportArrowStream(Connection& connection, const std::string& table,
                                  ArrowArrayStream* stream, TableMode mode,
                                  const std::map<std::string, std::string>& casts) {
  std::string target = sql::QuoteIdentifier(table);
  return ScanArrowStream(connection, stream, casts, [&](const std::string& select) {
    return connection.Execute(mode == TableMode::kAppend
                                  ? "INSERT INTO " + target + " " + select
                                  : std::string("CREATE ") +
                                        (mode == TableMode::kTemporary ? "TEMPORARY " : "") +
                                        "TABLE " + target + " AS " + select);
  });
}

namespace {

// Feeds a result into an IPC writer, opened when the schema arrives.
class IpcWriterSink : public ArrowBatchSink {
 public:
  IpcWriterSink(arrow_ipc::OutputStream* out, const arrow_ipc::WriteOptions& options)
      : out_(out), options_(options) {}
  Status Schema(const ArrowSchema& schema) override {
    DUX_ASSIGN_OR_RETURN(writer_, arrow_ipc::Writer::Open(out_, schema, options_));
    return Status::OK();
  }
  Status Batch(const ArrowArray& batch) override { return writer_->WriteBatch(batch); }
  Status Close() { return writer_ ? writer_->Close() : Status::Internal("no schema was written"); }

 private:
  arrow_ipc::OutputStream* out_;
  arrow_ipc::WriteOptions options_;
  std::unique_ptr<arrow_ipc::Writer> writer_;
};

// The batches of an IPC reader; owns the reader and its input.
class IpcBatchSource : public ArrowBatchSource {
 public:
  IpcBatchSource(std::unique_ptr<arrow_ipc::InputStream> input,
                 std::unique_ptr<arrow_ipc::Reader> reader)
      : input_(std::move(input)), reader_(std::move(reader)) {}
  Status ExportSchema(ArrowSchema* out) override { return reader_->ExportSchema(out); }
  Result<bool> Next(ArrowArray* out) override { return reader_->Next(out); }

 private:
  std::unique_ptr<arrow_ipc::InputStream> input_;
  std::unique_ptr<arrow_ipc::Reader> reader_;
};

// Arrow types DuckDB 1.4's scan refuses without a reason, or misreads (interval[day_time]
// comes back as milliseconds); named here so the user learns which column is the problem.
Status CheckDuckDbReads(const ArrowSchema& field, const std::string& column) {
  std::string format = field.format ? field.format : "";
  const char* what = nullptr;
  if (format == "e") what = "float16";
  if (format.rfind("d:", 0) == 0 && format.size() > 4 &&
      format.compare(format.size() - 4, 4, ",256") == 0) {
    what = "decimal256";
  }
  if (format.rfind("+ud:", 0) == 0) what = "dense union";
  if (format == "tiD") what = "interval[day_time]";
  if (what) {
    return Status::Unimplemented(std::string("column \"") + column + "\" has Arrow type " + what +
                                 ", which DuckDB 1.4 cannot read");
  }
  for (int64_t i = 0; i < field.n_children; ++i) {
    DUX_RETURN_NOT_OK(CheckDuckDbReads(*field.children[i], column));
  }
  return field.dictionary ? CheckDuckDbReads(*field.dictionary, column) : Status::OK();
}

}  // namespace

Result<arrow_ipc::Compression> ParseCompression(const std::string& name) {
  if (name.empty() || name == "none") return arrow_ipc::Compression::kNone;
  if (name == "lz4") return arrow_ipc::Compression::kLz4Frame;
  if (name == "zstd") return arrow_ipc::Compression::kZstd;
  return Status::InvalidArgument("unknown compression \"" + name + "\" (use lz4 or zstd)");
}

Result<int64_t> WriteQueryIpc(Connection& connection, const std::string& select_sql,
                              arrow_ipc::OutputStream* out, const arrow_ipc::WriteOptions& options,
                              ArrowTypes types) {
  // Every database dux opens converts losslessly (DatabaseSettings); a standard export turns
  // that off for this connection only, for the length of the query.
  const bool standard = types == ArrowTypes::kStandard;
  if (standard) {
    DUX_RETURN_NOT_OK(connection.Execute("SET SESSION arrow_lossless_conversion = false").status());
  }
  IpcWriterSink sink(out, options);
  Result<int64_t> rows = ExportArrow(connection, select_sql, &sink);
  if (rows.ok()) {
    Status closed = sink.Close();
    if (!closed.ok()) rows = closed;
  }
  if (standard) {
    Status restored = connection.Execute("SET SESSION arrow_lossless_conversion = true").status();
    if (rows.ok() && !restored.ok()) rows = restored;
  }
  return rows;
}

Result<std::map<std::string, std::string>> ImportCasts(const ArrowSchema& schema) {
  // ENUM columns written by dux come back as ENUMs (values from the schema's metadata,
  // rendered as string literals; a column not in the schema is ignored).
  std::map<std::string, std::string> casts;
  for (int64_t i = 0; i < schema.n_children; ++i) {
    DUX_RETURN_NOT_OK(CheckDuckDbReads(*schema.children[i], schema.children[i]->name));
  }
  auto enums = FindMetadata(schema.metadata, kEnumMetadataKey);
  nlohmann::json parsed = enums ? nlohmann::json::parse(*enums, nullptr, false) : nlohmann::json();
  for (int64_t i = 0; parsed.is_object() && i < schema.n_children; ++i) {
    std::string name = schema.children[i]->name ? schema.children[i]->name : "";
    auto it = parsed.find(name);
    if (it == parsed.end() || !it->is_array() || it->empty()) continue;
    std::string type = "ENUM(";
    bool strings = true;
    for (size_t v = 0; v < it->size(); ++v) {
      strings = strings && (*it)[v].is_string();
      if (strings) type += (v ? ", " : "") + sql::QuoteString((*it)[v].get<std::string>());
    }
    if (strings) casts[name] = type + ")";
  }
  return casts;
}

namespace {

// An Arrow C stream over an IPC stream or file read from `in`, with the casts that restore
// its ENUM columns (ImportCasts).
struct IpcArrowStream {
  ArrowArrayStream stream{};
  std::map<std::string, std::string> casts;
};

Result<IpcArrowStream> OpenIpcArrowStream(std::unique_ptr<arrow_ipc::InputStream> in) {
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<arrow_ipc::Reader> reader,
                       arrow_ipc::Reader::Open(in.get()));
  arrow_ipc::SchemaOwner schema;
  DUX_RETURN_NOT_OK(reader->ExportSchema(schema.out()));
  IpcArrowStream out;
  DUX_ASSIGN_OR_RETURN(out.casts, ImportCasts(*schema.get()));
  ExportArrowStream(std::make_unique<IpcBatchSource>(std::move(in), std::move(reader)),
                    &out.stream);
  return out;
}

}  // namespace

Result<int64_t> ImportIpc(Connection& connection, const std::string& table,
                          std::unique_ptr<arrow_ipc::InputStream> in, TableMode mode) {
  DUX_ASSIGN_OR_RETURN(IpcArrowStream s, OpenIpcArrowStream(std::move(in)));
  return ImportArrowStream(connection, table, &s.stream, mode, s.casts);
}

Result<int64_t> ReadIpcChunks(
    Connection& connection, std::unique_ptr<arrow_ipc::InputStream> in,
    const std::function<Result<std::unique_ptr<RowSink>>(const RoutedColumns&)>& open) {
  DUX_ASSIGN_OR_RETURN(IpcArrowStream s, OpenIpcArrowStream(std::move(in)));
  return ScanArrowStream(
      connection, &s.stream, s.casts, [&](const std::string& select) -> Result<int64_t> {
        DUX_ASSIGN_OR_RETURN(ResultHandle result, RunStreaming(connection, select));
        RoutedColumns columns;
        std::vector<LogicalTypeHandle> types;
        for (idx_t c = 0; c < duckdb_column_count(result.get()); ++c) {
          types.emplace_back(duckdb_column_logical_type(result.get(), c));
          columns.types.push_back(types.back().get());
          columns.names.emplace_back(duckdb_column_name(result.get(), c));
        }
        DUX_ASSIGN_OR_RETURN(std::unique_ptr<RowSink> sink, open(columns));
        DUX_ASSIGN_OR_RETURN(int64_t rows, FetchChunks(result, [&](DataChunkHandle& chunk) {
                               return sink->Take(&chunk);
                             }));
        DUX_RETURN_NOT_OK(sink->Finish());
        return rows;
      });
}

}  // namespace dux::exec
