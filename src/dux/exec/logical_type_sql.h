// DuckDB's SQL spelling of its logical types, for statements that declare columns.
#pragma once

#include <duckdb.h>

#include <string>

#include "dux/common/status.h"

namespace dux::exec {

/// DuckDB's SQL spelling of a logical type ("DECIMAL(18,3)", "STRUCT(\"a\" INTEGER)[]", ...).
Result<std::string> LogicalTypeSql(duckdb_logical_type type);

}  // namespace dux::exec
