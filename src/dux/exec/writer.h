// Writer: runs a sink (file writes, insert_into) so that a failure leaves no partial output.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/exec/connection.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/compiler.h"

namespace dux::exec {

struct WriteReport {
  int64_t rows = 0;
  std::vector<std::string> files;  ///< files written (empty for insert_into)
};

/// Runs `sink` over `query`. Files are written under a temporary name beside the target and
/// renamed into place once complete (a single file replaces an existing one; a partitioned
/// write needs a missing or empty target directory); on failure the temporary output is
/// removed. insert_into runs as one statement, so it lands whole or not at all.
Result<WriteReport> WriteSink(Connection& connection, const pipeline::Sink& sink,
                              const sql::CompiledQuery& query);

/// Produces `target` all or nothing: `write` writes to a hidden temporary name beside it
/// (returning what it wrote, e.g. rows), which is then renamed into place; with `directory`
/// the target must be missing or an empty directory (checked before and after writing). On
/// any failure the temporary output is removed, `target` is untouched, and messages that
/// name the temporary file name `target` instead.
Result<int64_t> WriteAtomically(const std::string& target, bool directory,
                                const std::function<Result<int64_t>(const std::string&)>& write);

/// Writes the query's result to the file `path` in DuckDB's `format` ("csv" with a header,
/// "json" as one array, "ndjson"), with the same temporary-name-and-rename rule.
Status ExportResult(Connection& connection, const std::string& select_sql,
                    const std::string& format, const std::string& path);

}  // namespace dux::exec
