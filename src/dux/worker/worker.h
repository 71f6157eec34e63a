// The worker's engine: what a `dux worker` does for each call of the protocol, whatever
// transport brought it (rpc/ adapts gRPC to it; in_process_client.h calls it directly).
// One embedded DuckDB per worker; every query on its own connection, so several run at once
// and share the registered tables.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"
#include "dux/common/telemetry.h"
#include "dux/engine/database.h"
#include "dux/engine/local_engine.h"
#include "dux/v1/worker.pb.h"
#include "dux/worker/bucket_store.h"
#include "dux/worker/fragment_cache.h"
#include "dux/worker/lease_table.h"
#include "dux/worker/out_of_memory.h"
#include "dux/worker/shuffle.h"
#include "dux/worker/worker_metrics.h"

namespace dux::worker {

struct WorkerOptions {
  std::string address;  ///< reported by Info
  int threads = 0;      ///< 0: DuckDB's default
  std::string memory_limit;
  std::string temp_directory;
  /// The most the spill files in temp_directory may hold (DuckDB's max_temp_directory_size,
  /// e.g. "10GB"); empty: DuckDB's default.
  std::string max_temp_directory_size;
  /// When not empty, every file the worker reads or writes must lie under one of these
  /// (DuckDB's allowed_directories with external access otherwise disabled): local
  /// directories, and S3 prefixes "s3://bucket[/prefix]" (nothing in S3 is allowed unless
  /// listed; docs/s3.md, "Security").
  std::vector<std::string> allowed_directories;
  /// What the worker holds for a lease (Fragment.lease_id) is dropped when its coordinator
  /// has not renewed it for this long (docs/cluster.md, "Leases"). At least 1 ms.
  std::chrono::milliseconds lease_timeout{30000};
  /// Receives the worker's events (query.lease_expired), from the worker's own thread; may be
  /// empty.
  std::function<void(const Event&)> on_event;
};

class MemorySampler;

/// Where Execute sends the result's IPC chunks.
class ChunkWriter {
 public:
  virtual ~ChunkWriter() = default;
  /// Takes the chunk (moved: no copy on the way to the transport). False when the
  /// receiver has gone away: the query then stops.
  virtual bool Write(std::string chunk) = 0;
  /// Sends a message that carries a report (progress or stats) and no bytes. Called from
  /// another thread than Write (the fragment's monitor) while the query runs, and from
  /// Execute's thread after the last Write. False when the receiver has gone away. Writers
  /// that cannot carry reports drop them.
  virtual bool Report(v1::IpcChunk /*report*/) { return true; }
};

/// Thread-safe: every method may run concurrently with the others.
class Worker {
 public:
  static Result<std::unique_ptr<Worker>> Open(const WorkerOptions& options);
  ~Worker();

  Status Execute(const v1::ExecuteRequest& request, ChunkWriter* out);
  /// Registers `table`, held for `lease` (may be empty).
  Result<int64_t> RegisterTable(const std::string& table, const std::string& lease,
                                arrow_ipc::InputStream* ipc);
  Result<int64_t> AppendChunk(const v1::AppendChunkRequest& request);
  Status DropTable(const v1::DropTableRequest& request);
  /// Stores every chunk `next` yields (false at the end) into its bucket.
  Result<v1::PushBucketsReply> PushBuckets(
      const std::function<Result<bool>(v1::BucketChunk*)>& next);
  Result<v1::WriteReply> Write(const v1::WriteRequest& request);
  Result<v1::InsertIntoReply> InsertInto(const v1::InsertIntoRequest& request);
  Result<v1::InfoReply> Info();
  /// Renews a lease (see LeaseTable::Renew); the reply gives the lease timeout.
  Result<v1::RenewLeaseReply> RenewLease(const v1::RenewLeaseRequest& request);
  /// Interrupts the query of that id; false if none runs.
  bool Cancel(const std::string& query_id);
  /// Interrupts every running query (shutdown).
  void CancelAll();
  /// The address Info reports, once the server knows the port it bound. Exchanges compare
  /// it with a bucket's owner to keep the worker's own buckets local.
  void SetAddress(std::string address);
  /// How the worker reaches the owners of buckets it produces (set by the transport before
  /// the first call). Without one, a shuffle to another worker fails.
  void SetPeerConnector(PeerConnector peers);
  /// The worker's metrics (worker_metrics.h), for /metrics.
  const MetricsRegistry& metrics() const { return metrics_->registry(); }

