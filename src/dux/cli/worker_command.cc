// dux worker, dux registry and dux workers: the cluster side of the CLI.
#include <signal.h>

#include <iostream>

#include "dux/cli/cluster.h"
#include "dux/cli/commands.h"
#include "dux/cli/http_address.h"
#include "dux/common/metrics.h"
#include "dux/common/server_access.h"
#include "dux/http/metrics_route.h"
#include "dux/http/server.h"
#include "dux/rpc/grpc_worker_client.h"
#include "dux/rpc/registry.h"
#include "dux/rpc/worker_service.h"
#include "dux/status_page/routes.h"

namespace dux::cli {

namespace {

// SIGTERM and SIGINT are blocked in every thread (gRPC's included, which inherit the mask)
// and taken by sigwait in the main thread, so a signal never interrupts a handler midway.
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void WaitForStop(const sigset_t& set) {
  int signal = 0;
  sigwait(&set, &signal);
}

// How long running work may take to finish after SIGTERM before it is cancelled.
constexpr auto kShutdownGrace = std::chrono::seconds(10);

}  // namespace

Status Worker(const WorkerCommandOptions& o) {
  sigset_t stop = StopSignals();
  worker::WorkerOptions options;
  options.threads = o.threads;
  options.memory_limit = o.memory_limit;
  options.temp_directory = o.temp_dir;
  options.allowed_directories = o.allow_dirs;
  rpc::ServerOptions server_options{o.listen, o.token, o.tls_cert, o.tls_key, o.tls_ca};
  // Refuse a bad listen address before opening DuckDB.
  DUX_RETURN_NOT_OK(SplitHostPort(o.listen).status());
  DUX_ASSIGN_OR_RETURN(std::string http_address, HttpAddress(o.http, o.token));
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<worker::Worker> engine, worker::Worker::Open(options));
  std::unique_ptr<http::Server> metrics_server;
  if (!http_address.empty()) {
    DUX_ASSIGN_OR_RETURN(
        metrics_server,
        http::Server::Start({http_address, o.token, 2}, {http::MetricsRoute(engine->metrics())}));
  }
  auto service = rpc::MakeWorkerService(engine.get(), o.token);
  std::string bound;
  DUX_ASSIGN_OR_RETURN(auto server, rpc::StartServer(server_options, {service.get()}, &bound));
  std::string advertised = o.advertise.empty() ? bound : o.advertise;
  engine->SetAddress(advertised);
  rpc::ClientOptions client{o.token, o.tls_ca};
  engine->SetPeerConnector(rpc::MakePeerConnector(client));
  // Tools read the first line for the gRPC address: it stays first.
  std::cout << "listening " << bound << std::endl;
  if (metrics_server) std::cout << "http " << metrics_server->address() << std::endl;
  rpc::ShowGrpcLog();
  std::unique_ptr<rpc::Membership> membership;
  if (!o.join.empty()) {
    worker::Worker* info_source = engine.get();
    DUX_ASSIGN_OR_RETURN(membership, rpc::Membership::Start(o.join, advertised, client,
                                                            [=] { return info_source->Info(); }));
  }
  WaitForStop(stop);
  membership.reset();  // leave the registry first: no new work should come here
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  engine->CancelAll();
  server->Wait();
  return Status::OK();
}

Status Registry(const RegistryCommandOptions& o) {
  sigset_t stop = StopSignals();
  if (o.heartbeat_ms < 10) return Status::InvalidArgument("--heartbeat-ms must be at least 10");
  DUX_ASSIGN_OR_RETURN(std::string http_address, HttpAddress(o.http, o.token));
  // What coordinators report, for the status page, its JSON API and /metrics (--http).
  MetricsRegistry metrics;
  status_page::QueryMetrics query_metrics(&metrics);
  status_page::QueryLog queries(&query_metrics);
  rpc::RegistryService service(
      o.token, std::chrono::milliseconds(o.heartbeat_ms),
      [&queries](const v1::QueryReport& report) { queries.Apply(report); });
  std::string bound;
  DUX_ASSIGN_OR_RETURN(
      auto server,
      rpc::StartServer({o.listen, o.token, o.tls_cert, o.tls_key, o.tls_ca}, {&service}, &bound));
  std::cout << "listening " << bound << std::endl;
  std::unique_ptr<http::Server> http;
  if (!http_address.empty()) {
    http::ServerOptions http_options;
    http_options.listen = http_address;
    http_options.token = o.token;
    auto workers = [&service] { return service.Workers(); };
    DUX_ASSIGN_OR_RETURN(http, http::Server::Start(http_options, status_page::RegistryRoutes(
                                                                     &queries, workers, &metrics)));
    std::cout << "http " << http->address() << std::endl;
  }
  rpc::ShowGrpcLog();
  WaitForStop(stop);
  http.reset();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  return Status::OK();
}

Status Workers(const ClusterFlags& flags) {
  DUX_ASSIGN_OR_RETURN(auto cluster, Cluster::Connect(flags, 0, ""));
  if (!cluster) {
    return Status::InvalidArgument("give --workers, --registry or --local-workers");
  }
  int reachable = 0;
  for (const auto& client : cluster->clients()) {
    auto info = client->Info();
    if (!info.ok()) {
      std::cout << client->address() << "  unreachable: " << info.status().message() << "\n";
      continue;
    }
    ++reachable;
    std::string tables, running;
    for (const auto& t : info->tables()) tables += (tables.empty() ? "" : ",") + t;
    for (const auto& q : info->running_queries()) running += (running.empty() ? "" : ",") + q;
    std::cout << client->address() << "  duckdb " << info->duckdb_version() << "  threads "
              << info->threads() << "  memory_limit " << info->memory_limit() << "  tables ["
              << tables << "]  running [" << running << "]\n";
  }
  std::cout.flush();
  if (reachable == 0) return Status::Unavailable("no worker could be reached");
  return Status::OK();
}

}  // namespace dux::cli
