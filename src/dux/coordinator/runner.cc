// Running a plan (runner.h): broadcast sides computed and registered on every worker, the
// producers of a hash exchange and its skewed buckets, the last stage's tasks, and the
// fan-out and merge events around them.
#include "dux/coordinator/runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <set>
#include <thread>

#include "dux/arrow_ipc/streams.h"
#include "dux/coordinator/gather.h"
#include "dux/coordinator/lease_renewal.h"
#include "dux/coordinator/stage_events.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/memory_size.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {

using Clock = std::chrono::steady_clock;

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
      drops[worker].set_lease_id(options_.lease_id);
      drops[worker].add_more_tables(table);
    }
    std::vector<std::thread> threads;
    threads.reserve(drops.size());
    for (const auto& [worker, drop] : drops) {
      // Best effort: a worker that has gone took its tables with it.
      threads.emplace_back(
          [this, w = worker, &request = drop] { (void)options_.workers[w]->DropTable(request); });
    }
    for (auto& thread : threads) thread.join();
  }
  void Add(size_t worker, std::string table) { tables_.emplace_back(worker, std::move(table)); }

 private:
  const ClusterOptions& options_;
  std::vector<std::pair<size_t, std::string>> tables_;
};

Result<GatherReport> RunAndGatherNamed(exec::Connection& connection, const Plan& plan,
                                       const ClusterOptions& options, const std::string& table,
                                       const std::string& prefix, int* broadcasts,
                                       const LastStageHook& last_stage);

