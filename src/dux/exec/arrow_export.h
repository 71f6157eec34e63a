// DuckDB results out as Arrow: a query's result streamed to an ArrowBatchSink one DuckDB
// chunk per batch, or written as Arrow IPC with the standard or DuckDB's lossless types.
#pragma once

#include <cstdint>
#include <string>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"

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

/// "" -> none, "lz4" -> LZ4_FRAME, "zstd" -> ZSTD; anything else is InvalidArgument.
Result<arrow_ipc::Compression> ParseCompression(const std::string& name);

}  // namespace dux::exec
