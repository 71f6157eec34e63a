// dux_comoments(y, x): the moments of the pairs where both values are present, in one
// aggregate state. It is the partial that workers compute for the covariance, correlation
// and regression aggregates (coordinator/splitter.cc), in place of six regr_* aggregates and
// two min(CASE ...) with a state each.
#pragma once

#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"

namespace dux::exec {

/// The aggregate's name, as the splitter writes it into partial verbs.
constexpr const char* kComomentsAggregate = "dux_comoments";

/// Registers dux_comoments(DOUBLE y, DOUBLE x) in `db`. It returns
/// STRUCT(n BIGINT, avgx, avgy, sxx, syy, sxy, x, y DOUBLE) with the same order of arguments
/// as DuckDB's regr_*:
/// - n: the pairs (regr_count).
/// - avgx, avgy: the means of x and of y (regr_avgx, regr_avgy).
/// - sxx, syy, sxy: the sums of squared and crossed deviations from those means (regr_sxx,
///   regr_syy, regr_sxy). sxx and syy are exactly 0 when n < 2, as DuckDB's.
/// - x, y: one pair's values, for telling a constant from a spread across partitions.
///
/// Without pairs, n is 0 and every other field NULL. Moments are kept with Welford's update
/// and merged with Chan's pairwise formula, as DuckDB's own. A non-finite sxx or syy over two
/// or more pairs fails the query with DuckDB's regr_sxx error, "VARPOP is out of range!".
Status RegisterComomentsAggregate(const Database& db);

}  // namespace dux::exec
