// Planning (planner.h): a pipeline's Plan, with the estimate of its groups that decides
// where a grouped aggregate is finalised, and the fragments and pipelines of its stages.
#include "dux/coordinator/planner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "dux/common/group_estimate.h"
#include "dux/common/unique_id.h"
#include "dux/coordinator/gather.h"
#include "dux/coordinator/joins.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/sql/group_sample.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {

using pipeline::Op;

namespace {

// Rows of the first file the estimate reads (DuckDB stops reading once it has them).
constexpr int64_t kEstimateSampleRows = 100'000;

// An estimate of the number of groups of `keys` after the first `scan_ops` verbs of `worker`,
// from the first kEstimateSampleRows rows of the first file of partition 0 of `partitioning`
// (see GroupsFromSample), with the total row count from the parquet footers. A heuristic: it
// decides only where the groups are finalised, never the result.
Result<int64_t> SampleGroups(sql::Binder* binder, const pipeline::Pipeline& worker, size_t scan_ops,
                             const Partitioning& partitioning,
                             const std::vector<std::string>& keys) {
  // The first partition's read (its hive key types pinned), of its first file only.
  pipeline::Source first = PartitionPipeline(worker, partitioning, 0).source();
  auto& read = std::get<pipeline::ParquetSource>(first.body);
  read.files.resize(1);
  std::erase_if(read.row_ranges, [&](const auto& r) { return r.file != read.files[0]; });
  pipeline::Pipeline sample(first);
  for (size_t i = 0; i < scan_ops; ++i) sample.Append(worker.ops()[i]);
  sql::Compiler compiler(binder);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, compiler.Compile(sample));
  DUX_ASSIGN_OR_RETURN(sql::TextRows rows, binder->QueryText(sql::CountGroupsOfFirstRows(
                                               keys, query.Sql(), kEstimateSampleRows)));
  double distinct = std::stod(rows[0][0].value_or("0"));
  double sampled = std::stod(rows[0][1].value_or("0"));
  // Few groups in the sample: they repeat, and the footers need not be read.
  double total = std::numeric_limits<double>::infinity();
  if (distinct * 2 > sampled) {
    std::set<std::string> files;  // a file split by row groups is in several partitions
    for (const auto& p : partitioning.partitions) files.insert(p.files.begin(), p.files.end());
    std::string list;
    for (const auto& f : files) list += (list.empty() ? "" : ", ") + sql::QuoteString(f);
    DUX_ASSIGN_OR_RETURN(sql::TextRows count,
                         binder->QueryText("SELECT CAST(sum(num_rows) AS VARCHAR) FROM "
                                           "parquet_file_metadata([" +
                                           list + "])"));
    total = std::stod(count[0][0].value_or("0"));
  }
  return static_cast<int64_t>(GroupsFromSample(distinct, sampled, total));
}

// Whether PlanScript estimates the groups of a split over `partitioning` (see there).
bool EstimatesGroups(const pipeline::Pipeline& p, const ClusterOptions& cluster,
                     const Partitioning& partitioning) {
  return cluster.disabled_rules.count("final_on_workers") == 0 && cluster.workers.size() > 1 &&
         std::holds_alternative<pipeline::ParquetSource>(p.source().body) &&
         partitioning.partitions.size() > 1 && !partitioning.partitions[0].files.empty();
}

// What SampleGroups will be asked before the split has said it: the verbs before the first
// group_by are the scan stage when a summarise follows that group_by and none of them is a
// join. Nothing when the pipeline has no such group_by. A wrong guess only asks statements the
// planning does not ask again (time on another connection), never changes the plan.
struct GroupSampleGuess {
  size_t scan_ops = 0;
  std::vector<std::string> keys;
};
std::optional<GroupSampleGuess> GuessGroupSample(const pipeline::Pipeline& p) {
  const std::vector<Op>& ops = p.ops();
  for (size_t i = 0; i + 1 < ops.size(); ++i) {
    if (std::holds_alternative<pipeline::JoinOp>(ops[i].body) ||
        std::holds_alternative<pipeline::AsofJoinOp>(ops[i].body)) {
      return std::nullopt;
    }
    if (auto* group = std::get_if<pipeline::GroupByOp>(&ops[i].body)) {
      if (!std::holds_alternative<pipeline::SummariseOp>(ops[i + 1].body)) return std::nullopt;
      return GroupSampleGuess{i, group->columns};
    }
  }
  return std::nullopt;
}

