// The bridge between DuckDB and Arrow C Data: query results out as Arrow batches (one
// DuckDB chunk each, streamed), Arrow batches in as rows of a table, and a result's rows
// routed by hash to per-bucket sinks (Arrow IPC, or a table through DuckDB's appender).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/common/status.h"
#include "dux/exec/connection.h"
#include "dux/exec/handles.h"

namespace dux::exec {

/// Receives a result as Arrow: the schema once, then every batch. Neither is consumed.
class ArrowBatchSink {
 public:
  virtual ~ArrowBatchSink() = default;
  virtual Status Schema(const ArrowSchema& schema) = 0;
  virtual Status Batch(const ArrowArray& batch) = 0;
};

/// Runs `select_sql` as a streaming query and passes its result to `sink` chunk by chunk,
/// so memory stays bounded by a chunk. Returns the number of rows. Types follow DuckDB's
/// Arrow export with the connection's settings (ENUMs as dictionaries, HUGEINT as
/// decimal128, UUID as fixed-size binary, ...).
Result<int64_t> ExportArrow(Connection& connection, const std::string& select_sql,
                            ArrowBatchSink* sink);

/// Runs `select_sql` as a streaming query and hands each result chunk to `each` (which must
/// not keep it), so memory stays bounded by a chunk. Returns the number of rows. For
/// consumers that read DuckDB vectors directly (e.g. pg/ writing COPY text).
Result<int64_t> ForEachChunk(Connection& connection, const std::string& select_sql,
                             const std::function<Status(duckdb_data_chunk chunk)>& each);

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

/// The Arrow types a result leaves DuckDB with.
enum class ArrowTypes {
  /// DuckDB's lossless mode: types without an exact Arrow match become extension types
  /// (BOOLEAN as Int8 arrow.bool8, HUGEINT as arrow.opaque, ...) that DuckDB reads back as
  /// themselves. What dux's own processes exchange.
  kLossless,
  /// The standard types any Arrow reader understands (BOOLEAN as Bool, HUGEINT as
  /// Decimal(38, 0), UUID as Utf8, ...): what a user reads (docs/arrow-ipc.md lists them).
  kStandard,
};

/// Runs `select_sql` and writes its result as Arrow IPC to `out`, one batch per chunk, with
/// `types`. Returns the number of rows. The writer is closed (footer, end-of-stream) on
/// success.
Result<int64_t> WriteQueryIpc(Connection& connection, const std::string& select_sql,
                              arrow_ipc::OutputStream* out, const arrow_ipc::WriteOptions& options,
                              ArrowTypes types = ArrowTypes::kLossless);

/// Reads an Arrow IPC stream or file from `in` into `table` (see ImportArrowStream).
Result<int64_t> ImportIpc(Connection& connection, const std::string& table,
                          std::unique_ptr<arrow_ipc::InputStream> in, TableMode mode);

/// A routed result's columns (RouteRows, ReadIpcChunks), for the sinks that take its rows.
/// Valid while RouteRows runs; the sinks may keep pointers into it.
struct RoutedColumns {
  std::vector<std::string> names;
  std::vector<duckdb_logical_type> types;  ///< DuckDB's types of the chunks (borrowed)
  /// The columns as Arrow, as ExportArrow describes them (with the ENUM metadata).
  const ArrowSchema* arrow = nullptr;
  duckdb_arrow_options arrow_options = nullptr;
};

/// Takes one bucket's rows from RouteRows, a chunk at a time, on RouteRows' thread. A sink
/// destroyed without Finish (RouteRows failed) abandons its rows where it can: an IPC
/// sink's stream ends unfinished, but a table sink's appender commits what it had taken, so
/// a failed routing may leave part of the rows in tables (see Shuffle).
class RowSink {
 public:
  virtual ~RowSink() = default;
  /// `chunk` is borrowed for the call.
  virtual Status Append(duckdb_data_chunk chunk) = 0;
  /// Like Append, for a chunk the caller no longer needs: a sink that keeps chunks moves it
  /// out (leaving `*chunk` empty) instead of copying it; others leave it to the caller.
  virtual Status Take(DataChunkHandle* chunk) { return Append(chunk->get()); }
  /// After the last chunk: flushes what is buffered. Rows are visible once it returns.
  virtual Status Finish() = 0;
};

/// Opens the sink of one bucket once the routed query has started.
using RowSinkFactory =
    std::function<Result<std::unique_ptr<RowSink>>(int bucket, const RoutedColumns& columns)>;

/// Runs `select_sql`, whose last column is a UBIGINT hash (DuckDB's hash() of the keys), as
/// one streaming query and routes every row, without that column, to the sink of bucket
/// hash % n_buckets, gathered into chunks of up to a DuckDB vector's size: one pass over the
/// result, memory bounded by a chunk per bucket plus what the sinks buffer. On success every
/// sink was opened and finished, empty ones too. Returns each bucket's rows.
Result<std::vector<int64_t>> RouteRows(Connection& connection, const std::string& select_sql,
                                       int n_buckets, const RowSinkFactory& open);

/// A sink that writes its chunks as Arrow IPC batches to `out` (closed by Finish).
Result<std::unique_ptr<RowSink>> OpenIpcRowSink(const RoutedColumns& columns,
                                                arrow_ipc::OutputStream* out,
                                                const arrow_ipc::WriteOptions& options);

/// A sink that appends to the existing `table` (of the main schema) through a DuckDB
/// appender on `connection`, which it borrows; a column of another type is cast as an
/// INSERT would.
Result<std::unique_ptr<RowSink>> OpenTableRowSink(Connection& connection, const std::string& table);

/// Reads an Arrow IPC stream or file from `in` as DuckDB chunks, typed as ImportIpc would
/// type a table's columns, into the sink `open` returns once the schema is known (its
/// RoutedColumns carry names and types only). Every chunk is handed over with Take; the
/// sink is finished at the end. Memory stays bounded by a batch plus what the sink keeps.
Result<int64_t> ReadIpcChunks(
    Connection& connection, std::unique_ptr<arrow_ipc::InputStream> in,
    const std::function<Result<std::unique_ptr<RowSink>>(const RoutedColumns&)>& open);

/// "" -> none, "lz4" -> LZ4_FRAME, "zstd" -> ZSTD; anything else is InvalidArgument.
Result<arrow_ipc::Compression> ParseCompression(const std::string& name);

/// DuckDB's SQL spelling of a logical type ("DECIMAL(18,3)", "STRUCT(\"a\" INTEGER)[]", ...).
Result<std::string> LogicalTypeSql(duckdb_logical_type type);

}  // namespace dux::exec
