// What the gRPC server and clients share: status mapping (one to one: dux's codes are
// gRPC's), bearer tokens, TLS credentials and channel arguments.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "dux/common/server_access.h"
#include "dux/common/status.h"

namespace dux::rpc {

/// Metadata a server puts on every reply: an error that carries it came from the server
/// itself (e.g. an IO error, UNAVAILABLE like a lost connection), not the transport. A worker
/// sends it in the trailers, which only a call the worker ended carries: a worker that died
/// after its first message (a result channel's offer) is still a lost connection. `dux
/// serve` sends it in the initial metadata.
constexpr const char* kHandledKey = "dux-handled";

/// gRPC writes some failures to stderr itself (a TLS handshake that fails, a port in use).
/// The dux command reports those in its own one-line error, so it drops gRPC's log
/// (DropGrpcLog, at start), except in a running worker or registry, where it is the
/// server's log (ShowGrpcLog).
void DropGrpcLog();
void ShowGrpcLog();

grpc::Status ToGrpc(const Status& status);
Status FromGrpc(const grpc::Status& status);

/// The largest message a dux server or client receives or sends, by default (gRPC's own
/// default is 4 MiB in and unlimited out). The biggest messages dux makes are IPC chunks of
/// protocol::kIpcChunkBytes (1 MiB; a chunk is never cut bigger, whatever the rows); the
/// limit leaves room for those, Info replies that list thousands of tables and query reports,
/// and keeps one message from making a server buffer gigabytes. A message over the limit is
/// refused with RESOURCE_EXHAUSTED; the call fails, the server goes on serving.
constexpr int kDefaultMaxMessageBytes = 64 << 20;

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  ///< HOST:PORT; port 0 picks a free one
  std::string token;                   ///< required from every caller when set
  std::string tls_cert, tls_key;       ///< PEM files; both or neither
  std::string tls_ca;                  ///< with TLS: clients must present a cert it signed
  int max_message_bytes = kDefaultMaxMessageBytes;  ///< received and sent, per message
};

struct ClientOptions {
  std::string token;   ///< sent as "authorization: Bearer TOKEN"
  std::string tls_ca;  ///< PEM file: use TLS and trust servers this CA signed
  /// Deadline of unary calls (Info, Health, Cancel, DropTable, ...) in seconds.
  double call_timeout_seconds = 30;
  int max_message_bytes = kDefaultMaxMessageBytes;  ///< received and sent, per message
  /// Read Execute's results over the worker's result channel when it offers one
  /// (rpc/result_channel.h); never with TLS. False keeps them on gRPC (benchmarks, tests).
  bool result_channel = true;
};

/// A server listening on `options.listen` with the given services, or an error that says
/// why it cannot (a bad address, a port in use, a non-loopback address without a token,
/// unreadable TLS files). `bound` receives "HOST:PORT" with the port actually bound.
Result<std::unique_ptr<grpc::Server>> StartServer(const ServerOptions& options,
                                                  const std::vector<grpc::Service*>& services,
                                                  std::string* bound);

/// Checks the caller's bearer token (constant time). OK when `token` is empty.
grpc::Status Authorize(const grpc::ServerContext* context, const std::string& token);

/// A channel to `address` with TLS when options.tls_ca is set.
Result<std::shared_ptr<grpc::Channel>> OpenChannel(const std::string& address,
                                                   const ClientOptions& options);

/// A client context carrying the token, with the unary deadline unless `deadline` is false.
std::unique_ptr<grpc::ClientContext> NewContext(const ClientOptions& options, bool deadline = true);

}  // namespace dux::rpc