// Buckets per worker of a shuffle join: more buckets than workers, so that a skewed bucket
// holds less of the work (docs/architecture.md section 4).
constexpr int kJoinBucketsPerWorker = 4;

// The splitter's work on the pipeline after PlanJoins. With a shuffle join, the verbs
// before it are the left side's partitions' and the join is the first verb of the hash
// stage; the verbs after it are split again as after a scan stage (the join counted in it),
// without a second exchange.
Result<Split> SplitWithJoins(sql::Binder* binder, const JoinPlan& joins,
                             const sql::CompiledQuery& local, const ClusterOptions& cluster) {
  if (!joins.shuffle) {
    return SplitPipeline(binder, joins.pipeline, local.verb_schemas, cluster.disabled_rules,
                         joins.local_joins);
  }
  const JoinShuffle& js = *joins.shuffle;
  const auto& ops = joins.pipeline.ops();
  auto at = ops.begin() + static_cast<std::ptrdiff_t>(js.at);
  pipeline::Pipeline left(joins.pipeline.source());
  for (auto op = ops.begin(); op != at; ++op) left.Append(*op);
  if (!js.left_columns.empty()) left.Append(Op{pipeline::SelectOp{js.left_columns}, at->loc});
  DUX_ASSIGN_OR_RETURN(Split split, SplitPipeline(binder, left, local.verb_schemas,
                                                  cluster.disabled_rules, joins.local_joins));
  // The stand-in source is never read: the owners read their buckets instead.
  pipeline::Pipeline rest = pipeline::Pipeline::FromQuery("SELECT 1");
  for (auto op = at; op != ops.end(); ++op) rest.Append(*op);
  std::set<std::string> disabled = cluster.disabled_rules;
  disabled.insert({"shuffle_aggregate", "shuffle_window"});
  std::vector<pipeline::Schema> schemas(
      local.verb_schemas.begin() + static_cast<std::ptrdiff_t>(js.at), local.verb_schemas.end());
  DUX_ASSIGN_OR_RETURN(Split stage, SplitPipeline(binder, rest, schemas, disabled, {0}));
  split.hash_stage = HashStage{js.left_keys, stage.worker.ops(), "shuffle_join", js.key_types,
                               kJoinBucketsPerWorker};
  split.fold = std::move(stage.fold);
  split.finish = std::move(stage.finish);
  split.applied.push_back("shuffle_join");
  if (!js.left_columns.empty()) split.applied.push_back("projection");
  for (auto& rule : stage.applied) {
    if (rule != "scan_stage") split.applied.push_back(std::move(rule));
  }
  return split;
}

}  // namespace

Result<Plan> PlanScript(sql::Binder* binder, const pipeline::Script& script,
                        const sql::CompiledQuery& local, const ClusterOptions& cluster) {
  if (cluster.workers.empty()) return Status::InvalidArgument("no workers to distribute to");
  const pipeline::Pipeline& p = script.pipeline;
  Plan plan{pipeline::Script{{}, p, script.s3}, {}, {}, {}, {}, {}, -1, {}, {}, {}, {}, {}, {}};
  // Attached DuckDB files are the coordinator's: DuckDB lets one process hold a file, so a
  // query over them runs here. Other sources never read the attachments.
  if (std::holds_alternative<pipeline::QuerySource>(p.source().body) &&
      !script.attachments.empty()) {
    plan.coordinator_only = "from_query with attached databases (their files are held here)";
    return plan;
  }
  DUX_ASSIGN_OR_RETURN(plan.partitioning, PartitionSource(binder, p, cluster.workers.size()));
  const auto& parts = plan.partitioning.partitions;
  DUX_ASSIGN_OR_RETURN(JoinPlan joins, PlanJoins(binder, script, local, cluster, parts.size()));
  plan.broadcasts = std::move(joins.broadcasts);
  plan.join_notes = std::move(joins.notes);
  DUX_ASSIGN_OR_RETURN(Split split, SplitWithJoins(binder, joins, local, cluster));
  if (joins.shuffle) plan.shuffled_right = std::move(joins.shuffle->right);
  // The estimate samples the scan stage here, where broadcast tables do not exist, and the
  // aggregate must follow it (not a shuffle join).
  if (EstimatesGroups(p, cluster, plan.partitioning) && plan.broadcasts.empty() &&
      !split.hash_stage && !split.applied.empty() && split.applied.back() == "partial_aggregate") {
    if (auto* group = std::get_if<pipeline::GroupByOp>(&split.finish.front().body)) {
      DUX_ASSIGN_OR_RETURN(plan.estimated_groups, SampleGroups(binder, split.worker, split.scan_ops,
                                                               plan.partitioning, group->columns));
      if (plan.estimated_groups > cluster.final_on_workers_groups) {
        FinishAggregateOnWorkers(&split);
      }
    }
  }
  plan.worker_script.pipeline = std::move(split.worker);
  plan.hash_stage = std::move(split.hash_stage);
  plan.fold = std::move(split.fold);
  plan.finish = std::move(split.finish);
  plan.rules = std::move(split.applied);
  if (!joins.local_joins.empty()) {  // broadcast, registered or read by every worker
    plan.rules.insert(plan.rules.begin() + (plan.rules.empty() ? 0 : 1), "broadcast_join");
  }
  // The partial aggregate ends the partitions' pipeline (not a shuffle join's hash stage),
  // and each worker counts its partition's rows in the parquet footers.
  if (!split.row_partials.empty() && !plan.shuffled_right &&
      std::holds_alternative<pipeline::ParquetSource>(p.source().body)) {
    plan.row_partials = std::move(split.row_partials);
    plan.rules.push_back("adaptive_partial_aggregate");
  }
  // Partitions are already balanced by size, so partition i goes to worker i.
  for (size_t i = 0; i < parts.size(); ++i) plan.assignment.push_back(i);
  return plan;
}

