// Join strategies (docs/architecture.md section 4): for the joins that follow a pipeline's scan
// stage, whether the right side is broadcast to every worker (each partition then joins its own
// rows), both sides are hash-exchanged on the keys (each bucket owner joins its buckets), or
// the coordinator joins after the gather, with the sizes that decided it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/coordinator/planner.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/binder.h"
#include "dux/sql/compiler.h"

namespace dux::coordinator {

/// A shuffle join at `at`: the verbs before it run on the left side's partitions, which
/// are exchanged on `left_keys`; `right` is exchanged on its keys into the same buckets.
struct JoinShuffle {
  size_t at = 0;
  std::vector<std::string> left_keys;
  /// One common type per key, or empty when both sides' key types are the same.
  std::vector<std::string> key_types;
  /// The right side's plan ends by selecting only the columns the join and the verbs after
  /// it need (rule projection); these are the left side's, or empty for all.
  ShuffledSide right;
  std::vector<std::string> left_columns;
};

struct JoinPlan {
  /// The pipeline with each broadcast join's right side replaced by its registered table.
  pipeline::Pipeline pipeline;
  /// Indices of the joins that each partition runs on its own (broadcast right sides).
  std::set<size_t> local_joins;
  std::vector<Broadcast> broadcasts;
  std::optional<JoinShuffle> shuffle;
  /// One line per join considered: strategy, sizes, reason.
  std::vector<std::string> notes;
};

/// Decides the strategy of the joins reached by the scan stage of `script`'s pipeline (whose
/// source is read as `left_partitions` partitions), planning each right side with
/// PlanScript. Joins after a shuffle join, or after a verb that needs the gather, stay where
/// the splitter puts them.
Result<JoinPlan> PlanJoins(sql::Binder* binder, const pipeline::Script& script,
                           const sql::CompiledQuery& local, const ClusterOptions& cluster,
                           size_t left_partitions);

/// `op` (a join or asof join) with `right` as its right side.
pipeline::Op WithRightSide(const pipeline::Op& op, pipeline::Pipeline right);

/// An estimate of the Arrow IPC bytes of `side` (planned as `plan`) before it runs: the
/// uncompressed size of its parquet files' column chunks (read from the footers), the size
/// of its CSV, NDJSON or Arrow files, or its literal rows; -1 when unknown (from_query,
/// attached tables). Filters and projections of the side are not counted: an upper bound.
Result<int64_t> EstimateIpcBytes(sql::Binder* binder, const pipeline::Pipeline& side,
                                 const Plan& plan);

}  // namespace dux::coordinator
