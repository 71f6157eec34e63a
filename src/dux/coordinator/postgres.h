// PostgreSQL in distributed runs (docs/postgres.md): the slices a partitioned read of a table
// is cut into, one per worker, and inserts that the workers make themselves.
#pragma once

#include <cstdint>
#include <string>

#include "dux/common/status.h"
#include "dux/coordinator/partitioner.h"
#include "dux/coordinator/planner.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/pg/connection.h"
#include "dux/pg/table_writer.h"
#include "dux/pipeline/pipeline.h"

namespace dux::coordinator {

/// The partitions of a read of PostgreSQL table `source` by `n_workers` workers: with
/// `partition_by` and more than one worker, one slice per worker (pg::SlicePredicate; the
/// method from the key's type: modulus for integer keys, hashtext otherwise), each partition
/// carrying its slice (PartitionPipeline puts it into the worker's source) and, for explain,
/// its predicate. Otherwise one partition, the whole table, read once by one worker. `pg` is
/// the coordinator's connection: it reads the catalog (and the key's bounds for kRange)
/// only, never rows. Errors are the catalog's (no such table or column) and name them.
Result<Partitioning> PartitionPostgres(pg::Connection& pg, const pipeline::AttachedSource& source,
                                       size_t n_workers);

/// Whether the workers can insert the rows of `plan` themselves: nothing is left for the
/// coordinator to do after the gather (no verbs to finish, no fold, no exchange), and no
/// broadcast table to register first (InsertFromWorkers runs the partitions itself).
bool WorkersCanInsert(const Plan& plan);

/// An insert_into a PostgreSQL table by the workers.
struct WorkerInsert {
  /// The sink's table as written ("pg.public.events"); workers find the attachment by it.
  std::string sink_table;
  /// The target (its `display_name` for messages); `create` and `atomic` as the sink says.
  pg::InsertTarget target;
  /// The pipeline's result schema (the coordinator's bind).
  pipeline::Schema schema;
};

/// Runs every partition of `plan` on its worker as an insert into `insert.target` and
/// returns the rows inserted. First, on the coordinator's connection `pg`, the checks (the
/// same one-line errors as a local insert, before any row moves) and, with `create` and
/// without `atomic`, the table. Each worker copies its rows in one transaction of its own
/// (v1::PostgresInsert); a failure names the worker, the rows it had sent and that its
/// transaction rolled back.
/// - Without `atomic`: each worker's share commits on its own. A failed share is not retried
///   (a worker that died right after its COMMIT would insert its rows twice), and the shares
///   that finished stay committed, unless the coordinator created the table: it drops it again.
/// - With `atomic`: every attempt loads a staging table of its own; once every partition has
///   succeeded (a failed attempt is retried once on another worker, as any partition), the
///   coordinator moves the successful attempts' rows into the target in one transaction. On
///   any failure every staging table is dropped and the target is unchanged.
/// Telemetry as the gather's (stage "insert").
Result<int64_t> InsertFromWorkers(exec::Connection& connection, const Plan& plan,
                                  const ClusterOptions& options, pg::Connection& pg,
                                  const WorkerInsert& insert);

/// What InsertFromWorkers runs, for explain.
std::string ExplainInsertFromWorkers(const WorkerInsert& insert, size_t n_partitions);

}  // namespace dux::coordinator
