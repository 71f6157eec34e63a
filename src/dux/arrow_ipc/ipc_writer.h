// IPC writers: a schema and record batches (Arrow C Data) encoded as the Arrow IPC streaming
// format or file format, one batch at a time.
#pragma once

#include <cstdint>
#include <memory>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"

namespace dux::arrow_ipc {

enum class Compression { kNone, kLz4Frame, kZstd };
enum class Format { kStream, kFile };

struct WriteOptions {
  Format format = Format::kStream;
  /// Body compression as the IPC specification defines it (per buffer, with the
  /// uncompressed length first); off by default.
  Compression compression = Compression::kNone;
};

/// Encodes one stream or file. Batches are written as they come: memory stays bounded by one
/// batch. Dictionaries (DuckDB ENUMs) are written before the first batch that uses them, and
/// again (stream format) when they change. Not thread-safe.
class Writer {
 public:
  /// Writes the schema message (after the file magic, for files). `schema` is a struct
  /// schema whose children are the columns; it is copied, not consumed. `out` must outlive
  /// the writer.
  static Result<std::unique_ptr<Writer>> Open(OutputStream* out, const ArrowSchema& schema,
                                              const WriteOptions& options = {});
  virtual ~Writer() = default;

  /// Appends one record batch: a struct array with one child per column, not consumed.
  virtual Status WriteBatch(const ArrowArray& batch) = 0;
  /// Ends the stream (end-of-stream marker; for files the footer and trailing magic).
  /// Required: a writer destroyed without Close leaves an unterminated stream.
  virtual Status Close() = 0;

  virtual int64_t bytes_written() const = 0;
  virtual int64_t rows_written() const = 0;
};

}  // namespace dux::arrow_ipc
