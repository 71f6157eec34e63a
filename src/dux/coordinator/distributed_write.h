// Distributed file writes (docs/architecture.md section 4, "Writes"; docs/cluster.md): when a plan
// leaves the coordinator nothing to do after the gather, every task of its last stage writes
// its own part files into the target directory with the worker's Write call, and no row
// comes to the coordinator.
#pragma once

#include <string>

#include "dux/common/status.h"
#include "dux/coordinator/planner.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/sink_writer.h"
#include "dux/pipeline/pipeline.h"

namespace dux::coordinator {

/// Why the coordinator writes `sink` itself, after the gather; empty when the workers write
/// their own part files: a to_parquet, to_csv or to_ndjson directory write
/// (exec::WritesDirectory) of a plan that leaves nothing to finish after the gather (no
/// verbs, no fold; a hash stage is fine: its bucket owners write).
std::string CoordinatorWritesBecause(const Plan& plan, const pipeline::Sink& sink);

/// The lines of `dux explain` that say who writes `sink` and how.
std::string ExplainWrite(const Plan& plan, const pipeline::Sink& sink);

/// Runs `plan` (CoordinatorWritesBecause must be empty) with every task of its last stage
/// writing its part of `sink` on its worker: the files of task i are named
/// part-<i, 5 digits>-<query id>.<ext> (exec::PartFileName), in the hive directories of
/// partition_by, under a hidden temporary name per attempt, renamed when complete. A task
/// that fails on its worker's account is retried once elsewhere (GatherInto's queue and
/// rules); the retry removes what the failed attempt left, and writes the same names.
///
/// The contract: the target must be missing or an empty directory (checked before anything
/// runs). On success the report holds the rows and every file written, sorted; the files of
/// tasks that wrote no rows are removed, except one when no task wrote any (so that the
/// result's columns can be read back). On failure, once every worker's call has ended, the
/// coordinator removes every file of the query itself (renamed or temporary, of every
/// attempt), the hive directories left empty, and the target if the query created it: it
/// sees the target at the same path as the workers, as it sees their sources.
///
/// Telemetry: distributed.write.start (format, path) and distributed.write.stop (format,
/// path; n_files, rows, duration), around the usual fan-out events.
Result<exec::WriteReport> RunAndWrite(exec::Connection& connection, const Plan& plan,
                                      const ClusterOptions& options, const pipeline::Sink& sink);

}  // namespace dux::coordinator
