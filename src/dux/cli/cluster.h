// The workers a dux command runs on, from its flags: started locally (--local-workers),
// listed (--workers, $DUX_WORKERS) or asked of a registry (--registry, $DUX_REGISTRY).
#pragma once

#include <memory>
#include <vector>

#include "dux/api/session.h"
#include "dux/cli/commands.h"
#include "dux/rpc/local_cluster.h"

namespace dux::cli {

class Cluster {
 public:
  /// Null when the flags (and environment) name no workers: the command runs locally.
  /// Local workers share `threads` out among them and get `memory_limit` each.
  static Result<std::unique_ptr<Cluster>> Connect(const ClusterFlags& flags, int threads,
                                                  const std::string& memory_limit);
  ~Cluster();

  const std::vector<std::shared_ptr<protocol::WorkerClient>>& clients() const { return clients_; }
  /// The registry the workers came from (--registry, or the pool of --pool); empty for
  /// --workers and --local-workers.
  const std::string& registry() const { return registry_; }
  /// How to reach the workers and the registry (token, TLS).
  const rpc::ClientOptions& client_options() const { return client_; }

  /// Makes `session` run distributed on these workers; with --telemetry, its events go to
  /// stderr as JSON lines.
  void Apply(Session& session, const ClusterFlags& flags) const;

 private:
  Cluster() = default;
  std::unique_ptr<rpc::LocalCluster> local_;
  std::string registry_;
  rpc::ClientOptions client_;
  std::vector<std::shared_ptr<protocol::WorkerClient>> clients_;
};

}  // namespace dux::cli
