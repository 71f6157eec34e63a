// Reading PostgreSQL into DuckDB: a (sliced, projected, filtered) SELECT streamed with
// `COPY (...) TO STDOUT (FORMAT binary)`, decoded straight into DuckDB vectors and appended
// chunk by chunk to a DuckDB table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/pg/catalog.h"
#include "dux/pg/connection.h"

namespace dux::pg {

/// What to read from a described table.
struct ReadSpec {
  /// Indices into TableDescription::columns, in output order; empty: every column.
  std::vector<size_t> columns;
  /// PostgreSQL boolean expressions, ANDed into the WHERE clause (a slice, pushed filters).
  /// Spliced as written: callers build them from quoted parts (slice.h, pushdown.h).
  std::vector<std::string> predicates;
};

/// The SELECT that reads `spec` from `table`. Pure.
std::string SelectSql(const TableDescription& table, const ReadSpec& spec);

/// The DuckDB `CREATE TEMPORARY TABLE` statement for the columns `spec` reads, named
/// `duck_table` (unquoted). InvalidArgument naming the first column whose type cannot be
/// read. Pure.
Result<std::string> CreateTableSql(const TableDescription& table, const ReadSpec& spec,
                                   const std::string& duck_table);

/// Reads `spec` of `table` into the existing DuckDB table `duck_table` (unquoted; temporary
/// tables are found first), whose columns must be those of CreateTableSql. Memory stays
/// bounded by one DuckDB chunk. Returns the rows read. On failure, rows already appended
/// stay in `duck_table` (callers drop it) and the PostgreSQL statement is cancelled.
/// Errors name the column and PostgreSQL type that could not be converted (a NaN numeric
/// into DECIMAL, a multi-dimensional array).
Result<int64_t> ReadInto(Connection& pg, exec::Connection& duck, const TableDescription& table,
                         const ReadSpec& spec, const std::string& duck_table);

}  // namespace dux::pg
