#include "dux/cli/cluster.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include "dux/cli/query_watch.h"
#include "dux/coordinator/planner.h"
#include "dux/pg/conninfo.h"
#include "dux/rpc/grpc_worker_client.h"
#include "dux/rpc/pool_service.h"
#include "dux/rpc/registry.h"

namespace dux::cli {

Result<std::unique_ptr<Cluster>> Cluster::Connect(const ClusterFlags& flags, int threads,
                                                  const std::string& memory_limit) {
  std::string workers = flags.workers;
  const std::string& registry = flags.registry;
  int ways = (flags.local_workers > 0) + !workers.empty() + !registry.empty() + !flags.pool.empty();
  if (ways == 0) return std::unique_ptr<Cluster>();
  if (ways > 1) {
    return Status::InvalidArgument(
        "give only one of --local-workers, --workers ($DUX_WORKERS), --registry "
        "($DUX_REGISTRY) and --pool ($DUX_POOL)");
  }
  rpc::ClientOptions client{flags.token, flags.tls_ca};
  // --timeout bounds every short call too (Info, DropTable, Cancel): a hung worker is named
  // within it, not after the default 30 s deadline of such calls.
  if (flags.timeout > 0) {
    client.call_timeout_seconds = std::min(client.call_timeout_seconds, flags.timeout);
  }
  auto cluster = std::unique_ptr<Cluster>(new Cluster());
  cluster->client_ = client;
  if (flags.local_workers > 0) {
    rpc::LocalClusterOptions local;
    local.workers = flags.local_workers;
    local.threads = threads;
    local.memory_limit = memory_limit;
    DUX_ASSIGN_OR_RETURN(cluster->local_, rpc::LocalCluster::Start(local));
    cluster->clients_ = cluster->local_->clients();
    return cluster;
  }
  if (!flags.pool.empty()) {
    cluster->registry_ = flags.pool;  // a pool is a registry: runs are reported to it
    DUX_ASSIGN_OR_RETURN(auto pool, rpc::PoolClient::Connect(flags.pool, client));
    DUX_ASSIGN_OR_RETURN(v1::SpinUpReply reply, pool->SpinUp(flags.workers_wanted));
    if (reply.addresses().empty()) {
      return Status::Unavailable("pool " + flags.pool + ": " + reply.shortfall());
    }
    // Runs with what it has, and says so.
    if (!reply.shortfall().empty()) {
      std::cerr << "dux: pool " << flags.pool << ": " << reply.shortfall() << "; running on "
                << reply.addresses_size() << "\n";
    }
    for (const auto& a : reply.addresses()) workers += (workers.empty() ? "" : ",") + a;
  } else if (!registry.empty()) {
    DUX_ASSIGN_OR_RETURN(auto addresses, rpc::ListRegisteredWorkers(registry, client));
    if (addresses.empty())
      return Status::Unavailable("registry " + registry + " knows no live worker");
    cluster->registry_ = registry;
    workers.clear();
    for (const auto& a : addresses) workers += (workers.empty() ? "" : ",") + a;
  }
  DUX_ASSIGN_OR_RETURN(cluster->clients_, rpc::ConnectWorkers(workers, client));
  return cluster;
}

Cluster::~Cluster() = default;

void Cluster::Apply(Session& session, const ClusterFlags& flags) const {
  coordinator::ClusterOptions options;
  options.workers = clients_;
  options.timeout_seconds = flags.timeout;
  options.speculation.enabled = flags.speculation == "on";
  if (flags.broadcast_threshold >= 0) options.broadcast_threshold = flags.broadcast_threshold;
  options.interrupted = QueryWatch::Interrupted();
  session.Distribute(std::move(options));
  if (flags.telemetry) {
    session.telemetry().Subscribe([](const Event& e) {
      static std::mutex mu;
      std::lock_guard lock(mu);
      std::cerr << pg::RedactText(ToJsonLine(e)) << std::endl;
    });
  }
}

}  // namespace dux::cli
