// A real single-node Slurm cluster for a test (Debian slurm-wlm and munge; root only):
// munged on a private socket, slurmctld and slurmd in the foreground with a generated
// slurm.conf, all in a scratch directory and killed on destruction.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "child_process.h"

namespace dux::test {

class SlurmCluster {
 public:
  /// Starts the cluster in `dir` (which must outlive it, and whose parents the munge user
  /// must be able to search) and waits until its node is idle.
  /// nullptr, with `*why`, when Slurm or munge is missing or does not come up.
  static std::unique_ptr<SlurmCluster> Start(const std::filesystem::path& dir, std::string* why);
  ~SlurmCluster();

  /// What a Slurm command needs in its environment: SLURM_CONF.
  std::vector<std::pair<std::string, std::string>> environment() const;
  /// Runs a Slurm command (squeue, ...) to completion; its stdout.
  std::string Run(const std::vector<std::string>& argv) const;

 private:
  SlurmCluster() = default;
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> munged_, slurmctld_, slurmd_;
};

}  // namespace dux::test
