#include "dux/worker/fragment_monitor.h"

#include <duckdb.h>

#include <algorithm>
#include <string>

namespace dux::worker {

namespace {

void KeepLarger(std::optional<int64_t>* peak, int64_t value) {
  *peak = std::max(peak->value_or(value), value);
}

}  // namespace

std::optional<MemorySampler::Sample> MemorySampler::Take() {
  std::lock_guard lock(mu_);
  if (!connection_) {
    auto opened = exec::Connection::Open(*db_);
    if (!opened.ok()) return std::nullopt;
    connection_.emplace(std::move(opened).value());
  }
  // Prepared once: planning the statement cost more than running it, and the sample at a
  // fragment's end delays the end of its stream.
  auto rows = connection_->QueryTextPrepared(
      "SELECT CAST(coalesce(sum(memory_usage_bytes), 0) AS VARCHAR), "
      "CAST(coalesce(sum(temporary_storage_bytes), 0) AS VARCHAR) FROM duckdb_memory()");
  if (!rows.ok() || rows->empty()) return std::nullopt;
  return Sample{std::stoll((*rows)[0][0].value_or("0")), std::stoll((*rows)[0][1].value_or("0"))};
}

FragmentMonitor::FragmentMonitor(exec::Connection* fragment, MemorySampler* memory,
                                 ChunkWriter* out)
    : fragment_(fragment), memory_(memory), out_(out) {
  // DuckDB tracks a query's progress only with its progress bar on; nothing is printed.
  if (!fragment_->TrackProgress().ok()) {
    fragment_ = nullptr;  // then no progress, the stats all the same
  }
  thread_ = std::thread([this] { Run(); });
}

FragmentMonitor::~FragmentMonitor() { Stop(); }

void FragmentMonitor::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FragmentMonitor::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, kProgressInterval, [&] { return stop_; });
    if (stop_) return;
    lock.unlock();
    SampleMemory();
    std::optional<v1::IpcChunk> report;
    if (fragment_) {
      duckdb_query_progress_type p = duckdb_query_progress(fragment_->get());
      if (p.percentage >= 0) {
        report.emplace();
        v1::FragmentProgress* progress = report->mutable_progress();
        progress->set_percentage(p.percentage);
        progress->set_rows_processed(p.rows_processed);
        progress->set_total_rows(p.total_rows_to_process);
      }
    }
    if (report) {
      // DuckDB reports 0 rows for sources it cannot count (an exchange's buckets): unknown.
      if (auto processed = static_cast<int64_t>(report->progress().rows_processed());
          processed > 0) {
        std::lock_guard guard(mu_);
        KeepLarger(&rows_processed_, processed);
      }
      // The writer may block (a full queue) until the reader takes a message or goes away.
      if (!out_->Report(std::move(*report))) return;
    }
    lock.lock();
  }
}

void FragmentMonitor::SampleMemory() {
  std::optional<MemorySampler::Sample> sample = memory_->Take();
  if (!sample) return;
  std::lock_guard lock(mu_);
  KeepLarger(&peak_memory_, sample->memory_bytes);
  KeepLarger(&peak_spill_, sample->spill_bytes);
}

v1::FragmentStats FragmentMonitor::Finish(int64_t rows) {
  Stop();
  SampleMemory();
  v1::FragmentStats stats;
  stats.set_rows(rows);
  stats.set_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  std::lock_guard lock(mu_);
  if (rows_processed_) stats.set_rows_processed(*rows_processed_);
  if (peak_memory_) stats.set_peak_memory_bytes(*peak_memory_);
  if (peak_spill_) stats.set_spill_bytes(*peak_spill_);
  return stats;
}

}  // namespace dux::worker
