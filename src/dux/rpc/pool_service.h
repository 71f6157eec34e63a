// The pool's gRPC side (docs/deploy.md): a `dux pool` serves the Registry service (its
// workers join it) and the Pool service (coordinators ask it for workers) on one port.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "dux/pool/pool.h"
#include "dux/rpc/registry.h"
#include "dux/rpc/transport.h"
#include "dux/v1/pool.grpc.pb.h"

namespace dux::rpc {

/// Serves a pool::Pool. The server starts before the pool (the pool needs the address its
/// workers join): until SetPool, calls answer UNAVAILABLE.
class PoolService final : public v1::Pool::Service {
 public:
  PoolService(std::string token, int min, int max)
      : token_(std::move(token)), min_(min), max_(max) {}
  /// The pool must outlive the server's calls (shut the server down first).
  void SetPool(pool::Pool* pool) { pool_ = pool; }
  grpc::Status SpinUp(grpc::ServerContext*, const v1::SpinUpRequest*, v1::SpinUpReply*) override;
  grpc::Status Status(grpc::ServerContext*, const v1::PoolStatusRequest*,
                      v1::PoolStatusReply*) override;

 private:
  std::string token_;
  std::atomic<pool::Pool*> pool_{nullptr};
  int min_, max_;
};

/// What the pool asks of its registry (who joined, with which name) and of its workers
/// (their Info: how many queries each runs), over `client`.
pool::PoolProbes MakePoolProbes(RegistryService* registry, const ClientOptions& client);

/// A coordinator's view of a pool (the C++ API of `dux run --pool`).
class PoolClient {
 public:
  static Result<std::unique_ptr<PoolClient>> Connect(const std::string& address,
                                                     const ClientOptions& options);
  /// Asks for `n` workers; waits as the pool does (up to its boot timeout), so the call has
  /// no deadline of its own beyond `options.call_timeout_seconds` plus that wait.
  Result<v1::SpinUpReply> SpinUp(int n);
  Result<v1::PoolStatusReply> Status();

 private:
  PoolClient(std::string address, std::unique_ptr<v1::Pool::Stub> stub, ClientOptions options)
      : address_(std::move(address)), stub_(std::move(stub)), options_(std::move(options)) {}
  std::string address_;
  std::unique_ptr<v1::Pool::Stub> stub_;
  ClientOptions options_;
};

}  // namespace dux::rpc
