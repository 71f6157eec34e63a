#include "dux/dist/coordinator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "dux/exec/arrow_bridge.h"
#include "dux/ipc/reader.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/sql/quote.h"

namespace dux::dist {

using pipeline::Op;
using Clock = std::chrono::steady_clock;

namespace {

// Counts the bytes a stream delivers and keeps its own error, which is the root cause when
// the IPC reader then fails.
class CountingInput : public ipc::InputStream {
 public:
  explicit CountingInput(ResultStream* in) : in_(in) {}
  Result<size_t> Read(void* data, size_t size) override {
    auto n = in_->Read(data, size);
    if (!n.ok()) {
      error_ = n.status();
      return n;
    }
    bytes_ += static_cast<int64_t>(*n);
    return n;
  }
  int64_t bytes() const { return bytes_; }
  const Status& error() const { return error_; }

 private:
  ResultStream* in_;
  int64_t bytes_ = 0;
  Status error_;
};

bool SameSchema(const ArrowSchema& a, const ArrowSchema& b) {
  auto same = [](const char* x, const char* y) {
    return std::string(x ? x : "") == std::string(y ? y : "");
  };
  if (!same(a.format, b.format) || !same(a.name, b.name) || a.n_children != b.n_children) {
    return false;
  }
  if ((a.dictionary == nullptr) != (b.dictionary == nullptr)) return false;
  if (a.dictionary && !SameSchema(*a.dictionary, *b.dictionary)) return false;
  for (int64_t i = 0; i < a.n_children; ++i) {
    if (!SameSchema(*a.children[i], *b.children[i])) return false;
  }
  return true;
}

std::string ColumnList(const ArrowSchema& s) {
  std::string out;
  for (int64_t i = 0; i < s.n_children; ++i) {
    out += fmt::format("{}{} {}", i ? ", " : "", s.children[i]->name ? s.children[i]->name : "",
                       s.children[i]->format ? s.children[i]->format : "");
  }
  return "(" + out + ")";
}

// One fragment for one worker.
struct Task {
  size_t worker;  // index into ClusterOptions::workers
  v1::Fragment fragment;
};

// Runs every task on its worker in a thread of its own and hands the batches to one
// consumer (DuckDB pulling an ArrowArrayStream) in arrival order. The first failure wins:
// it cancels every other call and is what the consumer reports.
class Gather {
 public:
  Gather(std::vector<Task> tasks, const ClusterOptions& options, const char* stage)
      : tasks_(std::move(tasks)), options_(options), stage_(stage) {
    size_t n = tasks_.size();
    streams_.assign(n, nullptr);
    done_.assign(n, false);
    running_ = n;
    if (options.timeout_seconds > 0) {
      deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options.timeout_seconds));
    }
    for (size_t i = 0; i < n; ++i) threads_.emplace_back([this, i] { Produce(i); });
  }

  ~Gather() {
    Fail(Status(StatusCode::kCancelled, "the query was abandoned"));
    for (auto& t : threads_) t.join();
  }

  /// Blocks until some worker has sent its schema (or the gather failed).
  Result<const ArrowSchema*> WaitSchema() {
    std::unique_lock lock(mu_);
    while (!schema_.valid() && error_.ok() && running_ > 0) WaitLocked(lock);
    if (!error_.ok()) return error_;
    if (!schema_.valid()) return Status::Internal("no worker returned a schema");
    return schema_.get();
  }

  /// The next batch in arrival order; false once every partition has finished.
  Result<bool> Next(ArrowArray* out) {
    std::unique_lock lock(mu_);
    while (queue_.empty() && error_.ok() && running_ > 0) WaitLocked(lock);
    if (!error_.ok()) return error_;
    if (queue_.empty()) return false;
    queue_.front().MoveTo(out);
    queue_.pop_front();
    cv_.notify_all();
    return true;
  }

  Status error() {
    std::lock_guard lock(mu_);
    return error_;
  }
  int64_t ipc_bytes() const { return ipc_bytes_; }

 private:
  static constexpr size_t kMaxQueued = 64;

  // Waits for the producers, at most 100 ms at a time, so that an interruption or the
  // deadline is noticed even while no worker sends anything.
  void WaitLocked(std::unique_lock<std::mutex>& lock) {
    auto until = Clock::now() + std::chrono::milliseconds(100);
    if (deadline_ != Clock::time_point{}) until = std::min(until, deadline_);
    if (cv_.wait_until(lock, until) != std::cv_status::timeout) return;
    if (options_.interrupted && options_.interrupted->load()) {
      FailLocked(Status(StatusCode::kCancelled, "interrupted"));
      return;
    }
    if (deadline_ == Clock::time_point{} || Clock::now() < deadline_) return;
    for (size_t i = 0; i < done_.size(); ++i) {
      if (done_[i]) continue;
      FailLocked(
          Status(StatusCode::kDeadlineExceeded, fmt::format("worker {} did not answer within {} s",
                                                            Address(i), options_.timeout_seconds)));
      return;
    }
  }