std::vector<Prefetch> PlanningPrefetches(const pipeline::Pipeline& p,
                                         const ClusterOptions& cluster) {
  auto parquet = [](const pipeline::Pipeline& q) {
    return std::holds_alternative<pipeline::ParquetSource>(q.source().body);
  };
  // The calls PlanScript and PlanJoins make, with the same arguments, so that the same
  // statements are asked; what they plan is thrown away.
  size_t n = cluster.workers.size();
  std::vector<Prefetch> out;
  if (parquet(p)) {
    // The source's partitions, then the group estimate's sample of the first, which would
    // otherwise run alone after the split (6-9 ms of a one-shot H2O question).
    out.push_back([p, cluster, guess = GuessGroupSample(p)](sql::Binder* binder) {
      auto partitioning = PartitionSource(binder, p, cluster.workers.size());
      if (!partitioning.ok() || !guess || !EstimatesGroups(p, cluster, *partitioning)) return;
      (void)SampleGroups(binder, p, guess->scan_ops, *partitioning, guess->keys);
    });
  }
  for (const auto& op : p.ops()) {
    std::shared_ptr<const pipeline::Pipeline> right;
    if (auto* join = std::get_if<pipeline::JoinOp>(&op.body)) right = join->right;
    if (auto* asof = std::get_if<pipeline::AsofJoinOp>(&op.body)) right = asof->right;
    if (!right || !parquet(*right)) continue;
    out.push_back([right, n](sql::Binder* binder) {
      sql::Compiler compiler(binder);
      if (!compiler.Compile(*right).ok()) return;
      auto partitioning = PartitionSource(binder, *right, n);
      if (!partitioning.ok()) return;
      Plan side{pipeline::Script{{}, *right, {}}, {}, {}, {}, {}, {}, -1, {}, {}, {}, {}, {}, {}};
      side.partitioning = std::move(partitioning).value();
      (void)EstimateIpcBytes(binder, *right, side);
    });
  }
  return out;
}

v1::Fragment FragmentOf(const Plan& plan, const pipeline::Pipeline& pipeline,
                        const std::string& query_id) {
  v1::Fragment fragment;
  fragment.set_query_id(query_id);
  pipeline::ToProto(
      pipeline::Script{plan.worker_script.attachments, pipeline, plan.worker_script.s3},
      fragment.mutable_script());
  return fragment;
}

std::string BucketUnion(const std::vector<std::string>& exchange_ids,
                        const std::vector<int>& buckets) {
  std::string sql;
  for (const auto& exchange : exchange_ids) {
    for (int b : buckets) {
      sql += (sql.empty() ? "" : "\nUNION ALL ") + std::string("SELECT * FROM ") +
             sql::QuoteIdentifier(protocol::BucketTable(exchange, b));
    }
  }
  return sql;
}

