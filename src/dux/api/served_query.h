// The C++ API's client of a standing coordinator (`dux serve`, docs/serve.md): a pipeline
// computed on the server's workers, its rows returned as a Table typed as a local run types
// them. The transport is the caller's, as workers' are: rpc::ConnectQueryServer gives one
// over gRPC with the token and TLS rules of `dux run --server`.
#pragma once

#include <string>

#include "dux/common/status.h"
#include "dux/exec/table.h"
#include "dux/protocol/query_service.h"

namespace dux {

struct ServedQueryOptions {
  /// Seconds each worker's share may take (as --timeout); 0: the server's own setting.
  double timeout_seconds = 0;
};

/// Runs `text` (the pipeline language: attach and s3 statements, then one pipeline without a
/// sink) on `server` and returns its rows in order. The rows travel as an Arrow IPC stream
/// with DuckDB's lossless types and are read back by a DuckDB of the caller's. Errors are the
/// server's, as a local run gives them (one line, with line and column); a pipeline that ends
/// in a sink is refused here, with its line and column (write it with `dux run --server`).
Result<exec::Table> ComputeOnServer(protocol::QueryService& server, const std::string& text,
                                    const ServedQueryOptions& options = {});

}  // namespace dux
