// dux_comoments: the moments of the pairs where both values are present, in one aggregate
// state, and their merge. Workers compute it as the partial of the covariance, correlation
// and regression aggregates, and the final step merges the partials with it
// (coordinator/splitter.cc): one state per group where six regr_* aggregates and two
// min(CASE ...) kept eight, and a merge without window functions.
#pragma once

#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/sql/expression.h"

namespace dux::exec {

using sql::kComomentsAggregate;

/// Registers in `db` the aggregate dux_comoments with two overloads:
/// - dux_comoments(DOUBLE y, DOUBLE x) returns
///   STRUCT(n BIGINT, avgx, avgy, sxx, syy, sxy DOUBLE), arguments in the order of
///   DuckDB's regr_*:
///   - n: the pairs (regr_count);
///   - avgx, avgy: the means of x and of y (regr_avgx, regr_avgy);
///   - sxx, syy, sxy: the sums of squared and crossed deviations from those means (regr_sxx,
///     regr_syy, regr_sxy); sxx and syy are exactly 0 when n < 2, as DuckDB's.
///   Without pairs, n is 0 and every other field NULL.
/// - dux_comoments(partial), over such structs, returns the struct of all their pairs: the
///   merge the coordinator (or the owner of a group) runs over the workers' partials.
///
/// Moments are kept with Welford's update and merged with Chan's pairwise formula, as
/// DuckDB's own states are; states of one constant merge to exactly 0. A non-finite sxx or
/// syy over two or more pairs fails the query with DuckDB's regr_sxx error, "VARPOP is out of
/// range!".
Status RegisterComomentsAggregate(const Database& db);

}  // namespace dux::exec
