// Sizes as DuckDB spells them in its settings (memory_limit, max_temp_directory_size): read
// into bytes, so that a worker and a coordinator compare them with byte counts.
#pragma once

#include <cstdint>
#include <string>

#include "dux/common/status.h"

namespace dux::exec {

/// DuckDB's spelling of a size ("19.2 GiB", "512.0 MiB", "300MB", "1000 bytes") in bytes;
/// InvalidArgument for anything else.
Result<int64_t> ParseMemorySize(const std::string& text);

}  // namespace dux::exec
