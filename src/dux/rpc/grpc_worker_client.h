// WorkerClient over gRPC.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dux/protocol/worker_client.h"
#include "dux/rpc/transport.h"
#include "dux/worker/shuffle.h"

namespace dux::rpc {

/// A client of the worker at `address` ("HOST:PORT"). Connecting is lazy: an unreachable
/// worker shows up as an error of the first call, naming it.
Result<std::shared_ptr<protocol::WorkerClient>> ConnectWorker(const std::string& address,
                                                              const ClientOptions& options);

/// Clients for a comma-separated list of addresses ("h:p,h:p").
Result<std::vector<std::shared_ptr<protocol::WorkerClient>>> ConnectWorkers(
    const std::string& addresses, const ClientOptions& options);

/// How a `dux worker` reaches its peers for exchanges: gRPC clients with the worker's own
/// token and CA, one per address, made on first use and kept.
worker::PeerConnector MakePeerConnector(const ClientOptions& options);

}  // namespace dux::rpc
