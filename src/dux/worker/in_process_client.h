// The in-process transport: a WorkerClient that calls a Worker in the same process. Used by
// the protocol conformance suite and component tests; it carries the same protobuf messages
// as gRPC, with the same streaming and cancellation behaviour.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dux/protocol/worker_client.h"
#include "dux/worker/worker.h"

namespace dux::worker {

/// `worker` must outlive the client and every stream it returns.
std::shared_ptr<protocol::WorkerClient> MakeInProcessClient(Worker* worker, std::string address);

/// Lets the workers of one process reach each other for exchanges under the given
/// addresses (as their in-process clients name them). Every worker must outlive the others'
/// use of it.
void ConnectInProcessPeers(const std::vector<std::pair<Worker*, std::string>>& workers);

}  // namespace dux::worker
