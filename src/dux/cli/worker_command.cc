// dux worker, dux registry and dux workers: the cluster side of the CLI.
#include <fmt/format.h>
#include <signal.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "dux/cli/cluster.h"
#include "dux/cli/commands.h"
#include "dux/cli/http_address.h"
#include "dux/cli/registry_status_page.h"
#include "dux/cli/stop_signals.h"
#include "dux/common/metrics.h"
#include "dux/common/server_access.h"
#include "dux/common/telemetry.h"
#include "dux/http/metrics_route.h"
#include "dux/http/server.h"
#include "dux/rpc/grpc_worker_client.h"
#include "dux/rpc/registry.h"
#include "dux/rpc/worker_service.h"
#include "dux/status_page/routes.h"

namespace dux::cli {

namespace {

using Clock = std::chrono::steady_clock;

// Waits for a stop signal, or until a pool's worker should end by itself: its registry has
// not answered for --registry-timeout (the pool is gone: nothing else would stop this worker),
// or it has run nothing for --idle-exit and its registry does not retain it. Returns why it
// ended, empty on a signal.
std::string WaitForStopOrOrphan(const sigset_t& set, const WorkerCommandOptions& o,
                                worker::Worker& engine, rpc::Membership* membership) {
  if (!membership || (o.registry_timeout <= 0 && o.idle_exit <= 0)) {
    WaitForStop(set);
    return "";
  }
  Clock::time_point busy = Clock::now();
  while (!StopSignalWithin(set, std::chrono::milliseconds(250))) {
    auto now = Clock::now();
    if (o.registry_timeout > 0 && now - membership->last_answer() > Millis(o.registry_timeout)) {
      return fmt::format("the registry {} has not answered for {:g} s (--registry-timeout)", o.join,
                         o.registry_timeout);
    }
    if (o.idle_exit <= 0) continue;
    auto info = engine.Info();
    if (!info.ok() || info->running_queries_size() > 0 || info->tables_size() > 0) busy = now;
    busy = std::max(busy, membership->last_retained());
    if (now - busy > Millis(o.idle_exit)) {
      return fmt::format("idle for {:g} s (--idle-exit)", o.idle_exit);
    }
  }
  return "";
}

// How long running work may take to finish after SIGTERM before it is cancelled.
constexpr auto kShutdownGrace = std::chrono::seconds(10);

}  // namespace

Result<std::string> ReadToken(const std::string& token, const std::string& token_file) {
  // $DUX_TOKEN only when neither flag is given: a pool passes its workers --token-file, and
  // they inherit its environment, which may hold a token too.
  if (token_file.empty()) {
    const char* env = std::getenv("DUX_TOKEN");
    return token.empty() && env ? std::string(env) : token;
  }
  if (!token.empty()) return Status::InvalidArgument("give --token or --token-file, not both");
  std::ifstream in(token_file);
  std::string read;
  if (!in || !std::getline(in, read)) {
    return Status::InvalidArgument("--token-file " + token_file + ": cannot be read");
  }
  return read;
}

Status Worker(const WorkerCommandOptions& given) {
  sigset_t stop = StopSignals();
  WorkerCommandOptions o = given;
  DUX_ASSIGN_OR_RETURN(o.token, ReadToken(o.token, o.token_file));
  if ((o.registry_timeout > 0 || o.idle_exit > 0 || !o.name.empty()) && o.join.empty()) {
    return Status::InvalidArgument("--name, --registry-timeout and --idle-exit need --join");
  }
  worker::WorkerOptions options;
  options.threads = o.threads;
  options.memory_limit = o.memory_limit;
  options.temp_directory = o.temp_dir;
  options.max_temp_directory_size = o.max_temp_size;
  options.allowed_directories = o.allow_dirs;
  options.lease_timeout = std::chrono::milliseconds(std::llround(o.lease_timeout * 1000));
  // A lease that expires is the trace of a coordinator that died or was cut off: always
  // reported, one JSON line on stderr (docs/cluster.md, "Leases").
  options.on_event = [](const Event& event) { std::cerr << ToJsonLine(event) << std::endl; };
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
  // The result channel listens on the gRPC host's interfaces. With TLS there is none: it
  // has no TLS of its own, and results stay on the encrypted gRPC stream.
  std::unique_ptr<rpc::ResultChannelListener> result_channel;
  if (o.tls_cert.empty()) {
    DUX_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(o.listen));
    DUX_ASSIGN_OR_RETURN(result_channel, rpc::ResultChannelListener::Start(host_port.first));
  }
  auto service = rpc::MakeWorkerService(engine.get(), o.token, std::move(result_channel));
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
    DUX_ASSIGN_OR_RETURN(membership, rpc::Membership::Start(o.join, advertised, o.name, client,
                                                            [=] { return info_source->Info(); }));
  }
  std::string ended = WaitForStopOrOrphan(stop, o, *engine, membership.get());
  if (!ended.empty()) std::cerr << "dux worker " << advertised << ": exiting: " << ended << "\n";
  membership.reset();  // leave the registry first: no new work should come here
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  engine->CancelAll();
  server->Wait();
  return Status::OK();
}

Status Registry(const RegistryCommandOptions& given) {
  sigset_t stop = StopSignals();
  RegistryCommandOptions o = given;
  DUX_ASSIGN_OR_RETURN(o.token, ReadToken(o.token, o.token_file));
  if (o.heartbeat_ms < 10) return Status::InvalidArgument("--heartbeat-ms must be at least 10");
  DUX_ASSIGN_OR_RETURN(std::string http_address, HttpAddress(o.http, o.token));
  RegistryStatusPage page;
  rpc::RegistryService service(o.token, std::chrono::milliseconds(o.heartbeat_ms),
                               page.ReportHandler());
  std::string bound;
  DUX_ASSIGN_OR_RETURN(
      auto server,
      rpc::StartServer({o.listen, o.token, o.tls_cert, o.tls_key, o.tls_ca}, {&service}, &bound));
  std::cout << "listening " << bound << std::endl;
  DUX_RETURN_NOT_OK(page.Serve(http_address, o.token, &service));
  rpc::ShowGrpcLog();
  WaitForStop(stop);
  page.Stop();
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
