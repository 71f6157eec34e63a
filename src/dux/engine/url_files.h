// The UrlFiles (exec/url_files.h) of a database the engine opens: URLs reached through that
// database's own file systems (s3_filesystem/database_files.h), so dux's own listing,
// removing, reading and writing of objects is confined as the database's queries are.
#pragma once

#include <memory>

#include "duckdb.h"
#include "dux/exec/url_files.h"

namespace dux::engine {

/// `db` must outlive what this returns (exec::Database holds both).
std::shared_ptr<const exec::UrlFiles> MakeUrlFiles(duckdb_database db);

}  // namespace dux::engine
