#include "dux/rpc/transport.h"

#include <fmt/format.h>
#include <grpc/support/log.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace dux::rpc {

grpc::Status ToGrpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message());
}

Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return Status::OK();
  const std::string& message = status.error_message();
  // gRPC's own words for a message over the limit ("Received message larger than max (N vs.
  // M)", also "Sent ..."), said in dux's: what was refused and the limit.
  unsigned long long size = 0, limit = 0;
  char direction[16] = {0};
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
      std::sscanf(message.c_str(), "%15s message larger than max (%llu vs. %llu)", direction, &size,
                  &limit) == 3) {
    return Status(
        StatusCode::kResourceExhausted,
        fmt::format("a message of {} bytes is larger than the limit of {} bytes ({} "
                    "side refused it)",
                    size, limit, std::string(direction) == "Sent" ? "sending" : "receiving"));
  }
  return Status(static_cast<StatusCode>(status.error_code()), message);
}

namespace {

Result<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return Status::InvalidArgument(std::string("cannot read the ") + what + " \"" + path + "\"");
  }
  return text.str();
}

// Results are bulk data: big HTTP/2 frames and a large flow-control window let a stream
// run at memory speed instead of waiting for window updates every 64 KiB.
std::vector<std::pair<std::string, int>> BulkTransferArgs() {
  return {{GRPC_ARG_HTTP2_MAX_FRAME_SIZE, (1 << 24) - 1},
          {GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 << 20},
          {GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, 8 << 20}};
}

// A peer that is stopped (SIGSTOP), frozen or behind a link that drops packets still has its
// kernel's connection and never answers; a call to it would wait without end unless the
// query has a --timeout. Clients ping the peer's gRPC thread over HTTP/2 while a call is
// active, also while no data flows (a worker busy in a long aggregate sends nothing), and a
// ping not answered within kKeepaliveTimeoutMs fails the call as UNAVAILABLE: the worker is
// then named or its work retried elsewhere like a killed one's (docs/cluster.md,
// "Failures"). A live process answers from gRPC's own threads even while DuckDB keeps its
// cores busy, so 10 s is far beyond any honest delay; a stopped peer is seen within 15 s.
constexpr int kKeepaliveTimeMs = 5000;
constexpr int kKeepaliveTimeoutMs = 10000;

std::vector<std::pair<std::string, int>> ClientKeepaliveArgs() {
  return {{GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs},
          {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs},
          // Pings only while a call is active: an idle channel to a stopped peer harms no one.
          {GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0},
          // By default a client stops pinging after two pings without data of its own, which
          // is exactly the long wait for a busy (or stopped) worker's first rows.
          {GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0}};
}

// The server's side of the same: by default it counts a ping sooner than 5 minutes after the
// last as abuse and closes the connection after two.
std::vector<std::pair<std::string, int>> ServerKeepaliveArgs() {
  return {{GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, kKeepaliveTimeMs / 2},
          {GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0}};
}

std::atomic<bool> g_show_grpc_log{false};

void GrpcLog(gpr_log_func_args* a) {
  if (g_show_grpc_log) std::fprintf(stderr, "grpc: %s:%d: %s\n", a->file, a->line, a->message);
}

}  // namespace

void DropGrpcLog() { gpr_set_log_function(GrpcLog); }
void ShowGrpcLog() { g_show_grpc_log = true; }

Result<std::unique_ptr<grpc::Server>> StartServer(const ServerOptions& options,
                                                  const std::vector<grpc::Service*>& services,
                                                  std::string* bound) {
  DUX_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(options.listen));
  const std::string& host = host_port.first;
  DUX_RETURN_NOT_OK(CheckListenAllowed(options.listen, options.token));
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return Status::InvalidArgument("TLS needs both --tls-cert and --tls-key");
  }
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!options.tls_cert.empty()) {
    grpc::SslServerCredentialsOptions ssl(
        options.tls_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                               : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    DUX_ASSIGN_OR_RETURN(std::string cert, ReadPem(options.tls_cert, "TLS certificate"));
    DUX_ASSIGN_OR_RETURN(std::string key, ReadPem(options.tls_key, "TLS key"));
    ssl.pem_key_cert_pairs.push_back({key, cert});
    if (!options.tls_ca.empty()) {
      DUX_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(options.tls_ca, "TLS CA"));
    }
    creds = grpc::SslServerCredentials(ssl);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, creds, &port);
  if (options.max_message_bytes <= 0) {
    return Status::InvalidArgument("the largest message must be a positive number of bytes");
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  for (const auto& [name, value] : BulkTransferArgs()) builder.AddChannelArgument(name, value);
  for (const auto& [name, value] : ServerKeepaliveArgs()) builder.AddChannelArgument(name, value);
  // gRPC sets SO_REUSEPORT by default: a second server on a taken port would then share it
  // silently instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (grpc::Service* s : services) builder.RegisterService(s);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return Status::IOError("cannot listen on " + options.listen +
                           " (address in use or not available here)");
  }
  *bound = host + ":" + std::to_string(port);
  return server;
}

grpc::Status Authorize(const grpc::ServerContext* context, const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  if (it != md.end() &&
      TokensEqual(std::string_view(it->second.data(), it->second.size()), "Bearer " + token)) {
    return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      it == md.end() ? "a bearer token is required" : "wrong bearer token");
}

Result<std::shared_ptr<grpc::Channel>> OpenChannel(const std::string& address,
                                                   const ClientOptions& options) {
  DUX_RETURN_NOT_OK(SplitHostPort(address).status());
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!options.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    DUX_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(options.tls_ca, "TLS CA"));
    creds = grpc::SslCredentials(ssl);
  }
  if (options.max_message_bytes <= 0) {
    return Status::InvalidArgument("the largest message must be a positive number of bytes");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // Each client gets its own connection: a coordinator's parallel calls to one worker
  // should not queue behind each other on a shared subchannel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  for (const auto& [name, value] : BulkTransferArgs()) args.SetInt(name, value);
  for (const auto& [name, value] : ClientKeepaliveArgs()) args.SetInt(name, value);
  auto channel = grpc::CreateCustomChannel(address, creds, args);
  // Connects now, in the background: the handshake overlaps what the caller does before its
  // first call (a coordinator opens DuckDB and plans) instead of delaying that call.
  channel->GetState(/*try_to_connect=*/true);
  return channel;
}

std::unique_ptr<grpc::ClientContext> NewContext(const ClientOptions& options, bool deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!options.token.empty()) context->AddMetadata("authorization", "Bearer " + options.token);
  if (deadline && options.call_timeout_seconds > 0) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::duration<double>(options.call_timeout_seconds)));
  }
  return context;
}

}  // namespace dux::rpc
