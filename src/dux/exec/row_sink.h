// Sinks that take a routed result's rows a DuckDB chunk at a time: Arrow IPC batches written
// to a stream, or rows appended to a table.
#pragma once

#include <duckdb.h>

#include <memory>
#include <string>
#include <vector>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/handles.h"

namespace dux::exec {

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

/// A sink that writes its chunks as Arrow IPC batches to `out` (closed by Finish).
Result<std::unique_ptr<RowSink>> OpenIpcRowSink(const RoutedColumns& columns,
                                                arrow_ipc::OutputStream* out,
                                                const arrow_ipc::WriteOptions& options);

/// A sink that appends to the existing `table` (of the main schema) through a DuckDB
/// appender on `connection`, which it borrows; a column of another type is cast as an
/// INSERT would.
Result<std::unique_ptr<RowSink>> OpenTableRowSink(Connection& connection, const std::string& table);

}  // namespace dux::exec
