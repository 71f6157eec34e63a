// The partitioner: which rows of a source each worker reads. A parquet glob is split by file,
// bin-packed by size (largest first onto the least loaded partition); a file larger than a
// worker's share is split by row groups; hive-partitioned files that the pipeline's leading
// filters keep no row of are pruned. Every other source is one partition, read once by one
// worker (docs/architecture.md section 1: never once per worker).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/binder.h"

namespace dux::coordinator {

struct Partition {
  /// Absolute paths or URLs, sorted; empty for a source read whole as the pipeline names it.
  std::vector<std::string> files;
  /// The files of `files` read only in part: their rows, one range per run of adjacent row
  /// groups (ParquetSource::row_ranges).
  std::vector<pipeline::RowRange> row_ranges;
  /// The row groups (ids, ascending) read of each file read in part, for explain.
  std::map<std::string, std::vector<int64_t>> row_groups;
  /// Bytes to read: file sizes, and compressed row group sizes for files read in part.
  int64_t bytes = 0;
  /// A PostgreSQL source read in slices (coordinator/postgres.h): this partition's slice, and the
  /// predicate that selects it, for explain.
  std::optional<pipeline::AttachedSlice> slice;
  std::string slice_predicate;
};

/// The files the leading filters of a pipeline keep no row of, by their hive keys.
struct Pruning {
  /// The conjuncts the files were judged by (filter conjuncts on hive keys only).
  std::vector<std::string> predicates;
  /// Pruned files (absolute paths), in glob order.
  std::vector<std::string> files;
  /// Files before pruning.
  size_t total_files = 0;
  /// When every file was pruned: the file still read (the first in glob order), so that the
  /// workers return the result's columns; the filters remove its rows.
  std::string kept_anyway;
};

struct Partitioning {
  std::vector<Partition> partitions;
  /// Why the source is one partition, for explain ("" when it is split).
  std::string unsplit_reason;
  /// The hive key types every worker reads with (ParquetSource::hive_types): the types the
  /// coordinator's own read of the whole source gives them. Empty without hive keys.
  std::vector<std::pair<std::string, std::string>> hive_types;
  Pruning pruning;
  /// Row groups in each file split by row groups, for explain.
  std::map<std::string, int64_t> row_group_counts;
};

/// The files `pattern` names, as DuckDB's glob lists them for a read (through `binder`),
/// sorted; a URL's glob lists objects.
Result<std::vector<std::string>> GlobFiles(sql::Binder* binder, const std::string& pattern);

/// Splits the source of `pipeline` into at most `max_partitions` partitions. Globs are
/// expanded by DuckDB (through `binder`) exactly as a local read would; local paths are made
/// absolute against the coordinator's working directory, since workers share its storage but
/// not its cwd, and URLs (`s3://bucket/key`) are kept as written, sized from their listing. For
/// hive-partitioned parquet, the filters right after the source (up to the first verb that could
/// change a hive key's values, or that sees more than one row at a time) prune files: each conjunct
/// that names only hive keys and holds only comparisons, IN, BETWEEN, AND, OR, NOT, IS [NOT] NULL,
/// casts and constants is evaluated by DuckDB on every file's typed key values; a file is pruned
/// when one of them is not true. A file whose keys DuckDB cannot type, or a conjunct DuckDB cannot
/// evaluate, prunes nothing. Errors are the binder's (a glob DuckDB cannot expand, unreadable
/// metadata).
Result<Partitioning> PartitionSource(sql::Binder* binder, const pipeline::Pipeline& pipeline,
                                     size_t max_partitions);

/// `worker` (the workers' part of a pipeline, over the source that was partitioned) as
/// partition `partition` of `partitioning` reads it: its files, row ranges and pinned hive
/// key types in the parquet source, or its slice of an attached table. Other sources are
/// returned as they are.
pipeline::Pipeline PartitionPipeline(const pipeline::Pipeline& worker,
                                     const Partitioning& partitioning, size_t partition);

}  // namespace dux::coordinator
