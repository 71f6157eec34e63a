#include "dux/coordinator/coordinator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <thread>

#include "dux/arrow_ipc/streams.h"
#include "dux/common/unique_id.h"
#include "dux/coordinator/gather.h"
#include "dux/coordinator/joins.h"
#include "dux/exec/arrow_export.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {

using pipeline::Op;
using Clock = std::chrono::steady_clock;

namespace {

// Rows of the first file the estimate reads (DuckDB stops reading once it has them).
constexpr int64_t kEstimateSampleRows = 100'000;

// The number of groups G that makes `distinct` the expected count of distinct keys in a
// sample of `sampled` rows drawn from G equally likely groups: distinct = G (1 - e^(-n/G)),
// solved by bisection (the right side grows with G). A sample with (nearly) every row a new
// group says the groups grow with the rows: `total`. Never above `total`.
double GroupsFromSample(double distinct, double sampled, double total) {
  if (sampled <= 0 || distinct <= 0) return 0;
  if (distinct >= sampled * 0.999) return total;
  auto expected = [&](double g) { return g * (1 - std::exp(-sampled / g)); };
  double low = distinct, high = std::min(std::max(total, distinct), sampled * sampled) * 1e3;
  for (int i = 0; i < 100 && high - low > 1; ++i) {
    double mid = (low + high) / 2;
    (expected(mid) < distinct ? low : high) = mid;
  }
  return std::min(low, std::max(total, distinct));
}

// An estimate of the number of groups of `keys` after the scan stage, from the first
// kEstimateSampleRows rows of the first partition's first file (see GroupsFromSample), with
// the total row count from the parquet footers. A heuristic: it decides only where the
// groups are finalised, never the result.
Result<int64_t> EstimateGroups(sql::Binder* binder, const Split& split, const Plan& plan,
                               const std::vector<std::string>& keys) {
  // The first partition's read (its hive key types pinned), of its first file only.
  pipeline::Source first = PartitionPipeline(split.worker, plan.partitioning, 0).source();
  auto& read = std::get<pipeline::ParquetSource>(first.body);
  read.files.resize(1);
  std::erase_if(read.row_ranges, [&](const auto& r) { return r.file != read.files[0]; });
  pipeline::Pipeline sample(first);
  for (size_t i = 0; i < split.scan_ops; ++i) sample.Append(split.worker.ops()[i]);
  sql::Compiler compiler(binder);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, compiler.Compile(sample));
  std::string hashed;
  for (const auto& k : keys) hashed += (hashed.empty() ? "" : ", ") + sql::QuoteIdentifier(k);
  DUX_ASSIGN_OR_RETURN(
      sql::TextRows rows,
      binder->QueryText(fmt::format("SELECT CAST(count(DISTINCT h) AS VARCHAR), "
                                    "CAST(count(*) AS VARCHAR) FROM (SELECT hash({}) AS h FROM "
                                    "({}\n) LIMIT {})",
                                    hashed, query.Sql(), kEstimateSampleRows)));
  double distinct = std::stod(rows[0][0].value_or("0"));
  double sampled = std::stod(rows[0][1].value_or("0"));
  // Few groups in the sample: they repeat, and the footers need not be read.
  double total = std::numeric_limits<double>::infinity();
  if (distinct * 2 > sampled) {
    std::set<std::string> files;  // a file split by row groups is in several partitions
    for (const auto& p : plan.partitioning.partitions) {
      files.insert(p.files.begin(), p.files.end());
    }
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
  Plan plan{pipeline::Script{{}, p}, {}, {}, {}, {}, {}, -1, {}, {}, {}, {}, {}};
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
  if (cluster.disabled_rules.count("final_on_workers") == 0 && cluster.workers.size() > 1 &&
      plan.broadcasts.empty() && !split.hash_stage && !split.applied.empty() &&
      split.applied.back() == "partial_aggregate" &&
      std::holds_alternative<pipeline::ParquetSource>(p.source().body) && parts.size() > 1 &&
      !parts[0].files.empty()) {
    if (auto* group = std::get_if<pipeline::GroupByOp>(&split.finish.front().body)) {
      DUX_ASSIGN_OR_RETURN(plan.estimated_groups,
                           EstimateGroups(binder, split, plan, group->columns));
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
    out.push_back([p, n](sql::Binder* binder) { (void)PartitionSource(binder, p, n); });
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
      Plan side{pipeline::Script{{}, *right}, {}, {}, {}, {}, {}, -1, {}, {}, {}, {}, {}};
      side.partitioning = std::move(partitioning).value();
      (void)EstimateIpcBytes(binder, *right, side);
    });
  }
  return out;
}

