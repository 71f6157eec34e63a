#include "dux/status_page/query_metrics.h"

namespace dux::status_page {

namespace {

double Measurement(const v1::QueryEvent& event, const std::string& key) {
  auto it = event.measurements().find(key);
  return it == event.measurements().end() ? 0 : it->second;
}

}  // namespace

EventFigures FiguresOf(const v1::QueryEvent& event) {
  EventFigures f;
  const std::string& name = event.name();
  if (name == "distributed.worker.stop") {
    f.read_bytes = Measurement(event, "read_bytes");
  } else if (name == "distributed.merge.stop") {
    f.gathered_bytes = Measurement(event, "ipc_bytes");
    f.exchanged_bytes = Measurement(event, "exchanged_ipc_bytes");
  } else if (name == "distributed.broadcast.stop") {
    f.broadcast_bytes = Measurement(event, "bytes") * Measurement(event, "n_workers");
  } else if (name == "query.stop") {
    f.rows_out = Measurement(event, "rows");
  } else if (name == "partition.retry") {
    f.retries = 1;
  }
  return f;
}

QueryMetrics::QueryMetrics(MetricsRegistry* registry)
    : queries_(registry->AddCounter("dux_queries_total",
                                    "Queries the coordinators reported as ended, by status (ok, "
                                    "a status code name, lost: no report for a minute)",
                                    {"status"})),
      query_seconds_(registry
                         ->AddHistogram("dux_query_duration_seconds",
                                        "Wall time of the reported queries that ended",
                                        DurationBuckets())
                         .Get()),
      partition_seconds_(registry
                             ->AddHistogram("dux_partition_duration_seconds",
                                            "Wall time of each attempt of a partition on a "
                                            "worker (distributed.worker.stop)",
                                            DurationBuckets())
                             .Get()),
      read_bytes_(registry
                      ->AddCounter("dux_read_bytes_total",
                                   "Bytes the workers' fragments read from files (local or "
                                   "s3://), failed attempts included")
                      .Get()),
      gathered_bytes_(registry
                          ->AddCounter("dux_gathered_bytes_total",
                                       "Arrow IPC bytes the workers sent to coordinators")
                          .Get()),
      exchanged_bytes_(registry
                           ->AddCounter("dux_exchanged_bytes_total",
                                        "Arrow IPC bytes the workers hash-exchanged among them")
                           .Get()),
      broadcast_bytes_(registry
                           ->AddCounter("dux_broadcast_bytes_total",
                                        "Arrow IPC bytes coordinators broadcast to workers "
                                        "(each copy counted)")
                           .Get()),
      rows_out_(
          registry->AddCounter("dux_rows_out_total", "Result rows of the reported queries").Get()),
      retries_(registry
                   ->AddCounter("dux_partition_retries_total",
                                "Partitions run again after their worker failed")
                   .Get()) {
  queries_.With({"ok"});  // present from the start, so that its first query is a change
}

void QueryMetrics::CountEvent(const v1::QueryEvent& event) {
  if (event.name() == "distributed.worker.stop") {
    partition_seconds_.Observe(Measurement(event, "duration"));
  }
  EventFigures f = FiguresOf(event);
  if (f.read_bytes > 0) read_bytes_.Increment(f.read_bytes);
  if (f.gathered_bytes > 0) gathered_bytes_.Increment(f.gathered_bytes);
  if (f.exchanged_bytes > 0) exchanged_bytes_.Increment(f.exchanged_bytes);
  if (f.broadcast_bytes > 0) broadcast_bytes_.Increment(f.broadcast_bytes);
  if (f.rows_out > 0) rows_out_.Increment(f.rows_out);
  if (f.retries > 0) retries_.Increment(f.retries);
}

void QueryMetrics::CountEnd(const std::string& status, double seconds) {
  queries_.With({status}).Increment();
  query_seconds_.Observe(seconds);
}

}  // namespace dux::status_page
