// QueryService: what a client asks a standing coordinator (`dux serve`, docs/serve.md),
// whatever carries the call: gRPC in rpc/ (the Coordinator service of
// proto/dux/v1/serve.proto), implemented by the dux command's server in cli/.
#pragma once

#include <atomic>

#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"
#include "dux/v1/serve.pb.h"

namespace dux::protocol {

/// Runs pipelines sent by clients. Implementations are thread-safe: the transport calls Run
/// from one thread per client call, several at once.
class QueryService {
 public:
  virtual ~QueryService() = default;

  /// Runs `request` and writes its output to `out` as a local `dux run` with the same options
  /// writes stdout. A write that fails (the client has gone) stops the run. `cancelled`
  /// becomes true when the client goes away or the server stops; the run then ends soon with
  /// Cancelled. Errors are what a local run reports, one line, with line and column.
  virtual Status Run(const v1::ServedRunRequest& request, arrow_ipc::OutputStream* out,
                     const std::atomic<bool>* cancelled) = 0;
};

}  // namespace dux::protocol
