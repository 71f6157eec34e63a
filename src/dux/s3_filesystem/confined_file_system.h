// Confining a DuckDB's local files to directories by where the files really are: symlinks
// resolved, which DuckDB's own allowed_directories does not do (it compares the paths as
// written, so a symlink inside an allowed directory would lead out of it).
#pragma once

#include <string>
#include <vector>

#include "duckdb.h"
#include "dux/common/status.h"

namespace dux::s3_filesystem {

/// Registers in `db` a file system that takes every local path (plain or "file://") before
/// DuckDB's own and refuses one whose real location is outside `directories` (absolute,
/// canonical, no trailing '/'; a file is inside when its path starts with one of them and a
/// '/'). The real location resolves ".." and every symlink of the part of the path that
/// exists; a symlink that points nowhere is refused (writing through it would create its
/// target); a glob is refused when any of its matches is outside. The refusal reaches DuckDB
/// as a PermissionException: `"PATH" is outside the directories this worker may access`.
/// Everything else goes to DuckDB's local file system unchanged. Call once per database,
/// before any query runs, together with DuckDB's allowed_directories (which also guards the
/// paths no local file system sees). Errors: as RegisterS3FileSystem (another libduckdb.so
/// than the headers', a null `db`), AlreadyExists when called twice.
Status ConfineLocalFiles(duckdb_database db, std::vector<std::string> directories);

}  // namespace dux::s3_filesystem
