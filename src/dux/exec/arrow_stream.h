// An Arrow C stream (ArrowArrayStream) for DuckDB to scan, over any source of batches: the
// one adapter behind ImportIpc (an IPC reader) and the coordinator's gather.
#pragma once

#include <memory>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/common/status.h"

namespace dux::exec {

/// What the stream reads. Called from the thread that scans it, one call at a time.
class ArrowBatchSource {
 public:
  virtual ~ArrowBatchSource() = default;
  /// Exports the schema of every batch into `out`, which the caller releases.
  virtual Status ExportSchema(ArrowSchema* out) = 0;
  /// Exports the next batch into `out`; false after the last one.
  virtual Result<bool> Next(ArrowArray* out) = 0;
};

/// Fills `stream` with a stream over `source`, which it owns until the stream is released.
/// A failing call returns EIO (EINVAL for the schema) and get_last_error then gives the
/// source's message (nullptr while nothing failed), which ScanArrowStream reports in place
/// of DuckDB's wrapping of it.
void ExportArrowStream(std::unique_ptr<ArrowBatchSource> source, ArrowArrayStream* stream);

}  // namespace dux::exec
