// The Worker gRPC service: each call checked for the bearer token, then handed to the
// transport-agnostic worker::Worker.
#pragma once

#include <memory>
#include <string>

#include "dux/v1/worker.grpc.pb.h"
#include "dux/worker/worker.h"

namespace dux::rpc {

/// `worker` must outlive the service.
std::unique_ptr<grpc::Service> MakeWorkerService(worker::Worker* worker, std::string token);

}  // namespace dux::rpc
