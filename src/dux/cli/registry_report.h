// A dux run reported to the registry its workers came from (docs/observability.md, "The status
// page"): the pipeline, its plan, its telemetry events and its end, all redacted.
#pragma once

#include <memory>
#include <string>

#include "dux/api/session.h"
#include "dux/cli/cluster.h"
#include "dux/rpc/query_reporter.h"

namespace dux::cli {

/// Reports one run while it lives. Not thread-safe (one per run); the events it forwards may
/// come from any thread.
class RegistryReport {
 public:
  /// Starts reporting the run of `pipeline` (given as `text`) on `session`; null when the
  /// workers came from no registry (--workers, --local-workers) or none can be reached.
  /// Renders the plan as `dux explain` does first (a plan that fails to render is left
  /// empty: the run will say why).
  static std::unique_ptr<RegistryReport> Start(const Cluster& cluster, Session& session,
                                               const std::string& text,
                                               const pipeline::Pipeline& pipeline);
  /// Stops forwarding the session's events.
  ~RegistryReport();
  RegistryReport(const RegistryReport&) = delete;
  RegistryReport& operator=(const RegistryReport&) = delete;

  /// Reports the end; waits a second at most for the registry to take it.
  void Finish(const Status& status);

 private:
  RegistryReport(Session& session, std::unique_ptr<rpc::QueryReporter> reporter);
  Session& session_;
  std::unique_ptr<rpc::QueryReporter> reporter_;
  int subscription_ = -1;
};

}  // namespace dux::cli
