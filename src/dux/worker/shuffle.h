// The producing side of a hash exchange (ShuffleTarget in worker.proto): a fragment's rows
// routed to buckets by a hash of their keys and pushed to the workers that own the buckets.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/dist/worker_client.h"
#include "dux/exec/connection.h"
#include "dux/ipc/writer.h"
#include "dux/v1/worker.pb.h"

namespace dux::worker {

/// A client of the peer worker at an address (gRPC with the worker's own credentials, or a
/// worker of the same process); clients may be cached and shared.
using PeerConnector =
    std::function<Result<std::shared_ptr<dist::WorkerClient>>(const std::string& address)>;

/// Stores the rows of `select_sql` (run on `connection`) as bucket `bucket` of `exchange`
/// on this worker, without serialising them.
using LocalBucketStore =
    std::function<Result<int64_t>(exec::Connection& connection, const std::string& exchange,
                                  int bucket, const std::string& select_sql)>;

struct BucketStats {
  int bucket = 0;
  int64_t rows = 0;
  int64_t ipc_bytes = 0;  ///< 0 when the bucket stayed on this worker
};

/// Runs `select_sql` on `connection` once (its rows land in a temporary table of that
/// connection), then sends every bucket of `target` to its owner: the buckets `self` owns
/// through `store`, the others through `peers`. Checks the target first (InvalidArgument).
Result<std::vector<BucketStats>> Shuffle(exec::Connection& connection,
                                         const std::string& select_sql,
                                         const v1::ShuffleTarget& target, const std::string& self,
                                         const ipc::WriteOptions& options,
                                         const PeerConnector& peers, const LocalBucketStore& store);

/// The SELECT that gives `stats` as rows (bucket INTEGER, rows BIGINT, ipc_bytes BIGINT).
std::string BucketStatsQuery(const std::vector<BucketStats>& stats);

}  // namespace dux::worker
