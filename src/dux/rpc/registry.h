// Discovery (docs/architecture.md section 5): a registry that workers join and heartbeat, and from
// which coordinators learn the live workers. A worker that misses three heartbeats is dropped; one
// that exits cleanly leaves at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dux/common/status.h"
#include "dux/rpc/transport.h"
#include "dux/v1/worker.grpc.pb.h"

namespace dux::rpc {

/// The registry's state and its gRPC service.
class RegistryService final : public v1::Registry::Service {
 public:
  RegistryService(std::string token, std::chrono::milliseconds heartbeat)
      : token_(std::move(token)), heartbeat_(heartbeat) {}

  grpc::Status Join(grpc::ServerContext*, const v1::JoinRequest*, v1::JoinReply*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatReply*) override;
  grpc::Status Leave(grpc::ServerContext*, const v1::LeaveRequest*, v1::LeaveReply*) override;
  grpc::Status List(grpc::ServerContext*, const v1::ListWorkersRequest*,
                    v1::ListWorkersReply*) override;

  /// The live workers: address -> the name each joined with (empty when none).
  std::map<std::string, std::string> Joined();
  /// Heartbeat replies carry `retained` = retained(address) (a pool sets this; default: false).
  /// Called without the registry's lock held.
  void SetRetained(std::function<bool(const std::string& address)> retained);

 private:
  using Clock = std::chrono::steady_clock;
  struct Member {
    Clock::time_point last_seen;
    std::string name;
  };
  void ExpireLocked(Clock::time_point now);

  std::string token_;
  std::chrono::milliseconds heartbeat_;
  std::mutex mu_;
  std::map<std::string, Member> members_;  ///< by address
  std::function<bool(const std::string&)> retained_;
};

/// Keeps a worker registered while it lives: joins, heartbeats on a thread of its own
/// (joining again if the registry forgot it, retrying while the registry is down), and
/// leaves on destruction.
class Membership {
 public:
  /// `name`: what a pool started the worker as (empty otherwise).
  static Result<std::unique_ptr<Membership>> Start(const std::string& registry,
                                                   const std::string& worker_address,
                                                   const std::string& name,
                                                   const ClientOptions& options);
  ~Membership();

  /// When the registry last answered (the start, before it first has).
  std::chrono::steady_clock::time_point last_answer();
  /// When the registry last said it keeps this worker though idle (see HeartbeatReply).
  std::chrono::steady_clock::time_point last_retained();

 private:
  Membership(std::unique_ptr<v1::Registry::Stub> stub, std::string address, std::string name,
             ClientOptions options);
  void Loop();

  std::unique_ptr<v1::Registry::Stub> stub_;
  std::string address_;
  std::string name_;
  ClientOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::chrono::steady_clock::time_point last_answer_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_retained_;
  std::thread thread_;
};

/// The live workers a registry knows.
Result<std::vector<std::string>> ListRegisteredWorkers(const std::string& registry,
                                                       const ClientOptions& options);

}  // namespace dux::rpc