namespace {

// The fragment that runs `pipeline` with the plan's attachments.
v1::Fragment FragmentOf(const Plan& plan, const pipeline::Pipeline& pipeline,
                        const std::string& query_id) {
  v1::Fragment fragment;
  fragment.set_query_id(query_id);
  pipeline::ToProto(pipeline::Script{plan.worker_script.attachments, pipeline},
                    fragment.mutable_script());
  return fragment;
}

// The union of some buckets' tables as pushed under each exchange.
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

}  // namespace

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
  return FragmentOf(
      plan, PartitionPipeline(plan.worker_script.pipeline, plan.partitioning, partition), query_id);
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

namespace {

constexpr const char* kExchangeStatsTable = "__dux_exchange_stats";

// Tables a query creates on workers (exchange buckets, broadcast sides), dropped from them
// when it ends, failed or not.
class WorkerTables {
 public:
  explicit WorkerTables(const ClusterOptions& options) : options_(options) {}
  ~WorkerTables() {
    // One call per worker, all workers at once.
    std::map<size_t, v1::DropTableRequest> drops;
    for (const auto& [worker, table] : tables_) {
      drops[worker].set_if_exists(true);
      drops[worker].add_more_tables(table);
    }
    std::vector<std::thread> threads;
    for (const auto& [worker, drop] : drops) {
      // Best effort: a worker that has gone took its tables with it.
      threads.emplace_back([&, w = worker] { (void)options_.workers[w]->DropTable(drop); });
    }
    for (auto& thread : threads) thread.join();
  }
  void Add(size_t worker, std::string table) { tables_.emplace_back(worker, std::move(table)); }

