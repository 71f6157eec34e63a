// Planning a pipeline for the workers (docs/architecture.md section 4): the options of a
// cluster, the Plan of a pipeline (the splitter decides what the workers run, the
// partitioner on which rows, the join planner how each join's sides meet), and the
// fragments and pipelines each of its stages runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/common/telemetry.h"
#include "dux/coordinator/partitioner.h"
#include "dux/coordinator/speculation.h"
#include "dux/coordinator/splitter.h"
#include "dux/pipeline/pipeline.h"
#include "dux/protocol/worker_client.h"
#include "dux/sql/compiler.h"

namespace dux::coordinator {

struct ClusterOptions {
  std::vector<std::shared_ptr<protocol::WorkerClient>> workers;
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
  /// The final_on_workers rule applies when a grouped aggregate's estimated number of groups
  /// is above this (see SampleGroups in planner.cc): below it, the coordinator merges
  /// the partials faster than an exchange between workers would.
  int64_t final_on_workers_groups = 1'000'000;
  /// A join's right side whose estimated Arrow IPC size is at most this many bytes is
  /// broadcast to every worker; a larger one is hash-exchanged with the left side. 0 never
  /// broadcasts a side that could be exchanged instead (see docs/cluster.md).
  int64_t broadcast_threshold = 256LL << 20;
  /// A broadcast side estimated at most this many bytes is not gathered from the workers.
  /// A bare parquet side (at most select, discard and rename after it) is read by every
  /// worker from its files inside its own fragment: no broadcast table, no round trip. Any
  /// other such side is read by the coordinator itself (its files are readable here, since
  /// planning read their footers) and registered. Both save round trips and a worker's
  /// fragment set-up for a side that takes a few milliseconds to read. 0 gathers every
  /// splittable side from the workers and registers it.
  int64_t small_side_bytes = 4LL << 20;
  /// A shuffle join's bucket is skewed when it holds more than 5 times the median bucket's
  /// rows and more than this many: its rows of one side are then spread over every worker.
  int64_t skew_floor_rows = 1'000'000;
  /// The lease every fragment and table of the running query names (docs/cluster.md,
  /// "Leases"); set by WithLease (lease_renewal.h) for the query's duration. Empty: the
  /// workers hold nothing under a lease.
  std::string lease_id;
  /// Speculative execution of stragglers (`dux run --speculation on`): a partition running
  /// much longer than its finished peers is started again on an idle worker, the first
  /// complete attempt wins. Off by default (see SpeculationPolicy).
  SpeculationPolicy speculation;
};

struct Plan;

/// A join's right side computed once, by its own plan, and registered on every worker as
/// `table` before the partitions run; the workers' join reads it there. Dropped from the
/// workers when the query ends, failed or not.
struct Broadcast {
  std::string table;
  pipeline::Pipeline side;
  std::shared_ptr<const Plan> plan;
};

/// The right side of a shuffle join: its own partitions, run to the end on the workers, are
/// hash-exchanged on `keys` into the same buckets as the left side's rows (on the hash
/// stage's keys, cast to the same types), so that each bucket owner joins its buckets.
struct ShuffledSide {
  std::shared_ptr<const Plan> plan;
  std::vector<std::string> keys;
};

/// What runs where for one pipeline.
struct Plan {
  /// The workers' part: the attachments and the pipeline without its sink. Each partition
  /// runs it with its files, row ranges and hive key types in the parquet source
  /// (PartitionPipeline).
  pipeline::Script worker_script;
  /// When set, the workers' rows are hash-exchanged between them and each worker runs the
  /// stage's verbs on the buckets it owns; those results are gathered.
  std::optional<HashStage> hash_stage;
  /// When set, the hash stage is a join (its first verb), and this is its right side.
  std::optional<ShuffledSide> shuffled_right;
  /// Right sides registered on every worker before the partitions run.
  std::vector<Broadcast> broadcasts;
  /// For explain: each join's strategy and the sizes that decided it.
  std::vector<std::string> join_notes;
  /// When set, the gather folds the workers' partial aggregates as they arrive.
  std::optional<Fold> fold;
  /// The estimate that decided final_on_workers (-1 when none was made).
  int64_t estimated_groups = -1;
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
  /// When not empty, each partition's fragment lets its worker skip its partial aggregate
  /// (the rule adaptive_partial_aggregate; Split::row_partials).
  std::vector<std::string> row_partials;
};

/// Plans `script` for the workers of `cluster`. `binder` (the coordinator's connection)
/// parses expressions and expands globs; `local` is the coordinator's compile of the pipeline.
Result<Plan> PlanScript(sql::Binder* binder, const pipeline::Script& script,
                        const sql::CompiledQuery& local, const ClusterOptions& cluster);

/// Runs on its binder some of the statements PlanScript will run; independent of the others.
using Prefetch = std::function<void(sql::Binder* binder)>;

/// The statements PlanScript will run about the parquet sources of `pipeline` and of its
/// joins' right sides (file lists, schemas, row groups, the sides' binds and sizes), one
/// prefetch per source. Run on other connections through binders that share a cache with
/// the planning one (sql::BindCache), they read the footers while the planning connection
/// binds the pipeline. Errors are left for the planning to meet.
std::vector<Prefetch> PlanningPrefetches(const pipeline::Pipeline& pipeline,
                                         const ClusterOptions& cluster);

/// What the coordinator runs once the workers' rows of `pipeline`'s plan are in the
/// temporary table `gathered`: the plan's finishing verbs, then the pipeline's sink.
pipeline::Pipeline FinishingPipeline(const Plan& plan, const pipeline::Pipeline& pipeline,
                                     const std::string& gathered);

/// The fragment a partition runs.
v1::Fragment MakeFragment(const Plan& plan, size_t partition, const std::string& query_id);

/// The tables a bucket owner reads: the union of the given buckets as pushed under each of
/// `exchange_ids` (one per producer), for the left and, for a join, the right side.
struct BucketInputs {
  std::vector<std::string> left_exchanges, right_exchanges;
  std::vector<int> buckets;
};

/// The hash stage as a bucket owner runs it, reading its rows from `left_sql` and, for a
/// shuffle join, the join's right side from `right_sql`.
pipeline::Pipeline StageOverInputs(const Plan& plan, const std::string& left_sql,
                                   const std::string& right_sql);

/// The fragment the owner of some buckets runs after a hash exchange: the plan's hash stage
/// over the union of those bucket tables (a join's right side over the right buckets).
v1::Fragment MakeBucketFragment(const Plan& plan, const BucketInputs& inputs,
                                const std::string& query_id);

/// The fragment that runs `pipeline` with the plan's attachments.
v1::Fragment FragmentOf(const Plan& plan, const pipeline::Pipeline& pipeline,
                        const std::string& query_id);

/// The SQL of the union of some buckets' tables as pushed under each of `exchange_ids`.
std::string BucketUnion(const std::vector<std::string>& exchange_ids,
                        const std::vector<int>& buckets);

/// A query id unique in this process and across coordinators (time, pid, counter).
std::string NewQueryId();

}  // namespace dux::coordinator