  const std::string& Address(size_t task) const {
    return options_.workers[tasks_[task].worker]->address();
  }

  void Fail(const Status& status) {
    std::lock_guard lock(mu_);
    FailLocked(status);
  }

  void FailLocked(const Status& status) {
    if (error_.ok() && running_ > 0) error_ = status;
    for (ResultStream* s : streams_) {
      if (s) s->Cancel();
    }
    cv_.notify_all();
  }

  void Produce(size_t i) {
    auto start = Clock::now();
    WorkerClient& client = *options_.workers[tasks_[i].worker];
    v1::ExecuteRequest request;
    *request.mutable_fragment() = tasks_[i].fragment;
    request.set_compression(options_.compression);
    int64_t bytes = 0;
    Status status = Stream(client, request, i, &bytes);
    ipc_bytes_ += bytes;
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (options_.telemetry) {
      options_.telemetry->Emit({"distributed.worker.stop",
                                {{"duration", seconds},
                                 {"ipc_bytes", static_cast<double>(bytes)},
                                 {"worker_index", static_cast<double>(tasks_[i].worker)},
                                 {"n_workers", static_cast<double>(options_.workers.size())}},
                                {{"address", client.address()},
                                 {"stage", stage_},
                                 {"task", std::to_string(i)},
                                 {"status", status.ok() ? "ok" : StatusCodeName(status.code())}}});
    }
    std::lock_guard lock(mu_);
    if (!status.ok()) FailLocked(status);
    done_[i] = true;
    --running_;
    cv_.notify_all();
  }

  Status Stream(WorkerClient& client, const v1::ExecuteRequest& request, size_t i, int64_t* bytes) {
    auto started = client.Execute(request);
    if (!started.ok()) return started.status();
    std::unique_ptr<ResultStream> stream = std::move(started).value();
    {
      std::lock_guard lock(mu_);
      if (!error_.ok()) return error_;
      streams_[i] = stream.get();
    }
    CountingInput counting(stream.get());
    Status status = Decode(client, &counting, i);
    *bytes = counting.bytes();
    std::lock_guard lock(mu_);
    streams_[i] = nullptr;
    return status;
  }

  Status Decode(WorkerClient& client, CountingInput* in, size_t i) {
    auto bad = [&](const Status& s) {
      if (!in->error().ok()) return in->error();
      return Status(StatusCode::kDataLoss,
                    "worker " + client.address() + " sent a malformed result: " + s.message());
    };
    auto reader = ipc::Reader::Open(in);
    if (!reader.ok()) return bad(reader.status());
    ipc::SchemaOwner schema;
    DUX_RETURN_NOT_OK((*reader)->ExportSchema(schema.out()));
    {
      std::lock_guard lock(mu_);
      if (!schema_.valid()) {
        schema_ = std::move(schema);
        schema_from_ = i;
      } else if (!SameSchema(*schema_.get(), *schema.get())) {
        return Status::Internal(fmt::format(
            "worker {} returned the columns {} but worker {} returned {}", client.address(),
            ColumnList(*schema.get()), Address(schema_from_), ColumnList(*schema_.get())));
      }
    }
    for (;;) {
      ipc::ArrayOwner batch;
      auto more = (*reader)->Next(batch.out());
      if (!more.ok()) return bad(more.status());
      if (!*more) return Status::OK();
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return queue_.size() < kMaxQueued || !error_.ok(); });
      if (!error_.ok()) return error_;
      queue_.push_back(std::move(batch));
      cv_.notify_all();
    }
  }

  std::vector<Task> tasks_;
  const ClusterOptions& options_;
  const char* stage_;
  Clock::time_point deadline_{};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ipc::ArrayOwner> queue_;
  std::vector<ResultStream*> streams_;
  std::vector<bool> done_;
  size_t running_ = 0;
  Status error_;
  ipc::SchemaOwner schema_;
  size_t schema_from_ = 0;
  std::atomic<int64_t> ipc_bytes_{0};
  std::vector<std::thread> threads_;  // last: started after everything above exists
};

// The gather as the Arrow C stream DuckDB pulls. The schema was waited for up front.
struct GatherStream {
  Gather* gather;
  const ArrowSchema* schema;
  std::string last_error;