// Computes `side`, planned as `plan`, and writes its rows to `out` as an IPC stream: gathered
// from the workers (its stages named after `prefix`) and finished here, or all here when the
// plan says so. Returns the rows.
Result<int64_t> ComputeSide(exec::Connection& connection, const pipeline::Pipeline& side,
                            const Plan& plan, const ClusterOptions& options,
                            const std::string& table, const std::string& prefix, int* broadcasts,
                            arrow_ipc::OutputStream* out) {
  std::string gathered = table + "_gathered";
  pipeline::Pipeline query = side;
  if (plan.coordinator_only.empty()) {
    DUX_RETURN_NOT_OK(
        RunAndGatherNamed(connection, plan, options, gathered, prefix, broadcasts, nullptr)
            .status());
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
// it on every worker, all workers at once from one encoding. Each is a stage "broadcast N"
// (N counted by `broadcasts` over the run), and the side's own stages are named after it.
Status RegisterBroadcasts(exec::Connection& connection, const Plan& plan,
                          const ClusterOptions& options, WorkerTables* tables, int* broadcasts) {
  const Telemetry* t = options.telemetry;
  for (const auto& b : plan.broadcasts) {
    auto start = Clock::now();
    size_t n = options.workers.size();
    std::string name = fmt::format("broadcast {}", ++*broadcasts);
    StageEvents stage(t, name, kBroadcastStage, n);
    if (t) t->Emit({"distributed.broadcast.start", {}, {{"table", b.table}, {"stage", name}}});
    arrow_ipc::StringOutputStream out;
    DUX_ASSIGN_OR_RETURN(int64_t rows, ComputeSide(connection, b.side, *b.plan, options, b.table,
                                                   name + " ", broadcasts, &out));
    const std::string& bytes = out.bytes();
    std::vector<Status> registered(n);
    std::vector<std::thread> threads;
    for (size_t w = 0; w < n; ++w) {
      tables->Add(w, b.table);
      threads.emplace_back([&, w] {
        arrow_ipc::StringInputStream in(bytes);
        registered[w] = options.workers[w]->RegisterTable(b.table, options.lease_id, &in).status();
      });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& s : registered) DUX_RETURN_NOT_OK(InStage(s, name, "registering " + b.table));
    // Every worker received the side's bytes.
    double moved = static_cast<double>(bytes.size() * n);
    if (t) {
      t->Emit({"distributed.broadcast.stop",
               {{"duration", std::chrono::duration<double>(Clock::now() - start).count()},
                {"rows", static_cast<double>(rows)},
                {"bytes", static_cast<double>(bytes.size())},
                {"n_workers", static_cast<double>(n)}},
               {{"table", b.table}, {"stage", name}}});
    }
    stage.Stop({{"rows", static_cast<double>(rows)}, {"bytes", moved}});
  }
  if (plan.shuffled_right) {
    DUX_RETURN_NOT_OK(
        RegisterBroadcasts(connection, *plan.shuffled_right->plan, options, tables, broadcasts));
  }
  return Status::OK();
}

// One side's rows as they landed in the buckets of an exchange.
struct SideBuckets {
  std::vector<std::string> exchange_ids;  // one per producer that completed
  std::vector<int64_t> rows, bytes;       // per bucket, summed over producers
};

int64_t Sum(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t{0});
}

std::string JoinNumbers(const std::vector<int64_t>& v) {
  return fmt::format("{}", fmt::join(v, ","));
}

// Runs the partitions of `side` as producers of a hash exchange on `keys` into `target`'s
// buckets, under exchange ids "QUERY-TAG<partition>": the scan stage `stage`, whose
// stage.stop carries the rows and bytes each bucket received (metadata `bucket_rows`,
// `bucket_bytes`: comma-separated, by bucket) and the stage reading them (`exchange`).
Result<SideBuckets> ProduceSide(exec::Connection& connection, const Plan& side,
                                const std::vector<std::string>& keys, v1::ShuffleTarget target,
                                const ClusterOptions& options, const std::string& query_id,
                                const char* tag, WorkerTables* tables, const std::string& stage,
                                const std::string& exchange) {
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
    // A retry or a speculative attempt pushes under another exchange id; every attempt's
    // tables are dropped.
    for (const auto& id :
         {target.exchange_id(), RetryFragment(task.fragment).shuffle().exchange_id(),
          AttemptFragment(task.fragment, AttemptKind::kSpeculative).shuffle().exchange_id()}) {
      for (int b = 0; b < target.n_buckets(); ++b) {
        tables->Add(static_cast<size_t>(b) % n_workers, protocol::BucketTable(id, b));
      }
    }
    producers.push_back(std::move(task));
  }
  StageEvents events(options.telemetry, stage, kScanStage, producers.size());
  DUX_ASSIGN_OR_RETURN(GatherResult produced, GatherInto(connection, std::move(producers), options,
                                                         stage, kExchangeStatsTable));
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
  events.Stop({{"rows", static_cast<double>(Sum(out.rows))},
               {"bytes", static_cast<double>(Sum(out.bytes))}},
              {{"exchange", exchange},
               {"bucket_rows", JoinNumbers(out.rows)},
               {"bucket_bytes", JoinNumbers(out.bytes)}});
  return out;
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
Result<std::vector<GatherTask>> SplitSkewedBuckets(
    exec::Connection& connection, const Plan& plan, const ClusterOptions& options,
    const std::string& query_id, const SideBuckets& left, const SideBuckets& right,
    WorkerTables* tables, std::set<int>* split, const std::string& prefix) {
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
                               {{"stage", prefix + kExchangeStage}}});
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
    // The fragments that move the skewed buckets' rows are a stage of their own.
    StageEvents events(options.telemetry, prefix + "skew", kExchangeStage, movers.size());
    DUX_ASSIGN_OR_RETURN(GatherResult moved, GatherInto(connection, std::move(movers), options,
                                                        events.stage(), kExchangeStatsTable));
    connection.DropTemporaryTable(kExchangeStatsTable);
    events.Stop({{"bytes", static_cast<double>(moved.ipc_bytes)}});
  }
  return tasks;
}

