#include "dux/worker/worker.h"

#include <duckdb.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "dux/common/version.h"
#include "dux/exec/arrow_export.h"
#include "dux/exec/arrow_import.h"
#include "dux/exec/output_target.h"
#include "dux/exec/row_sink.h"
#include "dux/pg/table_writer.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/protocol/worker_client.h"
#include "dux/s3/s3_path.h"
#include "dux/s3_filesystem/confined_file_system.h"
#include "dux/s3_filesystem/read_bytes.h"
#include "dux/s3_filesystem/s3_filesystem.h"
#include "dux/sql/quote.h"
#include "dux/sql/table_references.h"
#include "dux/worker/fragment_monitor.h"
#include "dux/worker/out_of_memory.h"
#include "dux/worker/partial_aggregation.h"

namespace dux::worker {

namespace {

// Cuts the IPC stream into chunks of about protocol::kIpcChunkBytes for the transport.
class ChunkedOutput : public arrow_ipc::OutputStream {
 public:
  ChunkedOutput(ChunkWriter* out, WorkerMetrics* metrics) : out_(out), metrics_(metrics) {}
  /// Cuts at kIpcChunkBytes even inside one write (a batch of long strings), so that no
  /// message outgrows the transport's limit (rpc/transport.h, kDefaultMaxMessageBytes).
  Status Write(const void* data, size_t size) override {
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      size_t n = std::min(size, protocol::kIpcChunkBytes - buffer_.size());
      buffer_.append(bytes, n);
      bytes += n;
      size -= n;
      if (buffer_.size() >= protocol::kIpcChunkBytes) DUX_RETURN_NOT_OK(Send());
    }
    return Status::OK();
  }
  Status Send() {
    if (buffer_.empty()) return Status::OK();
    std::string chunk;
    chunk.swap(buffer_);
    buffer_.reserve(protocol::kIpcChunkBytes + (protocol::kIpcChunkBytes >> 2));
    metrics_->AddSentBytes(static_cast<int64_t>(chunk.size()));
    if (!out_->Write(std::move(chunk))) {
      gone_ = true;
      return Status(StatusCode::kCancelled, "the receiver went away");
    }
    return Status::OK();
  }
  bool gone() const { return gone_; }

 private:
  ChunkWriter* out_;
  WorkerMetrics* metrics_;
  std::string buffer_;
  bool gone_ = false;
};

// `in` for a reader that wants to own its input: a forwarding wrapper.
std::unique_ptr<arrow_ipc::InputStream> Borrow(arrow_ipc::InputStream* in) {
  struct Borrowed : arrow_ipc::InputStream {
    arrow_ipc::InputStream* in;
    explicit Borrowed(arrow_ipc::InputStream* i) : in(i) {}
    Result<size_t> Read(void* d, size_t n) override { return in->Read(d, n); }
  };
  return std::make_unique<Borrowed>(in);
}

}  // namespace

/// Registers a fragment's connection under its query id for Cancel, and with its lease, for
/// its lifetime.
class Worker::Running {
 public:
  static Result<std::unique_ptr<Running>> Start(Worker* w, const std::string& id,
                                                const std::string& lease, exec::Connection* c) {
    if (id.empty()) return Status::InvalidArgument("the fragment has no query id");
    std::lock_guard lock(w->mutex_);
    if (w->running_.count(id) != 0) {
      return Status::AlreadyExists("query " + id + " is already running on this worker");
    }
    // Under mutex_, so that an expiry either sees the query or refuses it.
    DUX_RETURN_NOT_OK(w->leases_.AddQuery(lease, id));
    w->running_.emplace(id, Query{c});
    return std::unique_ptr<Running>(new Running(w, id, lease));
  }
  ~Running() {
    std::lock_guard lock(w_->mutex_);
    w_->running_.erase(id_);
    w_->leases_.RemoveQuery(lease_, id_);
  }

 private:
  Running(Worker* w, std::string id, std::string lease)
      : w_(w), id_(std::move(id)), lease_(std::move(lease)) {}
  Worker* w_;
  std::string id_;
  std::string lease_;
};

