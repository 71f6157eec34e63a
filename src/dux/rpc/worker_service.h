// The Worker gRPC service: each call checked for the bearer token, then handed to the
// transport-agnostic worker::Worker.
#pragma once

#include <memory>
#include <string>

#include "dux/rpc/result_channel_listener.h"
#include "dux/v1/worker.grpc.pb.h"
#include "dux/worker/worker.h"

namespace dux::rpc {

/// `worker` must outlive the service. With `result_channel`, a caller that asks for it reads
/// Execute's result over a connection of its own (rpc/result_channel.h); the service owns the
/// listener, so it outlives every call. Without, results stay on gRPC (a worker with TLS:
/// the channel has no TLS of its own).
std::unique_ptr<grpc::Service> MakeWorkerService(
    worker::Worker* worker, std::string token,
    std::unique_ptr<ResultChannelListener> result_channel = nullptr);

}  // namespace dux::rpc