// For each worker, whether it runs the hash stage one task per bucket instead of over all its
// buckets in one query: when they hold more than an eighth of its memory limit in IPC bytes (both
// sides of a join). A key's rows are all in one bucket (on both sides), so any set of buckets
// gives the same rows as any other. Why: DuckDB builds the hash tables of all the joins of
// one query before it probes any, so that their memory adds up, and a join that cannot keep
// its hash table's directory and one partition in memory fails rather than spill more;
// holistic aggregates (median, string_agg, count(DISTINCT)) keep their states in memory,
// unspilled. One bucket at a time, each has the memory to itself (docs/reliability.md,
// "Spill"). Why an eighth: the exchange's IPC is compressed, often 2-3 times smaller than
// the rows in DuckDB, DuckDB has three quarters of the limit (the rest is the buckets'), and
// a hash table or an aggregate's state takes the rows and more. The limits are asked of all
// owners at once (Info, one call each), so that a worker slow to answer delays the stage by
// one call's deadline at most. The rule `bucket_tasks` can be disabled.
std::vector<bool> RunBucketsApart(const ClusterOptions& options, const SideBuckets& left,
                                  const SideBuckets& right) {
  size_t n = options.workers.size();
  std::vector<bool> apart(n, false);
  if (options.disabled_rules.count("bucket_tasks") > 0 || left.bytes.size() <= n) return apart;
  std::vector<int64_t> bytes(n, 0), limits(n, 0);
  for (size_t b = 0; b < left.bytes.size(); ++b) {
    bytes[b % n] += left.bytes[b] + (b < right.bytes.size() ? right.bytes[b] : 0);
  }
  std::vector<std::thread> asks;
  for (size_t w = 0; w < n; ++w) {
    if (bytes[w] == 0) continue;
    asks.emplace_back([&, w] {
      // A worker that cannot answer keeps one task: that task reports its failure.
      Result<v1::InfoReply> info = options.workers[w]->Info();
      Result<int64_t> limit =
          info.ok() ? exec::ParseMemorySize(info->memory_limit()) : Result<int64_t>(info.status());
      if (limit.ok()) limits[w] = *limit;
    });
  }
  for (auto& ask : asks) ask.join();
  for (size_t w = 0; w < n; ++w) apart[w] = limits[w] > 0 && bytes[w] > limits[w] / 8;
  return apart;
}

// Runs the plan's partitions (and a shuffle join's right side's) as producers of its hash
// exchange, bucket b owned by worker b % n_workers, and returns the tasks that run the hash
// stage on every owner.
Result<std::vector<GatherTask>> RunExchange(exec::Connection& connection, const Plan& plan,
                                            const ClusterOptions& options,
                                            const std::string& query_id, WorkerTables* tables,
                                            int64_t* exchanged_bytes, const std::string& prefix,
                                            const std::string& reader) {
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
             {{"keys", keys}, {"rule", stage.rule}, {"stage", reader}}});
  }
  DUX_ASSIGN_OR_RETURN(SideBuckets left,
                       ProduceSide(connection, plan, stage.keys, target, options, query_id, "p",
                                   tables, prefix + kScanStage, reader));
  SideBuckets right;
  if (plan.shuffled_right) {
    DUX_ASSIGN_OR_RETURN(right, ProduceSide(connection, *plan.shuffled_right->plan,
                                            plan.shuffled_right->keys, target, options, query_id,
                                            "r", tables, prefix + kScanStage + " right", reader));
  }
  *exchanged_bytes = Sum(left.bytes) + Sum(right.bytes);
  if (t) {
    std::vector<int64_t> rows(left.rows.size());
    for (size_t b = 0; b < left.rows.size(); ++b) {
      rows[b] = left.rows[b] + (right.rows.empty() ? 0 : right.rows[b]);
    }
    std::vector<int64_t> sorted = rows;
    std::sort(sorted.begin(), sorted.end());
    int64_t largest = sorted.empty() ? 0 : sorted.back();
    int64_t median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
    t->Emit({"distributed.shuffle.stop",
             {{"duration", std::chrono::duration<double>(Clock::now() - start).count()},
              {"rows", static_cast<double>(Sum(left.rows) + Sum(right.rows))},
              {"bytes", static_cast<double>(*exchanged_bytes)},
              {"largest_bucket_rows", static_cast<double>(largest)},
              {"median_bucket_rows", static_cast<double>(median)},
              {"n_buckets", static_cast<double>(n_buckets)}},
             {{"keys", keys},
              {"rule", stage.rule},
              {"stage", reader},
              {"bucket_rows", JoinNumbers(rows)}}});
  }
  std::set<int> split;
  DUX_ASSIGN_OR_RETURN(
      std::vector<GatherTask> owners,
      SplitSkewedBuckets(connection, plan, options, query_id, left, right, tables, &split, prefix));
  // The buckets live on their owners only: a failed owner cannot be replaced.
  std::vector<bool> apart = RunBucketsApart(options, left, right);
  for (size_t w = 0; w < n_workers; ++w) {
    BucketInputs inputs{left.exchange_ids, right.exchange_ids, {}};
    for (int b = static_cast<int>(w); b < n_buckets; b += static_cast<int>(n_workers)) {
      if (split.count(b) == 0) inputs.buckets.push_back(b);
    }
    if (inputs.buckets.empty()) continue;
    if (inputs.buckets.size() > 1 && apart[w]) {
      for (int b : inputs.buckets) {
        BucketInputs one{left.exchange_ids, right.exchange_ids, {b}};
        owners.push_back({w,
                          MakeBucketFragment(plan, one, fmt::format("{}-s2-{}-{}", query_id, w, b)),
                          false, fmt::format("bucket {} of worker {}", b, w)});
      }
      continue;
    }
    owners.push_back({w, MakeBucketFragment(plan, inputs, fmt::format("{}-s2-{}", query_id, w)),
                      false, fmt::format("buckets of worker {}", w)});
  }
  return owners;
}

}  // namespace