Result<std::unique_ptr<Worker>> Worker::Open(const WorkerOptions& options) {
  DUX_ASSIGN_OR_RETURN(
      exec::Database db,
      engine::OpenDatabase({"", options.threads, options.memory_limit, options.temp_directory}));
  WorkerOptions resolved = options;
  DUX_ASSIGN_OR_RETURN(exec::Connection c, exec::Connection::Open(db));
  if (!options.allowed_directories.empty()) {
    // Confinement: DuckDB reads and writes files only under these directories once external
    // access is off (which cannot be turned back on). The temp directory must stay usable.
    std::string list;
    auto& dirs = resolved.allowed_directories;
    if (!options.temp_directory.empty()) dirs.push_back(options.temp_directory);
    for (auto& d : dirs) {
      if (s3::IsS3Url(d)) {
        // An S3 prefix (docs/s3.md, "Security"): DuckDB checks s3:// paths against it as
        // it checks local ones, and dux's file system refuses keys that check could misread.
        DUX_ASSIGN_OR_RETURN(d, s3_filesystem::S3AllowedDirectory(d));
      } else {
        std::error_code ec;
        std::filesystem::path absolute = std::filesystem::absolute(d, ec);
        if (!ec) d = std::filesystem::weakly_canonical(absolute, ec).string();
        if (ec) return Status::InvalidArgument("--allow-dir " + d + ": " + ec.message());
      }
      list += (list.empty() ? "" : ", ") + sql::QuoteString(d + "/");
    }
    // DuckDB compares paths as written; dux's own file system compares where they lead
    // (symlinks resolved), so that a symlink inside an allowed directory cannot lead out.
    std::vector<std::string> local_dirs;
    for (const auto& d : dirs) {
      if (!s3::IsS3Url(d)) local_dirs.push_back(d);
    }
    DUX_RETURN_NOT_OK(s3_filesystem::ConfineLocalFiles(db.get(), std::move(local_dirs)));
    DUX_RETURN_NOT_OK(c.Execute("SET allowed_directories = [" + list + "]").status());
    DUX_RETURN_NOT_OK(c.Execute("SET enable_external_access = false").status());
  }
  // Exchange buckets are held outside DuckDB's buffer pool (bucket_store.h): a quarter of the
  // memory limit moves from DuckDB to them, so that together they stay within it.
  DUX_ASSIGN_OR_RETURN(sql::TextRows limit,
                       c.QueryText("SELECT CAST(current_setting('memory_limit') AS VARCHAR)"));
  resolved.memory_limit = limit[0][0].value_or("");
  DUX_ASSIGN_OR_RETURN(int64_t limit_bytes, ParseMemorySize(resolved.memory_limit));
  int64_t budget = limit_bytes / 4;
  DUX_RETURN_NOT_OK(
      c.Execute(fmt::format("SET memory_limit = '{} bytes'", limit_bytes - budget)).status());
  // Beyond its memory, DuckDB spills to the temp directory, up to this size; the out-of-memory
  // errors name both (out_of_memory.h).
  if (!options.max_temp_directory_size.empty()) {
    Status set = c.Execute("SET max_temp_directory_size = " +
                           sql::QuoteString(options.max_temp_directory_size))
                     .status();
    if (!set.ok()) return Status::InvalidArgument("--max-temp-size: " + set.message());
  }
  DUX_ASSIGN_OR_RETURN(sql::TextRows temp,
                       c.QueryText("SELECT CAST(current_setting('temp_directory') AS VARCHAR), "
                                   "CAST(current_setting('max_temp_directory_size') AS VARCHAR)"));
  resolved.temp_directory = temp[0][0].value_or("");
  resolved.max_temp_directory_size = temp[0][1].value_or("");
  DUX_ASSIGN_OR_RETURN(std::shared_ptr<BucketStore> buckets, BucketStore::Install(db, budget));
  return std::unique_ptr<Worker>(new Worker(
      std::move(resolved), std::make_shared<exec::Database>(std::move(db)), std::move(buckets)));
}

Worker::Worker(WorkerOptions options, std::shared_ptr<exec::Database> db,
               std::shared_ptr<BucketStore> buckets)
    : options_(std::move(options)),
      db_(std::move(db)),
      memory_(std::make_unique<MemorySampler>(db_)),
      reinterrupter_([this] { Reinterrupt(); }),
      buckets_(std::move(buckets)),
      leases_(std::max(options_.lease_timeout, std::chrono::milliseconds(1))),
      metrics_(std::make_unique<WorkerMetrics>(
          db_, buckets_, [this] { return CountTablesHeld(); }, options_.memory_limit)) {
  lease_reaper_ = std::thread([this] { ReapLeases(); });
}

Worker::~Worker() {
  CancelAll();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  reinterrupter_.join();
  lease_reaper_.join();
}

void Worker::ReapLeases() {
  // A tenth of the timeout between checks: a lease is acted on at most 10% late.
  auto period = std::clamp<std::chrono::milliseconds>(
      leases_.timeout() / 10, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    ExpireLeases();
    lock.lock();
    stop_cv_.wait_for(lock, period, [this] { return stopping_; });
  }
}

std::vector<std::string> Worker::DropPgStages(const std::vector<std::string>& names) {
  std::vector<std::string> rest;
  std::map<std::string, PgStage> stages;
  {
    std::lock_guard lock(mutex_);
    for (const auto& n : names) {
      auto it = pg_stages_.find(n);
      if (it == pg_stages_.end()) {
        rest.push_back(n);
      } else {
        stages.insert(pg_stages_.extract(it));
      }
    }
  }
  for (const auto& [name, stage] : stages) {
    // Best effort: a server out of reach keeps the table, as it keeps a dead coordinator's.
    auto pg = pg::Connection::Open(stage.conninfo);
    if (pg.ok()) (void)pg->Execute("DROP TABLE IF EXISTS " + stage.quoted);
    leases_.RemoveTable(name);
  }
  return rest;
}