 private:
  const ClusterOptions& options_;
  std::vector<std::pair<size_t, std::string>> tables_;
};

// Computes `side`, planned as `plan`, and writes its rows to `out` as an IPC stream: gathered
// from the workers and finished here, or all here when the plan says so. Returns the rows.
Result<int64_t> ComputeSide(exec::Connection& connection, const pipeline::Pipeline& side,
                            const Plan& plan, const ClusterOptions& options,
                            const std::string& table, arrow_ipc::OutputStream* out) {
  std::string gathered = table + "_gathered";
  pipeline::Pipeline query = side;
  if (plan.coordinator_only.empty()) {
    DUX_RETURN_NOT_OK(RunAndGather(connection, plan, options, gathered).status());
    query = FinishingPipeline(plan, side, gathered);
  }
  sql::Compiler compiler(&connection);
  auto compiled = compiler.Compile(query);
  Result<int64_t> rows =
      compiled.ok() ? exec::WriteQueryIpc(connection, compiled->Sql(), out, {}) : compiled.status();
  connection.DropTemporaryTable(gathered);
  return rows;
}

// Computes each broadcast side of `plan` (and of its shuffled right side) once and registers
// it on every worker, all workers at once from one encoding.
Status RegisterBroadcasts(exec::Connection& connection, const Plan& plan,
                          const ClusterOptions& options, WorkerTables* tables) {
  const Telemetry* t = options.telemetry;
  for (const auto& b : plan.broadcasts) {
    auto start = Clock::now();
    if (t) t->Emit({"distributed.broadcast.start", {}, {{"table", b.table}}});
    arrow_ipc::StringOutputStream out;
    DUX_ASSIGN_OR_RETURN(int64_t rows,
                         ComputeSide(connection, b.side, *b.plan, options, b.table, &out));
    const std::string& bytes = out.bytes();
    size_t n = options.workers.size();
    std::vector<Status> registered(n);
    std::vector<std::thread> threads;
    for (size_t w = 0; w < n; ++w) {
      tables->Add(w, b.table);
      threads.emplace_back([&, w] {
        arrow_ipc::StringInputStream in(bytes);
        registered[w] = options.workers[w]->RegisterTable(b.table, &in).status();
      });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& s : registered) DUX_RETURN_NOT_OK(s);
    if (t) {
      t->Emit({"distributed.broadcast.stop",
               {{"duration", std::chrono::duration<double>(Clock::now() - start).count()},
                {"rows", static_cast<double>(rows)},
                {"bytes", static_cast<double>(bytes.size())},
                {"n_workers", static_cast<double>(n)}},
               {{"table", b.table}}});
    }
  }
  if (plan.shuffled_right) {
    DUX_RETURN_NOT_OK(RegisterBroadcasts(connection, *plan.shuffled_right->plan, options, tables));
  }
  return Status::OK();
}

// One side's rows as they landed in the buckets of an exchange.
struct SideBuckets {
  std::vector<std::string> exchange_ids;  // one per producer that completed
  std::vector<int64_t> rows, bytes;       // per bucket, summed over producers
};

// Runs the partitions of `side` as producers of a hash exchange on `keys` into `target`'s
// buckets, under exchange ids "QUERY-TAG<partition>".
Result<SideBuckets> ProduceSide(exec::Connection& connection, const Plan& side,
                                const std::vector<std::string>& keys, v1::ShuffleTarget target,
                                const ClusterOptions& options, const std::string& query_id,
                                const char* tag, WorkerTables* tables) {
  size_t n_workers = options.workers.size();
  target.clear_keys();
  for (const auto& k : keys) target.add_keys(k);
  std::vector<GatherTask> producers;
  for (size_t i = 0; i < side.partitioning.partitions.size(); ++i) {
    GatherTask task{side.assignment[i],
                    MakeFragment(side, i, fmt::format("{}-{}s-{}", query_id, tag, i)), true,
                    fmt::format("partition {}", i)};
    target.set_exchange_id(fmt::format("{}-{}{}", query_id, tag, i));
    *task.fragment.mutable_shuffle() = target;
    // A retry pushes under another exchange id; both attempts' tables are dropped.
    for (const auto& id :
         {target.exchange_id(), RetryFragment(task.fragment).shuffle().exchange_id()}) {
      for (int b = 0; b < target.n_buckets(); ++b) {
        tables->Add(static_cast<size_t>(b) % n_workers, protocol::BucketTable(id, b));
      }
    }
    producers.push_back(std::move(task));
  }
  DUX_ASSIGN_OR_RETURN(GatherResult produced, GatherInto(connection, std::move(producers), options,
                                                         "exchange", kExchangeStatsTable));
  SideBuckets out;
  for (const auto& f : produced.completed) out.exchange_ids.push_back(f.shuffle().exchange_id());
  out.rows.assign(static_cast<size_t>(target.n_buckets()), 0);
  out.bytes = out.rows;
  auto stats = connection.QueryText(
      fmt::format("SELECT CAST(bucket AS VARCHAR), CAST(sum(rows) AS VARCHAR), "
                  "CAST(sum(ipc_bytes) AS VARCHAR) FROM temp.{} GROUP BY bucket",
                  kExchangeStatsTable));
  connection.DropTemporaryTable(kExchangeStatsTable);
  if (!stats.ok()) return stats.status();
  for (const auto& row : *stats) {
    size_t b = std::stoul(row[0].value_or("0"));
    if (b >= out.rows.size()) continue;
    out.rows[b] = std::stoll(row[1].value_or("0"));
    out.bytes[b] = std::stoll(row[2].value_or("0"));
  }
  return out;
}

int64_t Sum(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t{0});
}

// Which side of a shuffle join's skewed bucket may be spread over the workers, the other
// being replicated to each: never a side whose unmatched rows are kept (they would be kept
// once per worker). Inner joins spread the bigger side; full joins cannot be split.
enum class Spread { kNone, kLeft, kRight };
Spread SpreadSide(const Plan& plan, int64_t left_rows, int64_t right_rows) {
  const auto& op = plan.hash_stage->ops[0].body;
  auto* join = std::get_if<pipeline::JoinOp>(&op);
  if (!join) return Spread::kLeft;  // asof: each left row finds its match alone
  switch (join->how) {
    case pipeline::JoinHow::kInner:
      return right_rows > left_rows ? Spread::kRight : Spread::kLeft;
    case pipeline::JoinHow::kRight:
      return Spread::kRight;
    case pipeline::JoinHow::kFull:
      return Spread::kNone;
    default:
      return Spread::kLeft;
  }
}

