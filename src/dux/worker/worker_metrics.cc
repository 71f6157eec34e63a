#include "dux/worker/worker_metrics.h"

#include <duckdb.h>

#include "dux/common/version.h"
#include "dux/worker/bucket_store.h"

namespace dux::worker {

WorkerMetrics::WorkerMetrics(std::shared_ptr<exec::Database> db,
                             std::shared_ptr<BucketStore> buckets,
                             std::function<TablesHeld()> tables, const std::string& memory_limit)
    : db_(std::move(db)),
      buckets_(std::move(buckets)),
      tables_(std::move(tables)),
      running_(registry_.AddGauge("dux_worker_fragments_running", "Fragments running now.").Get()),
      fragments_(registry_.AddCounter("dux_worker_fragments_total",
                                      "Fragments finished, by outcome (ok, cancelled, failed).",
                                      {"status"})),
      duration_(registry_
                    .AddHistogram("dux_worker_fragment_duration_seconds",
                                  "Wall time of finished fragments.", DurationBuckets())
                    .Get()),
      read_bytes_(registry_
                      .AddCounter("dux_worker_read_bytes_total",
                                  "Bytes fragments read from files (local or s3://), as DuckDB "
                                  "counts its reads.")
                      .Get()),
      sent_bytes_(registry_
                      .AddCounter("dux_worker_sent_bytes_total",
                                  "Arrow IPC bytes of results sent to coordinators.")
                      .Get()),
      rows_out_(registry_
                    .AddCounter("dux_worker_rows_out_total",
                                "Rows fragments produced: returned to coordinators, routed to "
                                "exchange buckets, written or inserted.")
                    .Get()),
      exchange_sent_bytes_(registry_
                               .AddCounter("dux_worker_exchange_sent_bytes_total",
                                           "Arrow IPC bytes shuffle fragments pushed to other "
                                           "workers' buckets.")
                               .Get()),
      exchange_bytes_(registry_
                          .AddHistogram("dux_worker_exchange_received_bytes",
                                        "Arrow IPC bytes of each exchange stream received from "
                                        "a peer (a worker's own buckets never travel).",
                                        ExponentialBuckets(1024, 4, 12))
                          .Get()),
      exchange_rows_(registry_
                         .AddCounter("dux_worker_exchange_received_rows_total",
                                     "Rows of exchange buckets received from peers.")
                         .Get()),
      broadcasts_(registry_
                      .AddCounter("dux_worker_broadcast_tables_received_total",
                                  "Tables registered by coordinators (broadcast sides).")
                      .Get()),
      broadcast_rows_(registry_
                          .AddCounter("dux_worker_broadcast_received_rows_total",
                                      "Rows of the tables registered by coordinators.")
                          .Get()),
      leases_expired_(registry_
                          .AddCounter("dux_worker_leases_expired_total",
                                      "Leases of queries that expired holding fragments or "
                                      "tables, which the worker then cancelled and dropped "
                                      "(their coordinator had gone silent).")
                          .Get()),
      memory_(registry_.AddGauge("dux_worker_memory_bytes",
                                 "Memory in use: DuckDB's buffer pool (pool=duckdb) and "
                                 "exchange buckets held outside it (pool=buckets).",
                                 {"pool"})),
      tables_held_(registry_.AddGauge("dux_worker_tables",
                                      "Tables held now: exchange buckets and registered tables.",
                                      {"kind"})),
      uptime_(registry_.AddGauge("dux_worker_uptime_seconds", "Seconds since the worker started.")
                  .Get()) {
  Result<int64_t> limit = ParseMemorySize(memory_limit);
  registry_
      .AddGauge("dux_worker_memory_limit_bytes",
                "The worker's memory limit (DuckDB and exchange buckets together).")
      .Get()
      .Set(limit.ok() ? static_cast<double>(*limit) : 0);
  registry_
      .AddGauge("dux_worker_info", "Always 1; the labels describe the worker.",
                {"version", "duckdb_version"})
      .With({DuxVersion(), duckdb_library_version()})
      .Set(1);
  for (const char* status : {"ok", "cancelled", "failed"}) fragments_.With({status});
  registry_.OnRender([this] { Refresh(); });
}

void WorkerMetrics::FragmentEnded(const Status& status, double seconds) {
  const char* outcome = status.ok()                               ? "ok"
                        : status.code() == StatusCode::kCancelled ? "cancelled"
                                                                  : "failed";
  fragments_.With({outcome}).Increment();
  duration_.Observe(seconds);
}

void WorkerMetrics::AddExchangeReceived(int64_t bytes, int64_t rows) {
  exchange_bytes_.Observe(static_cast<double>(bytes));
  exchange_rows_.Increment(static_cast<double>(rows));
}

void WorkerMetrics::AddBroadcastReceived(int64_t rows) {
  broadcasts_.Increment();
  broadcast_rows_.Increment(static_cast<double>(rows));
}

void WorkerMetrics::Refresh() {
  uptime_.Set(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  // DuckDB's own account of its memory; a failure leaves the last value (a scrape must not
  // fail because one figure could not be read).
  if (auto c = exec::Connection::Open(*db_); c.ok()) {
    auto rows = c->QueryText(
        "SELECT CAST(coalesce(sum(memory_usage_bytes), 0) AS VARCHAR) FROM "
        "duckdb_memory()");
    if (rows.ok() && !rows->empty() && (*rows)[0][0]) {
      memory_.With({"duckdb"}).Set(std::stod(*(*rows)[0][0]));
    }
  }
  memory_.With({"buckets"}).Set(static_cast<double>(buckets_->bytes()));
  TablesHeld held = tables_();
  tables_held_.With({"bucket"}).Set(held.buckets);
  tables_held_.With({"broadcast"}).Set(held.broadcasts);
}

}  // namespace dux::worker
