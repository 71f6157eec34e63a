// The tables a statement names, as DuckDB's own parser sees them (json_serialize_sql): every
// table reference in its FROM clauses, joins, CTEs and subqueries, and the table functions it
// calls. A worker uses it to refuse a fragment that names another query's tables
// (docs/cluster.md, "Leases").
#pragma once

#include <set>
#include <string>

#include "dux/common/status.h"
#include "dux/sql/binder.h"

namespace dux::sql {

struct TableReferences {
  /// Names of base table references, without catalog or schema. A CTE's name is listed where
  /// it is read, as DuckDB's parser cannot tell it from a table.
  std::set<std::string> tables;
  /// Names of the table functions called (read_parquet, query_table, ...).
  std::set<std::string> functions;
};

/// Parses `sql` (one or more statements) through `binder` without binding or running it.
/// InvalidArgument with DuckDB's parser message when it does not parse.
Result<TableReferences> ReferencedTables(Binder* binder, const std::string& sql);

}  // namespace dux::sql
