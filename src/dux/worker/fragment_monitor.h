// What a worker reports about a running fragment besides its rows (IpcChunk.progress every
// 250 ms, IpcChunk.stats at its end; docs/observability.md): FragmentMonitor, and the
// MemorySampler that measures the worker's DuckDB for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "dux/exec/duckdb_connection.h"
#include "dux/v1/worker.pb.h"
#include "dux/worker/worker.h"

namespace dux::worker {

/// The memory use and the size of the temporary files (spilled data) of one DuckDB, all its
/// connections together (duckdb_memory()), read on a connection of its own. Thread-safe: the
/// monitors of concurrent fragments share one.
class MemorySampler {
 public:
  explicit MemorySampler(std::shared_ptr<exec::Database> db) : db_(std::move(db)) {}
  struct Sample {
    int64_t memory_bytes = 0;
    int64_t spill_bytes = 0;
  };
  /// Nothing when DuckDB cannot answer (the sample is then skipped).
  std::optional<Sample> Take();

 private:
  std::shared_ptr<exec::Database> db_;
  std::mutex mu_;
  std::optional<exec::Connection> connection_;  ///< opened at the first sample
};

/// While alive, a thread of its own sends `out` DuckDB's progress of the statement running on
/// `fragment` (every kProgressInterval, while DuckDB knows one) and takes a memory sample
/// with each. Finish stops the thread and gives the stats for the stream's end. `fragment`,
/// `memory` and `out` must outlive it.
class FragmentMonitor {
 public:
  static constexpr std::chrono::milliseconds kProgressInterval{250};

  FragmentMonitor(exec::Connection* fragment, MemorySampler* memory, ChunkWriter* out);
  ~FragmentMonitor();
  FragmentMonitor(const FragmentMonitor&) = delete;
  FragmentMonitor& operator=(const FragmentMonitor&) = delete;

  /// Stops the reports and returns the stats, with `rows` and a last memory sample (taken
  /// now, so that a fragment shorter than one interval has one too).
  v1::FragmentStats Finish(int64_t rows);

 private:
  void Run();
  void Stop();
  /// Takes a memory sample into the peaks.
  void SampleMemory();

  exec::Connection* fragment_;
  MemorySampler* memory_;
  ChunkWriter* out_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<int64_t> rows_processed_, peak_memory_, peak_spill_;  ///< guarded by mu_
  std::thread thread_;  ///< last: it uses everything above
};

}  // namespace dux::worker