  static GatherStream* Of(ArrowArrayStream* s) {
    return static_cast<GatherStream*>(s->private_data);
  }
  static int GetSchema(ArrowArrayStream* s, ArrowSchema* out) {
    ipc::CopySchema(*Of(s)->schema, out);
    return 0;
  }
  static int GetNext(ArrowArrayStream* s, ArrowArray* out) {
    auto more = Of(s)->gather->Next(out);
    if (!more.ok()) {
      Of(s)->last_error = more.status().message();
      return EIO;
    }
    if (!*more) out->release = nullptr;
    return 0;
  }
  static const char* GetLastError(ArrowArrayStream* s) { return Of(s)->last_error.c_str(); }
  static void Release(ArrowArrayStream* s) {
    delete Of(s);
    s->release = nullptr;
  }
};

}  // namespace

namespace {

// Rows of the first file the estimate reads (DuckDB stops reading once it has them).
constexpr int64_t kEstimateSampleRows = 100'000;

// An estimate of the number of groups of `keys` after the scan stage, from the first
// kEstimateSampleRows rows of the first partition's first file: when most sampled rows are
// distinct groups, the groups grow with the rows and the sample's share is scaled to every
// file's row count (from the parquet footers); otherwise the sample has seen the groups
// that repeat and its count stands. A heuristic: it decides only where the groups are
// finalised, never the result.
Result<int64_t> EstimateGroups(sql::Binder* binder, const Split& split, const Plan& plan,
                               const std::vector<std::string>& keys) {
  const auto& files = plan.partitioning.partitions[0].files;
  pipeline::Source first = split.worker.source();
  std::get<pipeline::ParquetSource>(first.body).files = {files[0]};
  pipeline::Pipeline sample(first);
  for (size_t i = 0; i < split.scan_ops; ++i) sample.Append(split.worker.ops()[i]);
  sql::Compiler compiler(binder);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, compiler.Compile(sample));
  std::string hashed;
  for (const auto& k : keys) hashed += (hashed.empty() ? "" : ", ") + sql::QuoteIdentifier(k);
  std::string list;
  for (const auto& p : plan.partitioning.partitions) {
    for (const auto& f : p.files) list += (list.empty() ? "" : ", ") + sql::QuoteString(f);
  }
  DUX_ASSIGN_OR_RETURN(
      sql::TextRows rows,
      binder->QueryText(fmt::format(
          "SELECT CAST(approx_count_distinct(h) AS VARCHAR), CAST(count(*) AS VARCHAR), "
          "(SELECT CAST(sum(num_rows) AS VARCHAR) FROM parquet_file_metadata([{}])) FROM "
          "(SELECT hash({}) AS h FROM ({}\n) LIMIT {})",
          list, hashed, query.Sql(), kEstimateSampleRows)));
  double distinct = std::stod(rows[0][0].value_or("0"));
  double sampled = std::stod(rows[0][1].value_or("0"));
  double total = std::stod(rows[0][2].value_or("0"));
  if (sampled == 0 || distinct * 2 <= sampled) return static_cast<int64_t>(distinct);
  return static_cast<int64_t>(distinct / sampled * total);
}

}  // namespace

Result<Plan> PlanScript(sql::Binder* binder, const pipeline::Script& script,
                        const sql::CompiledQuery& local, const ClusterOptions& cluster) {
  if (cluster.workers.empty()) return Status::InvalidArgument("no workers to distribute to");
  const pipeline::Pipeline& p = script.pipeline;
  Plan plan{pipeline::Script{{}, p}, std::nullopt, -1, {}, {}, {}, {}, {}};
  // Attached DuckDB files are the coordinator's: DuckDB lets one process hold a file, so a
  // query over them runs here. Other sources never read the attachments.
  if (std::holds_alternative<pipeline::QuerySource>(p.source().body) &&
      !script.attachments.empty()) {
    plan.coordinator_only = "from_query with attached databases (their files are held here)";
    return plan;
  }
  DUX_ASSIGN_OR_RETURN(Split split,
                       SplitPipeline(binder, p, local.verb_schemas, cluster.disabled_rules));
  DUX_ASSIGN_OR_RETURN(plan.partitioning,
                       PartitionSource(binder, p.source(), cluster.workers.size()));
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
  plan.finish = std::move(split.finish);
  plan.rules = std::move(split.applied);
  // Partitions are already balanced by size, so partition i goes to worker i.
  for (size_t i = 0; i < parts.size(); ++i) plan.assignment.push_back(i);
  return plan;
}

