// Files reached through a DuckDB database's own file system, as its queries reach them: for
// the work dux does on URLs itself (directory writes list and remove part objects, Arrow IPC
// objects are read and written by dux's codec), outside any COPY or read function. Every
// path goes through the file system of a client context of the database, so a confined
// database (allowed_directories, external access off) refuses here what it refuses to a
// query. Thread-safe: each call opens a client context of its own. Also: whether closing a
// database still has files to tidy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "duckdb.h"
#include "dux/common/status.h"

namespace dux::s3_filesystem {

/// Every file matching the glob `pattern` (DuckDB's glob semantics; "dir/**" is everything
/// below dir), sorted. A pattern matching nothing is an empty list, not an error.
Result<std::vector<std::string>> GlobFiles(duckdb_database db, const std::string& pattern);

/// Removes the file `path`.
Status RemoveFile(duckdb_database db, const std::string& path);

/// Whether closing `db` still has work to do on files: temporary files it spilled (closing
/// removes them) or a database file attached, the main one included (closing checkpoints its
/// write-ahead log into it). Asks DuckDB's buffer and database managers, without a query.
bool HoldsFilesToClose(duckdb_database db);

/// One file opened through the database's file system. Not thread-safe.
class DatabaseFile {
 public:
  /// Opens `path` for reading (Size, Seek and Read).
  static Result<std::unique_ptr<DatabaseFile>> OpenForReading(duckdb_database db,
                                                              const std::string& path);
  /// Creates or replaces `path` for writing (Write, then Close). For an s3:// object nothing
  /// is visible until Close completes it; a file destroyed without Close is abandoned (its
  /// multipart upload aborted).
  static Result<std::unique_ptr<DatabaseFile>> OpenForWriting(duckdb_database db,
                                                              const std::string& path);
  ~DatabaseFile();
  DatabaseFile(const DatabaseFile&) = delete;
  DatabaseFile& operator=(const DatabaseFile&) = delete;

  Result<int64_t> Size();
  Status Seek(int64_t position);
  /// Up to `size` bytes from the current position; 0 only at the end.
  Result<size_t> Read(void* data, size_t size);
  Status Write(const void* data, size_t size);
  /// Completes a written file, reporting any error.
  Status Close();

 private:
  struct State;
  explicit DatabaseFile(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace dux::s3_filesystem
