// A connection's own boolean setting set in process: what `SET name = value` does (DuckDB's
// setter for the option, with its checks) without parsing and planning a statement, 0.2-0.4 ms
// each, paid by a worker for every fragment before its query runs.
#pragma once

#include <string>

#include "duckdb.h"
#include "dux/common/status.h"

namespace dux::s3_filesystem {

/// Sets `name` (a built-in option of connection scope taking a BOOLEAN, e.g.
/// "enable_progress_bar") on `connection`. InvalidArgument for another name, or with DuckDB's
/// message when its setter refuses. Not to be called while another thread uses the connection.
Status SetLocalBoolean(duckdb_connection connection, const std::string& name, bool value);

}  // namespace dux::s3_filesystem
