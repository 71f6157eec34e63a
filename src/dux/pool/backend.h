// How a pool obtains workers (docs/deploy.md): a backend starts `dux worker` processes
// somewhere (this machine, Slurm jobs, a user's command) and stops them by the job id it gave.
// A started worker joins the pool's registry by itself; the backend does not watch it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dux/common/status.h"

namespace dux::pool {

/// One worker to start.
struct WorkerLaunch {
  std::string name;  ///< unique in the pool, e.g. "dux-pool-3f2a-7"; the worker joins with it
  /// The whole `dux worker ...` command line (argv[0] is the dux binary). It carries no
  /// secret: the token is in `token_file`.
  std::vector<std::string> argv;
  std::string registry;    ///< the pool's address, also in argv (--join)
  std::string token_file;  ///< a file holding the token, also in argv; empty: no token
};

class Backend {
 public:
  virtual ~Backend() = default;
  /// "local", "slurm", "command".
  virtual std::string name() const = 0;
  /// Starts the worker and returns its job id once the backend has accepted it (not once
  /// the worker is up: it shows that by joining). An error says why, with the backend's own
  /// message (a command's stderr, sbatch's answer).
  virtual Result<std::string> Start(const WorkerLaunch& launch) = 0;
  /// Stops the job; OK when it is already gone.
  virtual Status Stop(const std::string& job_id) = 0;
  /// The job ids of this pool's workers the backend still runs (started and not ended).
  virtual Result<std::vector<std::string>> List() = 0;
};

}  // namespace dux::pool
