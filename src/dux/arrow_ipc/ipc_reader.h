// IPC readers: the Arrow IPC streaming format or file format decoded into Arrow C Data, one
// record batch at a time. The input is hostile: every length, offset, buffer count, nesting
// depth and dictionary id is checked, and a bad input is an error, never a crash.
#pragma once

#include <cstdint>
#include <memory>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"

namespace dux::arrow_ipc {

/// Limits that bound what a hostile input can make the reader allocate or recurse into.
struct ReadLimits {
  int max_nesting_depth = 64;
  int64_t max_metadata_bytes = 64ll << 20;
  int64_t max_body_bytes = 8ll << 30;
};

/// Decodes a stream or a file (told apart by the file's leading magic "ARROW1"). Each
/// batch comes as an ArrowArray that owns its buffers; fixed-width buffers that are aligned
/// in the input body are not copied when the body is kept in memory. Not thread-safe.
class Reader {
 public:
  /// Reads up to and including the schema message. `in` must outlive the reader. The file
  /// format needs a RandomAccessInput (for its footer); a plain InputStream must hold the
  /// streaming format.
  static Result<std::unique_ptr<Reader>> Open(InputStream* in, const ReadLimits& limits = {});
  virtual ~Reader() = default;

  /// A copy of the schema: a struct whose children are the columns.
  virtual Status ExportSchema(ArrowSchema* out) const = 0;
  /// The next record batch (a struct array, one child per column) into `out`, which the
  /// caller then owns; false at the end of the stream.
  virtual Result<bool> Next(ArrowArray* out) = 0;
};

}  // namespace dux::arrow_ipc
