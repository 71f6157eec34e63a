// Discovery (docs/architecture.md section 5): a registry that workers join and heartbeat, and from
// which coordinators learn the live workers. A worker that misses three heartbeats is dropped; one
// that exits cleanly leaves at once. Coordinators report their queries to it
// (docs/observability.md, "The status page").
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

/// The registry's state and its gRPC service. Thread-safe.
class RegistryService final : public v1::Registry::Service {
 public:
  /// Receives each query report a coordinator sends (on a gRPC thread; must be quick and
  /// thread-safe). Unset, reports are accepted and dropped.
  using ReportHandler = std::function<void(const v1::QueryReport&)>;

  RegistryService(std::string token, std::chrono::milliseconds heartbeat,
                  ReportHandler on_report = {})
      : token_(std::move(token)), heartbeat_(heartbeat), on_report_(std::move(on_report)) {}

  /// The live workers, by address, with what their last heartbeat said of them.
  std::vector<v1::RegisteredWorker> Workers();

  grpc::Status Join(grpc::ServerContext*, const v1::JoinRequest*, v1::JoinReply*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatReply*) override;
  grpc::Status Leave(grpc::ServerContext*, const v1::LeaveRequest*, v1::LeaveReply*) override;
  grpc::Status List(grpc::ServerContext*, const v1::ListWorkersRequest*,
                    v1::ListWorkersReply*) override;
  grpc::Status ReportQuery(grpc::ServerContext*, const v1::QueryReport*,
                           v1::ReportQueryReply*) override;

  /// The live workers: address -> the name each joined with (empty when none).
  std::map<std::string, std::string> Joined();
  /// Heartbeat replies carry `retained` = retained(address) (a pool sets this; default: false).
  /// Called without the registry's lock held.
  void SetRetained(std::function<bool(const std::string& address)> retained);

 private:
  using Clock = std::chrono::steady_clock;
  struct Member {
    Clock::time_point seen;  ///< expiry runs on the steady clock
    v1::RegisteredWorker shown;
    std::string name;  ///< what a pool started it as (JoinRequest.name)
  };
  void ExpireLocked(Clock::time_point now);
  /// Records a join or heartbeat of `address` carrying `info`.
  void SeenLocked(const std::string& address, const v1::InfoReply& info);

  std::string token_;
  std::chrono::milliseconds heartbeat_;
  ReportHandler on_report_;
  std::mutex mu_;
  std::map<std::string, Member> members_;  ///< by address
  std::function<bool(const std::string&)> retained_;
};

/// Keeps a worker registered while it lives: joins, heartbeats on a thread of its own
/// (joining again if the registry forgot it, retrying while the registry is down), and
/// leaves on destruction. Each join and heartbeat carries what `info` returns (the worker's
/// Info), which the registry's status page shows.
class Membership {
 public:
  using InfoSource = std::function<Result<v1::InfoReply>()>;
  /// `name`: what a pool started the worker as (empty otherwise).
  static Result<std::unique_ptr<Membership>> Start(const std::string& registry,
                                                   const std::string& worker_address,
                                                   const std::string& name,
                                                   const ClientOptions& options,
                                                   InfoSource info = {});
  ~Membership();

  /// When the registry last answered (the start, before it first has).
  std::chrono::steady_clock::time_point last_answer();
  /// When the registry last said it keeps this worker though idle (see HeartbeatReply).
  std::chrono::steady_clock::time_point last_retained();

 private:
  Membership(std::unique_ptr<v1::Registry::Stub> stub, std::string address, std::string name,
             ClientOptions options, InfoSource info);
  void Loop();
  /// The worker's Info now; empty when there is no source or it fails.
  v1::InfoReply CurrentInfo() const;

  std::unique_ptr<v1::Registry::Stub> stub_;
  std::string address_;
  std::string name_;
  ClientOptions options_;
  InfoSource info_;
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
