// Filter pushdown: the parts of a pipeline's filter that PostgreSQL can evaluate while it
// reads, so that fewer rows travel. dux still applies the whole filter afterwards.
#pragma once

#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/pg/catalog.h"
#include "dux/sql/binder.h"

namespace dux::pg {

/// PostgreSQL predicates implied by `filter`, a DuckDB expression over `table`'s columns
/// (parsed with DuckDB's own parser through `binder`). Each returned predicate is one
/// top-level AND-ed conjunct of the filter that PostgreSQL evaluates exactly as DuckDB would
/// (or more loosely: it never drops a row the filter keeps), so the caller may push any
/// subset of them into the read and must still apply the filter itself:
///   - `column <op> constant` (=, <>, <, <=, >, >=; either side) for integer, double,
///     DECIMAL-mapped numeric, boolean (= and <> only), date and timestamp without time zone
///     columns (ISO constants) and text columns of base types (= only);
///   - `column IS NULL`, `column IS NOT NULL` for any column.
/// Everything else (functions, OR, casts of columns, float4, timestamptz, enums, ...) is left
/// out. A filter DuckDB cannot parse gives no predicates, not an error: binding reports it.
std::vector<std::string> PushableConjuncts(sql::Binder* binder, const std::string& filter,
                                           const TableDescription& table);

}  // namespace dux::pg
