// A built-in scalar function of one VARCHAR called in process, without a statement: planning
// parses and renders expressions with dozens of json_serialize_sql and json_deserialize_sql
// calls, where a prepared statement's run costs 80-600 us and the function itself 10-20 us.
#pragma once

#include <optional>
#include <string>

#include "duckdb.h"
#include "dux/common/status.h"

namespace dux::s3_filesystem {

/// The value of `function(argument)`, NULL as nullopt: `function` is a scalar function of the
/// system catalog (never user text) that takes one VARCHAR and returns text. Evaluated on
/// `connection`'s client context, in its transaction or an own one, as the statement
/// `SELECT function(argument)` would be. Errors carry DuckDB's message. Not to be called
/// while another thread uses the connection.
Result<std::optional<std::string>> CallTextFunction(duckdb_connection connection,
                                                    const std::string& function,
                                                    const std::string& argument);

}  // namespace dux::s3_filesystem
