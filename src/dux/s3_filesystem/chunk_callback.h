// A query's result handed over chunk by chunk from inside DuckDB's pipeline: a result collector
// of dux's own whose sink lends each chunk to a callback. DuckDB's streaming result copies every
// chunk into a buffer before a fetch takes it, a fifth of the thread's time when the result only
// goes on to Arrow (BENCHMARKS.md, "A query's chunks taken from inside DuckDB's pipeline"). The
// sink is not parallel, so DuckDB would run a query's last pipeline on one thread: this is for
// databases of one thread only, whose queries run on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "duckdb.h"
#include "dux/common/status.h"

namespace dux::s3_filesystem {

/// Whether `connection`'s database runs one thread (its statements then run on the caller's).
bool RunsOneThread(duckdb_connection connection);

/// While it lives, a statement that `connection` executes (duckdb_execute_prepared) lends every
/// chunk of its result to `each` as the pipeline produces it, in order, and its own result is
/// empty. `each`'s first error ends the statement (DuckDB then reports an interruption) and is
/// kept in status(). For a connection that RunsOneThread, used by one thread.
class ChunkCallbackScope {
 public:
  ChunkCallbackScope(duckdb_connection connection, std::function<Status(duckdb_data_chunk)> each);
  ~ChunkCallbackScope();
  ChunkCallbackScope(const ChunkCallbackScope&) = delete;
  ChunkCallbackScope& operator=(const ChunkCallbackScope&) = delete;

  /// Whether a statement's result went to `each`: DuckDB 1.4 takes the collector for every
  /// statement, which callers check rather than assume.
  bool collected() const;
  int64_t rows() const;
  const Status& status() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dux::s3_filesystem
