// A worker's Prometheus metrics (docs/observability.md, "Worker metrics"): the fragments it
// ran, the bytes and rows it sent and received, and what it holds (memory, tables). `dux
// worker --http` serves them at /metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dux/common/metrics.h"
#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"

namespace dux::worker {

class BucketStore;

/// Thread-safe. Lives inside its Worker; the refresh callbacks it is given must outlive it.
class WorkerMetrics {
 public:
  /// Tables a worker holds, by kind.
  struct TablesHeld {
    int buckets = 0;     ///< exchange buckets (in memory or moved to tables)
    int broadcasts = 0;  ///< other registered tables: broadcast sides, appended tables
  };
  /// `db` and `buckets` are read at each render for the memory in use; `tables` gives the
  /// tables held; `memory_limit` is DuckDB's and the buckets' limit together ("8.0 GiB").
  WorkerMetrics(std::shared_ptr<exec::Database> db, std::shared_ptr<BucketStore> buckets,
                std::function<TablesHeld()> tables, const std::string& memory_limit);
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  /// The metrics, rendered with MetricsRegistry::Render.
  const MetricsRegistry& registry() const { return registry_; }

  /// Runs one fragment (Execute, Write, InsertInto) `run`, which returns a Status or a
  /// Result: counted as running while it runs, then by its outcome (ok, cancelled, failed)
  /// with its duration.
  template <typename Run>
  auto MeterFragment(Run&& run) -> decltype(run()) {
    auto start = std::chrono::steady_clock::now();
    running_.Add(1);
    auto outcome = run();
    running_.Subtract(1);
    FragmentEnded(StatusOf(outcome),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return outcome;
  }

  /// Bytes a fragment's DuckDB read from files (local or s3://).
  void AddBytesRead(uint64_t bytes) { read_bytes_.Increment(static_cast<double>(bytes)); }
  /// IPC bytes of results sent towards a coordinator.
  void AddSentBytes(int64_t bytes) { sent_bytes_.Increment(static_cast<double>(bytes)); }
  /// Rows a fragment produced: returned to the coordinator, routed to an exchange's buckets,
  /// written or inserted.
  void AddRowsOut(int64_t rows) { rows_out_.Increment(static_cast<double>(rows)); }
  /// IPC bytes a shuffle fragment pushed to the other workers' buckets.
  void AddExchangeSent(int64_t bytes) {
    exchange_sent_bytes_.Increment(static_cast<double>(bytes));
  }
  /// One PushBuckets stream of a peer: its IPC bytes and rows.
  void AddExchangeReceived(int64_t bytes, int64_t rows);
  /// One table registered by a coordinator (a broadcast side) with its rows.
  void AddBroadcastReceived(int64_t rows);
  /// One lease expired holding something: its fragments cancelled, its tables dropped.
  void AddLeaseExpired() { leases_expired_.Increment(1); }

 private:
  static const Status& StatusOf(const Status& status) { return status; }
  template <typename T>
  static const Status& StatusOf(const Result<T>& result) {
    return result.status();
  }
  void FragmentEnded(const Status& status, double seconds);
  void Refresh();

  MetricsRegistry registry_;
  std::shared_ptr<exec::Database> db_;
  std::shared_ptr<BucketStore> buckets_;
  std::function<TablesHeld()> tables_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  Gauge& running_;
  Family<Counter>& fragments_;
  Histogram& duration_;
  Counter& read_bytes_;
  Counter& sent_bytes_;
  Counter& rows_out_;
  Counter& exchange_sent_bytes_;
  Histogram& exchange_bytes_;
  Counter& exchange_rows_;
  Counter& broadcasts_;
  Counter& broadcast_rows_;
  Counter& leases_expired_;
  Family<Gauge>& memory_;
  Family<Gauge>& tables_held_;
  Gauge& uptime_;
};

}  // namespace dux::worker
