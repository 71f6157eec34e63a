// The coordinator, first version (DESIGN.md section 4): splits a pipeline into the part
// every worker runs on its partition and the part the coordinator finishes, fans the
// fragments out, and gathers the workers' Arrow IPC streams into one table.
//
// Only row-wise pipelines are split for now (filter, mutate, select, discard, rename,
// drop_nil, group_by/ungroup without grouped verbs); any other verb is refused with a clear
// error rather than answered wrongly from per-worker partials.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/dist/partitioner.h"
#include "dux/dist/telemetry.h"
#include "dux/dist/worker_client.h"
#include "dux/exec/connection.h"
#include "dux/pipeline/pipeline.h"

namespace dux::dist {

struct ClusterOptions {
  std::vector<std::shared_ptr<WorkerClient>> workers;
  /// Each worker's share must arrive within this many seconds; 0: no limit.
  double timeout_seconds = 0;
  /// IPC body compression of results: "", "lz4" or "zstd".
  std::string compression;
  /// Receives the fan-out, worker and merge events; may be null.
  const Telemetry* telemetry = nullptr;
  /// When it becomes true (Ctrl-C), the running query is cancelled on every worker; may be
  /// null. Polled every 100 ms.
  const std::atomic<bool>* interrupted = nullptr;
};

/// What runs where for one pipeline.
struct Plan {
  /// The workers' part: the attachments and the pipeline without its sink. Each partition
  /// runs it with its files in the parquet source.
  pipeline::Script worker_script;
  Partitioning partitioning;
  /// Index into ClusterOptions::workers for each partition.
  std::vector<size_t> assignment;
};

/// Plans `script` for `n_workers` workers. `binder` (the coordinator's connection) expands
/// globs. Fails, naming the verb, for a verb that cannot run distributed yet.
Result<Plan> PlanScript(sql::Binder* binder, const pipeline::Script& script, size_t n_workers);

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
