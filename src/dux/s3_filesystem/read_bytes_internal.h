// How dux's own s3:// reads join the bytes read of their connection (read_bytes.h). Private
// to s3_filesystem.
#pragma once

#include <cstdint>
#include <functional>

#include "duckdb/common/file_opener.hpp"

namespace dux::s3_filesystem {

/// What a read handle opened for `opener`'s query calls with the bytes of each fetch, to add
/// them to that query's connection. Empty when there is no query or its database does not
/// count (CountBytesRead). The connection is the query's at open, kept by value: DuckDB's
/// FileSystem log, which counts its own file systems' reads, cannot be relied on to name it
/// for a handle opened while the query binds.
std::function<void(uint64_t)> BytesReadCounter(duckdb::optional_ptr<duckdb::FileOpener> opener);

}  // namespace dux::s3_filesystem