void Worker::ExpireLeases() {
  for (const LeaseTable::Expired& e : leases_.TakeExpired()) {
    // Fragments first, so that none goes on filling a table about to be dropped. A write
    // that is interrupted removes its temporary files itself (exec::WritePart).
    int cancelled = 0;
    for (const auto& query : e.queries) cancelled += Cancel(query) ? 1 : 0;
    Status dropped = Status::OK();
    std::vector<std::string> tables = DropPgStages(e.tables);
    if (!tables.empty()) {
      v1::DropTableRequest drop;
      drop.set_if_exists(true);
      drop.set_lease_id(e.lease);
      for (const auto& t : tables) drop.add_more_tables(t);
      dropped = DropTable(drop);
    }
    metrics_->AddLeaseExpired();
    if (!options_.on_event) continue;
    auto list = [](const std::vector<std::string>& names) {
      std::string joined;
      for (const auto& n : names) joined += (joined.empty() ? "" : ",") + n;
      return joined;
    };
    Event event{
        "query.lease_expired",
        {{"silent_seconds", e.silent_seconds},
         {"lease_timeout_seconds", std::chrono::duration<double>(leases_.timeout()).count()},
         {"queries_cancelled", static_cast<double>(cancelled)},
         {"tables_dropped", static_cast<double>(e.tables.size())}},
        {{"lease", e.lease}, {"queries", list(e.queries)}, {"tables", list(e.tables)}}};
    if (!dropped.ok()) event.metadata["error"] = dropped.message();
    std::string address;
    {
      std::lock_guard lock(mutex_);
      address = options_.address;
    }
    event.metadata["address"] = address;
    options_.on_event(event);
  }
}

Result<v1::RenewLeaseReply> Worker::RenewLease(const v1::RenewLeaseRequest& request) {
  if (request.lease_id().empty()) return Status::InvalidArgument("RenewLease: no lease id");
  DUX_RETURN_NOT_OK(leases_.Renew(request.lease_id()));
  v1::RenewLeaseReply reply;
  reply.set_timeout_seconds(std::chrono::duration<double>(leases_.timeout()).count());
  return reply;
}

void Worker::Reinterrupt() {
  // Wakes every 20 ms only while a cancelled query still runs; otherwise it sleeps until a
  // cancellation (Cancel, CancelAll) or the stop. An idle worker spends no CPU here: a worker
  // held to a small CPU share (test/cluster/straggler_test.cc) would spend that share waking.
  auto any_cancelled = [this] {
    return std::any_of(running_.begin(), running_.end(),
                       [](const auto& entry) { return entry.second.cancelled; });
  };
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    stop_cv_.wait(lock, [&] { return stopping_ || any_cancelled(); });
    for (auto& [id, q] : running_) {
      if (q.cancelled) q.connection->Interrupt();
    }
    stop_cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stopping_; });
  }
}

Status Worker::CheckPathAllowed(const std::string& path, const char* verb) const {
  // A URL is reached only through DuckDB's file systems (exec::UrlFiles included), which
  // the database's own confinement covers.
  if (options_.allowed_directories.empty() || exec::IsUrl(path)) return Status::OK();
  // The throwing overloads would end the process on an empty path (found by
  // fuzz/worker_path_fuzzer): every call here takes an error code.
  if (path.empty()) return Status::InvalidArgument(fmt::format("{}: needs a path", verb));
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  std::string full;
  if (!ec) full = std::filesystem::weakly_canonical(absolute, ec).string();
  // A symlink that points nowhere stays as written in `full`, but a write follows it
  // (exec/output_target.cc) and would create its target wherever it is.
  std::error_code missing;
  if (!ec && std::filesystem::is_symlink(std::filesystem::symlink_status(absolute, missing)) &&
      !std::filesystem::exists(full, missing)) {
    full.clear();
  }
  for (const auto& dir : options_.allowed_directories) {
    if (!ec && full.rfind(dir + "/", 0) == 0) return Status::OK();
  }
  return Status(
      StatusCode::kPermissionDenied,
      fmt::format("{}: \"{}\" is outside the directories this worker may access", verb, path));
}

namespace {

/// The bytes a fragment's connection reads (s3_filesystem/read_bytes.h), added to the
/// worker's metrics as they are taken: by Take for the fragment's stats, and at the end
/// for what is left (all of it when the fragment failed).
class BytesRead {
 public:
  BytesRead(duckdb_connection connection, WorkerMetrics* metrics)
      : connection_(connection), metrics_(metrics) {}
  BytesRead(BytesRead&& other) noexcept
      : connection_(std::exchange(other.connection_, nullptr)), metrics_(other.metrics_) {}
  BytesRead& operator=(BytesRead&&) = delete;
  ~BytesRead() { Take(); }

  uint64_t Take() {
    if (connection_ == nullptr) return 0;
    uint64_t bytes = s3_filesystem::TakeBytesRead(connection_);
    metrics_->AddBytesRead(bytes);
    return bytes;
  }

 private:
  duckdb_connection connection_;
  WorkerMetrics* metrics_;
};

}  // namespace

struct Worker::OpenedFragment {
  pipeline::Script script;
  // The references of every query the fragment's compiles checked, by SQL: what the
  // fragment cache keeps of the one the fragment runs, without parsing it again.
  std::shared_ptr<std::map<std::string, sql::TableReferences>> checked;
  std::unique_ptr<engine::LocalEngine> engine;
  BytesRead bytes_read;              // after `engine`: taken while its connection is open
  std::unique_ptr<Running> running;  // after `engine`, so it is unregistered first
};

