// The queries a registry knows from its coordinators' reports (v1::QueryReport): those
// running and the last finished ones, as the status page and its JSON API show them.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dux/status_page/query_metrics.h"
#include "dux/v1/worker.pb.h"

namespace dux::status_page {

/// One query, put together from its reports.
struct QueryRecord {
  std::string id;
  std::string pipeline;  ///< redacted by the coordinator, as every text here
  std::string plan;      ///< the explain text
  std::string coordinator;
  int64_t start_unix_ms = 0;
  int64_t end_unix_ms = 0;         ///< 0 while running
  std::string status = "running";  ///< "running", "ok", a status code name, or "lost"
  std::string error;
  std::vector<v1::QueryEvent> events;  ///< in the order emitted, at most kMaxEvents
  int64_t dropped_by_coordinator = 0;  ///< as of its last report (its queue was full)
  int64_t dropped_here = 0;            ///< beyond kMaxEvents
  std::chrono::steady_clock::time_point last_report;
};

/// Thread-safe. Running queries are kept until they end, or until their coordinator has
/// been silent for `silence` (they then end as "lost": a coordinator reports at least every
/// few seconds while it runs); of the finished ones, the last `keep_finished`.
class QueryLog {
 public:
  /// Events kept per query; more are counted as dropped.
  static constexpr size_t kMaxEvents = 5000;

  /// Counts into `metrics`, which must outlive the log.
  QueryLog(QueryMetrics* metrics, size_t keep_finished = 100,
           std::chrono::seconds silence = std::chrono::seconds(60));

  /// Adds a report: a query not seen yet starts; events append; the end moves it to the
  /// finished ones. A report of a query that has finished already is ignored.
  void Apply(const v1::QueryReport& report);

  size_t running() const;
  /// {"running": [...], "finished": [...]}: summaries, the newest first.
  std::string ListJson() const;
  /// The query's details as JSON, or nullopt when the log does not hold it.
  std::optional<std::string> DetailJson(const std::string& id) const;

 private:
  using Clock = std::chrono::steady_clock;
  /// Ends the queries silent for longer than silence_ as "lost".
  void ExpireLocked(Clock::time_point now) const;
  /// Moves the running query `id` to the finished ones.
  void EndLocked(const std::string& id) const;

  QueryMetrics* metrics_;
  const size_t keep_finished_;
  const std::chrono::seconds silence_;
  mutable std::mutex mu_;
  // Mutable: reading the log expires silent queries first.
  mutable std::map<std::string, QueryRecord> running_;
  mutable std::deque<QueryRecord> finished_;  ///< the newest first
};

}  // namespace dux::status_page
