// The client of a standing coordinator (`dux serve`, docs/serve.md): `dux run --server` and the
// C++ API's ComputeOnServer. Apart from the service (coordinator_service.h) so that the thin
// client binary (docs/serve.md, "The client") links no server, and so no DuckDB.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dux/protocol/query_service.h"
#include "dux/rpc/transport.h"
#include "dux/v1/serve.pb.h"

namespace dux::rpc {

/// Sends `request` to the server at `address` and hands each output chunk, in order, to
/// `write` (a failed write abandons the call, which cancels the run). Returns the server's
/// error as it gave it (the same line a local run prints); a failure to reach the server, or
/// of the connection, names the server's address. No deadline: a run takes what it takes
/// (the request's timeout bounds the workers' shares).
Status RunOnServer(const std::string& address, const ClientOptions& options,
                   const v1::ServedRunRequest& request,
                   const std::function<Status(const std::string&)>& write);

/// The server at `address` as a protocol::QueryService, for the C++ API (ComputeOnServer,
/// dux/api/served_query.h): each Run is a RunOnServer call that writes the output to `out`. A
/// raised `cancelled` is seen at the next chunk of output and abandons the call, which cancels the
/// run.
std::unique_ptr<protocol::QueryService> ConnectQueryServer(std::string address,
                                                           ClientOptions options);

}  // namespace dux::rpc