Result<Worker::OpenedFragment> Worker::OpenFragment(const v1::Fragment& fragment) {
  // The fragment comes from its coordinator: word that its query lives.
  DUX_RETURN_NOT_OK(leases_.Renew(fragment.lease_id()));
  DUX_ASSIGN_OR_RETURN(pipeline::Script decoded, pipeline::FromProto(fragment.script()));
  auto* script = &decoded;
  // DuckDB confines its own file access; dux reads Arrow files and writes to_arrow itself.
  for (const auto& [path, loc] : pipeline::ArrowSourcePaths(script->pipeline)) {
    DUX_RETURN_NOT_OK(CheckPathAllowed(path, "from_arrow"));
  }
  if (script->pipeline.sink()) {
    if (auto* a = std::get_if<pipeline::ToArrowSink>(&script->pipeline.sink()->body)) {
      DUX_RETURN_NOT_OK(CheckPathAllowed(a->path, "to_arrow"));
    }
  }
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<engine::LocalEngine> engine, engine::LocalEngine::Open(db_));
  auto checked = std::make_shared<std::map<std::string, sql::TableReferences>>();
  engine->CheckCompiledQueries([this, lease = fragment.lease_id(), e = engine.get(),
                                checked](const sql::CompiledQuery& query) -> Status {
    DUX_ASSIGN_OR_RETURN(sql::TableReferences refs,
                         sql::ReferencedTables(&e->connection(), query.Sql()));
    DUX_RETURN_NOT_OK(CheckReferencesOfLease(refs, lease));
    (*checked)[query.Sql()] = std::move(refs);
    return Status::OK();
  });
  // Attached databases belong to the whole DuckDB instance: fragments share them.
  {
    std::lock_guard lock(attach_mutex_);
    for (const auto& a : script->attachments) {
      DUX_RETURN_NOT_OK(engine->Attach(a, /*if_not_exists=*/true));
    }
  }
  // The run's S3 settings, on this fragment's own connection only. A confined worker reaches
  // S3 only where and as its own environment says: a run may not point it at another
  // endpoint, off TLS, or at another profile's credentials.
  if (!options_.allowed_directories.empty() &&
      (script->s3.endpoint || script->s3.tls || script->s3.profile)) {
    return Status(StatusCode::kPermissionDenied,
                  "s3: this worker is confined (--allow-dir): a run cannot change its S3 "
                  "endpoint, TLS or profile" +
                      script->s3.loc.Suffix());
  }
  if (!script->s3.empty()) DUX_RETURN_NOT_OK(engine->UseS3Settings(script->s3));
  DUX_RETURN_NOT_OK(engine->BeginRun());
  DUX_ASSIGN_OR_RETURN(auto running, Running::Start(this, fragment.query_id(), fragment.lease_id(),
                                                    &engine->connection()));
  BytesRead bytes_read(engine->connection().get(), metrics_.get());
  return OpenedFragment{std::move(decoded), std::move(checked), std::move(engine),
                        std::move(bytes_read), std::move(running)};
}

MemoryLimits Worker::Limits() const {
  return {options_.memory_limit, options_.temp_directory, options_.max_temp_directory_size};
}

Status Worker::Execute(const v1::ExecuteRequest& request, ChunkWriter* out) {
  return ExplainOutOfMemory(metrics_->MeterFragment([&] { return ExecuteFragment(request, out); }),
                            Limits());
}

Status Worker::ExecuteFragment(const v1::ExecuteRequest& request, ChunkWriter* out) {
  DUX_ASSIGN_OR_RETURN(OpenedFragment f, OpenFragment(request.fragment()));
  const pipeline::Script& script = f.script;
  engine::LocalEngine* engine = f.engine.get();
  arrow_ipc::WriteOptions options;
  DUX_ASSIGN_OR_RETURN(options.compression, exec::ParseCompression(request.compression()));
  FragmentMonitor monitor(&engine->connection(), memory_.get(), out);
  // What comes back: the rows, or one row per bucket for a shuffle (its rows go to the
  // bucket owners), or the insert's report. `produced`: the rows the fragment made when
  // they are not those returned.
  std::string result;
  std::optional<int64_t> produced;
  int64_t exchanged = 0;
  std::optional<PartialAggregationDecision> partial_aggregation;
  if (request.fragment().has_postgres_insert()) {
    DUX_ASSIGN_OR_RETURN(result, InsertShare(f, request.fragment(), &produced));
  } else {
    if (script.pipeline.sink()) {
      return Status::InvalidArgument(
          std::string(script.pipeline.sink()->Verb()) +
          ": Execute returns rows; a fragment that writes goes to Write");
    }
    const std::optional<std::string> key = FragmentCache::KeyOf(request.fragment(), script);
    if (std::optional<CompiledFragment> cached = key ? fragments_.Find(*key) : std::nullopt) {
      // Checked against this fragment's lease, as every query a fragment runs is; the SQL's
      // references were parsed when it was kept (0.5-1 ms of json_serialize_sql).
      DUX_RETURN_NOT_OK(CheckReferencesOfLease(cached->references, request.fragment().lease_id()));
      result = std::move(cached->sql);
      partial_aggregation = cached->partial_aggregation;
    } else {
      DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, engine->Compile(script.pipeline));
      if (request.fragment().has_adaptive_partial_aggregate()) {
        DUX_ASSIGN_OR_RETURN(
            PartialAggregationChoice choice,
            ChoosePartialAggregation(engine, script.pipeline, query,
                                     request.fragment().adaptive_partial_aggregate()));
        query = std::move(choice.query);
        partial_aggregation = choice.decision;
      }
      result = query.Sql();
      // Every query a compile returns was checked, this one too (its references known).
      auto checked = f.checked->find(result);
      if (key && checked != f.checked->end()) {
        fragments_.Put(*key, {result, checked->second, partial_aggregation});
      }
      if (request.fragment().has_shuffle()) {
        DUX_ASSIGN_OR_RETURN(
            result, RouteToOwners(engine, query, request.fragment().shuffle(),
                                  request.fragment().lease_id(), options, &produced, &exchanged));
        options = {};
      }
    }
  }
  ChunkedOutput chunks(out, metrics_.get());
  auto rows = exec::WriteQueryIpc(engine->connection(), result, &chunks, options);
  if (chunks.gone()) return Status(StatusCode::kCancelled, "the receiver went away");
  if (!rows.ok()) return rows.status();
  // The query id is free again before the caller can see the end of the stream, so that a
  // caller may reuse it at once.
  f.running.reset();
  DUX_RETURN_NOT_OK(chunks.Send());
  const int64_t made = produced.value_or(*rows);
  metrics_->AddRowsOut(made);
  metrics_->AddExchangeSent(exchanged);
  v1::IpcChunk end;
  *end.mutable_stats() = monitor.Finish(made);
  end.mutable_stats()->set_exchanged_bytes(exchanged);
  end.mutable_stats()->set_read_bytes(static_cast<int64_t>(f.bytes_read.Take()));
  if (partial_aggregation) {
    end.mutable_stats()->set_partial_aggregation(partial_aggregation->skip ? "skipped" : "kept");
    end.mutable_stats()->set_rows_per_group(partial_aggregation->rows_per_group);
  }
  if (!out->Report(std::move(end))) return Status(StatusCode::kCancelled, "the receiver went away");
  return Status::OK();
}

