// Opening the embedded DuckDB that a session or a worker runs pipelines in, with dux's
// settings (docs/architecture.md section 5).
#pragma once

#include <string>

#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"

namespace dux::engine {

struct DatabaseOptions {
  std::string path;            ///< empty: in memory
  int threads = 0;             ///< 0: DuckDB's default (all cores)
  std::string memory_limit;    ///< e.g. "4GB"; empty: DuckDB's default
  std::string temp_directory;  ///< empty: DuckDB's default
};

/// Opens a database with dux's Arrow conventions (lossless extension types), `options`'
/// threads, memory and temp directory, parsed parquet footers kept across queries, and
/// s3:// paths served by dux's file system with the S3 settings of this process's AWS
/// environment (no network I/O at open; settings that cannot be read fail s3:// paths only).
Result<exec::Database> OpenDatabase(const DatabaseOptions& options);

/// Whether closing `db` still has files to tidy: temporary files it spilled, or an attached
/// database file whose write-ahead log closing checkpoints. A process that ends without
/// closing a database that holds none loses nothing.
bool HoldsFilesToClose(const exec::Database& db);

}  // namespace dux::engine
