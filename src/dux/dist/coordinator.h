// The coordinator (DESIGN.md section 4): plans a pipeline (the splitter decides what the
// workers run, the partitioner on which rows), fans the fragments out, and gathers the
// workers' Arrow IPC streams into one table, where the coordinator finishes the pipeline.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/dist/partitioner.h"
#include "dux/dist/splitter.h"
#include "dux/dist/telemetry.h"
#include "dux/dist/worker_client.h"
#include "dux/exec/connection.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/compiler.h"

namespace dux::dist {

struct ClusterOptions {
  std::vector<std::shared_ptr<WorkerClient>> workers;
  /// Each worker's share must arrive within this many seconds; 0: no limit.
  double timeout_seconds = 0;
  /// IPC body compression of results: "", "lz4" or "zstd".
  std::string compression;
  /// Receives the fan-out, worker and merge events; may be null.
  const Telemetry* telemetry = nullptr;
  /// Splitter rules not to apply (see SplitRules()).
  std::set<std::string> disabled_rules;
  /// When it becomes true (Ctrl-C), the running query is cancelled on every worker; may be
  /// null. Polled every 100 ms.
  const std::atomic<bool>* interrupted = nullptr;
};

/// What runs where for one pipeline.
struct Plan {
  /// The workers' part: the attachments and the pipeline without its sink. Each partition
  /// runs it with its files in the parquet source.
  pipeline::Script worker_script;
  /// The verbs the coordinator runs on the gathered rows (then the sink).
  std::vector<pipeline::Op> finish;
  /// The splitter rules that applied.
  std::vector<std::string> rules;
  /// When not empty, why the whole pipeline runs on the coordinator instead (nothing is
  /// sent to the workers).
  std::string coordinator_only;
  Partitioning partitioning;
  /// Index into ClusterOptions::workers for each partition.
  std::vector<size_t> assignment;
};

/// Plans `script` for `n_workers` workers. `binder` (the coordinator's connection) parses
/// expressions and expands globs; `local` is the coordinator's compile of the pipeline.
Result<Plan> PlanScript(sql::Binder* binder, const pipeline::Script& script,
                        const sql::CompiledQuery& local, size_t n_workers,
                        const std::set<std::string>& disabled_rules = {});

/// The fragment a partition runs.
v1::Fragment MakeFragment(const Plan& plan, size_t partition, const std::string& query_id);

struct GatherReport {
  int64_t rows = 0;
  int64_t ipc_bytes = 0;
};

/// Runs every partition of `plan` on its worker and loads all the rows they return into the
/// new TEMPORARY table `table` of `connection`, batches in arrival order. Any worker's
/// failure (or silence past the timeout) fails the whole call with the worker's address and
/// its error; the other workers' queries are cancelled and the table is not created.
Result<GatherReport> RunAndGather(exec::Connection& connection, const Plan& plan,
                                  const ClusterOptions& options, const std::string& table);

/// A query id unique in this process and across coordinators (time, pid, counter).
std::string NewQueryId();

}  // namespace dux::dist