Result<std::string> Worker::InsertShare(OpenedFragment& f, const v1::Fragment& fragment,
                                        std::optional<int64_t>* inserted) {
  const pipeline::Pipeline& pipeline = f.script.pipeline;
  engine::LocalEngine* engine = f.engine.get();
  const auto* sink =
      pipeline.sink() ? std::get_if<pipeline::InsertIntoSink>(&pipeline.sink()->body) : nullptr;
  size_t dot = sink ? sink->table.find('.') : std::string::npos;
  pg::Connection* pg =
      dot == std::string::npos ? nullptr : engine->postgres(sink->table.substr(0, dot));
  if (!pg) {
    return Status::InvalidArgument(
        "a PostgreSQL insert needs a fragment that ends in insert_into a PostgreSQL attachment");
  }
  DUX_ASSIGN_OR_RETURN(pg::TableName table, pg::ParseTableName(sink->table.substr(dot + 1)));
  // The rows without the sink, compiled (and a PostgreSQL slice read) here.
  pipeline::Pipeline rows_only(pipeline.source());
  for (const auto& op : pipeline.ops()) rows_only.Append(op);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, engine->Compile(rows_only));
  pg::InsertTarget target{table, sink->create, sink->atomic, sink->table};
  pg::WorkerShare share;
  if (fragment.postgres_insert().staging()) {
    share.stage = pg::AttemptStagingName(fragment.query_id());
  } else {
    target.create = false;  // the coordinator made it
  }
  auto rows = pg::InsertQuery(engine->connection(), query.Sql(), query.schema, *pg, target, &share);
  if (!rows.ok()) return rows.status();
  if (!share.stage.empty() && !fragment.lease_id().empty()) {
    // Committed: the staging table is the lease's until the coordinator has moved it. (No
    // lease, nothing would ever release the record.)
    const pipeline::Attachment* a = engine->FindAttachment(sink->table.substr(0, dot));
    {
      std::lock_guard lock(mutex_);
      pg_stages_[share.stage] = {a ? a->path : "",
                                 pg::TableName{table.schema, share.stage}.Quoted()};
    }
    if (Status held = leases_.AddTable(fragment.lease_id(), share.stage); !held.ok()) {
      // Its lease expired or its query cleaned up meanwhile: nobody will move it.
      (void)DropPgStages({share.stage});
      return held;
    }
  }
  *inserted = *rows;
  return fmt::format("SELECT CAST({} AS BIGINT) AS rows", *rows);
}

Result<std::string> Worker::RouteToOwners(engine::LocalEngine* engine,
                                          const sql::CompiledQuery& query,
                                          const v1::ShuffleTarget& target, const std::string& lease,
                                          const arrow_ipc::WriteOptions& options,
                                          std::optional<int64_t>* routed, int64_t* pushed) {
  std::string self;
  PeerConnector peers;
  {
    std::lock_guard lock(mutex_);
    self = options_.address;
    peers = peers_;
  }
  if (!peers) {
    peers = [](const std::string& address) -> Result<std::shared_ptr<protocol::WorkerClient>> {
      return Status::FailedPrecondition("this worker cannot reach its peer " + address);
    };
  }
  auto store = [this, &lease](const std::string& exchange, int bucket,
                              const exec::RoutedColumns& columns) {
    return OpenBucket(lease, exchange, bucket, columns);
  };
  DUX_ASSIGN_OR_RETURN(
      std::vector<BucketStats> stats,
      Shuffle(engine->connection(), query.Sql(), target, lease, self, options, peers, store));
  int64_t rows = 0;
  for (const auto& bucket : stats) {
    rows += bucket.rows;
    *pushed += bucket.ipc_bytes;
  }
  *routed = rows;
  return BucketStatsQuery(stats);
}