namespace {

// Runs `plan`'s stages up to the last one, whose tasks `gather` runs (into a table, or to a
// consumer; it gets the stage's name), with the fan-out and merge events around it. The
// stages are named after `prefix` (a broadcast side's are "broadcast N scan", ...);
// `broadcasts` counts the broadcast stages of the run.
Result<GatherReport> RunStages(
    exec::Connection& connection, const Plan& plan, const ClusterOptions& options,
    const LastStageHook& last_stage, const std::string& prefix, int* broadcasts,
    const std::function<Result<GatherResult>(std::vector<GatherTask>, const std::string&)>&
        gather) {
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
  DUX_RETURN_NOT_OK(RegisterBroadcasts(connection, plan, options, &worker_tables, broadcasts));
  int64_t exchanged = 0;
  std::vector<GatherTask> tasks;
  // The last stage: partitions, or the bucket owners of an exchange, or either writing.
  const char* kind = last_stage ? kWriteStage : plan.hash_stage ? kExchangeStage : kScanStage;
  std::string last = prefix + kind;
  if (plan.hash_stage) {
    DUX_ASSIGN_OR_RETURN(tasks, RunExchange(connection, plan, options, query_id, &worker_tables,
                                            &exchanged, prefix, last));
  } else {
    for (size_t i = 0; i < n; ++i) {
      tasks.push_back({plan.assignment[i], MakeFragment(plan, i, fmt::format("{}-{}", query_id, i)),
                       true, fmt::format("partition {}", i)});
    }
  }
  if (last_stage) DUX_RETURN_NOT_OK(last_stage(&tasks, query_id));
  if (t)
    t->Emit({"distributed.merge.start", {{"n_results", static_cast<double>(tasks.size())}}, {}});
  StageEvents events(t, last, kind, tasks.size());
  DUX_ASSIGN_OR_RETURN(GatherResult gathered, gather(std::move(tasks), last));
  events.Stop({{"rows", static_cast<double>(gathered.rows)},
               {"bytes", static_cast<double>(gathered.ipc_bytes)}});
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

namespace {

Result<GatherReport> RunAndGatherNamed(exec::Connection& connection, const Plan& plan,
                                       const ClusterOptions& options, const std::string& table,
                                       const std::string& prefix, int* broadcasts,
                                       const LastStageHook& last_stage) {
  return RunStages(connection, plan, options, last_stage, prefix, broadcasts,
                   [&](std::vector<GatherTask> tasks, const std::string& stage) {
                     return GatherInto(connection, std::move(tasks), options, stage, table,
                                       plan.fold ? &*plan.fold : nullptr);
                   });
}

}  // namespace

Result<GatherReport> RunAndGather(exec::Connection& connection, const Plan& plan,
                                  const ClusterOptions& options, const std::string& table,
                                  const LastStageHook& last_stage) {
  int broadcasts = 0;
  LeasedOptions leased = WithLease(options);
  return RunAndGatherNamed(connection, plan, leased.options, table, "", &broadcasts, last_stage);
}

bool StreamsToConsumer(const Plan& plan) {
  return plan.coordinator_only.empty() && !plan.fold && plan.finish.empty();
}

Result<GatherReport> RunAndConsume(exec::Connection& connection, const Plan& plan,
                                   const ClusterOptions& options, const RowConsumer& consume) {
  if (!StreamsToConsumer(plan)) {
    return Status::Internal("RunAndConsume: the plan leaves work to the coordinator");
  }
  int broadcasts = 0;
  LeasedOptions leased = WithLease(options);
  return RunStages(connection, plan, leased.options, nullptr, "", &broadcasts,
                   [&](std::vector<GatherTask> tasks, const std::string& stage) {
                     return GatherTo(connection, std::move(tasks), leased.options, stage, consume);
                   });
}

}  // namespace dux::coordinator
