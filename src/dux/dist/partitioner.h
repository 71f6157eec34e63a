// The partitioner: which rows of a source each worker reads. A parquet glob is split by file,
// bin-packed by size (largest first onto the least loaded partition); every other source is
// one partition, read once by one worker (DESIGN.md section 1: never once per worker).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/binder.h"

namespace dux::dist {

struct Partition {
  /// Absolute paths, sorted; empty for a source read whole as the pipeline names it.
  std::vector<std::string> files;
  int64_t bytes = 0;
};

struct Partitioning {
  std::vector<Partition> partitions;
  /// Why the source is one partition, for explain ("" when it is split).
  std::string unsplit_reason;
};

/// Splits `source` into at most `max_partitions` partitions. Globs are expanded by DuckDB
/// (through `binder`) exactly as a local read would; paths are made absolute against the
/// coordinator's working directory, since workers share its storage but not its cwd.
Result<Partitioning> PartitionSource(sql::Binder* binder, const pipeline::Source& source,
                                     size_t max_partitions);

}  // namespace dux::dist
