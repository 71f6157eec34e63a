// dux serve: a standing coordinator (docs/serve.md).
#include <iostream>

#include "dux/cli/commands.h"
#include "dux/cli/query_server.h"
#include "dux/cli/stop_signals.h"
#include "dux/common/server_access.h"
#include "dux/rpc/coordinator_service.h"

namespace dux::cli {

namespace {

// How long running queries may take to finish after SIGTERM before they are cancelled.
constexpr auto kShutdownGrace = std::chrono::seconds(5);

}  // namespace

Status Serve(const ServeCommandOptions& given) {
  sigset_t stop = StopSignals();
  ServeCommandOptions o = given;
  DUX_ASSIGN_OR_RETURN(o.token, ReadToken(o.token, o.token_file));
  // The rules of `dux worker --listen`: checked before the workers are reached.
  DUX_RETURN_NOT_OK(CheckListenAllowed(o.listen, o.token));
  o.cluster.token = o.token;
  o.cluster.tls_ca = o.tls_ca;
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<QueryServer> queries, QueryServer::Open(o));
  auto service = rpc::MakeCoordinatorService(queries.get(), o.token);
  std::string bound;
  DUX_ASSIGN_OR_RETURN(auto server,
                       rpc::StartServer({o.listen, o.token, o.tls_cert, o.tls_key, o.tls_ca},
                                        {service.get()}, &bound));
  // Tools read the first line for the address: it stays first.
  std::cout << "listening " << bound << std::endl;
  std::string workers = queries->WorkerAddresses();
  std::cout << "workers " << (workers.empty() ? "none (runs locally)" : workers) << std::endl;
  rpc::ShowGrpcLog();
  WaitForStop(stop);
  // Shutdown cancels the calls still running at the deadline: their runs stop on the
  // workers too (QueryServer::Run), before the session and the worker channels close.
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server->Wait();
  return Status::OK();
}

}  // namespace dux::cli
