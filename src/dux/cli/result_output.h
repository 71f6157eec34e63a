// How `dux run` writes a result as bytes: stdout as a stream, the result of a SELECT in one
// of --format's encodings. Shared by a local run and the server of `dux serve`, which sends
// the same bytes to its client (docs/serve.md).
#pragma once

#include <cstdint>
#include <string>

#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/sink_writer.h"
#include "dux/pipeline/pipeline.h"
#include "dux/pipeline/schema.h"

namespace dux::cli {

/// --format csv, json or ndjson of `select`, as DuckDB writes them, through a temporary file
/// whose bytes are copied to `out` in blocks. Returns the rows.
Result<int64_t> ExportThroughFile(exec::Connection& connection, const std::string& select,
                                  const std::string& format, arrow_ipc::OutputStream* out);

/// How a result is encoded: dux run's --format, --arrow-compression and --arrow-lossless.
struct ResultFormat {
  std::string format = "table";  ///< table, csv, json, ndjson or arrow
  std::string arrow_compression;
  bool arrow_lossless = false;
};

/// Writes the result of `select` (columns `schema`) to `out` in `format`: the table's box
/// text, DuckDB's CSV, JSON or NDJSON, or an Arrow IPC stream encoded batch by batch.
/// Returns the rows.
Result<int64_t> WriteResultTo(exec::Connection& connection, const std::string& select,
                              const pipeline::Schema& schema, const ResultFormat& format,
                              arrow_ipc::OutputStream* out);

/// The line a run of `pipeline` (which ends in a sink) prints for what it wrote, with its
/// newline: "to_parquet: wrote 10 rows to 2 files".
std::string SinkSummary(const pipeline::Pipeline& pipeline, const exec::WriteReport& report);

}  // namespace dux::cli
