// The bytes DuckDB reads from files (local and s3://), counted per connection: what a
// worker reports as its fragment's bytes read (FragmentStats.read_bytes,
// docs/observability.md).
#pragma once

#include <cstdint>

#include "duckdb.h"
#include "dux/common/status.h"

namespace dux::s3_filesystem {

/// From now on, counts every read from a file of `db`, by the connection whose query made
/// it. DuckDB's own file systems' reads come from its "FileSystem" log (each read: its
/// bytes), sent at TRACE level to a log storage that keeps only sums per connection (DuckDB
/// then logs nothing else); dux's s3:// reads add the bytes each GET fetched. Spilled data
/// is not counted: DuckDB's temporary files are opened without a connection. Call once,
/// right after opening, before any query.
Status CountBytesRead(duckdb_database db);

/// The bytes the queries of `connection` read since the previous call (or since it was
/// opened), and the count restarts. 0 when `CountBytesRead` was not called on its database.
/// Thread-safe.
uint64_t TakeBytesRead(duckdb_connection connection);

}  // namespace dux::s3_filesystem