Result<std::unique_ptr<exec::RowSink>> Worker::OpenBucket(const std::string& lease,
                                                          const std::string& exchange, int bucket,
                                                          const exec::RoutedColumns& columns) {
  if (exchange.empty() || bucket < 0) {
    return Status::InvalidArgument("a bucket chunk needs an exchange id and a bucket >= 0");
  }
  std::string name = protocol::BucketTable(exchange, bucket);
  // Claimed before it exists, so that an expiry from now on drops it.
  DUX_RETURN_NOT_OK(leases_.AddTable(lease, name));
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<exec::RowSink> sink, buckets_->Open(*db_, name, columns));
  {
    std::lock_guard lock(mutex_);
    tables_.insert(name);
  }
  DUX_RETURN_NOT_OK(DropIfLeaseExpired(lease, name));
  return sink;
}

Result<int64_t> Worker::ImportInto(const std::string& table, const std::string& lease,
                                   arrow_ipc::InputStream* ipc, bool append) {
  if (table.empty()) return Status::InvalidArgument("a table needs a name");
  // The coordinator's own call: it renews the lease, and the table is held for it.
  DUX_RETURN_NOT_OK(leases_.Renew(lease));
  DUX_RETURN_NOT_OK(leases_.AddTable(lease, table));
  auto c = exec::Connection::Open(*db_);
  Result<int64_t> rows =
      c.ok() ? exec::ImportIpc(*c, table, Borrow(ipc),
                               append ? exec::TableMode::kAppend : exec::TableMode::kPersistent)
             : Result<int64_t>(c.status());
  if (!rows.ok()) {
    if (!append) leases_.RemoveTable(table);  // no table was made
    return rows.status();
  }
  {
    std::lock_guard lock(mutex_);
    tables_.insert(table);
  }
  DUX_RETURN_NOT_OK(DropIfLeaseExpired(lease, table));
  return rows;
}

Status Worker::CheckReferencesOfLease(const sql::TableReferences& refs,
                                      const std::string& lease) const {
  for (const char* f : {"query", "query_table"}) {
    if (refs.functions.count(f) != 0) {
      return Status(StatusCode::kPermissionDenied,
                    std::string(f) +
                        "() cannot run on a worker: the table it names by a string could be "
                        "another query's");
    }
  }
  for (const auto& t : refs.tables) DUX_RETURN_NOT_OK(leases_.CheckAccess(lease, t));
  return Status::OK();
}

Status Worker::DropIfLeaseExpired(const std::string& lease, const std::string& table) {
  // The lease may have expired while the table was being made, after its expiry dropped what
  // the lease held: the maker drops it then.
  if (leases_.Holds(lease, table)) return Status::OK();
  v1::DropTableRequest drop;
  drop.set_table(table);
  drop.set_if_exists(true);
  drop.set_lease_id(lease);
  (void)DropTable(drop);
  return leases_.Renew(lease);  // names the expired lease
}

Result<int64_t> Worker::RegisterTable(const std::string& table, const std::string& lease,
                                      arrow_ipc::InputStream* ipc) {
  auto rows = ImportInto(table, lease, ipc, /*append=*/false);
  if (!rows.ok()) return ExplainOutOfMemory(rows.status(), Limits());
  metrics_->AddBroadcastReceived(*rows);
  return rows;
}

Result<int64_t> Worker::AppendChunk(const v1::AppendChunkRequest& request) {
  arrow_ipc::StringInputStream in(request.data());
  auto rows = ImportInto(request.table(), request.lease_id(), &in, /*append=*/true);
  if (!rows.ok()) return ExplainOutOfMemory(rows.status(), Limits());
  return rows;
}

// How long a cleanup's drop of one table is tried again (see DropTable).
constexpr auto kCleanupDropPatience = std::chrono::seconds(5);

