// The bridge between DuckDB and Arrow C Data, every part of it: query results out as Arrow
// (arrow_export.h), Arrow in as rows (arrow_import.h), a result's rows routed by hash
// (route_rows.h) to row sinks (row_sink.h), streaming queries (streaming_query.h) and the
// SQL spelling of DuckDB types (logical_type_sql.h). A file that uses one part includes
// that part's header.
#pragma once

#include "dux/exec/arrow_export.h"
#include "dux/exec/arrow_import.h"
#include "dux/exec/logical_type_sql.h"
#include "dux/exec/route_rows.h"
#include "dux/exec/row_sink.h"
#include "dux/exec/streaming_query.h"
