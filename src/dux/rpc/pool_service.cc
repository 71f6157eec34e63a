#include "dux/rpc/pool_service.h"

#include "dux/rpc/grpc_worker_client.h"

namespace dux::rpc {

namespace {

// A SpinUp waits for the pool's boot timeout, which the client does not know; this bounds a
// pool that never answers.
constexpr auto kSpinUpDeadline = std::chrono::minutes(15);
// The pool asks its workers' Info every second; a worker slower than this counts as unknown.
constexpr double kProbeTimeoutSeconds = 2;

}  // namespace

grpc::Status PoolService::SpinUp(grpc::ServerContext* context, const v1::SpinUpRequest* request,
                                 v1::SpinUpReply* reply) {
  if (auto denied = Authorize(context, token_); !denied.ok()) return denied;
  pool::Pool* pool = pool_;
  if (!pool) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the pool is starting");
  if (request->workers() < 1) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "SpinUp: workers must be at least 1");
  }
  pool::SpinUpResult result = pool->SpinUp(request->workers());
  for (auto& a : result.addresses) reply->add_addresses(std::move(a));
  reply->set_shortfall(std::move(result.shortfall));
  return grpc::Status::OK;
}

grpc::Status PoolService::Status(grpc::ServerContext* context, const v1::PoolStatusRequest*,
                                 v1::PoolStatusReply* reply) {
  if (auto denied = Authorize(context, token_); !denied.ok()) return denied;
  pool::Pool* pool = pool_;
  if (!pool) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the pool is starting");
  reply->set_backend(pool->backend_name());
  reply->set_min(min_);
  reply->set_max(max_);
  for (const auto& w : pool->Workers()) {
    v1::PoolWorkerStatus* s = reply->add_workers();
    s->set_name(w.name);
    s->set_job_id(w.job_id);
    s->set_address(w.address);
    s->set_state(w.state);
    s->set_uptime_seconds(w.uptime_seconds);
    s->set_idle_seconds(w.idle_seconds);
  }
  return grpc::Status::OK;
}

pool::PoolProbes MakePoolProbes(RegistryService* registry, const ClientOptions& client) {
  ClientOptions probe = client;
  probe.call_timeout_seconds = kProbeTimeoutSeconds;
  // One client per worker address, made on first use (only the pool's loop thread calls).
  auto clients = std::make_shared<std::map<std::string, std::shared_ptr<protocol::WorkerClient>>>();
  pool::PoolProbes probes;
  probes.joined = [registry] { return registry->Joined(); };
  probes.running_queries = [clients, probe](const std::string& address) -> Result<int> {
    auto it = clients->find(address);
    if (it == clients->end()) {
      DUX_ASSIGN_OR_RETURN(auto c, ConnectWorker(address, probe));
      it = clients->emplace(address, std::move(c)).first;
    }
    DUX_ASSIGN_OR_RETURN(v1::InfoReply info, it->second->Info());
    return info.running_queries_size();
  };
  return probes;
}

Result<std::unique_ptr<PoolClient>> PoolClient::Connect(const std::string& address,
                                                        const ClientOptions& options) {
  DUX_ASSIGN_OR_RETURN(auto channel, OpenChannel(address, options));
  return std::unique_ptr<PoolClient>(new PoolClient(address, v1::Pool::NewStub(channel), options));
}

Result<v1::SpinUpReply> PoolClient::SpinUp(int n) {
  v1::SpinUpRequest request;
  request.set_workers(n);
  v1::SpinUpReply reply;
  auto context = NewContext(options_, /*deadline=*/false);
  context->set_deadline(std::chrono::system_clock::now() + kSpinUpDeadline);
  grpc::Status status = stub_->SpinUp(context.get(), request, &reply);
  if (!status.ok()) {
    return dux::Status(FromGrpc(status).code(), "pool " + address_ + ": " + status.error_message());
  }
  return reply;
}

Result<v1::PoolStatusReply> PoolClient::Status() {
  v1::PoolStatusReply reply;
  grpc::Status status = stub_->Status(NewContext(options_).get(), v1::PoolStatusRequest(), &reply);
  if (!status.ok()) {
    return dux::Status(FromGrpc(status).code(), "pool " + address_ + ": " + status.error_message());
  }
  return reply;
}

}  // namespace dux::rpc
