// The producing side of a hash exchange (ShuffleTarget in worker.proto): a fragment's rows
// routed to buckets by a hash of their keys and pushed to the workers that own the buckets.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/row_sink.h"
#include "dux/protocol/worker_client.h"
#include "dux/v1/worker.pb.h"

namespace dux::worker {

/// A client of the peer worker at an address (gRPC with the worker's own credentials, or a
/// worker of the same process); clients may be cached and shared.
using PeerConnector =
    std::function<Result<std::shared_ptr<protocol::WorkerClient>>(const std::string& address)>;

/// The sink that stores bucket `bucket` of `exchange` on this worker, rows as DuckDB chunks
/// (never serialised).
using LocalBucketStore = std::function<Result<std::unique_ptr<exec::RowSink>>(
    const std::string& exchange, int bucket, const exec::RoutedColumns& columns)>;

struct BucketStats {
  int bucket = 0;
  int64_t rows = 0;
  int64_t ipc_bytes = 0;  ///< 0 when the bucket stayed on this worker
};

/// Runs `select_sql` on `connection` once and routes its rows as they come to the owners of
/// `target`'s buckets: the buckets `self` owns to `store`, each other bucket on a PushBuckets
/// stream of its own through `peers`, naming `lease` (the fragment's) as the bucket's. Checks the
/// target first (InvalidArgument). On failure some buckets may hold part of the rows: the exchange
/// id is not used again (a retry gets its own), and the coordinator drops every bucket table of the
/// exchange.
Result<std::vector<BucketStats>> Shuffle(exec::Connection& connection,
                                         const std::string& select_sql,
                                         const v1::ShuffleTarget& target, const std::string& lease,
                                         const std::string& self,
                                         const arrow_ipc::WriteOptions& options,
                                         const PeerConnector& peers, const LocalBucketStore& store);

/// The SELECT that gives `stats` as rows (bucket INTEGER, rows BIGINT, ipc_bytes BIGINT).
std::string BucketStatsQuery(const std::vector<BucketStats>& stats);

}  // namespace dux::worker
