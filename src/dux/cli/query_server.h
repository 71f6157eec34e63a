// QueryServer: the standing session of `dux serve` (docs/serve.md). One DuckDB and one set of
// worker connections, kept open between the pipelines clients send, so that a run pays for
// no process start, no database open, no channel set-up and no footer it has read before.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "dux/api/session.h"
#include "dux/cli/cluster.h"
#include "dux/cli/commands.h"
#include "dux/protocol/query_service.h"

namespace dux::cli {

/// Runs the pipelines clients send on its session, one at a time: a run waits for the one
/// before it to end (or for its own client to go away). Thread-safe.
class QueryServer final : public protocol::QueryService {
 public:
  /// Connects to the workers of `options.cluster` (none: runs locally) and opens the session.
  static Result<std::unique_ptr<QueryServer>> Open(const ServeCommandOptions& options);
  ~QueryServer() override;

  Status Run(const v1::ServedRunRequest& request, arrow_ipc::OutputStream* out,
             const std::atomic<bool>* cancelled) override;

  /// The workers' addresses, for the server's first lines.
  std::string WorkerAddresses() const;

 private:
  QueryServer() = default;
  /// A session for one script that attaches databases: ATTACH is a database's, not a run's,
  /// so such scripts never run on the shared session.
  Result<std::unique_ptr<Session>> OpenSession() const;
  /// Makes `session` run on the workers with this request's timeout, cancelled by `cancelled`.
  void Distribute(Session& session, const v1::ServedRunRequest& request,
                  const std::atomic<bool>* cancelled) const;
  /// Runs `script` (parsed from `request.text()`) on `session` and writes its output.
  Status RunOn(Session& session, const pipeline::Script& script,
               const v1::ServedRunRequest& request, arrow_ipc::OutputStream* out);

  ServeCommandOptions options_;
  std::timed_mutex running_;          ///< held by the run in progress
  std::unique_ptr<Cluster> cluster_;  ///< null: runs locally; outlives session_
  std::unique_ptr<Session> session_;  ///< the standing session, used under running_
};

}  // namespace dux::cli
