// An elastic pool of workers (docs/deploy.md): grows toward `max` while coordinators ask for
// more workers than it has, boots them concurrently through a Backend, and retires those idle
// longer than `idle_shutdown` (never below `min`). It does not talk gRPC: rpc/pool_service.h
// feeds it the registry's view (who joined) and each worker's load, and serves it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dux/common/status.h"
#include "dux/common/telemetry.h"
#include "dux/pool/backend.h"

namespace dux::pool {

struct PoolOptions {
  int min = 0;
  int max = 10;
  std::chrono::milliseconds idle_shutdown{300'000};
  std::chrono::milliseconds boot_timeout{30'000};
  /// The pool's address, which its workers join (--join).
  std::string registry;
  /// A file holding the token workers need (--token-file); empty: no token.
  std::string token_file;
  /// The worker command up to its pool flags: {dux, "worker", "--listen", "HOST:0", ...};
  /// the pool appends --join, --name, --token-file, --registry-timeout and --idle-exit.
  std::vector<std::string> worker_command;
  /// A worker exits by itself when it has not reached the pool for this long.
  std::chrono::milliseconds worker_registry_timeout{60'000};
  /// A worker exits by itself when idle this long and not retained (Retained); 0: 30 s
  /// more than idle_shutdown, so that the pool normally retires it first.
  std::chrono::milliseconds worker_idle_exit{0};
  /// How often the pool looks at its workers.
  std::chrono::milliseconds tick{200};
  const Telemetry* telemetry = nullptr;  ///< pool.grow.*, pool.worker.boot, pool.shrink
};

/// What the pool learns from outside (rpc/ supplies both; tests may fake them).
struct PoolProbes {
  /// The workers joined to the pool's registry: address -> the name they joined with
  /// (empty for a worker started by hand).
  std::function<std::map<std::string, std::string>()> joined;
  /// How many queries the worker at this address runs; an error when it cannot be asked.
  std::function<Result<int>(const std::string& address)> running_queries;
};

/// One worker, as `dux pool status` shows it.
struct PoolWorker {
  std::string name;     ///< empty for a worker started by hand
  std::string job_id;   ///< the backend's; empty for a worker started by hand
  std::string address;  ///< empty while booting
  std::string state;    ///< booting, idle, busy, draining
  double uptime_seconds = 0;
  double idle_seconds = 0;
};

struct SpinUpResult {
  std::vector<std::string> addresses;  ///< the live workers, at most as many as wanted
  /// Empty when as many as wanted are live; else why not (the boot timeout passed, the
  /// pool's max, the last boot error), in one line.
  std::string shortfall;
};

class Pool {
 public:
  static Result<std::unique_ptr<Pool>> Start(PoolOptions options, std::unique_ptr<Backend> backend,
                                             PoolProbes probes);
  /// Stops every worker the pool started.
  ~Pool();

  /// Asks for `n` live workers and waits until there are, or until the boot timeout has
  /// passed, or until every boot started for it has failed, or the pool is at its max.
  SpinUpResult SpinUp(int n);
  std::vector<PoolWorker> Workers();
  /// Keeps the worker at `address` from being retired while idle (the registry tells it so
  /// in its heartbeats; it exits by itself when idle and not retained).
  bool Retained(const std::string& address);
  const std::string& backend_name() const { return backend_name_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Managed;
  struct Growth;
  Pool(PoolOptions options, std::unique_ptr<Backend> backend, PoolProbes probes);
  void Loop();
  void TickLocked(std::unique_lock<std::mutex>& lock);
  /// Grows while more workers are asked for than are idle or booting (never beyond max),
  /// unless backing off after a failure: busy workers serve their queries, not a new one.
  void GrowIfWantedLocked(Clock::time_point now);
  void GrowLocked(int n);
  /// A boot ended: joined (OK) or failed.
  void BootDoneLocked(Managed& worker, const dux::Status& status);
  /// Marks the worker draining and stops its job (now, or when its Start returns).
  void RetireLocked(Managed& worker, const std::string& reason);
  void StopJobLocked(Managed& worker);
  /// Runs `task` on a thread of its own, joined once it has ended or at destruction.
  void SpawnLocked(std::function<void()> task);
  int LiveLocked() const;
  /// Live workers running no query (as last asked).
  int IdleLocked() const;
  /// A worker started by hand ran a query at the last look or the one before.
  static bool UnmanagedBusy(const std::pair<Clock::time_point, Clock::time_point>& seen);
  int WantedLocked() const;
  void Emit(Event event) const;

  PoolOptions options_;
  std::unique_ptr<Backend> backend_;
  std::string backend_name_;
  PoolProbes probes_;
  std::string prefix_;  ///< worker names: PREFIX-N
  int next_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::string, std::unique_ptr<Managed>> managed_;  ///< by name
  /// Workers started by hand: address -> when first seen, last busy.
  std::map<std::string, std::pair<Clock::time_point, Clock::time_point>> unmanaged_;
  std::multiset<int> demands_;  ///< what waiting SpinUp calls ask for
  bool wake_ = false;           ///< tick now, not at the next interval
  Clock::time_point last_load_;
  int boot_failures_ = 0;
  std::string last_boot_error_;
  std::chrono::milliseconds backoff_{0};
  Clock::time_point backoff_until_;
  struct Task {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Task> tasks_;  ///< backend calls in flight (starts and stops)
  std::thread loop_;
};

}  // namespace dux::pool
