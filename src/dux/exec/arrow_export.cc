// DuckDB results described and converted as Arrow (arrow_export.h; the description is shared
// with the other parts of the bridge through arrow_bridge_internal.h).
#include "dux/exec/arrow_export.h"

#include <duckdb.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "dux/common/library_callback.h"
#include "dux/exec/arrow_bridge_internal.h"
#include "dux/s3_filesystem/chunk_callback.h"

namespace dux::exec {

using internal::ChunkToArrow;
using internal::DescribeArrow;
using internal::FetchChunks;
using internal::RunStreaming;

namespace internal {

namespace {

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

// The described schema's release: its children stay owned by DuckDB's schema.
void ReleaseDescribed(ArrowSchema* s) { s->release = nullptr; }

}  // namespace

namespace {

// Completes a description whose options, types and names are set.
Status Describe(idx_t n, ArrowDescription* d) {
  std::vector<const char*> names;
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
  d->described.release = LibraryCallback<ReleaseDescribed>::Call;
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<ArrowDescription>> DescribeArrow(ResultHandle& result, idx_t n) {
  auto d = std::make_unique<ArrowDescription>();
  d->options = ArrowOptionsHandle(duckdb_result_get_arrow_options(result.get()));
  for (idx_t c = 0; c < n; ++c) {
    d->type_owners.emplace_back(duckdb_column_logical_type(result.get(), c));
    d->types.push_back(d->type_owners.back().get());
    d->names.emplace_back(duckdb_column_name(result.get(), c));
  }
  DUX_RETURN_NOT_OK(Describe(n, d.get()));
  return d;
}

Result<std::unique_ptr<ArrowDescription>> DescribeArrow(Connection& connection,
                                                        duckdb_prepared_statement prepared) {
  auto d = std::make_unique<ArrowDescription>();
  duckdb_arrow_options options = nullptr;
  duckdb_connection_get_arrow_options(connection.get(), &options);
  d->options = ArrowOptionsHandle(options);
  idx_t n = duckdb_prepared_statement_column_count(prepared);
  for (idx_t c = 0; c < n; ++c) {
    d->type_owners.emplace_back(duckdb_prepared_statement_column_logical_type(prepared, c));
    d->types.push_back(d->type_owners.back().get());
    // Freed by the caller, though declared const.
    d->names.push_back(
        TakeString(const_cast<char*>(duckdb_prepared_statement_column_name(prepared, c))));
  }
  DUX_RETURN_NOT_OK(Describe(n, d.get()));
  return d;
}

Status ChunkToArrow(duckdb_arrow_options options, duckdb_data_chunk chunk, ArrowArray* out) {
  return TakeError(duckdb_data_chunk_to_arrow(options, chunk, out),
                   "cannot convert a result chunk to Arrow");
}

namespace {

Status SendChunk(const ArrowDescription& description, duckdb_data_chunk chunk,
                 ArrowBatchSink* sink) {
  arrow_ipc::ArrayOwner array;
  DUX_RETURN_NOT_OK(ChunkToArrow(description.options.get(), chunk, array.out()));
  return sink->Batch(*array.get());
}

}  // namespace

Result<int64_t> ExportFromPipeline(Connection& connection, const std::string& select_sql,
                                   ArrowBatchSink* sink) {
  DUX_ASSIGN_OR_RETURN(PreparedHandle prepared, connection.Prepare(select_sql));
  DUX_ASSIGN_OR_RETURN(auto description, DescribeArrow(connection, prepared.get()));
  DUX_RETURN_NOT_OK(sink->Schema(description->described));
  s3_filesystem::ChunkCallbackScope scope(connection.get(), [&](duckdb_data_chunk chunk) {
    return SendChunk(*description, chunk, sink);
  });
  ResultHandle result;
  bool failed = duckdb_execute_prepared(prepared.get(), result.out()) == DuckDBError;
  if (!scope.status().ok()) return scope.status();
  if (failed) return Status::InvalidArgument(CleanDuckDbError(duckdb_result_error(result.get())));
  if (!scope.collected()) return Status::Internal("DuckDB did not use dux's result collector");
  return scope.rows();
}

Result<int64_t> ExportFromStream(Connection& connection, const std::string& select_sql,
                                 ArrowBatchSink* sink) {
  DUX_ASSIGN_OR_RETURN(ResultHandle result, RunStreaming(connection, select_sql));
  DUX_ASSIGN_OR_RETURN(auto description, DescribeArrow(result, duckdb_column_count(result.get())));
  DUX_RETURN_NOT_OK(sink->Schema(description->described));
  return FetchChunks(
      result, [&](DataChunkHandle& chunk) { return SendChunk(*description, chunk.get(), sink); });
}

}  // namespace internal

Result<int64_t> ExportArrow(Connection& connection, const std::string& select_sql,
                            ArrowBatchSink* sink) {
  if (s3_filesystem::RunsOneThread(connection.get())) {
    return internal::ExportFromPipeline(connection, select_sql, sink);
  }
  return internal::ExportFromStream(connection, select_sql, sink);
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

}  // namespace dux::exec
