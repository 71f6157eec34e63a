#include "dux/rpc/registry.h"

#include <iostream>

namespace dux::rpc {

namespace {
constexpr int kMissedHeartbeats = 3;
}

void RegistryService::ExpireLocked(Clock::time_point now) {
  std::erase_if(members_, [&](const auto& entry) {
    return now - entry.second.seen > kMissedHeartbeats * heartbeat_;
  });
}

void RegistryService::SeenLocked(const std::string& address, const v1::InfoReply& info) {
  Member& member = members_[address];
  member.seen = Clock::now();
  member.shown.set_address(address);
  member.shown.set_last_heartbeat_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
  *member.shown.mutable_info() = info;
}

std::vector<v1::RegisteredWorker> RegistryService::Workers() {
  std::lock_guard lock(mu_);
  ExpireLocked(Clock::now());
  std::vector<v1::RegisteredWorker> workers;
  for (const auto& [address, member] : members_) workers.push_back(member.shown);
  return workers;
}

grpc::Status RegistryService::Join(grpc::ServerContext* context, const v1::JoinRequest* request,
                                   v1::JoinReply* reply) {
  if (auto denied = Authorize(context, token_); !denied.ok()) return denied;
  if (!SplitHostPort(request->address()).ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "Join: \"" + request->address() + "\" is not HOST:PORT");
  }
  std::lock_guard lock(mu_);
  SeenLocked(request->address(), request->info());
  members_[request->address()].name = request->name();
  reply->set_heartbeat_ms(static_cast<int32_t>(heartbeat_.count()));
  return grpc::Status::OK;
}

grpc::Status RegistryService::Heartbeat(grpc::ServerContext* context,
                                        const v1::HeartbeatRequest* request,
                                        v1::HeartbeatReply* reply) {
  if (auto denied = Authorize(context, token_); !denied.ok()) return denied;
  std::function<bool(const std::string&)> retained;
  {
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    ExpireLocked(now);
    const bool known = members_.count(request->address()) > 0;
    reply->set_known(known);
    if (known) SeenLocked(request->address(), request->info());
    retained = retained_;
  }
  reply->set_retained(reply->known() && retained && retained(request->address()));
  return grpc::Status::OK;
}

grpc::Status RegistryService::Leave(grpc::ServerContext* context, const v1::LeaveRequest* request,
                                    v1::LeaveReply*) {
  if (auto denied = Authorize(context, token_); !denied.ok()) return denied;
  std::lock_guard lock(mu_);
  members_.erase(request->address());
  return grpc::Status::OK;
}

grpc::Status RegistryService::List(grpc::ServerContext* context, const v1::ListWorkersRequest*,
                                   v1::ListWorkersReply* reply) {
  if (auto denied = Authorize(context, token_); !denied.ok()) return denied;
  std::lock_guard lock(mu_);
  ExpireLocked(Clock::now());
  for (const auto& [address, member] : members_) reply->add_addresses(address);
  return grpc::Status::OK;
}

grpc::Status RegistryService::ReportQuery(grpc::ServerContext* context,
                                          const v1::QueryReport* request, v1::ReportQueryReply*) {
  if (auto denied = Authorize(context, token_); !denied.ok()) return denied;
  if (request->query_id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "ReportQuery: no query id");
  }
  if (on_report_) on_report_(*request);
  return grpc::Status::OK;
}

std::map<std::string, std::string> RegistryService::Joined() {
  std::lock_guard lock(mu_);
  ExpireLocked(Clock::now());
  std::map<std::string, std::string> joined;
  for (const auto& [address, member] : members_) joined[address] = member.name;
  return joined;
}

void RegistryService::SetRetained(std::function<bool(const std::string&)> retained) {
  std::lock_guard lock(mu_);
  retained_ = std::move(retained);
}

Result<std::unique_ptr<Membership>> Membership::Start(const std::string& registry,
                                                      const std::string& worker_address,
                                                      const std::string& name,
                                                      const ClientOptions& options,
                                                      InfoSource info) {
  DUX_ASSIGN_OR_RETURN(auto channel, OpenChannel(registry, options));
  return std::unique_ptr<Membership>(new Membership(v1::Registry::NewStub(channel), worker_address,
                                                    name, options, std::move(info)));
}

Membership::Membership(std::unique_ptr<v1::Registry::Stub> stub, std::string address,
                       std::string name, ClientOptions options, InfoSource info)
    : stub_(std::move(stub)),
      address_(std::move(address)),
      name_(std::move(name)),
      options_(std::move(options)),
      info_(std::move(info)) {
  thread_ = std::thread([this] { Loop(); });
}

std::chrono::steady_clock::time_point Membership::last_answer() {
  std::lock_guard lock(mu_);
  return last_answer_;
}

std::chrono::steady_clock::time_point Membership::last_retained() {
  std::lock_guard lock(mu_);
  return last_retained_;
}

v1::InfoReply Membership::CurrentInfo() const {
  if (!info_) return {};
  Result<v1::InfoReply> info = info_();
  return info.ok() ? *std::move(info) : v1::InfoReply();
}

Membership::~Membership() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  v1::LeaveRequest request;
  request.set_address(address_);
  v1::LeaveReply reply;
  // A registry that does not answer at once drops the worker after three heartbeats anyway:
  // the worker's exit must not wait for it.
  ClientOptions leave = options_;
  leave.call_timeout_seconds = 2;
  auto context = NewContext(leave);
  (void)stub_->Leave(context.get(), request, &reply);
}

void Membership::Loop() {
  bool joined = false;
  bool warned = false;
  auto interval = std::chrono::milliseconds(1000);
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    grpc::Status status;
    if (!joined) {
      v1::JoinRequest request;
      request.set_address(address_);
      request.set_name(name_);
      *request.mutable_info() = CurrentInfo();
      v1::JoinReply reply;
      status = stub_->Join(NewContext(options_).get(), request, &reply);
      if (status.ok()) {
        joined = true;
        interval = std::chrono::milliseconds(std::max(50, reply.heartbeat_ms()));
      }
    } else {
      v1::HeartbeatRequest request;
      request.set_address(address_);
      *request.mutable_info() = CurrentInfo();
      v1::HeartbeatReply reply;
      status = stub_->Heartbeat(NewContext(options_).get(), request, &reply);
      if (status.ok() && !reply.known()) joined = false;
      if (status.ok() && reply.retained()) {
        std::lock_guard retained_lock(mu_);
        last_retained_ = std::chrono::steady_clock::now();
      }
    }
    if (!status.ok() && !warned) {
      std::cerr << "dux worker: cannot reach the registry (" << status.error_message()
                << "); retrying\n";
      warned = true;
    }
    if (status.ok()) warned = false;
    lock.lock();
    if (status.ok()) last_answer_ = std::chrono::steady_clock::now();
    if (joined || !status.ok()) cv_.wait_for(lock, interval, [&] { return stop_; });
  }
}

Result<std::vector<std::string>> ListRegisteredWorkers(const std::string& registry,
                                                       const ClientOptions& options) {
  DUX_ASSIGN_OR_RETURN(auto channel, OpenChannel(registry, options));
  auto stub = v1::Registry::NewStub(channel);
  v1::ListWorkersReply reply;
  grpc::Status status = stub->List(NewContext(options).get(), v1::ListWorkersRequest(), &reply);
  if (!status.ok()) {
    return Status(FromGrpc(status).code(), "registry " + registry + ": " + status.error_message());
  }
  return std::vector<std::string>(reply.addresses().begin(), reply.addresses().end());
}

}  // namespace dux::rpc
