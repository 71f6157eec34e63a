// A DuckDB logical type as SQL text, as DuckDB itself writes it (DESCRIBE's column_type,
// typeof(), a CAST's target): the C API has no such call.
#pragma once

#include <string>

#include "duckdb.h"

namespace dux::s3_filesystem {

/// `type`'s text, e.g. "BIGINT", "DECIMAL(18,3)", "STRUCT(a INTEGER, b VARCHAR[])".
std::string TypeText(duckdb_logical_type type);

}  // namespace dux::s3_filesystem
