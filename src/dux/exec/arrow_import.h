// Arrow into DuckDB: an Arrow C stream, or an Arrow IPC stream or file, scanned by DuckDB
// into a table or a row sink, with the ENUM columns dux wrote restored.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/row_sink.h"

namespace dux::exec {

/// Where rows read from Arrow go.
enum class TableMode {
  kTemporary,   ///< a new TEMPORARY table (an error if it exists)
  kPersistent,  ///< a new table in the database, seen by every connection
  kAppend,      ///< appended to an existing table, columns matched by position
};

/// Fills `table` from an Arrow C stream, which DuckDB pulls batch by batch: memory stays
/// bounded by a batch and batches may have any length. The stream is released whatever the
/// outcome. Returns the rows it added. `casts` (column -> SQL type, spliced as written:
/// callers build them from safe parts) converts columns on the way in. (ScanArrowStream runs
/// any other statement over the stream.)
Result<int64_t> ImportArrowStream(Connection& connection, const std::string& table,
                                  ArrowArrayStream* stream, TableMode mode,
                                  const std::map<std::string, std::string>& casts = {});

/// Registers a view over `stream` (released whatever the outcome), runs `use` with the
/// SELECT that reads it (`casts` applied, see ImportArrowStream), drops the view and returns
/// what `use` returned. When the stream fails, the error is the stream's own words.
Result<int64_t> ScanArrowStream(Connection& connection, ArrowArrayStream* stream,
                                const std::map<std::string, std::string>& casts,
                                const std::function<Result<int64_t>(const std::string&)>& use);

/// Checks that DuckDB can read every column of `schema` and returns the casts that restore
/// the ENUM columns dux wrote (their values travel in the schema's metadata).
Result<std::map<std::string, std::string>> ImportCasts(const ArrowSchema& schema);

/// Reads an Arrow IPC stream or file from `in` into `table` (see ImportArrowStream).
Result<int64_t> ImportIpc(Connection& connection, const std::string& table,
                          std::unique_ptr<arrow_ipc::InputStream> in, TableMode mode);

/// Reads an Arrow IPC stream or file from `in` as DuckDB chunks, typed as ImportIpc would
/// type a table's columns, into the sink `open` returns once the schema is known (its
/// RoutedColumns carry names and types only). Every chunk is handed over with Take; the
/// sink is finished at the end. Memory stays bounded by a batch plus what the sink keeps.
/// A batch of at most a DuckDB vector's length becomes a chunk directly, keeping its
/// buffers where DuckDB can; ENUM columns, a stream without batches and longer batches go
/// through DuckDB's arrow scan (a query) instead.
Result<int64_t> ReadIpcChunks(
    Connection& connection, std::unique_ptr<arrow_ipc::InputStream> in,
    const std::function<Result<std::unique_ptr<RowSink>>(const RoutedColumns&)>& open);

}  // namespace dux::exec
