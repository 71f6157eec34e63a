// S3ReadHandle: an S3 object opened for reading by DuckDB: one HEAD's answer, ranged reads
// checked against its ETag, a read-ahead buffer for small sequential reads. Private to
// s3_filesystem; docs/s3.md, "File system": reads.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "duckdb/common/file_system.hpp"
#include "dux/s3/object_info.h"
#include "dux/s3/s3_path.h"

namespace dux::s3_filesystem {

class S3FileSystem;

/// One open object. Size, ETag and modification time are fixed at open (from a HEAD, or
/// from the listing a glob made) and every read asks S3 for exactly that version: a
/// replaced object fails the read with "s3: s3://b/k changed during the query ...".
///
/// Thread-safety: positional reads (ReadAt) may run on any number of threads at once (DuckDB
/// reads row groups of one parquet file in parallel through one handle); the read-ahead
/// buffer is guarded by a mutex held while it is refilled. The sequential position (Seek,
/// ReadNext) belongs to one thread at a time, as in DuckDB's other file systems.
class S3ReadHandle final : public duckdb::FileHandle {
 public:
  S3ReadHandle(S3FileSystem& file_system, const std::string& url, duckdb::FileOpenFlags flags,
               s3::S3Path path, s3::ObjectInfo info, std::shared_ptr<s3::Client> client,
               std::function<void(uint64_t)> count_read);

  const s3::ObjectInfo& info() const { return info_; }

  /// Reads exactly `size` bytes at `offset` into `out`; throws IOException when the object
  /// ends before, or S3 fails.
  void ReadAt(char* out, uint64_t size, uint64_t offset);
  /// Reads up to `size` bytes at the position and advances it; the count (0 at the end).
  uint64_t ReadNext(char* out, uint64_t size);

  void Seek(uint64_t position) { position_ = position; }
  uint64_t position() const { return position_; }

  void Close() override {}

 private:
  /// One ranged GET of [offset, offset + size) into `out`, counted; throws on failure.
  void Fetch(char* out, uint64_t size, uint64_t offset);

  S3FileSystem& s3_file_system_;
  const std::shared_ptr<s3::Client> client_;
  const s3::S3Path path_;
  const s3::ObjectInfo info_;
  const std::function<void(uint64_t)> count_read_;  ///< the query's bytes read; may be empty
  uint64_t position_ = 0;

  std::mutex buffer_mutex_;
  std::string buffer_;           // guarded by buffer_mutex_
  uint64_t buffer_offset_ = 0;   // guarded by buffer_mutex_: where buffer_ starts
  uint64_t sequential_end_ = 0;  // guarded by buffer_mutex_: where the last small read ended
};

}  // namespace dux::s3_filesystem
