#include "dux/cli/query_server.h"

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <thread>

#include "dux/cli/registry_report.h"
#include "dux/cli/result_output.h"
#include "dux/coordinator/planner.h"
#include "dux/pg/conninfo.h"
#include "dux/pipeline/language.h"

namespace dux::cli {

namespace {

// Interrupts the statement running on `connection` once `cancelled` becomes true: the run's
// own DuckDB work (planning, the finishing query, a local run) stops, as Ctrl-C stops it in a
// local `dux run`. The workers' fragments are cancelled by the coordinator, which polls the
// same flag (coordinator::ClusterOptions::interrupted).
class CancelOnFlag {
 public:
  CancelOnFlag(exec::Connection* connection, const std::atomic<bool>* cancelled)
      : thread_([this, connection, cancelled] {
          std::unique_lock lock(mu_);
          while (!done_) {
            if (*cancelled) {
              connection->Interrupt();
              return;
            }
            cv_.wait_for(lock, std::chrono::milliseconds(20));
          }
        }) {}
  ~CancelOnFlag() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  CancelOnFlag(const CancelOnFlag&) = delete;
  CancelOnFlag& operator=(const CancelOnFlag&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: it uses the members above
};

Status ClientGone() { return Status(StatusCode::kCancelled, "the client went away"); }

// The request's --s3-* over the script's s3 statement, setting by setting (as a local run).
pipeline::S3Settings S3Of(const pipeline::Script& script, const v1::ServedRunRequest& request) {
  pipeline::S3Settings s3 = script.s3;
  const v1::S3Settings& given = request.s3();
  if (given.has_region()) s3.region = given.region();
  if (given.has_endpoint()) s3.endpoint = given.endpoint();
  if (given.has_url_style()) s3.url_style = given.url_style();
  if (given.has_tls()) s3.tls = given.tls();
  if (given.has_profile()) s3.profile = given.profile();
  return s3;
}

Status CheckFormat(const v1::ServedRunRequest& request) {
  for (const char* format : {"table", "csv", "json", "ndjson", "arrow"}) {
    if (request.format() == format) return Status::OK();
  }
  return Status::InvalidArgument("--format " + request.format() +
                                 ": not one of table, csv, json, ndjson, arrow");
}

}  // namespace

Result<std::unique_ptr<QueryServer>> QueryServer::Open(const ServeCommandOptions& options) {
  auto server = std::unique_ptr<QueryServer>(new QueryServer());
  server->options_ = options;
  DUX_ASSIGN_OR_RETURN(server->cluster_,
                       Cluster::Connect(options.cluster, options.threads, options.memory_limit));
  DUX_ASSIGN_OR_RETURN(server->session_, server->OpenSession());
  if (options.cluster.telemetry) {
    server->session_->telemetry().Subscribe([](const Event& e) {
      static std::mutex mu;
      std::lock_guard lock(mu);
      std::cerr << pg::RedactText(ToJsonLine(e)) << std::endl;
    });
  }
  return server;
}

QueryServer::~QueryServer() = default;

std::string QueryServer::WorkerAddresses() const {
  std::string addresses;
  if (!cluster_) return addresses;
  for (const auto& client : cluster_->clients()) {
    addresses += (addresses.empty() ? "" : ",") + client->address();
  }
  return addresses;
}

Result<std::unique_ptr<Session>> QueryServer::OpenSession() const {
  SessionOptions session;
  session.threads = options_.threads;
  session.memory_limit = options_.memory_limit;
  return Session::Open(session);
}

void QueryServer::Distribute(Session& session, const v1::ServedRunRequest& request,
                             const std::atomic<bool>* cancelled) const {
  if (!cluster_) return;
  const ClusterFlags& flags = options_.cluster;
  coordinator::ClusterOptions cluster;
  cluster.workers = cluster_->clients();
  cluster.timeout_seconds =
      request.timeout_seconds() > 0 ? request.timeout_seconds() : flags.timeout;
  cluster.speculation.enabled = flags.speculation == "on";
  if (flags.broadcast_threshold >= 0) cluster.broadcast_threshold = flags.broadcast_threshold;
  cluster.interrupted = cancelled;
  session.Distribute(std::move(cluster));
}

Status QueryServer::Run(const v1::ServedRunRequest& request, arrow_ipc::OutputStream* out,
                        const std::atomic<bool>* cancelled) {
  DUX_RETURN_NOT_OK(CheckFormat(request));
  // Mistakes in the text cost no wait behind another run.
  DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(request.text()));
  std::unique_lock lock(running_, std::defer_lock);
  while (!lock.try_lock_for(std::chrono::milliseconds(20))) {
    if (*cancelled) return ClientGone();
  }
  std::unique_ptr<Session> own;
  Session* session = session_.get();
  if (!script.attachments.empty()) {
    DUX_ASSIGN_OR_RETURN(own, OpenSession());
    session = own.get();
    for (const auto& a : script.attachments) DUX_RETURN_NOT_OK(session->Attach(a));
  }
  // Always set: empty settings restore the server's own after a run that changed them.
  DUX_RETURN_NOT_OK(session->UseS3Settings(S3Of(script, request)));
  Distribute(*session, request, cancelled);
  std::unique_ptr<RegistryReport> report;
  if (cluster_) {
    report = RegistryReport::Start(*cluster_, *session, request.text(), script.pipeline);
  }
  Status status;
  {
    CancelOnFlag cancel(&session->connection(), cancelled);
    status = RunOn(*session, script, request, out);
  }
  if (*cancelled && !status.ok()) status = ClientGone();
  if (report) report->Finish(status);
  return status;
}

Status QueryServer::RunOn(Session& session, const pipeline::Script& script,
                          const v1::ServedRunRequest& request, arrow_ipc::OutputStream* out) {
  const pipeline::Pipeline& p = script.pipeline;
  if (p.sink()) {
    DUX_ASSIGN_OR_RETURN(exec::WriteReport report, session.Write(p));
    std::string summary = SinkSummary(p, report);
    return out->Write(summary.data(), summary.size());
  }
  ResultFormat format{request.format(), request.arrow_compression(), request.arrow_lossless()};
  return session
      .Stream(
          p,
          [&](const std::string& select, const pipeline::Schema& schema, bool) {
            return WriteResultTo(session.connection(), select, schema, format, out);
          },
          request.live())
      .status();
}

}  // namespace dux::cli
