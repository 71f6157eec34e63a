// Private to exec/: what the parts of the DuckDB-Arrow bridge share: DuckDB's errors and
// strings taken over, streaming results read chunk by chunk (streaming_query.cc), and a
// result's columns described as Arrow (arrow_export.cc).
#pragma once

#include <duckdb.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/common/status.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/handles.h"

namespace dux::exec::internal {

/// Frees a duckdb_error_data and turns it into a Status: InvalidArgument "what: message"
/// when it holds an error, else OK.
inline Status TakeError(duckdb_error_data error, const char* what) {
  Status status;
  if (error && duckdb_error_data_has_error(error)) {
    status = Status::InvalidArgument(std::string(what) + ": " +
                                     CleanDuckDbError(duckdb_error_data_message(error)));
  }
  if (error) duckdb_destroy_error_data(&error);
  return status;
}

/// The text of a string DuckDB allocated ("" for null), which it frees.
inline std::string TakeString(char* s) {
  std::string out = s ? s : "";
  duckdb_free(s);
  return out;
}

using ArrowOptionsHandle = Handle<duckdb_arrow_options, duckdb_destroy_arrow_options>;

/// The schema metadata key under which ExportArrow sends each ENUM column's values (JSON)
/// and ImportCasts finds them.
constexpr const char* kEnumMetadataKey = "dux.enum_columns";

/// A streaming result of `select_sql`, failures reported as for Connection's statements.
Result<ResultHandle> RunStreaming(Connection& connection, const std::string& select_sql);

/// Passes every chunk of a streaming result to `each`, which may move it out; returns the
/// rows. A failure DuckDB meets mid-way is an error.
Result<int64_t> FetchChunks(ResultHandle& result,
                            const std::function<Status(DataChunkHandle& chunk)>& each);

/// A streaming result's first `n` columns described as Arrow, as ExportArrow sends them.
struct ArrowDescription {
  ArrowOptionsHandle options;
  std::vector<LogicalTypeHandle> type_owners;
  std::vector<duckdb_logical_type> types;
  std::vector<std::string> names;
  arrow_ipc::SchemaOwner schema;
  std::string metadata;
  ArrowSchema described{};  ///< `schema` with the metadata; shares its children
};

/// Describes the first `n` columns of `result`, ENUM values in the schema's metadata.
Result<std::unique_ptr<ArrowDescription>> DescribeArrow(ResultHandle& result, idx_t n);
/// Describes the columns `prepared` will return, with `connection`'s Arrow options.
Result<std::unique_ptr<ArrowDescription>> DescribeArrow(Connection& connection,
                                                        duckdb_prepared_statement prepared);

/// ExportArrow's two ways, which it picks between: chunks taken from inside the query's last
/// pipeline (s3_filesystem/chunk_callback.h: no copy into a streaming result's buffer; for a
/// database of one thread), or fetched from a streaming result. Either keeps memory bounded by
/// a chunk and passes the same chunks, in the same order.
Result<int64_t> ExportFromPipeline(Connection& connection, const std::string& select_sql,
                                   ArrowBatchSink* sink);
Result<int64_t> ExportFromStream(Connection& connection, const std::string& select_sql,
                                 ArrowBatchSink* sink);

/// Converts a chunk of a result described by `options` into an Arrow array.
Status ChunkToArrow(duckdb_arrow_options options, duckdb_data_chunk chunk, ArrowArray* out);

}  // namespace dux::exec::internal
