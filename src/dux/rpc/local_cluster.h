// Local workers: N `dux worker` processes on loopback for the life of one object (the
// embedded default, `dux run --local-workers N`, and tests).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "dux/protocol/worker_client.h"
#include "dux/rpc/transport.h"

namespace dux::rpc {

struct LocalClusterOptions {
  int workers = 2;
  /// DuckDB threads shared out among the workers (at least one each); 0: the machine's cores.
  int threads = 0;
  std::string memory_limit;  ///< per worker
  /// The `dux` binary; empty: $DUX_BINARY, else the running program if it is `dux`, else
  /// `dux` beside it.
  std::string binary;
  std::vector<std::string> extra_args;  ///< appended to each `dux worker` command line
};

class LocalCluster {
 public:
  /// Starts the workers and waits until each has printed its address. Fails (stopping the
  /// ones already started) if one cannot start. The workers inherit this process's
  /// environment, its AWS settings among it: they reach the S3 this process reaches
  /// (docs/s3.md, "Configuration").
  static Result<std::unique_ptr<LocalCluster>> Start(const LocalClusterOptions& options);
  /// Stops the workers: SIGTERM, then SIGKILL after a grace period.
  ~LocalCluster();

  const std::vector<std::shared_ptr<protocol::WorkerClient>>& clients() const { return clients_; }
  const std::vector<pid_t>& pids() const { return pids_; }
  const std::vector<std::string>& addresses() const { return addresses_; }

 private:
  LocalCluster() = default;
  std::vector<pid_t> pids_;
  std::vector<std::string> addresses_;
  std::vector<std::shared_ptr<protocol::WorkerClient>> clients_;
};

}  // namespace dux::rpc
