// What a worker says when DuckDB runs out of memory: its limits, so that the one line a user
// reads tells which limit a fragment hit (docs/reliability.md, "Spill").
#pragma once

#include <string>

#include "dux/common/status.h"

namespace dux::worker {

/// A worker's limits as DuckDB resolved them (current_setting): "38.1 MiB", "/tmp/spill",
/// "90% of available disk space".
struct MemoryLimits {
  std::string memory_limit;  ///< DuckDB's and the exchange buckets' together
  std::string temp_directory;
  std::string max_temp_directory_size;
};

/// `s` unchanged unless it is DuckDB's out-of-memory error (which DuckDB raises only once
/// spilling to the temp directory cannot help: the temp directory is full, or what must stay
/// in memory at once is beyond the limit). That becomes ResourceExhausted, one line naming
/// the limits and DuckDB's own first sentence, without DuckDB's tuning advice (it names
/// settings a dux user sets with other flags).
Status ExplainOutOfMemory(const Status& s, const MemoryLimits& limits);

}  // namespace dux::worker
