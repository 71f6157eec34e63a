// Sends a coordinator's query, as it runs, to the registry its workers came from (the
// registry's status page, docs/observability.md): best effort, never failing or holding up
// the query.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "dux/common/status.h"
#include "dux/common/telemetry.h"
#include "dux/rpc/transport.h"
#include "dux/v1/worker.grpc.pb.h"

namespace dux::rpc {

/// Reports one query: its description, its telemetry events in batches, and its end. A
/// thread of its own sends the batches (at most one call at a time, each with a short
/// deadline); the query's threads only queue events. A full queue drops events (counted in
/// the next report), a failed call drops its batch, and a registry that does not know
/// ReportQuery or refuses the token gets nothing more. Thread-safe.
class QueryReporter {
 public:
  /// Starts reporting the query `description` describes (query_id, pipeline, plan, start,
  /// coordinator: already redacted) to `registry`. Null only when no channel can be made
  /// to it (a bad address): the query then runs unreported.
  static std::unique_ptr<QueryReporter> Start(const std::string& registry,
                                              const ClientOptions& options,
                                              v1::QueryReport description);
  /// Stops the sender at once (an unfinished call is cancelled); what is still queued is
  /// lost. Call Finish first to send the end.
  ~QueryReporter();
  QueryReporter(const QueryReporter&) = delete;
  QueryReporter& operator=(const QueryReporter&) = delete;

  /// Queues `event` (its metadata already redacted), stamped with the time since the start.
  /// Never blocks on the network.
  void Add(const Event& event);
  /// Queues the end (`status`, its message already redacted) and waits until the reports
  /// have left or `within` has passed.
  void Finish(const Status& status, std::chrono::milliseconds within);

 private:
  QueryReporter(std::unique_ptr<v1::Registry::Stub> stub, ClientOptions options,
                v1::QueryReport description);
  void Loop();
  /// The next report: the description until one was acknowledged, the queued events, the
  /// end once Finish queued it.
  v1::QueryReport NextReportLocked();

  std::unique_ptr<v1::Registry::Stub> stub_;
  ClientOptions options_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::condition_variable cv_;
  v1::QueryReport description_;  ///< sent until acknowledged_
  bool acknowledged_ = false;
  std::deque<v1::QueryEvent> queue_;
  int64_t dropped_ = 0;
  std::optional<v1::QueryReport> end_;  ///< the end's fields, once Finish ran
  bool done_ = false;                   ///< the end left, or nothing more will be sent
  bool stop_ = false;
  grpc::ClientContext* in_flight_ = nullptr;  ///< the call being made, for the destructor
  std::thread thread_;
};

}  // namespace dux::rpc
