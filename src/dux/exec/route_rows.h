// A result's rows routed by hash to per-bucket row sinks, in one streaming pass.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/row_sink.h"

namespace dux::exec {

/// Opens the sink of one bucket once the routed query has started.
using RowSinkFactory =
    std::function<Result<std::unique_ptr<RowSink>>(int bucket, const RoutedColumns& columns)>;

/// The bucket of `n_buckets` a row of hash `hash` goes to: the hash's high bits,
/// (hash * n_buckets) >> 64. Not hash % n_buckets, for two reasons: a division per row cost
/// more than the rest of the routing loop, and the owner's DuckDB indexes its join and
/// aggregate hash tables by the same hash's low bits, which a modulo would make alike for
/// every row of a bucket (a power-of-two bucket count left 1 / n_buckets of the slots used).
inline uint64_t BucketOfHash(uint64_t hash, uint64_t n_buckets) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(hash) * n_buckets) >> 64);
}

/// Runs `select_sql`, whose last column is a UBIGINT hash (DuckDB's hash() of the keys), as
/// one streaming query and routes every row, without that column, to the sink of bucket
/// BucketOfHash(hash, n_buckets), gathered into chunks of up to a DuckDB vector's size: one pass
/// over the result, memory bounded by a chunk per bucket plus what the sinks buffer. On success
/// every sink was opened and finished, empty ones too. Returns each bucket's rows.
Result<std::vector<int64_t>> RouteRows(Connection& connection, const std::string& select_sql,
                                       int n_buckets, const RowSinkFactory& open);

}  // namespace dux::exec
