// Where a worker keeps the rows of the exchange buckets it owns (docs/architecture.md section 4,
// hash exchanges): in memory, as the DuckDB chunks the rows arrived in, up to a byte budget; a
// bucket that would go beyond it moves to a DuckDB table, which spills to the temp directory.
// Either way a query reads a bucket by its name, as a table (FROM "name").
//
// Why not always a table: appending to a DuckDB table keeps statistics (min/max, distinct
// counts) and compresses, about 47 ns a row on this machine, which was the largest part of
// a shuffle join's exchange (BENCHMARKS.md); a bucket is read once or twice by the join and
// then dropped, so none of that pays off.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dux/common/status.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/memory_size.h"
#include "dux/exec/row_sink.h"

namespace dux::worker {

/// Thread-safe. Buckets held in memory are read through a table function that hands out
/// the stored vectors without copying them, from as many threads as the query uses.
class BucketStore {
 public:
  /// A store holding at most `budget_bytes` in memory, readable from every connection of
  /// `db`: a table name no table has is looked up among the buckets (a replacement scan).
  /// The store lives as long as `db` does.
  static Result<std::shared_ptr<BucketStore>> Install(const exec::Database& db,
                                                      int64_t budget_bytes);

  /// A sink that adds rows to bucket `name`, created with `columns`' names and types when it
  /// is new. The bucket moves to a table of that name, made on a connection of its own on
  /// `db`, when the store would go beyond its budget or when `columns`' types differ from
  /// the bucket's (the table's appender then casts them, as an INSERT would). Several sinks
  /// may fill one bucket at once.
  Result<std::unique_ptr<exec::RowSink>> Open(const exec::Database& db, const std::string& name,
                                              const exec::RoutedColumns& columns);

  /// Forgets bucket `name` at once (no query finds it any more); false when it is not held
  /// in memory (it may have moved to a table, which the caller drops). Its chunks are freed
  /// on the store's own thread: freeing an exchange's buckets takes some 20 ms per 5 million
  /// rows here, and the end of the query that dropped them would wait for it.
  bool Drop(const std::string& name);
  bool Holds(const std::string& name) const;
  /// Bytes held in memory (an estimate of the chunks' data, strings and children included),
  /// dropped buckets' until their chunks are freed.
  int64_t bytes() const;

  ~BucketStore();
  BucketStore(const BucketStore&) = delete;
  BucketStore& operator=(const BucketStore&) = delete;

  struct Bucket;

 private:
  friend class MemorySink;
  friend class ScanFunction;
  explicit BucketStore(int64_t budget);
  /// The freeing thread's loop: frees what Drop leaves in `dropped_` until the store goes.
  void FreeDropped();
  /// Moves `bucket` into a new table, on a connection of `db`, and returns the sink that
  /// appends to it; a bucket moved already is appended to.
  Result<std::unique_ptr<exec::RowSink>> MoveToTable(const exec::Database& db,
                                                     const std::shared_ptr<Bucket>& bucket);

  const int64_t budget_;
  mutable std::mutex mutex_;
  int64_t bytes_ = 0;  // guarded by mutex_
  /// Every bucket by name, those moved to a table too (so that later fills go there).
  std::map<std::string, std::shared_ptr<Bucket>> buckets_;  // guarded by mutex_
  std::vector<std::shared_ptr<Bucket>> dropped_;            // guarded by mutex_, to be freed
  bool closing_ = false;                                    // guarded by mutex_
  std::condition_variable dropped_cv_;
  std::thread freeing_;  // the last member: started once the others are made
};

/// DuckDB's memory_limit setting in bytes (exec/memory_size.h).
using exec::ParseMemorySize;

}  // namespace dux::worker
