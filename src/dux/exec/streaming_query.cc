// Streaming results need duckdb_pending_prepared_streaming, which DuckDB 1.4's C API lists
// as deprecated yet offers no replacement for; it is used here and nowhere else.
#undef DUCKDB_API_NO_DEPRECATED
#include "dux/exec/streaming_query.h"

#include <duckdb.h>

#include "dux/exec/arrow_bridge_internal.h"

namespace dux::exec {

using internal::FetchChunks;
using internal::RunStreaming;

namespace internal {

namespace {

using PendingHandle = Handle<duckdb_pending_result, duckdb_destroy_pending>;

}  // namespace

Result<ResultHandle> RunStreaming(Connection& connection, const std::string& select_sql) {
  DUX_ASSIGN_OR_RETURN(PreparedHandle prepared, connection.Prepare(select_sql));
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

}  // namespace internal

Result<int64_t> ForEachChunk(Connection& connection, const std::string& select_sql,
                             const std::function<Status(duckdb_data_chunk chunk)>& each) {
  DUX_ASSIGN_OR_RETURN(ResultHandle result, RunStreaming(connection, select_sql));
  return FetchChunks(result, [&](DataChunkHandle& chunk) { return each(chunk.get()); });
}

}  // namespace dux::exec
