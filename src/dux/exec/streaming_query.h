// Queries run as DuckDB streaming results and read a chunk at a time, so that memory stays
// bounded by a chunk whatever the result's size.
#pragma once

#include <duckdb.h>

#include <cstdint>
#include <functional>
#include <string>

#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"

namespace dux::exec {

/// Runs `select_sql` as a streaming query and hands each result chunk to `each` (which must
/// not keep it), so memory stays bounded by a chunk. Returns the number of rows. For
/// consumers that read DuckDB vectors directly (e.g. pg/ writing COPY text).
Result<int64_t> ForEachChunk(Connection& connection, const std::string& select_sql,
                             const std::function<Status(duckdb_data_chunk chunk)>& each);

}  // namespace dux::exec
