#include "dux/dist/coordinator.h"

#include <fmt/format.h>
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

// Runs every partition on its worker in a thread of its own and hands the batches to one
// consumer (DuckDB pulling an ArrowArrayStream) in arrival order. The first failure wins:
// it cancels every other call and is what the consumer reports.
class Gather {
 public:
  Gather(const Plan& plan, const ClusterOptions& options, std::string query_id)
      : plan_(plan), options_(options), query_id_(std::move(query_id)) {
    size_t n = plan.partitioning.partitions.size();
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

  const std::string& Address(size_t partition) const {
    return options_.workers[plan_.assignment[partition]]->address();
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
    WorkerClient& client = *options_.workers[plan_.assignment[i]];
    v1::ExecuteRequest request;
    *request.mutable_fragment() = MakeFragment(plan_, i, query_id_);
    request.set_compression(options_.compression);
    int64_t bytes = 0;
    Status status = Stream(client, request, i, &bytes);
    ipc_bytes_ += bytes;
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (options_.telemetry) {
      options_.telemetry->Emit({"distributed.worker.stop",
                                {{"duration", seconds},
                                 {"ipc_bytes", static_cast<double>(bytes)},
                                 {"worker_index", static_cast<double>(plan_.assignment[i])},
                                 {"n_workers", static_cast<double>(options_.workers.size())}},
                                {{"address", client.address()},
                                 {"partition", std::to_string(i)},
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

  const Plan& plan_;
  const ClusterOptions& options_;
  std::string query_id_;
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

Result<Plan> PlanScript(sql::Binder* binder, const pipeline::Script& script,
                        const sql::CompiledQuery& local, size_t n_workers,
                        const std::set<std::string>& disabled_rules) {
  if (n_workers == 0) return Status::InvalidArgument("no workers to distribute to");
  const pipeline::Pipeline& p = script.pipeline;
  Plan plan{pipeline::Script{{}, p}, {}, {}, {}, {}, {}};
  // Attached DuckDB files are the coordinator's: DuckDB lets one process hold a file, so a
  // query over them runs here. Other sources never read the attachments.
  if (std::holds_alternative<pipeline::QuerySource>(p.source().body) &&
      !script.attachments.empty()) {
    plan.coordinator_only = "from_query with attached databases (their files are held here)";
    return plan;
  }
  DUX_ASSIGN_OR_RETURN(Split split, SplitPipeline(binder, p, local.verb_schemas, disabled_rules));
  plan.worker_script.pipeline = std::move(split.worker);
  plan.finish = std::move(split.finish);
  plan.rules = std::move(split.applied);
  DUX_ASSIGN_OR_RETURN(plan.partitioning, PartitionSource(binder, p.source(), n_workers));
  // Partitions are already balanced by size, so partition i goes to worker i.
  for (size_t i = 0; i < plan.partitioning.partitions.size(); ++i) plan.assignment.push_back(i);
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
  Gather gather(plan, options, NewQueryId());
  DUX_ASSIGN_OR_RETURN(const ArrowSchema* schema, gather.WaitSchema());
  DUX_ASSIGN_OR_RETURN(auto casts, exec::ImportCasts(*schema));
  if (t) t->Emit({"distributed.merge.start", {{"n_results", static_cast<double>(n)}}, {}});
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
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (t) {
    t->Emit({"distributed.fan_out.stop", {{"duration", seconds}}, {}});
    t->Emit({"distributed.merge.stop",
             {{"rows", static_cast<double>(*rows)},
              {"ipc_bytes", static_cast<double>(gather.ipc_bytes())}},
             {}});
  }
  return GatherReport{*rows, gather.ipc_bytes()};
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