v1::Fragment MakeFragment(const Plan& plan, size_t partition, const std::string& query_id) {
  v1::Fragment fragment;
  fragment.set_query_id(query_id);
  pipeline::ToProto(plan.worker_script, fragment.mutable_script());
  const auto& files = plan.partitioning.partitions[partition].files;
  if (!files.empty()) {
    auto* parquet =
        fragment.mutable_script()->mutable_pipeline()->mutable_source()->mutable_parquet();
    parquet->clear_files();
    for (const auto& f : files) parquet->add_files(f);
  }
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

// Loads every task's rows into the temporary table `table` (see RunAndGather).
Result<GatherReport> GatherInto(exec::Connection& connection, std::vector<Task> tasks,
                                const ClusterOptions& options, const char* stage,
                                const std::string& table) {
  Gather gather(std::move(tasks), options, stage);
  DUX_ASSIGN_OR_RETURN(const ArrowSchema* schema, gather.WaitSchema());
  DUX_ASSIGN_OR_RETURN(auto casts, exec::ImportCasts(*schema));
  ArrowArrayStream stream{};
  stream.get_schema = GatherStream::GetSchema;
  stream.get_next = GatherStream::GetNext;
  stream.get_last_error = GatherStream::GetLastError;
  stream.release = GatherStream::Release;
  stream.private_data = new GatherStream{&gather, schema, {}};
  auto rows =
      exec::ImportArrowStream(connection, table, &stream, exec::TableMode::kTemporary, casts);
  // A worker's own error is the cause; DuckDB's wrapping of it adds nothing.
  Status failed = gather.error();
  if (!failed.ok()) return failed;
  if (!rows.ok()) return rows.status();
  return GatherReport{*rows, gather.ipc_bytes(), 0};
}

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
Result<std::vector<Task>> RunExchange(exec::Connection& connection, const Plan& plan,
                                      const ClusterOptions& options, const std::string& query_id,
                                      ExchangeTables* tables, int64_t* exchanged_bytes) {
  const Telemetry* t = options.telemetry;
  auto start = Clock::now();
  size_t n_workers = options.workers.size();
  v1::ShuffleTarget target;
  for (const auto& k : plan.hash_stage->keys) target.add_keys(k);
  target.set_n_buckets(static_cast<int>(n_workers));
  for (const auto& w : options.workers) target.add_owners(w->address());
  std::vector<std::string> exchange_ids;
  std::vector<Task> producers;
  for (size_t i = 0; i < plan.partitioning.partitions.size(); ++i) {
    exchange_ids.push_back(fmt::format("{}-p{}", query_id, i));
    for (size_t b = 0; b < n_workers; ++b) tables->Add(b, BucketTable(exchange_ids.back(), b));
    Task task{plan.assignment[i], MakeFragment(plan, i, fmt::format("{}-s1-{}", query_id, i))};
    target.set_exchange_id(exchange_ids.back());
    *task.fragment.mutable_shuffle() = target;
    producers.push_back(std::move(task));
  }
  DUX_RETURN_NOT_OK(
      GatherInto(connection, std::move(producers), options, "exchange", kExchangeStatsTable)
          .status());
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
    t->Emit({"distributed.exchange.stop",
             {{"duration", std::chrono::duration<double>(Clock::now() - start).count()},
              {"rows", std::stod(stats[0][0].value_or("0"))},
              {"ipc_bytes", static_cast<double>(*exchanged_bytes)},
              {"largest_bucket_rows", std::stod(stats[0][2].value_or("0"))},
              {"n_buckets", static_cast<double>(n_workers)}},
             {{"keys", fmt::format("{}", fmt::join(plan.hash_stage->keys, ", "))}}});
  }
  std::vector<Task> owners;
  for (size_t w = 0; w < n_workers; ++w) {
    owners.push_back({w, MakeBucketFragment(plan, exchange_ids, {static_cast<int>(w)},
                                            fmt::format("{}-s2-{}", query_id, w))});
  }
  return owners;
}

}  // namespace

Result<GatherReport> RunAndGather(exec::Connection& connection, const Plan& plan,
                                  const ClusterOptions& options, const std::string& table) {
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
  std::vector<Task> tasks;
  if (plan.hash_stage) {
    DUX_ASSIGN_OR_RETURN(
        tasks, RunExchange(connection, plan, options, query_id, &exchange_tables, &exchanged));
  } else {
    for (size_t i = 0; i < n; ++i) {
      tasks.push_back(
          {plan.assignment[i], MakeFragment(plan, i, fmt::format("{}-{}", query_id, i))});
    }
  }
  if (t)
    t->Emit({"distributed.merge.start", {{"n_results", static_cast<double>(tasks.size())}}, {}});
  DUX_ASSIGN_OR_RETURN(GatherReport report,
                       GatherInto(connection, std::move(tasks), options, "gather", table));
  report.exchanged_ipc_bytes = exchanged;
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