 private:
  class Running;
  struct OpenedFragment;
  Worker(WorkerOptions options, std::shared_ptr<exec::Database> db,
         std::shared_ptr<BucketStore> buckets);
  /// A fragment decoded, its paths checked, on an engine of its own on the shared database
  /// with its attachments made, registered under its query id (for Cancel) while it lives.
  Result<OpenedFragment> OpenFragment(const v1::Fragment& fragment);
  Status CheckPathAllowed(const std::string& path, const char* verb) const;
  /// PermissionDenied when a fragment's query under `lease`, whose references are `refs`,
  /// names a table another lease holds, or calls query() or query_table() (which name tables
  /// by strings).
  Status CheckReferencesOfLease(const sql::TableReferences& refs, const std::string& lease) const;
  Result<int64_t> ImportInto(const std::string& table, const std::string& lease,
                             arrow_ipc::InputStream* ipc, bool append);
  /// A sink that adds rows to bucket `bucket` of `exchange`, listed among the tables and
  /// held for `lease`.
  Result<std::unique_ptr<exec::RowSink>> OpenBucket(const std::string& lease,
                                                    const std::string& exchange, int bucket,
                                                    const exec::RoutedColumns& columns);
  /// A worker's share of a distributed insert into PostgreSQL (v1::PostgresInsert): copies
  /// the rows of `f` (whose pipeline ends in insert_into) in one transaction; returns the
  /// SELECT of the reply (one row: rows). A failure rolls the transaction back and says how
  /// many rows had been sent; `inserted` gets the rows.
  Result<std::string> InsertShare(OpenedFragment& f, const v1::Fragment& fragment,
                                  std::optional<int64_t>* inserted);
  /// Routes the fragment's rows to their bucket owners; returns the SELECT of the reply
  /// (one row per bucket, see BucketStatsQuery); `routed` gets the rows routed, `pushed`
  /// the IPC bytes pushed to other workers.
  Result<std::string> RouteToOwners(engine::LocalEngine* engine, const sql::CompiledQuery& query,
                                    const v1::ShuffleTarget& target, const std::string& lease,
                                    const arrow_ipc::WriteOptions& options,
                                    std::optional<int64_t>* routed, int64_t* pushed);

  WorkerOptions options_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::shared_ptr<exec::Database> db_;
  /// Samples db_'s memory and spill for the fragments' stats (fragment_monitor.h).
  std::unique_ptr<MemorySampler> memory_;
  std::mutex mutex_;
  struct Query {
    exec::Connection* connection;
    bool cancelled = false;
  };
  std::map<std::string, Query> running_;  ///< by query id
  /// DuckDB forgets an interrupt that lands between two statements of a fragment (binding,
  /// then running), so cancelled queries are interrupted again every few milliseconds until
  /// they end.
  void Reinterrupt();
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread reinterrupter_;
  /// Exchange buckets this worker owns, in memory up to a quarter of its memory limit.
  std::shared_ptr<BucketStore> buckets_;
  std::set<std::string> tables_;  ///< registered tables and buckets
  /// What each coordinator's lease holds; `lease_reaper_` cancels and drops what an expired
  /// one held (ExpireLeases).
  LeaseTable leases_;
  /// Drops `table`, just made for `lease`, when the lease expired meanwhile; then the
  /// lease's error.
  Status DropIfLeaseExpired(const std::string& lease, const std::string& table);
  void ReapLeases();
  void ExpireLeases();
  /// The PostgreSQL staging tables of atomic inserts' shares this worker committed, by name:
  /// held by their query's lease like its tables, so that a coordinator that dies before
  /// moving them into the target leaves none behind (its workers drop them when the lease
  /// expires). The coordinator's DropTable naming them, after its move, forgets them here.
  struct PgStage {
    std::string conninfo;  ///< the attachment's
    std::string quoted;    ///< schema-qualified, quoted
  };
  std::map<std::string, PgStage> pg_stages_;  ///< guarded by mutex_
  /// Drops those of `names` that are staging tables in PostgreSQL (best effort; the rest is
  /// left for DuckDB); returns the others.
  std::vector<std::string> DropPgStages(const std::vector<std::string>& names);
  std::thread lease_reaper_;
  std::mutex attach_mutex_;
  /// What repeated fragments compiled to (FragmentCache::KeyOf says which are kept).
  FragmentCache fragments_;
  PeerConnector peers_;  ///< guarded by mutex_
  /// What the fragments did and what the worker holds; after what it reads.
  std::unique_ptr<WorkerMetrics> metrics_;
  /// The calls of the same names, without their metering.
  Result<v1::PushBucketsReply> StoreBuckets(
      const std::function<Result<bool>(v1::BucketChunk*)>& next);
  /// The limits an out-of-memory error names (options_ as DuckDB resolved them).
  MemoryLimits Limits() const;
  Status ExecuteFragment(const v1::ExecuteRequest& request, ChunkWriter* out);
  Result<v1::WriteReply> WriteFragment(const v1::WriteRequest& request);
  Result<v1::InsertIntoReply> InsertIntoFragment(const v1::InsertIntoRequest& request);
  WorkerMetrics::TablesHeld CountTablesHeld();
};

}  // namespace dux::worker
