#include "dux/api/served_query.h"

#include <memory>

#include "dux/arrow_ipc/streams.h"
#include "dux/exec/arrow_import.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/pipeline/language.h"

namespace dux {

Result<exec::Table> ComputeOnServer(protocol::QueryService& server, const std::string& text,
                                    const ServedQueryOptions& options) {
  // A sink's output is its summary line, not rows: refused before anything runs.
  DUX_ASSIGN_OR_RETURN(pipeline::Script script, pipeline::ParseScript(text));
  if (const auto& sink = script.pipeline.sink()) {
    return Status::InvalidArgument(std::string(sink->Verb()) +
                                   ": ComputeOnServer returns rows; a pipeline that ends in a "
                                   "sink runs with `dux run --server`" +
                                   sink->loc.Suffix());
  }
  v1::ServedRunRequest request;
  request.set_text(text);
  request.set_format("arrow");
  request.set_arrow_lossless(true);  // HUGEINT, UUID, ... come back as DuckDB's own types
  request.set_timeout_seconds(options.timeout_seconds);
  arrow_ipc::StringOutputStream out;
  DUX_RETURN_NOT_OK(server.Run(request, &out, /*cancelled=*/nullptr));
  DUX_ASSIGN_OR_RETURN(exec::Database db, exec::Database::Open());
  DUX_ASSIGN_OR_RETURN(exec::Connection connection, exec::Connection::Open(db));
  DUX_RETURN_NOT_OK(exec::ImportIpc(connection, "served",
                                    std::make_unique<arrow_ipc::StringInputStream>(out.bytes()),
                                    exec::TableMode::kTemporary)
                        .status());
  // A table's rowid is its insertion order: the server's order, whatever the scan's threads.
  return connection.Query("SELECT * FROM served ORDER BY rowid");
}

}  // namespace dux
