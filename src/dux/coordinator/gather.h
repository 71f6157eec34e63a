// The gather (docs/architecture.md section 4): runs fragments on workers, all at once, and streams
// the Arrow batches they return, in arrival order, into one table of the coordinator. A failed
// fragment is retried once on another live worker without duplicating or losing a row.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/coordinator/planner.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/v1/worker.pb.h"

namespace dux::coordinator {

/// One fragment to run, first on `worker` (an index into ClusterOptions::workers).
struct GatherTask {
  size_t worker;
  v1::Fragment fragment;
  /// Whether another worker may run it when `worker` fails: false when its input lives only
  /// on that worker (an exchange's buckets).
  bool retryable = true;
  /// Names the task in errors and events ("partition 2").
  std::string label;
  /// How an attempt starts on a worker; Execute when empty. Another call (Write, see
  /// distributed_write.h) plugs in here by returning its reply as a result stream.
  std::function<Result<std::unique_ptr<protocol::ResultStream>>(protocol::WorkerClient&,
                                                                const v1::ExecuteRequest&)>
      start = nullptr;
};

struct GatherResult {
  int64_t rows = 0;
  int64_t ipc_bytes = 0;
  /// The fragment each task's rows came from: its own, the retry's or the speculative
  /// attempt's (a new query id, and a new exchange id for a shuffle; see AttemptFragment).
  std::vector<v1::Fragment> completed;
  /// The worker (an index into ClusterOptions::workers) whose attempt completed each task.
  std::vector<size_t> completed_on;
  /// Speculative attempts started, and how many of them won (see ClusterOptions::speculation).
  int speculated = 0;
  int speculation_won = 0;
};

/// The attempts a task may have, each with its own tag in kAttemptColumn (task x
/// kAttemptKinds + kind), its own query id and, for a shuffle, its own exchange id: the
/// first, one retry after a failure, and one speculative attempt started beside a straggler.
enum class AttemptKind : int { kFirst = 0, kRetry = 1, kSpeculative = 2 };
constexpr int kAttemptKinds = 3;

/// The column every gathered row carries: which attempt of which task delivered it. A retry
/// deletes the rows of the failed attempt, so none is counted twice; readers of the table
/// exclude it.
constexpr const char* kAttemptColumn = "__dux_attempt";

/// Every attempt of a task emits partition.start, partition.progress (from the worker's
/// reports) and distributed.worker.stop (with the worker's stats when it sends them), each
/// naming `stage` (docs/observability.md).
///
/// Runs the tasks and loads their rows into the new TEMPORARY table `table` of `connection`
/// (plus kAttemptColumn). A task that fails on a worker's account (unreachable, lost, an
/// internal or IO error) is retried once on the next worker that answers Health (event
/// `partition.retry`); a mistake in the pipeline, a cancellation or the timeout is not. The
/// first final failure cancels every other task and fails the call, naming the task, the
/// worker and the error; the table is then not created.
/// With ClusterOptions::speculation on, a retryable task that runs much longer than its
/// finished peers (StragglerWatch) is started again on an idle worker (event
/// `partition.speculate`); the first attempt to complete wins (`partition.speculate.stop`),
/// the other is cancelled, and only the winner's rows stay in the table.
/// With `fold`, the rows are folded across tasks on the way in (see Fold) and the table holds
/// the folded rows, without kAttemptColumn; a task that fails after delivering rows is then
/// not retried (its rows cannot be told apart any more), and nothing is speculated.
Result<GatherResult> GatherInto(exec::Connection& connection, std::vector<GatherTask> tasks,
                                const ClusterOptions& options, const std::string& stage,
                                const std::string& table, const Fold* fold = nullptr);

/// Runs a SELECT (given as its text) exactly once on the connection it was given for, and
/// returns the rows it produced.
using RowConsumer = std::function<Result<int64_t>(const std::string& select)>;

/// Runs the tasks and hands `consume` a SELECT over their rows (without kAttemptColumn) that
/// reads the batches as they arrive: a COPY of it writes the first rows while workers still
/// run. Since rows once consumed cannot be taken back, a task that fails after delivering
/// rows is not retried: the call fails. One that fails before is retried as by GatherInto.
/// Nothing is speculated (two attempts' rows would both reach the consumer).
/// When `consume` fails (say, its reader went away), the workers' fragments are cancelled.
Result<GatherResult> GatherTo(exec::Connection& connection, std::vector<GatherTask> tasks,
                              const ClusterOptions& options, const std::string& stage,
                              const RowConsumer& consume);

/// The SELECT that folds the rows of `select` (gathered partials).
std::string FoldQuery(const Fold& fold, const std::string& select);

/// The fragment an attempt of kind `kind` of a task runs: the task's own for the first;
/// otherwise another query id and, for a shuffle, another exchange id (suffixed "-retry" or
/// "-spec"), so that another attempt's buckets are never read.
v1::Fragment AttemptFragment(const v1::Fragment& fragment, AttemptKind kind);

/// The fragment a retry runs: AttemptFragment(fragment, AttemptKind::kRetry).
v1::Fragment RetryFragment(const v1::Fragment& fragment);

/// A worker's out-of-memory error (ResourceExhausted, which names the worker and its limits)
/// with the stage and task it happened in appended, so that its one line says where the
/// query ran out of memory; any other status unchanged.
Status InStage(const Status& s, const std::string& stage, const std::string& task);

}  // namespace dux::coordinator
