// Writing DuckDB results into PostgreSQL tables with `COPY ... FROM STDIN` (text format):
// create the table from the result's schema, or append by column name, all or nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/pg/catalog.h"
#include "dux/pg/connection.h"
#include "dux/pipeline/schema.h"

namespace dux::pg {

struct InsertTarget {
  TableName table;
  /// Create the table from the result's schema first; an error if it exists.
  bool create = false;
  /// Load into a staging table first, then move the rows into the target in one short
  /// transaction (with `create`, rename the staging table into place).
  bool atomic = false;
  /// How messages name the target, e.g. "pg.public.events".
  std::string display_name;
};

/// A worker's share of a distributed insert (coordinator/postgres.h), for InsertQuery.
struct WorkerShare {
  /// When not empty (an atomic insert, AttemptStagingName), the rows go into a new UNLOGGED
  /// table of this name in the target's schema, created in the COPY's own transaction (like
  /// the target, or from the result's schema with `create`, when the target must not exist
  /// yet); the target itself is left alone and `atomic` is ignored.
  std::string stage;
  /// Out: the rows handed to PostgreSQL, also when the insert fails.
  int64_t rows_sent = 0;
};

/// What an insert writes, checked against the target before any row moves (CheckInsert).
struct InsertLayout {
  /// The target's column names, one per result column, in result order.
  std::vector<std::string> names;
  /// With `create`: the PostgreSQL type of each new column.
  std::vector<std::string> pg_types;
  /// The target as the catalog names it (as written, with `create`); staging tables go in
  /// its schema.
  TableName table;
};

/// Appends `value` to `out` escaped for COPY's text format: `\` and the control characters
/// that end a field or a row (tab, newline, carriage return) become backslash escapes.
/// Pure.
void AppendCopyText(std::string_view value, std::string* out);

/// The DuckDB SQL expression that renders `column` (a quoted name) of DuckDB type
/// `duckdb_type` as the text PostgreSQL's input function reads back as the same value:
/// BLOB as bytea hex (`\x...`), lists as array literals (`{"a","b",NULL}`), everything else
/// as DuckDB's text form. InvalidArgument naming the column for types that have none
/// (STRUCT, MAP, UNION, nested lists). Pure.
Result<std::string> CopyTextExpression(const std::string& column, const std::string& duckdb_type);

/// Checks that a result column of DuckDB type `duckdb_type` can go into a PostgreSQL column
/// of type `target` (rough families: text goes anywhere, numbers into numbers, ...). Returns
/// InvalidArgument naming both types otherwise. Pure.
Status CheckAssignable(const std::string& column, const std::string& duckdb_type,
                       const PgColumn& target, const std::string& table);

/// Runs `select_sql` (columns `schema`) on `duck` and copies its rows into `target`.
/// Columns are matched by name (exactly, then ignoring case): every result column must exist
/// in an existing target (its other columns get their defaults), and the types must be
/// assignable; these are checked before any row moves. Without `atomic` the rows (and the
/// table, with `create`) go in in one transaction; with `atomic` they are loaded into a
/// staging table `__dux_stage_*` in the target's schema and moved in one short transaction.
/// Either way a failure leaves the target as it was, its transaction rolled back and the
/// staging table dropped; the message names the target and the failing row ("row 3, column
/// amount"). Returns the rows inserted. With `share` (a worker's share of a distributed
/// insert), see WorkerShare; a failure then ends "this worker's transaction rolled back after
/// it had sent N rows" instead of "nothing was inserted" (other shares may have gone in).
Result<int64_t> InsertQuery(exec::Connection& duck, const std::string& select_sql,
                            const pipeline::Schema& schema, Connection& pg,
                            const InsertTarget& target, WorkerShare* share = nullptr);

/// The checks InsertQuery makes before any row moves, for an insert of rows of `schema`
/// into `target`: it exists (or not, with `create`), every result column is a column of it,
/// the types are assignable. The same one-line errors.
Result<InsertLayout> CheckInsert(Connection& pg, const pipeline::Schema& schema,
                                 const InsertTarget& target);

/// `CREATE TABLE table (...)` with the columns of `layout` (made with `create`). Pure.
std::string CreateTableStatement(const TableName& table, const InsertLayout& layout);

/// The staging table of one attempt (a worker's fragment, named by its query id) of a
/// distributed atomic insert: `__dux_stage_` and a hash of the id, so that the coordinator
/// knows the table of every attempt. Pure.
std::string AttemptStagingName(std::string_view attempt_id);

/// The end of a distributed atomic insert: in one transaction, creates the target (with
/// `target.create`), moves the rows of the staging tables `stages` (in the schema of
/// `layout.table`) into it and drops them. On failure nothing changes (the caller drops the
/// stages); the message names the target. Returns the rows moved.
Result<int64_t> MoveStagedRows(Connection& pg, const InsertTarget& target,
                               const InsertLayout& layout, const std::vector<std::string>& stages);

/// What InsertQuery would run, for explain: the statements with `<rows>` for the data.
Result<std::string> ExplainInsert(const pipeline::Schema& schema, const InsertTarget& target);

}  // namespace dux::pg
