#include "dux/s3_filesystem/s3_filesystem.h"

#include <cstring>
#include <exception>

#include "duckdb/main/capi/capi_internal.hpp"
#include "duckdb/main/database.hpp"
#include "file_system_internal.h"

namespace dux::s3_filesystem {

namespace {

constexpr uint64_t kMinPartBytes = uint64_t{5} << 20;  // S3's smallest part but the last

}  // namespace

Status RegisterS3FileSystem(duckdb_database db, Result<std::shared_ptr<s3::Client>> client,
                            S3FileSystemOptions options) {
  if (db == nullptr) return Status::InvalidArgument("RegisterS3FileSystem: no database");
  if (options.part_bytes < kMinPartBytes || options.parts_in_flight < 1 ||
      options.direct_read_bytes == 0) {
    return Status::InvalidArgument(
        "RegisterS3FileSystem: parts must be at least 5 MiB, at least one in flight, and "
        "direct reads at least one byte");
  }
  // dux was compiled against one DuckDB's C++ headers; another libduckdb.so at run time
  // (LD_LIBRARY_PATH) would lay out the same classes differently.
  if (std::strcmp(duckdb::DuckDB::SourceID(), DUX_DUCKDB_HEADERS_SOURCE_ID) != 0) {
    return Status::FailedPrecondition(
        std::string("the loaded libduckdb.so is DuckDB ") + duckdb::DuckDB::LibraryVersion() +
        " (" + duckdb::DuckDB::SourceID() + "), but dux was built against " +
        DUX_DUCKDB_HEADERS_VERSION + " (" + DUX_DUCKDB_HEADERS_SOURCE_ID + ")");
  }
  try {
    // The C handle wraps the C++ database (duckdb/main/capi/capi_internal.hpp).
    auto* wrapper = reinterpret_cast<duckdb::DatabaseWrapper*>(db);
    duckdb::DatabaseInstance& instance = *wrapper->database->instance;
    duckdb::FileSystem& file_system = instance.GetFileSystem();
    for (const std::string& name : file_system.ListSubSystems()) {
      if (name == "S3FileSystem") {
        return Status::AlreadyExists("the s3 file system is already registered in this database");
      }
    }
    file_system.RegisterSubSystem(
        duckdb::make_uniq<S3FileSystem>(instance, std::move(client), std::move(options)));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("registering the s3 file system: ") + e.what());
  }
  return Status::OK();
}

}  // namespace dux::s3_filesystem