Status Worker::DropTable(const v1::DropTableRequest& request) {
  std::vector<std::string> tables;
  if (!request.table().empty()) tables.push_back(request.table());
  tables.insert(tables.end(), request.more_tables().begin(), request.more_tables().end());
  if (tables.empty() ||
      std::any_of(tables.begin(), tables.end(), [](const auto& t) { return t.empty(); })) {
    return Status::InvalidArgument("a table needs a name");
  }
  for (const auto& t : tables) DUX_RETURN_NOT_OK(leases_.CheckAccess(request.lease_id(), t));
  const std::vector<std::string> requested = tables;
  // Staging tables in PostgreSQL named here were moved (or dropped) by the coordinator: the
  // worker only forgets them.
  {
    std::lock_guard lock(mutex_);
    std::erase_if(tables, [&](const std::string& t) {
      if (pg_stages_.erase(t) == 0) return false;
      leases_.RemoveTable(t);
      return true;
    });
  }
  if (tables.empty()) return Status::OK();
  // Buckets held in memory go once the tables are dropped (all or none, see below).
  std::vector<std::string> held;
  std::erase_if(tables, [&](const std::string& t) {
    bool in_memory = buckets_->Holds(t);
    if (in_memory) held.push_back(t);
    return in_memory;
  });
  DUX_ASSIGN_OR_RETURN(exec::Connection c, exec::Connection::Open(*db_));
  // All or none when every table must exist; a cleanup (if_exists) drops what it can, each
  // table on its own, and reports the first failure.
  bool all_or_none = !request.if_exists();
  if (all_or_none) DUX_RETURN_NOT_OK(c.Execute("BEGIN TRANSACTION").status());
  Status dropped;
  std::vector<std::string> gone;
  for (const auto& t : tables) {
    const std::string drop =
        std::string("DROP TABLE ") + (all_or_none ? "" : "IF EXISTS ") + sql::QuoteIdentifier(t);
    Status one = c.Execute(drop).status();
    // A cleanup after a failed query may come while a cancelled fragment of that query still
    // appends to the table (DuckDB refuses the drop as a write-write conflict until that
    // fragment's transaction has ended): tried again for a while, as the fragment ends soon.
    for (auto until = std::chrono::steady_clock::now() + kCleanupDropPatience;
         !one.ok() && !all_or_none && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      one = c.Execute(drop).status();
    }
    if (one.ok()) gone.push_back(t);
    if (dropped.ok()) dropped = one;
    if (!dropped.ok() && all_or_none) break;
  }
  if (all_or_none && dropped.ok()) dropped = c.Execute("COMMIT").status();
  if (all_or_none && !dropped.ok()) {
    (void)c.Execute("ROLLBACK");
    gone.clear();
  }
  if (dropped.ok() || !all_or_none) {
    for (const auto& t : held) {
      (void)buckets_->Drop(t);
      gone.push_back(t);
    }
  }
  for (const auto& t : gone) leases_.RemoveTable(t);
  if (dropped.ok() || !all_or_none) {
    for (const auto& t : requested) leases_.Dropped(request.lease_id(), t);
  }
  std::lock_guard lock(mutex_);
  for (const auto& t : gone) tables_.erase(t);
  return dropped;
}

Result<v1::PushBucketsReply> Worker::PushBuckets(
    const std::function<Result<bool>(v1::BucketChunk*)>& next) {
  auto reply = StoreBuckets(next);
  if (!reply.ok()) return ExplainOutOfMemory(reply.status(), Limits());
  return reply;
}

Result<v1::PushBucketsReply> Worker::StoreBuckets(
    const std::function<Result<bool>(v1::BucketChunk*)>& next) {
  // One bucket's chunks as the bytes of its IPC stream, up to the chunk marked last.
  class BucketInput : public arrow_ipc::InputStream {
   public:
    BucketInput(const std::function<Result<bool>(v1::BucketChunk*)>& next, v1::BucketChunk* chunk,
                int64_t* bytes)
        : next_(next), chunk_(chunk), bytes_(bytes) {
      *bytes_ += static_cast<int64_t>(chunk->data().size());
    }
    Result<size_t> Read(void* data, size_t size) override {
      while (offset_ == chunk_->data().size()) {
        if (chunk_->last()) return size_t{0};
        std::string exchange = chunk_->exchange_id();
        int bucket = chunk_->bucket();
        DUX_ASSIGN_OR_RETURN(bool more, next_(chunk_));
        if (!more) return Status::InvalidArgument("a bucket's stream ended without its last chunk");
        if (chunk_->exchange_id() != exchange || chunk_->bucket() != bucket) {
          return Status::InvalidArgument("a bucket's chunks were interleaved with another's");
        }
        *bytes_ += static_cast<int64_t>(chunk_->data().size());
        offset_ = 0;
      }
      size_t n = std::min(size, chunk_->data().size() - offset_);
      std::memcpy(data, chunk_->data().data() + offset_, n);
      offset_ += n;
      return n;
    }
    /// Reads what the IPC reader left, up to the last chunk.
    Status Drain() {
      char sink[4096];
      for (;;) {
        DUX_ASSIGN_OR_RETURN(size_t n, Read(sink, sizeof(sink)));
        if (n == 0) return Status::OK();
      }
    }

   private:
    const std::function<Result<bool>(v1::BucketChunk*)>& next_;
    v1::BucketChunk* chunk_;
    int64_t* bytes_;
    size_t offset_ = 0;
  };
  v1::PushBucketsReply reply;
  v1::BucketChunk chunk;
  int64_t bytes = 0;
  for (;;) {
    DUX_ASSIGN_OR_RETURN(bool more, next(&chunk));
    if (!more) break;
    BucketInput in(next, &chunk, &bytes);
    std::string exchange = chunk.exchange_id();
    std::string lease = chunk.lease_id();
    int bucket = chunk.bucket();
    DUX_ASSIGN_OR_RETURN(exec::Connection c, exec::Connection::Open(*db_));
    DUX_ASSIGN_OR_RETURN(int64_t rows,
                         exec::ReadIpcChunks(c, Borrow(&in), [&](const exec::RoutedColumns& cols) {
                           return OpenBucket(lease, exchange, bucket, cols);
                         }));
    DUX_RETURN_NOT_OK(in.Drain());
    reply.set_rows(reply.rows() + rows);
  }
  reply.set_bytes(bytes);
  metrics_->AddExchangeReceived(bytes, reply.rows());
  return reply;
}

