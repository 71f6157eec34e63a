// The registry's Prometheus metrics of the queries its coordinators report (`/metrics`,
// docs/observability.md): what the events of the reports add up to.
#pragma once

#include <string>

#include "dux/common/metrics.h"
#include "dux/v1/worker.pb.h"

namespace dux::status_page {

/// What one event adds to its query's figures (and to the registry's counters).
struct EventFigures {
  double read_bytes = 0;       ///< distributed.worker.stop read_bytes (every attempt)
  double gathered_bytes = 0;   ///< distributed.merge.stop ipc_bytes
  double exchanged_bytes = 0;  ///< distributed.merge.stop exchanged_ipc_bytes
  double broadcast_bytes = 0;  ///< distributed.broadcast.stop bytes, times n_workers
  double rows_out = 0;         ///< query.stop rows
  int retries = 0;             ///< partition.retry
};
EventFigures FiguresOf(const v1::QueryEvent& event);

/// The families, registered in a MetricsRegistry that must outlive this. Thread-safe.
class QueryMetrics {
 public:
  explicit QueryMetrics(MetricsRegistry* registry);

  /// Counts an event of a report as it arrives.
  void CountEvent(const v1::QueryEvent& event);
  /// Counts a query that ended with `status` ("ok", a status code name, "lost") after
  /// `seconds`.
  void CountEnd(const std::string& status, double seconds);

 private:
  Family<Counter>& queries_;
  Histogram& query_seconds_;
  Histogram& partition_seconds_;
  Counter& read_bytes_;
  Counter& gathered_bytes_;
  Counter& exchanged_bytes_;
  Counter& broadcast_bytes_;
  Counter& rows_out_;
  Counter& retries_;
};

}  // namespace dux::status_page
