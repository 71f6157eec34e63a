#include "dux/dist/coordinator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "dux/dist/gather.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/sql/quote.h"

namespace dux::dist {

using pipeline::Op;
using Clock = std::chrono::steady_clock;

namespace {}  // namespace

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

}  // namespace

Result<Plan> PlanScript(sql::Binder* binder, const pipeline::Script& script,
                        const sql::CompiledQuery& local, const ClusterOptions& cluster) {
  if (cluster.workers.empty()) return Status::InvalidArgument("no workers to distribute to");
  const pipeline::Pipeline& p = script.pipeline;
  Plan plan{pipeline::Script{{}, p}, std::nullopt, std::nullopt, -1, {}, {}, {}, {}, {}};
  // Attached DuckDB files are the coordinator's: DuckDB lets one process hold a file, so a
  // query over them runs here. Other sources never read the attachments.
  if (std::holds_alternative<pipeline::QuerySource>(p.source().body) &&
      !script.attachments.empty()) {
    plan.coordinator_only = "from_query with attached databases (their files are held here)";
    return plan;
  }
  DUX_ASSIGN_OR_RETURN(Split split,
                       SplitPipeline(binder, p, local.verb_schemas, cluster.disabled_rules));
  DUX_ASSIGN_OR_RETURN(plan.partitioning, PartitionSource(binder, p, cluster.workers.size()));
  const auto& parts = plan.partitioning.partitions;
  if (cluster.disabled_rules.count("final_on_workers") == 0 && cluster.workers.size() > 1 &&
      !split.applied.empty() && split.applied.back() == "partial_aggregate" &&
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
  // Partitions are already balanced by size, so partition i goes to worker i.
  for (size_t i = 0; i < parts.size(); ++i) plan.assignment.push_back(i);
  return plan;
}

v1::Fragment MakeFragment(const Plan& plan, size_t partition, const std::string& query_id) {
  v1::Fragment fragment;
  fragment.set_query_id(query_id);
  pipeline::Script script{
      plan.worker_script.attachments,
      PartitionPipeline(plan.worker_script.pipeline, plan.partitioning, partition)};
  pipeline::ToProto(script, fragment.mutable_script());
  return fragment;
}

v1::Fragment MakeBucketFragment(const Plan& plan, const std::vector<std::string>& exchange_ids,
                                const std::vector<int>& buckets, const std::string& query_id) {
  std::string sql;
  for (const auto& exchange : exchange_ids) {
    for (int b : buckets) {
      sql += (sql.empty() ? "" : "\nUNION ALL ") + std::string("SELECT * FROM ") +
             sql::QuoteIdentifier(BucketTable(exchange, b));
    }
  }
  pipeline::Pipeline stage = pipeline::Pipeline::FromQuery(sql);
  for (const auto& op : plan.hash_stage->ops) stage.Append(op);
  v1::Fragment fragment;
  fragment.set_query_id(query_id);
  pipeline::ToProto(pipeline::Script{plan.worker_script.attachments, stage},
                    fragment.mutable_script());
  return fragment;
}

namespace {

constexpr const char* kExchangeStatsTable = "__dux_exchange_stats";

// The bucket tables of one query's exchange, dropped from their owners when it ends.
class ExchangeTables {
 public:
  explicit ExchangeTables(const ClusterOptions& options) : options_(options) {}
  ~ExchangeTables() {
    for (const auto& [worker, table] : tables_) {
      v1::DropTableRequest drop;
      drop.set_table(table);
      drop.set_if_exists(true);
      // Best effort: a worker that has gone took its tables with it.
      (void)options_.workers[worker]->DropTable(drop);
    }
  }
  void Add(size_t worker, std::string table) { tables_.emplace_back(worker, std::move(table)); }

 private:
  const ClusterOptions& options_;
  std::vector<std::pair<size_t, std::string>> tables_;
};

// Runs the plan's partitions as producers of its hash exchange (bucket b owned by worker b)
// and returns the tasks that run the hash stage on every owner.
Result<std::vector<GatherTask>> RunExchange(exec::Connection& connection, const Plan& plan,
                                            const ClusterOptions& options,
                                            const std::string& query_id, ExchangeTables* tables,
                                            int64_t* exchanged_bytes) {
  const Telemetry* t = options.telemetry;
  auto start = Clock::now();
  size_t n_workers = options.workers.size();
  v1::ShuffleTarget target;
  for (const auto& k : plan.hash_stage->keys) target.add_keys(k);
  target.set_n_buckets(static_cast<int>(n_workers));
  for (const auto& w : options.workers) target.add_owners(w->address());
  std::string keys = fmt::format("{}", fmt::join(plan.hash_stage->keys, ", "));
  if (t) {
    t->Emit({"distributed.shuffle.start",
             {{"n_buckets", static_cast<double>(n_workers)}},
             {{"keys", keys}, {"rule", plan.hash_stage->rule}}});
  }
  std::vector<GatherTask> producers;
  for (size_t i = 0; i < plan.partitioning.partitions.size(); ++i) {
    GatherTask task{plan.assignment[i], MakeFragment(plan, i, fmt::format("{}-s1-{}", query_id, i)),
                    true, fmt::format("partition {}", i)};
    target.set_exchange_id(fmt::format("{}-p{}", query_id, i));
    *task.fragment.mutable_shuffle() = target;
    // A retry pushes under another exchange id; both attempts' tables are dropped.
    for (const auto& id :
         {target.exchange_id(), RetryFragment(task.fragment).shuffle().exchange_id()}) {
      for (size_t b = 0; b < n_workers; ++b) tables->Add(b, BucketTable(id, static_cast<int>(b)));
    }
    producers.push_back(std::move(task));
  }
  DUX_ASSIGN_OR_RETURN(GatherResult produced, GatherInto(connection, std::move(producers), options,
                                                         "exchange", kExchangeStatsTable));
  std::vector<std::string> exchange_ids;
  for (const auto& f : produced.completed) exchange_ids.push_back(f.shuffle().exchange_id());
  DUX_ASSIGN_OR_RETURN(
      sql::TextRows stats,
      connection.QueryText(fmt::format(
          "SELECT CAST(sum(rows) AS VARCHAR), CAST(sum(ipc_bytes) AS VARCHAR), "
          "CAST(max(rows) AS VARCHAR) FROM (SELECT bucket, sum(rows) AS rows, sum(ipc_bytes) "
          "AS ipc_bytes FROM temp.{} GROUP BY bucket)",
          kExchangeStatsTable)));
  (void)connection.Execute(std::string("DROP TABLE IF EXISTS temp.") + kExchangeStatsTable);
  *exchanged_bytes = std::stoll(stats[0][1].value_or("0"));
  if (t) {
    t->Emit({"distributed.shuffle.stop",
             {{"duration", std::chrono::duration<double>(Clock::now() - start).count()},
              {"rows", std::stod(stats[0][0].value_or("0"))},
              {"bytes", static_cast<double>(*exchanged_bytes)},
              {"largest_bucket_rows", std::stod(stats[0][2].value_or("0"))},
              {"n_buckets", static_cast<double>(n_workers)}},
             {{"keys", keys}, {"rule", plan.hash_stage->rule}}});
  }
  // The buckets live on their owners only: a failed owner cannot be replaced.
  std::vector<GatherTask> owners;
  for (size_t w = 0; w < n_workers; ++w) {
    owners.push_back({w,
                      MakeBucketFragment(plan, exchange_ids, {static_cast<int>(w)},
                                         fmt::format("{}-s2-{}", query_id, w)),
                      false, fmt::format("bucket {}", w)});
  }
  return owners;
}

}  // namespace

Result<GatherReport> RunAndGather(exec::Connection& connection, const Plan& plan,
                                  const ClusterOptions& options, const std::string& table,
                                  const LastStageHook& last_stage) {
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
  ExchangeTables exchange_tables(options);
  int64_t exchanged = 0;
  std::vector<GatherTask> tasks;
  if (plan.hash_stage) {
    DUX_ASSIGN_OR_RETURN(
        tasks, RunExchange(connection, plan, options, query_id, &exchange_tables, &exchanged));
  } else {
    for (size_t i = 0; i < n; ++i) {
      tasks.push_back({plan.assignment[i], MakeFragment(plan, i, fmt::format("{}-{}", query_id, i)),
                       true, fmt::format("partition {}", i)});
    }
  }
  if (last_stage) DUX_RETURN_NOT_OK(last_stage(&tasks, query_id));
  if (t)
    t->Emit({"distributed.merge.start", {{"n_results", static_cast<double>(tasks.size())}}, {}});
  DUX_ASSIGN_OR_RETURN(GatherResult gathered,
                       GatherInto(connection, std::move(tasks), options, "gather", table,
                                  plan.fold ? &*plan.fold : nullptr));
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

std::string BucketTable(const std::string& exchange_id, int bucket) {
  return fmt::format("__dux_exchange_{}_{}", exchange_id, bucket);
}

std::string NewQueryId() {
  static std::atomic<uint64_t> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return fmt::format("q{:x}-{:x}-{}",
                     std::chrono::duration_cast<std::chrono::microseconds>(now).count(),
                     static_cast<unsigned>(getpid()), counter++);
}

}  // namespace dux::dist