Result<v1::WriteReply> Worker::Write(const v1::WriteRequest& request) {
  auto written = metrics_->MeterFragment([&] {
    auto reply = WriteFragment(request);
    if (reply.ok()) metrics_->AddRowsOut(reply->rows());
    return reply;
  });
  if (!written.ok()) return ExplainOutOfMemory(written.status(), Limits());
  return written;
}

Result<v1::WriteReply> Worker::WriteFragment(const v1::WriteRequest& request) {
  DUX_ASSIGN_OR_RETURN(OpenedFragment f, OpenFragment(request.fragment()));
  const pipeline::Script& script = f.script;
  engine::LocalEngine* engine = f.engine.get();
  const auto& sink = script.pipeline.sink();
  if (!sink || std::holds_alternative<pipeline::InsertIntoSink>(sink->body)) {
    return Status::InvalidArgument("Write needs a fragment that ends in a file sink");
  }
  // DuckDB confines its own writes; the directories a part write creates are dux's.
  DUX_RETURN_NOT_OK(CheckPathAllowed(exec::SinkPath(*sink), sink->Verb()));
  exec::WriteReport report;
  if (request.write_id().empty()) {
    DUX_ASSIGN_OR_RETURN(report, engine->Write(script.pipeline));
  } else {
    if (!exec::WritesDirectory(*sink)) {
      return Status::InvalidArgument(std::string(sink->Verb()) +
                                     ": a partition of a write goes into a directory");
    }
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, engine->Compile(script.pipeline));
    DUX_ASSIGN_OR_RETURN(
        report, exec::WritePart(engine->connection(), *sink, query,
                                {request.write_id(), request.partition(), request.retry()}));
  }
  v1::WriteReply reply;
  reply.set_rows(report.rows);
  for (const auto& f : report.files) reply.add_files(f);
  return reply;
}

Result<v1::InsertIntoReply> Worker::InsertInto(const v1::InsertIntoRequest& request) {
  auto inserted = metrics_->MeterFragment([&] {
    auto reply = InsertIntoFragment(request);
    if (reply.ok()) metrics_->AddRowsOut(reply->rows());
    return reply;
  });
  if (!inserted.ok()) return ExplainOutOfMemory(inserted.status(), Limits());
  return inserted;
}

Result<v1::InsertIntoReply> Worker::InsertIntoFragment(const v1::InsertIntoRequest& request) {
  DUX_ASSIGN_OR_RETURN(OpenedFragment f, OpenFragment(request.fragment()));
  const pipeline::Script& script = f.script;
  engine::LocalEngine* engine = f.engine.get();
  const auto& sink = script.pipeline.sink();
  if (!sink || !std::holds_alternative<pipeline::InsertIntoSink>(sink->body)) {
    return Status::InvalidArgument("InsertInto needs a fragment that ends in insert_into");
  }
  DUX_ASSIGN_OR_RETURN(exec::WriteReport report, engine->Write(script.pipeline));
  v1::InsertIntoReply reply;
  reply.set_rows(report.rows);
  return reply;
}

void Worker::SetAddress(std::string address) {
  std::lock_guard lock(mutex_);
  options_.address = std::move(address);
}

WorkerMetrics::TablesHeld Worker::CountTablesHeld() {
  WorkerMetrics::TablesHeld held;
  std::lock_guard lock(mutex_);
  for (const auto& t : tables_) ++(protocol::IsBucketTable(t) ? held.buckets : held.broadcasts);
  return held;
}

void Worker::SetPeerConnector(PeerConnector peers) {
  std::lock_guard lock(mutex_);
  peers_ = std::move(peers);
}

Result<v1::InfoReply> Worker::Info() {
  v1::InfoReply reply;
  reply.set_duckdb_version(duckdb_library_version());
  DUX_ASSIGN_OR_RETURN(exec::Connection c, exec::Connection::Open(*db_));
  DUX_ASSIGN_OR_RETURN(sql::TextRows settings,
                       c.QueryText("SELECT CAST(current_setting('threads') AS VARCHAR)"));
  reply.set_threads(std::stoi(settings[0][0].value_or("0")));
  reply.set_dux_version(DuxVersion());
  reply.set_uptime_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  std::lock_guard lock(mutex_);
  reply.set_address(options_.address);
  reply.set_memory_limit(options_.memory_limit);  // DuckDB's and the buckets' together
  for (const auto& t : tables_) reply.add_tables(t);
  for (const auto& [id, q] : running_) reply.add_running_queries(id);
  return reply;
}

bool Worker::Cancel(const std::string& query_id) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(query_id);
  if (it == running_.end()) return false;
  it->second.cancelled = true;
  it->second.connection->Interrupt();
  stop_cv_.notify_all();  // the re-interrupter
  return true;
}

void Worker::CancelAll() {
  std::lock_guard lock(mutex_);
  for (auto& [id, q] : running_) {
    q.cancelled = true;
    q.connection->Interrupt();
  }
  stop_cv_.notify_all();  // the re-interrupter
}

}  // namespace dux::worker
