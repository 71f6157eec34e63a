// Adaptive partial aggregation (docs/cluster.md, "Adaptive partial aggregation"): a worker
// whose partial aggregate would hardly reduce its partition's rows skips it and sends each
// row as the partials of that row alone, which the merge after the exchange or the gather
// takes like any partials. The decision is the worker's own, from a sample of its rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/engine/local_engine.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/compiler.h"
#include "dux/v1/worker.pb.h"

namespace dux::worker {

/// Rows of its partition (after the scan stage) a worker samples to count their distinct
/// group keys: enough to tell a few thousand groups from one group a row, few enough to
/// read in milliseconds (a row group or two of a parquet file).
inline constexpr int64_t kPartialAggregationSampleRows = 100'000;

/// A worker keeps its partial aggregate when it is estimated to reduce the partition's rows
/// at least this many times. Below it, the partial aggregate costs a hash aggregate over all
/// the rows on the worker and still sends more than half of them (as wide as the rows, the
/// partials being the rows' own values), and the owners aggregate them once more: sending
/// the rows is cheaper (bench/h2o.sh q10, one row a group: BENCHMARKS.md). Above it, the
/// exchange shrinks enough to pay for the aggregate (q3 and q5, 50 rows a group per worker).
inline constexpr double kMinRowsPerGroup = 2;

/// What a worker measured of its partition.
struct PartialAggregationSample {
  int64_t rows = 0;        ///< rows sampled, at most kPartialAggregationSampleRows
  int64_t groups = 0;      ///< distinct group keys among them
  int64_t input_rows = 0;  ///< the partition's rows as read, before the scan stage's filters
};

struct PartialAggregationDecision {
  bool skip = false;
  /// The partition's rows per group: exact when the sample holds all its rows, else the
  /// input rows over the groups estimated from the sample (GroupsFromSample).
  double rows_per_group = 0;
};

/// Whether to skip the partial aggregate: when the rows per group are below
/// kMinRowsPerGroup. An empty sample keeps it. Input rows fewer than the sample (filters
/// cannot add rows; a stale count) count as the sample's.
PartialAggregationDecision DecidePartialAggregation(const PartialAggregationSample& sample);

/// The pipeline a worker that skips runs instead of `partial`, which ends in group_by +
/// summarise of partials and gives `partial_schema`: `partial` without those two verbs,
/// then the group keys and, under each partial's name, its `row_partials` expression cast
/// to that partial's type (in the same order: the rows union with other workers' partials
/// by position). InvalidArgument when `partial` does not end so or the counts differ.
Result<pipeline::Pipeline> RowPartialsPipeline(const pipeline::Pipeline& partial,
                                               const pipeline::Schema& partial_schema,
                                               const std::vector<std::string>& row_partials);

/// A worker's choice for a fragment with an AdaptivePartialAggregate.
struct PartialAggregationChoice {
  PartialAggregationDecision decision;
  PartialAggregationSample sample;
  /// What the fragment runs: `partial` compiled again, or its RowPartialsPipeline.
  sql::CompiledQuery query;
};

/// Samples `partial` (a parquet read, compiled on `engine` as `compiled`), decides and
/// compiles what to run. The sample: the distinct group keys among the first
/// kPartialAggregationSampleRows rows of the scan stage, and the input rows from the
/// parquet footers. Errors are those of the pipeline, as running it would meet them.
Result<PartialAggregationChoice> ChoosePartialAggregation(
    engine::LocalEngine* engine, const pipeline::Pipeline& partial,
    const sql::CompiledQuery& compiled, const v1::AdaptivePartialAggregate& adaptive);

}  // namespace dux::worker
