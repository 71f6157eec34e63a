// FragmentMonitor: what a worker reports about a running fragment besides its rows
// (IpcChunk.progress every 250 ms, IpcChunk.stats at its end; docs/observability.md).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>

#include "dux/exec/duckdb_connection.h"
#include "dux/v1/worker.pb.h"
#include "dux/worker/worker.h"

namespace dux::worker {

/// While alive, a thread of its own sends `out` DuckDB's progress of the statement running on
/// `fragment` (at most every kProgressInterval, only while DuckDB knows one) and samples the
/// memory use and temporary files of `db` (one DuckDB for all of the worker's fragments, so
/// the figures include whatever runs beside this fragment). Finish stops the thread and
/// gives the stats for the stream's end. `db`, `fragment` and `out` must outlive it.
class FragmentMonitor {
 public:
  static constexpr std::chrono::milliseconds kProgressInterval{250};

  FragmentMonitor(const exec::Database& db, exec::Connection* fragment, ChunkWriter* out);
  ~FragmentMonitor();
  FragmentMonitor(const FragmentMonitor&) = delete;
  FragmentMonitor& operator=(const FragmentMonitor&) = delete;

  /// Stops the reports and returns the stats, with `rows` and a last memory sample (taken
  /// now, so that a fragment shorter than one interval has one too).
  v1::FragmentStats Finish(int64_t rows);

 private:
  void Run();
  /// Takes one sample of the database's memory and temporary files into the peaks.
  void SampleMemory();

  const exec::Database& db_;
  exec::Connection* fragment_;
  ChunkWriter* out_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::optional<exec::Connection> sampler_;  ///< opened at the first sample
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<int64_t> rows_processed_, peak_memory_, peak_spill_;  ///< guarded by mu_
  std::thread thread_;  ///< last: it uses everything above
};

}  // namespace dux::worker
