// The `local` backend: workers are processes of this machine, children of the pool.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <set>

#include "dux/pool/backend.h"

namespace dux::pool {

class LocalBackend final : public Backend {
 public:
  /// Stops every worker it started that is still running.
  ~LocalBackend() override;
  std::string name() const override { return "local"; }
  /// The job id is the process id.
  Result<std::string> Start(const WorkerLaunch& launch) override;
  /// SIGTERM, then SIGKILL after 10 s.
  Status Stop(const std::string& job_id) override;
  Result<std::vector<std::string>> List() override;

 private:
  void ReapLocked();
  std::mutex mu_;
  std::set<pid_t> running_;
};

}  // namespace dux::pool
