// Running a Plan on the workers: its stages fanned out (broadcast sides registered, a hash
// exchange and its skewed buckets, then the partitions or the bucket owners), and the rows
// of the last stage gathered into one table or handed on as they arrive.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/coordinator/planner.h"
#include "dux/exec/duckdb_connection.h"

namespace dux::coordinator {

struct GatherReport {
  int64_t rows = 0;
  /// Bytes of Arrow IPC that reached the coordinator, and that moved between workers.
  int64_t ipc_bytes = 0;
  int64_t exchanged_ipc_bytes = 0;
};

struct GatherTask;

/// Changes the tasks of a plan's last stage (the partitions, or the bucket owners after a
/// hash exchange) before they run; gets the query's id. Distributed writes
/// (distributed_write.h) make them write instead of returning their rows.
using LastStageHook =
    std::function<Status(std::vector<GatherTask>* tasks, const std::string& query_id)>;

/// Runs every partition of `plan` on its worker (and then the hash stage, if any, on every
/// worker) and loads all the rows they return into the new TEMPORARY table `table` of
/// `connection`, batches in arrival order. An exchange's bucket tables are dropped from the
/// workers when the call ends, failed or not. Any worker's
/// failure (or silence past the timeout) fails the whole call with the worker's address and
/// its error; the other workers' queries are cancelled and the table is not created.
/// `last_stage`, when given, adapts the last stage's tasks first.
Result<GatherReport> RunAndGather(exec::Connection& connection, const Plan& plan,
                                  const ClusterOptions& options, const std::string& table,
                                  const LastStageHook& last_stage = nullptr);

/// Whether the workers' rows of `plan` are the result as they are (no fold, no verb after the
/// gather), so that RunAndConsume can hand them on as they arrive.
bool StreamsToConsumer(const Plan& plan);

/// Runs `plan` as RunAndGather does, but hands its rows to `consume` as they arrive (see
/// GatherTo: a partition that fails after delivering rows fails the call) instead of loading
/// them into a table. Only for a plan that StreamsToConsumer.
Result<GatherReport> RunAndConsume(
    exec::Connection& connection, const Plan& plan, const ClusterOptions& options,
    const std::function<Result<int64_t>(const std::string&)>& consume);

}  // namespace dux::coordinator