constexpr const char* kSpreadColumn = "__dux_spread";

// For each bucket of a shuffle join that holds more than 5 x the median bucket's rows (and
// more than ClusterOptions::skew_floor_rows): reports it (distributed.shuffle.skew_detected)
// and, when the join allows, spreads its rows of one side over every worker (routed by row
// number) and replicates the other side's rows of it to each, all worker to worker. Returns
// the tasks that join those pieces, one per worker, and adds the split buckets to `split`.
Result<std::vector<GatherTask>> SplitSkewedBuckets(exec::Connection& connection, const Plan& plan,
                                                   const ClusterOptions& options,
                                                   const std::string& query_id,
                                                   const SideBuckets& left,
                                                   const SideBuckets& right, WorkerTables* tables,
                                                   std::set<int>* split) {
  std::vector<GatherTask> tasks;
  size_t n = options.workers.size();
  if (!plan.shuffled_right || n < 2) return tasks;
  std::vector<int64_t> rows(left.rows.size());
  for (size_t b = 0; b < rows.size(); ++b) rows[b] = left.rows[b] + right.rows[b];
  std::vector<int64_t> sorted = rows;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2),
                   sorted.end());
  int64_t median = sorted[sorted.size() / 2];
  std::vector<GatherTask> movers;  // the fragments that spread and replicate
  for (size_t b = 0; b < rows.size(); ++b) {
    if (rows[b] <= 5 * median || rows[b] <= options.skew_floor_rows) continue;
    Spread spread = SpreadSide(plan, left.rows[b], right.rows[b]);
    if (options.telemetry) {
      options.telemetry->Emit({"distributed.shuffle.skew_detected",
                               {{"bucket", static_cast<double>(b)},
                                {"rows", static_cast<double>(rows[b])},
                                {"median_rows", static_cast<double>(median)},
                                {"split_into", spread == Spread::kNone ? 1.0 : double(n)}},
                               {}});
    }
    if (spread == Spread::kNone) continue;
    int bucket = static_cast<int>(b);
    size_t owner = b % n;
    const SideBuckets& spread_side = spread == Spread::kLeft ? left : right;
    const SideBuckets& copied_side = spread == Spread::kLeft ? right : left;
    const auto& copied_keys =
        spread == Spread::kLeft ? plan.shuffled_right->keys : plan.hash_stage->keys;
    std::string spread_id = fmt::format("{}-k{}s", query_id, b);
    v1::ShuffleTarget spread_target;
    spread_target.set_exchange_id(spread_id);
    spread_target.add_keys(kSpreadColumn);
    spread_target.set_n_buckets(static_cast<int>(n));
    for (const auto& w : options.workers) spread_target.add_owners(w->address());
    GatherTask mover{
        owner,
        FragmentOf(plan,
                   pipeline::Pipeline::FromQuery(
                       "SELECT *, row_number() OVER () AS " + std::string(kSpreadColumn) +
                       " FROM (" + BucketUnion(spread_side.exchange_ids, {bucket}) + ")"),
                   spread_id),
        false, fmt::format("spreading bucket {}", b)};
    *mover.fragment.mutable_shuffle() = spread_target;
    movers.push_back(std::move(mover));
    std::string copied = BucketUnion(copied_side.exchange_ids, {bucket});
    for (size_t w = 0; w < n; ++w) {
      tables->Add(w, protocol::BucketTable(spread_id, static_cast<int>(w)));
      std::string pieces =
          fmt::format("SELECT * EXCLUDE ({}) FROM {}", kSpreadColumn,
                      sql::QuoteIdentifier(protocol::BucketTable(spread_id, static_cast<int>(w))));
      std::string others = copied;
      if (w != owner) {
        std::string copy_id = fmt::format("{}-k{}r{}", query_id, b, w);
        v1::ShuffleTarget copy_target;
        copy_target.set_exchange_id(copy_id);
        copy_target.add_keys(copied_keys[0]);
        copy_target.set_n_buckets(1);
        copy_target.add_owners(options.workers[w]->address());
        GatherTask copy{owner, FragmentOf(plan, pipeline::Pipeline::FromQuery(copied), copy_id),
                        false, fmt::format("replicating bucket {}", b)};
        *copy.fragment.mutable_shuffle() = copy_target;
        movers.push_back(std::move(copy));
        tables->Add(w, protocol::BucketTable(copy_id, 0));
        others = "SELECT * FROM " + sql::QuoteIdentifier(protocol::BucketTable(copy_id, 0));
      }
      tasks.push_back({w,
                       FragmentOf(plan,
                                  spread == Spread::kLeft ? StageOverInputs(plan, pieces, others)
                                                          : StageOverInputs(plan, others, pieces),
                                  fmt::format("{}-k{}-{}", query_id, b, w)),
                       false, fmt::format("piece {} of bucket {}", w, b)});
    }
    split->insert(bucket);
  }
  if (!movers.empty()) {
    DUX_RETURN_NOT_OK(
        GatherInto(connection, std::move(movers), options, "exchange", kExchangeStatsTable)
            .status());
    connection.DropTemporaryTable(kExchangeStatsTable);
  }
  return tasks;
}