pipeline::Pipeline StageOverInputs(const Plan& plan, const std::string& left_sql,
                                   const std::string& right_sql) {
  pipeline::Pipeline stage = pipeline::Pipeline::FromQuery(left_sql);
  const auto& ops = plan.hash_stage->ops;
  for (size_t i = 0; i < ops.size(); ++i) {
    stage.Append(i == 0 && plan.shuffled_right
                     ? WithRightSide(ops[0], pipeline::Pipeline::FromQuery(right_sql))
                     : ops[i]);
  }
  return stage;
}

v1::Fragment MakeFragment(const Plan& plan, size_t partition, const std::string& query_id) {
  v1::Fragment fragment = FragmentOf(
      plan, PartitionPipeline(plan.worker_script.pipeline, plan.partitioning, partition), query_id);
  for (const auto& row : plan.row_partials) {
    fragment.mutable_adaptive_partial_aggregate()->add_row_partials(row);
  }
  return fragment;
}

v1::Fragment MakeBucketFragment(const Plan& plan, const BucketInputs& inputs,
                                const std::string& query_id) {
  const auto& ops = plan.hash_stage->ops;
  if (!plan.shuffled_right || inputs.buckets.size() < 2) {
    return FragmentOf(plan,
                      StageOverInputs(plan, BucketUnion(inputs.left_exchanges, inputs.buckets),
                                      BucketUnion(inputs.right_exchanges, inputs.buckets)),
                      query_id);
  }
  // A join's buckets are joined one by one and their rows put together (concat_rows): a key's
  // rows are all in one bucket on both sides, so that is the same join. Several hash tables
  // of a few million rows each take DuckDB 10-20% less time than one of them all (bench/h2o
  // join q5: 5 million rows a side per worker), and spill less.
  auto joined = [&](int bucket) {
    pipeline::Pipeline p =
        pipeline::Pipeline::FromQuery(BucketUnion(inputs.left_exchanges, {bucket}));
    p.Append(WithRightSide(
        ops[0], pipeline::Pipeline::FromQuery(BucketUnion(inputs.right_exchanges, {bucket}))));
    return p;
  };
  pipeline::Pipeline stage = joined(inputs.buckets[0]);
  pipeline::ConcatRowsOp rest;
  for (size_t i = 1; i < inputs.buckets.size(); ++i) {
    rest.others.push_back(std::make_shared<const pipeline::Pipeline>(joined(inputs.buckets[i])));
  }
  stage.Append(pipeline::Op{std::move(rest), ops[0].loc});
  for (size_t i = 1; i < ops.size(); ++i) stage.Append(ops[i]);
  return FragmentOf(plan, stage, query_id);
}

pipeline::Pipeline FinishingPipeline(const Plan& plan, const pipeline::Pipeline& pipeline,
                                     const std::string& gathered) {
  // Folded partials carry no attempt column (see GatherInto).
  std::string columns =
      plan.fold ? std::string("*") : "* EXCLUDE (" + std::string(kAttemptColumn) + ")";
  // Folded to a row per group, the partials give the summarise's results row by row, in
  // place of its group_by and summarise (Fold::one_row_finals).
  size_t first = 0;
  if (plan.fold && !plan.fold->one_row_finals.empty()) {
    const size_t summarise =
        !plan.finish.empty() && std::holds_alternative<pipeline::GroupByOp>(plan.finish[0].body)
            ? 1
            : 0;
    if (summarise < plan.finish.size() &&
        std::holds_alternative<pipeline::SummariseOp>(plan.finish[summarise].body)) {
      first = summarise + 1;
      columns = sql::QuoteIdentifiers(plan.fold->keys);
      for (const auto& [name, value] : plan.fold->one_row_finals) {
        columns += (columns.empty() ? "" : ", ") + value + " AS " + sql::QuoteIdentifier(name);
      }
    }
  }
  pipeline::Pipeline finish = pipeline::Pipeline::FromQuery("SELECT " + columns + " FROM temp." +
                                                            sql::QuoteIdentifier(gathered));
  for (size_t i = first; i < plan.finish.size(); ++i) finish.Append(plan.finish[i]);
  if (pipeline.sink()) finish.SetSink(*pipeline.sink());
  return finish;
}

std::string NewQueryId() { return UniqueId('q'); }

}  // namespace dux::coordinator