// The `slurm` backend: each worker is a Slurm batch job (sbatch --wrap "exec dux worker ..."),
// stopped with scancel. The job's --time bounds its life even if the pool and the worker's own
// timeouts both fail.
#pragma once

#include <mutex>
#include <set>

#include "dux/pool/backend.h"

namespace dux::pool {

struct SlurmOptions {
  int cpus_per_task = 1;
  std::string mem;               ///< --mem, e.g. "2G"; empty: the cluster's default
  std::string time = "1:00:00";  ///< --time: the job's hard limit
  std::string partition;         ///< empty: the cluster's default
  std::string account;
  std::string log_dir;  ///< each job's output goes to LOG_DIR/NAME.log; empty: /dev/null
};

class SlurmBackend final : public Backend {
 public:
  explicit SlurmBackend(SlurmOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "slurm"; }
  Result<std::string> Start(const WorkerLaunch& launch) override;
  Status Stop(const std::string& job_id) override;
  /// The jobs it started that squeue still lists (pending or running).
  Result<std::vector<std::string>> List() override;

 private:
  SlurmOptions options_;
  std::mutex mu_;
  std::set<std::string> started_;
};

}  // namespace dux::pool
