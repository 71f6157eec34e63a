// A query's lease on its workers (docs/cluster.md, "Leases"): what the workers hold for the
// query (running fragments, bucket and broadcast tables, writes in progress) names the lease,
// and a worker drops it once the lease has not been renewed within its --lease-timeout. While
// a LeaseRenewal lives, it renews its lease on every worker.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dux/coordinator/planner.h"
#include "dux/protocol/worker_client.h"

namespace dux::coordinator {

/// Renews one lease on every worker from threads of its own (one per worker, so that a
/// worker that hangs delays only its own renewals): at once, then every third of the lease
/// timeout the worker's reply gives. Why a call of its own rather than the query's calls:
/// between two stages no call may go to a worker for longer than a lease (a broadcast side
/// computed on the coordinator, another worker's long partition), while the worker holds
/// buckets of the query; the renewal is one small unary call per worker and third of a
/// timeout (30 s by default). A renewal that fails is tried again at the same pace; a worker
/// that lost the lease refuses the query's later calls, which fails the query cleanly.
/// Not copyable; the destructor stops the renewals and waits for calls in flight.
class LeaseRenewal {
 public:
  /// Starts renewing a new lease (a fresh id) on `workers`.
  static std::unique_ptr<LeaseRenewal> Start(
      const std::vector<std::shared_ptr<protocol::WorkerClient>>& workers);
  ~LeaseRenewal();
  LeaseRenewal(const LeaseRenewal&) = delete;
  LeaseRenewal& operator=(const LeaseRenewal&) = delete;

  const std::string& lease_id() const { return lease_id_; }

 private:
  explicit LeaseRenewal(std::string lease_id) : lease_id_(std::move(lease_id)) {}
  void Renew(protocol::WorkerClient* worker);

  const std::string lease_id_;
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mutex_
  std::vector<std::shared_ptr<protocol::WorkerClient>> workers_;
  std::vector<std::thread> threads_;  // last: they use the members above
};

/// ClusterOptions with a lease, and what keeps it alive.
struct LeasedOptions {
  ClusterOptions options;
  std::unique_ptr<LeaseRenewal> renewal;  ///< null when `options` came with a lease
};

/// `options` as they are when they name a lease already (a part of a query that holds one),
/// else with a new lease renewed while the result lives.
LeasedOptions WithLease(const ClusterOptions& options);

}  // namespace dux::coordinator
