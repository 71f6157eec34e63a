// The Coordinator gRPC service of a standing coordinator (`dux serve`, docs/serve.md): each call
// checked for the bearer token, then handed to the transport-agnostic protocol::QueryService; its
// output streamed back in chunks. Its client is coordinator_client.h.
#pragma once

#include <memory>
#include <string>

#include "dux/protocol/query_service.h"
#include "dux/rpc/transport.h"
#include "dux/v1/serve.grpc.pb.h"

namespace dux::rpc {

/// `service` must outlive the gRPC service. A call whose client goes away, or that the
/// server's shutdown cancels, has its run cancelled.
std::unique_ptr<grpc::Service> MakeCoordinatorService(protocol::QueryService* service,
                                                      std::string token);

}  // namespace dux::rpc