// Runs the plan's partitions (and a shuffle join's right side's) as producers of its hash
// exchange, bucket b owned by worker b % n_workers, and returns the tasks that run the hash
// stage on every owner.
Result<std::vector<GatherTask>> RunExchange(exec::Connection& connection, const Plan& plan,
                                            const ClusterOptions& options,
                                            const std::string& query_id, WorkerTables* tables,
                                            int64_t* exchanged_bytes) {
  const Telemetry* t = options.telemetry;
  const HashStage& stage = *plan.hash_stage;
  auto start = Clock::now();
  size_t n_workers = options.workers.size();
  int n_buckets = static_cast<int>(n_workers) * stage.buckets_per_worker;
  v1::ShuffleTarget target;
  target.set_n_buckets(n_buckets);
  for (int b = 0; b < n_buckets; ++b) {
    target.add_owners(options.workers[static_cast<size_t>(b) % n_workers]->address());
  }
  for (const auto& type : stage.key_types) target.add_key_types(type);
  std::string keys = fmt::format("{}", fmt::join(stage.keys, ", "));
  if (t) {
    t->Emit({"distributed.shuffle.start",
             {{"n_buckets", static_cast<double>(n_buckets)}},
             {{"keys", keys}, {"rule", stage.rule}}});
  }
  DUX_ASSIGN_OR_RETURN(SideBuckets left, ProduceSide(connection, plan, stage.keys, target, options,
                                                     query_id, "p", tables));
  SideBuckets right;
  if (plan.shuffled_right) {
    DUX_ASSIGN_OR_RETURN(
        right, ProduceSide(connection, *plan.shuffled_right->plan, plan.shuffled_right->keys,
                           target, options, query_id, "r", tables));
  }
  *exchanged_bytes = Sum(left.bytes) + Sum(right.bytes);
  if (t) {
    int64_t largest = 0;
    for (size_t b = 0; b < left.rows.size(); ++b) {
      largest = std::max(largest, left.rows[b] + (right.rows.empty() ? 0 : right.rows[b]));
    }
    t->Emit({"distributed.shuffle.stop",
             {{"duration", std::chrono::duration<double>(Clock::now() - start).count()},
              {"rows", static_cast<double>(Sum(left.rows) + Sum(right.rows))},
              {"bytes", static_cast<double>(*exchanged_bytes)},
              {"largest_bucket_rows", static_cast<double>(largest)},
              {"n_buckets", static_cast<double>(n_buckets)}},
             {{"keys", keys}, {"rule", stage.rule}}});
  }
  std::set<int> split;
  DUX_ASSIGN_OR_RETURN(
      std::vector<GatherTask> owners,
      SplitSkewedBuckets(connection, plan, options, query_id, left, right, tables, &split));
  // The buckets live on their owners only: a failed owner cannot be replaced.
  for (size_t w = 0; w < n_workers; ++w) {
    BucketInputs inputs{left.exchange_ids, right.exchange_ids, {}};
    for (int b = static_cast<int>(w); b < n_buckets; b += static_cast<int>(n_workers)) {
      if (split.count(b) == 0) inputs.buckets.push_back(b);
    }
    if (inputs.buckets.empty()) continue;
    owners.push_back({w, MakeBucketFragment(plan, inputs, fmt::format("{}-s2-{}", query_id, w)),
                      false, fmt::format("buckets of worker {}", w)});
  }
  return owners;
}

}  // namespace

