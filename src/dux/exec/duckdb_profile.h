// DuckDB's own profile of one query (its profiler, read through the C API): the operators
// as a tree, each with the metrics DuckDB measured.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"

namespace dux::exec {

/// One node of DuckDB's profile: the query at the root, then its operators. `metrics` holds
/// DuckDB's metrics by DuckDB's names ("OPERATOR_TYPE", "OPERATOR_CARDINALITY",
/// "OPERATOR_TIMING", "LATENCY", "ROWS_RETURNED", ...), values as DuckDB renders them.
struct DuckDbProfileNode {
  std::map<std::string, std::string> metrics;
  std::vector<DuckDbProfileNode> children;
};

struct ProfiledQuery {
  int64_t rows = 0;  ///< the rows the query returned (and that were discarded)
  DuckDbProfileNode profile;
};

/// Runs `select_sql` once on `connection` with DuckDB's profiler on, reads every row and
/// discards it, and returns the rows and DuckDB's profile. The profiler is off again after
/// the call, failed or not.
Result<ProfiledQuery> ProfileQuery(Connection& connection, const std::string& select_sql);

/// The profile as indented lines: the query's latency and rows, then one line per operator
/// (its name, rows, time and DuckDB's extra information on one line), children indented.
std::string FormatDuckDbProfile(const DuckDbProfileNode& root);

}  // namespace dux::exec
