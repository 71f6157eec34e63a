// Writing a run's output to stdout: a stream to a descriptor, and what stdout is. DuckDB-free:
// the thin client (served_client.h) uses it as a local run does.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"

namespace dux::cli {

/// Writes to a file descriptor it does not own (stdout), retrying short writes.
class FdOutputStream : public arrow_ipc::OutputStream {
 public:
  explicit FdOutputStream(int fd) : fd_(fd) {}
  Status Write(const void* data, size_t size) override;

 private:
  int fd_;
};

/// The type of stdout's file (S_IFIFO, S_IFREG, ...).
mode_t StdoutType();

/// Whether stdout's reader has gone (`| head` after its lines): then a failed write is the
/// expected end of the run, not an error.
bool StdoutClosed();

}  // namespace dux::cli