pipeline::Pipeline FinishingPipeline(const Plan& plan, const pipeline::Pipeline& pipeline,
                                     const std::string& gathered) {
  // Folded partials carry no attempt column (see GatherInto).
  pipeline::Pipeline finish = pipeline::Pipeline::FromQuery(
      "SELECT *" + (plan.fold ? std::string() : " EXCLUDE (" + std::string(kAttemptColumn) + ")") +
      " FROM temp." + sql::QuoteIdentifier(gathered));
  for (const auto& op : plan.finish) finish.Append(op);
  if (pipeline.sink()) finish.SetSink(*pipeline.sink());
  return finish;
}

namespace {

// Runs `plan`'s stages up to the last one, whose tasks `gather` runs (into a table, or to a
// consumer), with the fan-out and merge events around it.
Result<GatherReport> RunStages(
    exec::Connection& connection, const Plan& plan, const ClusterOptions& options,
    const LastStageHook& last_stage,
    const std::function<Result<GatherResult>(std::vector<GatherTask>)>& gather) {
  const Telemetry* t = options.telemetry;
  size_t n = plan.partitioning.partitions.size();
  if (t) {
    t->Emit({"distributed.fan_out.start",
             {{"n_workers", static_cast<double>(options.workers.size())},
              {"n_partitions", static_cast<double>(n)}},
             {}});
  }
  auto start = Clock::now();
  std::string query_id = NewQueryId();
  WorkerTables worker_tables(options);
  DUX_RETURN_NOT_OK(RegisterBroadcasts(connection, plan, options, &worker_tables));
  int64_t exchanged = 0;
  std::vector<GatherTask> tasks;
  if (plan.hash_stage) {
    DUX_ASSIGN_OR_RETURN(
        tasks, RunExchange(connection, plan, options, query_id, &worker_tables, &exchanged));
  } else {
    for (size_t i = 0; i < n; ++i) {
      tasks.push_back({plan.assignment[i], MakeFragment(plan, i, fmt::format("{}-{}", query_id, i)),
                       true, fmt::format("partition {}", i)});
    }
  }
  if (last_stage) DUX_RETURN_NOT_OK(last_stage(&tasks, query_id));
  if (t)
    t->Emit({"distributed.merge.start", {{"n_results", static_cast<double>(tasks.size())}}, {}});
  DUX_ASSIGN_OR_RETURN(GatherResult gathered, gather(std::move(tasks)));
  GatherReport report{gathered.rows, gathered.ipc_bytes, exchanged};
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (t) {
    t->Emit({"distributed.fan_out.stop", {{"duration", seconds}}, {}});
    t->Emit({"distributed.merge.stop",
             {{"rows", static_cast<double>(report.rows)},
              {"ipc_bytes", static_cast<double>(report.ipc_bytes)},
              {"exchanged_ipc_bytes", static_cast<double>(exchanged)}},
             {}});
  }
  return report;
}

}  // namespace

Result<GatherReport> RunAndGather(exec::Connection& connection, const Plan& plan,
                                  const ClusterOptions& options, const std::string& table,
                                  const LastStageHook& last_stage) {
  return RunStages(connection, plan, options, last_stage, [&](std::vector<GatherTask> tasks) {
    return GatherInto(connection, std::move(tasks), options, "gather", table,
                      plan.fold ? &*plan.fold : nullptr);
  });
}

bool StreamsToConsumer(const Plan& plan) {
  return plan.coordinator_only.empty() && !plan.fold && plan.finish.empty();
}

Result<GatherReport> RunAndConsume(exec::Connection& connection, const Plan& plan,
                                   const ClusterOptions& options, const RowConsumer& consume) {
  if (!StreamsToConsumer(plan)) {
    return Status::Internal("RunAndConsume: the plan leaves work to the coordinator");
  }
  return RunStages(connection, plan, options, nullptr, [&](std::vector<GatherTask> tasks) {
    return GatherTo(connection, std::move(tasks), options, "gather", consume);
  });
}

std::string NewQueryId() { return UniqueId('q'); }

}  // namespace dux::coordinator
